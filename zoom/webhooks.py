"""Zoom webhook signatures and the event payloads the service acts on.

Signature checks run on the raw request bytes: Zoom signs exactly what it sent, and re-serialising
parsed JSON (spacing, key order, unicode escaping) changes those bytes. Every secret configured is
tried so that a secret rotation does not drop events signed with the previous one.

The payload models are deliberately lenient (unknown fields kept, optional almost everywhere):
Zoom adds fields without notice, and a webhook we fail to parse is a webhook we lose.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from datetime import datetime
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, ValidationError

from zoom.ids import meeting_id_str

SIGNATURE_HEADER = "x-zm-signature"
TIMESTAMP_HEADER = "x-zm-request-timestamp"
URL_VALIDATION_EVENT = "endpoint.url_validation"

# Timestamps this large are milliseconds. Zoom's unit is seconds as far as anyone has seen
# (docs/zoom.md#webhook-signatures, UNVERIFIED), so accept either rather than reject every event if that changes.
_MILLISECONDS_THRESHOLD = 10**11


# --- signatures -----------------------------------------------------------------------------


def sign(secret: str, timestamp: str, raw_body: bytes) -> str:
    """Zoom's `x-zm-signature`: "v0=" + hex HMAC-SHA256 over `v0:{timestamp}:{raw body}`."""
    message = b"v0:" + timestamp.encode("ascii") + b":" + raw_body
    return "v0=" + hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def verify_signature(
    secrets: list[str],
    timestamp: str | None,
    signature: str | None,
    raw_body: bytes,
    *,
    now: float,
    max_age_seconds: int,
    max_future_seconds: int = 300,
) -> bool:
    """True when `signature` matches `raw_body` under any of `secrets` and the timestamp is fresh.

    `max_age_seconds` should cover Zoom's retry horizon (~85 minutes, docs/zoom.md#webhook-retries-and-duplicates), since a
    retried delivery may keep its original timestamp; replays inside the window are harmless
    because events are deduplicated. Clocks may drift a little, but not by hours, so timestamps
    from the future get a much smaller allowance.
    """
    if not timestamp or not signature:
        return False
    timestamp, signature = timestamp.strip(), signature.strip()
    # Seconds or milliseconds since 1970 are at most 13 digits; thousands of digits would
    # overflow int parsing. A signature is "v0=" and 64 hex digits.
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 16):
        return False
    if not (signature.isascii() and signature.isprintable() and len(signature) <= 100):
        return False
    sent_at = int(timestamp)
    if sent_at >= _MILLISECONDS_THRESHOLD:
        sent_at //= 1000
    age = now - sent_at
    if age > max_age_seconds or -age > max_future_seconds:
        return False
    offered = signature.strip().encode("utf-8")
    matched = False
    for secret in secrets:
        if not secret:
            continue
        expected = sign(secret, timestamp, raw_body).encode("ascii")
        # No early exit: the time taken must not reveal which secret (if any) matched.
        matched |= hmac.compare_digest(expected, offered)
    return matched


def url_validation_response(secret: str, plain_token: str) -> dict[str, str]:
    """The JSON body answering Zoom's `endpoint.url_validation` challenge."""
    encrypted = hmac.new(
        secret.encode("utf-8"), plain_token.encode("utf-8"), hashlib.sha256
    ).hexdigest()
    return {"plainToken": plain_token, "encryptedToken": encrypted}


# --- payload models ---------------------------------------------------------------------------


def _meeting_id(value: Any) -> Any:
    return meeting_id_str(value) if isinstance(value, (int, str)) else value


def _empty_to_none(value: Any) -> Any:
    return None if value == "" else value


def _file_token(value: Any) -> Any:
    """file_type / file_extension are words like MP4, M4A, TRANSCRIPT, VTT: anything else in them
    is dropped here, at intake, so it never reaches a path or a Content-Disposition header."""
    if not isinstance(value, str):
        return value
    return re.sub(r"[^A-Za-z0-9_]", "", value)[:32]


MeetingId = Annotated[str, BeforeValidator(_meeting_id)]
FileToken = Annotated[str | None, BeforeValidator(_file_token)]
OptionalTime = Annotated[datetime | None, BeforeValidator(_empty_to_none)]


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class MeetingObject(_Lenient):
    """`payload.object` of meeting.started / meeting.ended (`id` arrives as a string there)."""

    id: MeetingId
    uuid: str
    host_id: str | None = None
    topic: str | None = None
    type: int | None = None
    start_time: OptionalTime = None
    end_time: OptionalTime = None
    duration: int | None = None
    timezone: str | None = None


class RecordingFile(_Lenient):
    """One entry of `recording_files`. CC and TIMELINE entries have no id/status/file_size, and
    files still being processed may have an empty `file_type`."""

    id: str | None = None
    meeting_id: str | None = None
    recording_start: OptionalTime = None
    recording_end: OptionalTime = None
    file_type: FileToken = None
    file_extension: FileToken = None
    file_size: int | None = None
    file_name: str | None = None
    play_url: str | None = None
    download_url: str | None = None
    status: str | None = None
    recording_type: str | None = None

    def stable_ref(self) -> str:
        """The file's id, or for id-less entries (CC, TIMELINE) what identifies them instead."""
        if self.id:
            return self.id
        start = self.recording_start.isoformat() if self.recording_start else ""
        return f"{self.file_type or ''}@{start}"


