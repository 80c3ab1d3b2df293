"""How a booking looks to API clients: the booking, its meeting as soon as it exists, its files.

Everything is read from the database, which the workflow keeps current, so a GET never waits on
Temporal or Zoom. The start URL is not here: it is a host credential, fetched on request only.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

from pydantic import BaseModel, Field
from sqlmodel import col, select

import attendance as rules
from metrics import BOOKINGS_SCHEDULING_DELAYED
from connections.warnings import (CLOUD_RECORDING_DISABLED, RECORDING_SETTING_CODES,
                                  TRANSCRIPTION_DISABLED)
from models import Attendee, Booking, Meeting, RecordingFile, ZoomConnection
from workflows.booking_types import BookingStatusValue

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services import Services


class MeetingOut(BaseModel):
    zoom_meeting_id: str
    join_url: str = Field(description="The meeting's join link (anyone with it may ask to join)")
    interviewee_join_url: str | None = Field(
        None, description="The interviewee's own join link: they are registered on the meeting, so "
                          "joins through it name them. Null until registered, or when Zoom "
                          "refused registration (registration_status); then give them join_url. "
                          "Added after the first release.")
    registration_status: str | None = Field(
        None, description="registered, not_registered (registration_reason says why), or null "
                          "while not tried yet. Added after the first release.")
    registration_reason: str | None = Field(
        None, description="Why not registered: host_not_licensed, missing_scope, zoom_refused, "
                          "zoom_unavailable, connection_unavailable, host_changed, no_meeting, "
                          "zoom_answer_incomplete")
    host_kind: str = Field(description="org: the org's own Zoom user; system: Converge's account")
    host_name: str
    host_email: str
    fallback_reason: str | None = Field(
        None, description="Why the system account hosts it (not_connected, expired, revoked, …)")
    start_time: datetime
    duration_minutes: int
    status: str = Field(description="scheduled, or deleted once the booking is cancelled")


class RecordingOut(BaseModel):
    id: str
    file_type: str
    file_extension: str
    size_bytes: int | None
    sha256: str | None
    status: str = Field(description="pending, downloading, stored or failed")
    status_reason: str | None = Field(None, description="Why a failed file is not stored (size_mismatch, …)")
    participant_id: str | None = Field(
        None, description="For a per-participant audio file (Zoom's participant_audio_files): the "
                          "attendance participant it belongs to, when known")
    file_name: str | None = Field(None, description="Zoom's name for a per-participant audio file")


class SegmentOut(BaseModel):
    joined_at: datetime | None
    left_at: datetime | None = Field(None, description="None while still in the meeting")
    source: str = Field(description="webhooks, zoom_participants_list, or both")


class ParticipantOut(BaseModel):
    id: str
    role: str = Field(description="host, interviewee or other")
    name: str
    email: str
    matched_by: str | None = Field(
        None, description="How this person was recognised: registrant_id, host_user_id, email or "
                          "display_name (weakest)")
    minutes: int = Field(description="Minutes in the meeting, rejoins added up")
    segments: list[SegmentOut]


class AttendanceOut(BaseModel):
    status: str | None = Field(
        None, description="attended, no_show (the interviewee never joined), host_absent, or None "
                          "while not settled (live, or Zoom could not say)")
    source: str | None = Field(None, description="webhooks, zoom_participants_list or both")
    host_joined_at: datetime | None = None
    interviewee_minutes: int | None = None
    participants: list[ParticipantOut] = []


class RecordingNoticeOut(BaseModel):
    code: str = Field(description="cloud_recording_disabled (no recording, so no transcript "
                                  "either) or transcription_disabled (a recording, no transcript)")
    message: str


class BookingOut(BaseModel):
    id: str
    org_id: str
    session_id: str
    participant_name: str
    participant_email: str
    start_time: datetime
    duration_minutes: int
    status: BookingStatusValue = Field(description="scheduling, scheduled, in_progress (the meeting is live), ended, "
                                    "processing_recording, completed, failed, cancelled, no_show "
                                    "or no_recording")
    status_reason: str | None = None
    status_message: str | None = Field(None, description="What happened and what to do, in words")
    recording_notice: RecordingNoticeOut | None = Field(
        None, description="Set while the interview is ahead or its files are awaited, when the "
                          "org's Zoom user has cloud recording or audio transcripts switched off "
                          "(as Zoom said at the last look at the Integrations status): no "
                          "recording or no transcript will come. Never set for Converge's account")
    workflow_id: str | None
    meeting: MeetingOut | None = None
    recordings: list[RecordingOut] = []
    attendance: AttendanceOut = AttendanceOut()
    created_at: datetime
    updated_at: datetime


class BookingList(BaseModel):
    bookings: list[BookingOut]
    next_page_token: str | None = Field(None, description="Pass as page_token for the next page; "
                                                          "None on the last page")


class StartUrlOut(BaseModel):
    start_url: str = Field(description="Starts the meeting as its host; a secret, valid about 2 hours")
    zoom_meeting_id: str
    host_email: str
    expires_in_seconds: int = 7200


def _utc(value: datetime) -> datetime:
    return value.astimezone(timezone.utc)


def _participant_out(a: Attendee, now: datetime) -> ParticipantOut:
    return ParticipantOut(
        id=a.id, role=a.role, name=a.display_name, email=a.email, matched_by=a.matched_by,
        minutes=rules.minutes(a.segments, now),
        segments=[SegmentOut(joined_at=rules.parse_time(g.get("joined_at")),
                             left_at=rules.parse_time(g.get("left_at")), source=g.get("source") or "")
                  for g in a.segments])


def _audio_owner(f: RecordingFile, people: list[Attendee]) -> str | None:
    """Zoom names a participant's audio file after the person ("Audio only - Riley Chen")."""
    if not f.file_name:
        return None
    name = " ".join(f.file_name.casefold().split())
    named = [a for a in people if a.display_name and " ".join(a.display_name.casefold().split()) in name]
    named.sort(key=lambda a: len(a.display_name), reverse=True)  # the most specific name wins
    return named[0].id if named else None


