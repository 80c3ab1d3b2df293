"""The recording steps' activities that read and write the recording_files table (downloads are in
activities/recording_download.py).

Files come from two places, webhook events (through the inbox) and Zoom's own recording list (a
poll when a webhook is late or lost), and both go through `save_files`: one row per meeting and
Zoom file id (a unique constraint), however often and in whatever order Zoom announces a file.
"""

from __future__ import annotations

import logging

from sqlalchemy import func, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlmodel import select
from temporalio import activity

from activities.liveness import beats

from models import Meeting, RecordingFile, WebhookEvent, ZoomConnection, utcnow
from models.tables import new_id
from connections import recording_settings
from connections.meeting_host import MeetingHostChanged, meeting_api
from connections.tokens import ConnectionUnavailable
from workflows.recording_types import (
    FileFailed,
    PollInput,
    PollResult,
    RecordingFileRef,
    RecordingPlan,
    RecordingPlanInput,
    RecordingTimings,
    RegisterFilesInput,
)
from zoom.client import ZoomApi
from zoom.errors import (
    ZoomError,
    ZoomMeetingNotFound,
    ZoomRecordingNotFound,
    ZoomTransientError,
)
from zoom.webhooks import RecordingObject, WebhookPayloadError, parse_event

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services import Services

log = logging.getLogger("recordings")

BASIC_USER = 1  # Zoom user type 1: no cloud recording (docs/zoom.md#user-types-and-cloud-recording)


async def host_api(services: Services, meeting: Meeting) -> ZoomApi:
    """Zoom as the meeting's host account: the org's connection, or Converge's system account.

    An org that reconnected as another Zoom user cannot see the old user's recordings: asking
    would read as "no recording", so that case is reported like an unusable connection."""
    try:
        return await meeting_api(services, meeting)
    except MeetingHostChanged as exc:
        raise ConnectionUnavailable("host_changed", str(exc)) from None


async def booking_meeting(services: Services, booking_id: str) -> Meeting:
    async with services.db.session() as s:
        meeting = (await s.exec(select(Meeting).where(Meeting.booking_id == booking_id))).first()
    if meeting is None:
        raise LookupError(f"booking {booking_id} has no meeting")
    return meeting


_FILES = RecordingFile.__table__
_REF_COLUMNS = [_FILES.c[name] for name in
                ("id", "zoom_file_id", "file_type", "file_extension", "expected_size", "status")]


def downloadable(f) -> bool:
    """Zoom lists files still being processed with no type or a non-completed status."""
    return bool(f.download_url and f.file_type and (f.status or "completed").lower() == "completed")


async def save_files(services: Services, meeting: Meeting, obj: RecordingObject) -> list[RecordingFileRef]:
    """Upsert the object's downloadable files; the refs of those rows (new or already known)."""
    refs = []
    now = utcnow()
    async with services.db.session() as s:
        # participant_audio_files: one audio file per person, stored like the rest; its file
        # name says whose it is (shown under that participant, api/booking_views.py).
        tagged = [(f, None) for f in obj.recording_files] + [
            (f, f.file_name or "") for f in obj.participant_audio_files]
        for f, person_file in tagged:
            if not downloadable(f):
                continue
            insert = pg_insert(RecordingFile).values(
                id=new_id(), meeting_id=meeting.id, booking_id=meeting.booking_id, org_id=meeting.org_id,
                zoom_file_id=f.stable_ref(), zoom_meeting_uuid=f.meeting_id or obj.uuid,
                file_type=f.file_type.upper(), file_extension=(f.file_extension or "").upper(),
                recording_type=f.recording_type or ("participant_audio" if person_file is not None else None),
                expected_size=f.file_size, download_url=f.download_url,
                file_name=person_file, status="pending", created_at=now, updated_at=now,
            )
            # DO UPDATE (not NOTHING) so RETURNING gives the existing row too; a later listing
            # may carry a fresher URL, and a size Zoom left out before.
            upsert = insert.on_conflict_do_update(
                constraint="uq_recording_file",
                set_={"download_url": insert.excluded.download_url,
                      "expected_size": func.coalesce(_FILES.c.expected_size, insert.excluded.expected_size)},
            ).returning(*_REF_COLUMNS)
            row = (await s.execute(upsert)).one()
            refs.append(RecordingFileRef(**row._mapping))
        await s.commit()
    return refs