class RecordingObject(_Lenient):
    """`payload.object` of recording.completed and recording.transcript_completed; `id` arrives
    as a number there."""

    id: MeetingId
    uuid: str
    host_id: str | None = None
    host_email: str | None = None
    account_id: str | None = None
    topic: str | None = None
    type: int | None = None
    start_time: OptionalTime = None
    timezone: str | None = None
    duration: int | None = None
    share_url: str | None = None
    total_size: int | None = None
    recording_count: int | None = None
    recording_files: list[RecordingFile] = Field(default_factory=list)
    participant_audio_files: list[RecordingFile] = Field(default_factory=list)


class Participant(_Lenient):
    """`payload.object.participant` of meeting.participant_joined / _left (Rivet's
    MeetingParticipantJoinedEvent). `id` is the Zoom user id of a signed-in user, `user_id` a
    per-meeting id, `participant_uuid` stable across rejoins; `registrant_id` is set when the
    person joined through their own registration link (docs/attendance.md#what-zoom-reports)."""

    id: str | None = None
    user_id: str | None = None
    participant_uuid: str | None = None
    participant_user_id: str | None = None
    registrant_id: str | None = None
    user_name: str | None = None
    email: str | None = None
    join_time: OptionalTime = None
    leave_time: OptionalTime = None
    leave_reason: str | None = None

    def ref(self) -> str:
        """What tells this participant's events apart from others' in the same meeting."""
        return (self.participant_uuid or self.user_id or self.id or self.registrant_id
                or self.email or self.user_name or "")


class ParticipantObject(MeetingObject):
    participant: Participant


class MeetingPayload(_Lenient):
    account_id: str | None = None
    object: MeetingObject


class ParticipantPayload(_Lenient):
    account_id: str | None = None
    object: ParticipantObject


class RecordingPayload(_Lenient):
    account_id: str | None = None
    object: RecordingObject


class DeauthorizationPayload(_Lenient):
    """app_deauthorized has no `object`; its `event_ts` sits here, inside the payload."""

    account_id: str | None = None
    user_id: str
    client_id: str | None = None
    deauthorization_time: str
    signature: str | None = None
    event_ts: int | None = None
    user_data_retention: bool | None = None


class UrlValidationPayload(_Lenient):
    plain_token: str = Field(alias="plainToken")


class _Envelope(_Lenient):
    event: str
    event_ts: int | None = None


class MeetingStarted(_Envelope):
    event: Literal["meeting.started"]
    payload: MeetingPayload


class MeetingEnded(_Envelope):
    event: Literal["meeting.ended"]
    payload: MeetingPayload


class ParticipantJoined(_Envelope):
    event: Literal["meeting.participant_joined"]
    payload: ParticipantPayload


class ParticipantLeft(_Envelope):
    event: Literal["meeting.participant_left"]
    payload: ParticipantPayload


class RecordingCompleted(_Envelope):
    event: Literal["recording.completed"]
    # A bearer credential for the files: kept secret so it never lands in a log or repr.
    download_token: SecretStr | None = None
    payload: RecordingPayload


class RecordingTranscriptCompleted(_Envelope):
    event: Literal["recording.transcript_completed"]
    download_token: SecretStr | None = None
    payload: RecordingPayload


class AppDeauthorized(_Envelope):
    event: Literal["app_deauthorized"]
    payload: DeauthorizationPayload


class UrlValidation(_Envelope):
    event: Literal["endpoint.url_validation"]
    payload: UrlValidationPayload


class OtherEvent(_Envelope):
    """Any event we do not act on; kept whole so it can be stored and inspected."""

    payload: dict[str, Any] = Field(default_factory=dict)


WebhookEvent = Union[
    MeetingStarted,
    MeetingEnded,
    ParticipantJoined,
    ParticipantLeft,
    RecordingCompleted,
    RecordingTranscriptCompleted,
    AppDeauthorized,
    UrlValidation,
    OtherEvent,
]

_MODELS: dict[str, type[_Envelope]] = {
    "meeting.started": MeetingStarted,
    "meeting.ended": MeetingEnded,
    "meeting.participant_joined": ParticipantJoined,
    "meeting.participant_left": ParticipantLeft,
    "recording.completed": RecordingCompleted,
    "recording.transcript_completed": RecordingTranscriptCompleted,
    "app_deauthorized": AppDeauthorized,
    URL_VALIDATION_EVENT: UrlValidation,
}


# Events about one meeting: the inbox routes each to the booking whose meeting it names.
MEETING_EVENTS = (MeetingStarted, MeetingEnded, ParticipantJoined, ParticipantLeft,
                  RecordingCompleted, RecordingTranscriptCompleted)
PARTICIPANT_EVENTS = frozenset({"meeting.participant_joined", "meeting.participant_left"})