log = logging.getLogger("api.bookings")

# A healthy stack schedules a booking in a second or two; past SCHEDULING_DELAYED_AFTER_SECONDS
# (default a minute) something is stuck (no worker, Temporal or Zoom away) and the person waiting
# should hear so, and ops be told.
SCHEDULING_DELAYED_AFTER = timedelta(minutes=1)
SCHEDULING_DELAYED = ("Scheduling is delayed: the Zoom meeting has not been created yet. Our team "
                      "has been alerted; the booking is kept and completes on its own once the "
                      "service recovers, so there is no need to book again.")


# Until these the booking still waits for Zoom's files, so what the host's settings say matters.
_AWAITING_FILES = ("scheduled", "in_progress", "ended", "processing_recording")
_NOTICES = {
    CLOUD_RECORDING_DISABLED: (
        "No recording or transcript will come for this interview: cloud recording is switched "
        "off for your organization's Zoom user. Switch it on in Zoom (Settings > Recording > "
        "Cloud recording) before the interview starts; Integrations shows when it is on again."),
    TRANSCRIPTION_DISABLED: (
        "No transcript will come for this interview: audio transcripts are switched off for your "
        "organization's Zoom user (the recording itself is made). Tick Create audio transcript in "
        "Zoom (Settings > Recording > Advanced cloud recording settings) before the interview "
        "ends; Integrations shows when it is on again."),
}


def recording_notice(booking: Booking, meeting: Meeting | None,
                     connection: ZoomConnection | None) -> RecordingNoticeOut | None:
    """What the org host's recording settings mean for this booking (docs/zoom.md#recording-settings).

    Only for a meeting on the org's own Zoom user that is still the connected one: a reconnect as
    another user says nothing about the old host's settings, and Converge's account records."""
    if (booking.status not in _AWAITING_FILES or meeting is None or meeting.host_kind != "org"
            or connection is None or connection.status != "active"
            or (meeting.host_user_id and meeting.host_user_id != connection.zoom_user_id)):
        return None
    code = next((w.get("code") for w in connection.warnings
                 if w.get("code") in RECORDING_SETTING_CODES), None)
    return RecordingNoticeOut(code=code, message=_NOTICES[code]) if code else None


def _status_message(booking: Booking, meeting: Meeting | None, now: datetime,
                    delayed_after: timedelta, notice: RecordingNoticeOut | None = None) -> str | None:
    if booking.status != "scheduling" or meeting is not None:
        return booking.status_message or (notice.message if notice else None)
    waited = now - _utc(booking.created_at)
    if waited < delayed_after:
        return booking.status_message
    BOOKINGS_SCHEDULING_DELAYED.inc()
    log.warning("booking %s still scheduling after %.0f s (org %s): check /healthz and the worker",
                booking.id, waited.total_seconds(), booking.org_id)
    return SCHEDULING_DELAYED