class RecordingActivities:
    def __init__(self, services: Services, timings: RecordingTimings | None = None) -> None:
        self._services = services
        self._timings = timings or RecordingTimings()

    @activity.defn(name="plan_recording")
    @beats
    async def plan_recording(self, inp: RecordingPlanInput) -> RecordingPlan:
        meeting = await booking_meeting(self._services, inp.booking_id)
        user_type, who = await self._host_type(meeting)
        can_record = user_type != BASIC_USER
        cloud, transcript = await self._host_switches(meeting) if can_record else (True, True)
        return RecordingPlan(
            booking_id=inp.booking_id,
            host_can_cloud_record=can_record,
            host_note=None if can_record else f"The meeting's host, {who}, is a Basic (free) Zoom user.",
            cloud_recording_enabled=cloud,
            transcript_enabled=transcript,
            timings=self._timings,
        )

    async def _host_switches(self, meeting: Meeting) -> tuple[bool, bool]:
        """Whether the org host's Zoom settings have cloud recording and audio transcripts on,
        read now (docs/zoom.md#recording-settings). Unknown counts as on: the waits and polls
        then find out. Converge's own hosts are set up to record and are not asked."""
        if meeting.host_kind != "org" or not meeting.connection_id:
            return True, True
        async with self._services.db.session() as s:
            conn = await s.get(ZoomConnection, meeting.connection_id)
        try:
            api = await host_api(self._services, meeting)
        except ConnectionUnavailable:
            return True, True
        recording = ((await recording_settings.read(api, conn.scopes if conn else "")) or {}).get("recording", {})
        transcript = recording.get("recording_audio_transcript", recording.get("audio_transcript"))
        return recording.get("cloud_recording") is not False, transcript is not False

    async def _host_type(self, meeting: Meeting) -> tuple[int | None, str]:
        """The host's Zoom user type now (Zoom may have changed the licence since connect time),
        else as stored at connect time. Org users are not named: history is read by ops."""
        services = self._services
        if meeting.host_kind == "org":
            async with services.db.session() as s:
                conn = await s.get(ZoomConnection, meeting.connection_id) if meeting.connection_id else None
            stored = conn.zoom_user_type if conn else None
            try:
                return (await (await host_api(services, meeting)).get_me()).get("type", stored), \
                    "the Zoom user connected to your organization"
            except (ConnectionUnavailable, ZoomError) as exc:
                log.info("booking %s: host type from connect time (%s)", meeting.booking_id, type(exc).__name__)
                return stored, "the Zoom user connected to your organization"
        try:
            return (await (await host_api(services, meeting)).get_user(meeting.host_email)).get("type"), \
                f"Converge's system Zoom user {meeting.host_email}"
        except (ConnectionUnavailable, ZoomError):
            return None, f"Converge's system Zoom user {meeting.host_email}"

    @activity.defn(name="register_recording_files")
    @beats
    async def register_recording_files(self, inp: RegisterFilesInput) -> list[RecordingFileRef]:
        async with self._services.db.session() as s:
            event = await s.get(WebhookEvent, inp.event_id)
        if event is None or event.booking_id != inp.booking_id:
            log.warning("booking %s: inbox event %s is not this booking's", inp.booking_id, inp.event_id)
            return []
        try:
            parsed = parse_event(event.payload)
            obj = parsed.payload.object
        except (WebhookPayloadError, AttributeError):
            log.warning("booking %s: inbox event %s has no recording object", inp.booking_id, inp.event_id)
            return []
        if not isinstance(obj, RecordingObject):
            return []
        return await save_files(self._services, await booking_meeting(self._services, inp.booking_id), obj)

    @activity.defn(name="poll_recording_files")
    @beats
    async def poll_recording_files(self, inp: PollInput) -> PollResult:
        """Zoom's list for the instance (the UUID from a webhook), else for the meeting id, which
        Zoom answers with its latest instance. Transient failures raise (Temporal retries)."""
        meeting = await booking_meeting(self._services, inp.booking_id)
        try:
            api = await host_api(self._services, meeting)
        except ConnectionUnavailable as exc:
            return PollResult(reason=f"host_unavailable: {exc.reason}")
        refs = [inp.zoom_meeting_uuid, meeting.zoom_meeting_id] if inp.zoom_meeting_uuid else [meeting.zoom_meeting_id]
        body, reason = None, "not_ready"
        for ref in refs:
            try:
                body = await api.get_recordings(ref, download_access_token=False)
                break
            except ConnectionUnavailable as exc:
                return PollResult(reason=f"host_unavailable: {exc.reason}")
            except ZoomRecordingNotFound:
                reason = "not_ready"
            except ZoomMeetingNotFound:
                reason = "meeting_not_found"
            except ZoomTransientError:
                raise
            except ZoomError as exc:
                return PollResult(reason=f"zoom_refused: {exc.code or exc.status}")
        if body is None:
            return PollResult(reason=reason)
        obj = RecordingObject.model_validate(body)
        files = await save_files(self._services, meeting, obj)
        return PollResult(files=files, reason=None if files else "not_ready")

    @activity.defn(name="record_recording_file_failure")
    @beats
    async def record_recording_file_failure(self, inp: FileFailed) -> None:
        log.warning("booking %s: recording file %s not stored: %s (%s)",
                    inp.booking_id, inp.file_id, inp.reason, inp.message)
        async with self._services.db.session() as s:
            await s.exec(
                update(RecordingFile)
                .where(RecordingFile.id == inp.file_id, RecordingFile.booking_id == inp.booking_id,
                       RecordingFile.status != "stored")
                .values(status="failed", status_reason=inp.reason, updated_at=utcnow())
            )
            await s.commit()