# What this service acts on; everything else Zoom may send is acknowledged and kept as `ignored`.
HANDLED_EVENTS = tuple(name for name in _MODELS if name != URL_VALIDATION_EVENT)
# Zoom's other Meetings-API events (developers.zoom.us webhook reference): real Zoom events that an
# app subscription may deliver, so they get a 200, not an error Zoom would retry. A type outside
# both lists is not a Zoom event at all.
IGNORED_EVENTS = frozenset({
    "meeting.created", "meeting.updated", "meeting.deleted", "meeting.recovered",
    "meeting.permanently_deleted", "meeting.alert", "meeting.risk_alert",
    "meeting.registration_created", "meeting.registration_approved",
    "meeting.registration_cancelled", "meeting.registration_denied",
    "meeting.sharing_started", "meeting.sharing_ended",
    "meeting.participant_jbh_waiting", "meeting.participant_jbh_joined",
    "meeting.participant_joined_waiting_room", "meeting.participant_left_waiting_room",
    "meeting.participant_admitted", "meeting.participant_put_in_waiting_room",
    "meeting.participant_joined_breakout_room", "meeting.participant_left_breakout_room",
    "meeting.participant_role_changed", "meeting.participant_feedback",
    "meeting.chat_message_sent", "meeting.chat_message_file_sent",
    "meeting.live_streaming_started", "meeting.live_streaming_stopped",
    "meeting.summary_completed", "meeting.summary_updated", "meeting.summary_deleted",
    "meeting.summary_trashed", "meeting.summary_recovered",
    "recording.started", "recording.paused", "recording.resumed", "recording.stopped",
    "recording.renamed", "recording.trashed", "recording.deleted", "recording.recovered",
    "recording.batch_trashed", "recording.batch_deleted", "recording.batch_recovered",
    "recording.archive_files_completed", "recording.cloud_storage_usage_updated",
    "recording.registration_created", "recording.registration_approved",
    "recording.registration_denied",
    "user.created", "user.updated", "user.deleted", "user.activated", "user.deactivated",
    "user.disassociated", "user.settings_updated", "user.signed_in", "user.signed_out",
    "user.presence_status_updated",
})
KNOWN_EVENTS = frozenset({URL_VALIDATION_EVENT, *HANDLED_EVENTS, *IGNORED_EVENTS})


class WebhookPayloadError(ValueError):
    """The body is not JSON, or not the shape its `event` promises. Safe to log (no body)."""


def parse_event(body: bytes | str | dict[str, Any]) -> WebhookEvent:
    """Parse a webhook body (raw bytes after the signature check, or already-decoded JSON)."""
    if isinstance(body, dict):
        data: Any = body
    else:
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise WebhookPayloadError("webhook body is not JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("event"), str):
        raise WebhookPayloadError("webhook body has no 'event' string")
    model = _MODELS.get(data["event"], OtherEvent)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        # Only field locations and messages, never input values: they may hold tokens.
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise WebhookPayloadError(f"{data['event']} payload is malformed: {problems}") from None


def dedupe_key(event: WebhookEvent) -> str | None:
    """A key equal for every delivery of the same event, or None for events never deduplicated.

    Built from what identifies the event, not from delivery details (`event_ts`, headers, byte
    layout), since retries are not guaranteed to repeat those (docs/zoom.md#webhook-retries-and-duplicates). Recording events
    include the file set: Zoom may send one `recording.completed` per rendered file, and each new
    set must get through.
    """
    if isinstance(event, UrlValidation):
        return None  # a challenge must be answered every time Zoom asks
    if isinstance(event, (MeetingStarted, MeetingEnded)):
        return f"{event.event}:{event.payload.object.uuid}"
    if isinstance(event, (ParticipantJoined, ParticipantLeft)):
        # One person joining (or leaving) at one moment; a rejoin is a new event.
        p = event.payload.object.participant
        when = p.join_time if isinstance(event, ParticipantJoined) else p.leave_time
        ident = hashlib.sha256(p.ref().encode("utf-8")).hexdigest()[:16]
        return f"{event.event}:{event.payload.object.uuid}:{ident}:{when.isoformat() if when else event.event_ts}"
    if isinstance(event, (RecordingCompleted, RecordingTranscriptCompleted)):
        obj = event.payload.object
        refs = sorted(f.stable_ref() for f in obj.recording_files + obj.participant_audio_files)
        digest = hashlib.sha256("\n".join(refs).encode("utf-8")).hexdigest()[:32]
        return f"{event.event}:{obj.uuid}:{digest}"
    if isinstance(event, AppDeauthorized):
        p = event.payload
        return f"{event.event}:{p.user_id}:{p.deauthorization_time}"
    # Unknown events: without knowing what identifies them, two genuine occurrences could differ
    # only in `event_ts`, so the whole canonicalised content (event_ts included) is the key.
    canonical = json.dumps(
        event.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), default=str
    )
    return f"{event.event}:{hashlib.sha256(canonical.encode('utf-8')).hexdigest()[:32]}"