def booking_out(booking: Booking, meeting: Meeting | None, files: list[RecordingFile],
                people: list[Attendee] | None = None,
                delayed_after: timedelta = SCHEDULING_DELAYED_AFTER,
                connection: ZoomConnection | None = None) -> BookingOut:
    people = people or []
    now = datetime.now(timezone.utc)
    notice = recording_notice(booking, meeting, connection)
    order = {"host": 0, "interviewee": 1}
    people = sorted(people, key=lambda a: (order.get(a.role, 2), a.display_name))
    return BookingOut(
        id=booking.id,
        org_id=booking.org_id,
        session_id=booking.session_id,
        participant_name=booking.participant_name,
        participant_email=booking.participant_email,
        start_time=_utc(booking.start_time),
        duration_minutes=booking.duration_minutes,
        status=booking.status,
        status_reason=booking.status_reason,
        status_message=_status_message(booking, meeting, now, delayed_after, notice),
        recording_notice=notice,
        workflow_id=booking.workflow_id,
        meeting=None if meeting is None else MeetingOut(
            zoom_meeting_id=meeting.zoom_meeting_id,
            join_url=meeting.join_url,
            interviewee_join_url=booking.interviewee_join_url,
            registration_status=booking.registration_status,
            registration_reason=booking.registration_reason,
            host_kind=meeting.host_kind,
            host_name=meeting.host_name,
            host_email=meeting.host_email,
            fallback_reason=meeting.fallback_reason,
            start_time=_utc(meeting.start_time),
            duration_minutes=meeting.duration_minutes,
            status=meeting.status,
        ),
        recordings=[
            RecordingOut(id=f.id, file_type=f.file_type, file_extension=f.file_extension,
                         size_bytes=f.size_bytes, sha256=f.sha256, status=f.status,
                         status_reason=f.status_reason, file_name=f.file_name,
                         participant_id=_audio_owner(f, people))
            for f in files
        ],
        attendance=AttendanceOut(
            status=booking.attendance_status, source=booking.attendance_source,
            host_joined_at=_utc(booking.host_joined_at) if booking.host_joined_at else None,
            interviewee_minutes=booking.interviewee_minutes,
            participants=[_participant_out(a, now) for a in people]),
        created_at=_utc(booking.created_at),
        updated_at=_utc(booking.updated_at),
    )


async def load_bookings(services: Services, bookings: list[Booking]) -> list[BookingOut]:
    """Views of many bookings in five queries."""
    if not bookings:
        return []
    ids = [b.id for b in bookings]
    async with services.db.session() as s:
        meetings = {m.booking_id: m for m in (await s.exec(
            select(Meeting).where(col(Meeting.booking_id).in_(ids))
        )).all()}
        files: dict[str, list[RecordingFile]] = {}
        for f in (await s.exec(
            select(RecordingFile).where(col(RecordingFile.booking_id).in_(ids))
            .order_by(RecordingFile.created_at, RecordingFile.id)
        )).all():
            files.setdefault(f.booking_id, []).append(f)
        people: dict[str, list[Attendee]] = {}
        for a in (await s.exec(select(Attendee).where(col(Attendee.booking_id).in_(ids)))).all():
            people.setdefault(a.booking_id, []).append(a)
        connection_ids = {m.connection_id for m in meetings.values() if m.host_kind == "org" and m.connection_id}
        connections = {c.id: c for c in (await s.exec(
            select(ZoomConnection).where(col(ZoomConnection.id).in_(connection_ids))
        )).all()} if connection_ids else {}

    def connection_of(booking_id: str) -> ZoomConnection | None:
        meeting = meetings.get(booking_id)
        return connections.get(meeting.connection_id) if meeting and meeting.connection_id else None

    delayed_after = timedelta(seconds=services.settings.scheduling_delayed_after_seconds)
    return [booking_out(b, meetings.get(b.id), files.get(b.id, []), people.get(b.id), delayed_after,
                        connection_of(b.id)) for b in bookings]


async def load_booking(services: Services, booking: Booking) -> BookingOut:
    return (await load_bookings(services, [booking]))[0]
