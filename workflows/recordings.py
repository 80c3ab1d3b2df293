"""What a booking does after its meeting: wait for Zoom's recording and transcript, store each file.

IdiBookingWorkflow hands over to `RecordingSteps.run()` once Zoom says the meeting ended. The run
reads like the process: check the host can cloud-record at all, wait for `recording.completed`
(merging however many of them come, in any order, each file once), then for the transcript, which
Zoom sends in its own later event; meanwhile every file downloads in its own activity. A webhook
that does not come in time is not trusted to come at all: the steps ask Zoom for the meeting's
recording list on a doubling interval, and once more before giving up or finishing, so a missed
or late webhook never loses a file. Deadlines end the waits with a reason a person can act on.

Deterministic workflow code: it sees the outside world only through the activities named in
workflows/recording_activities.py and the booking's `zoom_event` signals (ids only).
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Awaitable, Callable

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from workflows.recording_activities import (
        download_recording_file,
        plan_recording,
        poll_recording_files,
        record_recording_file_failure,
        register_recording_files,
    )
    from workflows.retries import DB_RETRY, LIVENESS
    from workflows.recording_types import (
        RECORDING_EVENTS,
        TRANSCRIPT,
        DownloadFileInput,
        FileFailed,
        FileFailure,
        PollInput,
        PollResult,
        RecordingFileRef,
        RecordingPlan,
        RecordingPlanInput,
        RecordingReason,
        RegisterFilesInput,
    )
    from workflows.booking_types import BookingStatus, ZoomEventSignal

SetStatus = Callable[..., Awaitable[None]]

# A poll that keeps failing (Zoom down) is skipped, not waited on: the next one comes later anyway.
POLL_RETRY = RetryPolicy(initial_interval=timedelta(seconds=5), maximum_interval=timedelta(minutes=2),
                         maximum_attempts=5)
# Zoom hiccups and dropped connections are retried for about two hours (each retry resumes where
# the last stopped); a file Zoom no longer has is not. The interval stays short so a booking's
# files finish soon after Zoom recovers; a 429/5xx with Retry-After waits what the server asked
# (activities/recording_download.py sets next_retry_delay).
DOWNLOAD_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=5),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=240,
    non_retryable_error_types=[FileFailure.GONE],
)
# The longest one attempt may take: a multi-GiB recording over a slow link. Heartbeats, not this,
# notice a dead worker.
DOWNLOAD_ATTEMPT = timedelta(hours=6)

_KIND = {"MP4": "recording", "M4A": "audio", TRANSCRIPT: "transcript", "CHAT": "chat", "CC": "captions"}


def describe(ref: RecordingFileRef) -> str:
    """`MP4 recording`, `TRANSCRIPT transcript`... for summaries and messages."""
    return f"{ref.file_type} {_KIND.get(ref.file_type, 'file')}"


class RecordingSteps:
    def __init__(self, booking_id: str, events: dict[str, ZoomEventSignal], set_status: SetStatus) -> None:
        self._booking_id = booking_id
        # The booking's zoom_event signals by inbox id; the workflow's signal handler fills it.
        self._events = events
        self._set_status = set_status
        self._taken: set[str] = set()  # events whose files are registered
        self._files: dict[str, RecordingFileRef] = {}  # recording_files rows, by id
        self._outcomes: dict[str, str] = {}  # file id -> stored | failed
        self._failures: dict[str, str] = {}  # file id -> reason
        self._downloading: set[str] = set()
        self._running = False
        self._uuid: str | None = None  # the meeting instance Zoom reported, once known
        self._last_poll: datetime | None = None
        self._plan: RecordingPlan | None = None

    # --- what the booking workflow asks ---------------------------------------------------------

    def has_recording(self) -> bool:
        """Zoom announced a recording file, which it only does once the meeting has ended."""
        return any(e.event_type in RECORDING_EVENTS for e in self._events.values())

    async def found_at_zoom(self) -> bool:
        """Zoom never said the meeting ended; does it hold a recording of it all the same?"""
        return bool((await self._poll()).files)

    # --- the process ----------------------------------------------------------------------------

    async def run(self) -> None:
        """From `ended` to `completed` (or `no_recording` / `failed`), each with its reason."""
        ended_at = workflow.now()
        self._running = True
        self._plan = plan = await workflow.execute_activity(
            plan_recording,
            RecordingPlanInput(booking_id=self._booking_id),
            start_to_close_timeout=timedelta(minutes=1),
            heartbeat_timeout=LIVENESS,
            retry_policy=DB_RETRY,
            summary="check the host can cloud-record",
        )
        timings = plan.timings
        await self._take_events()
        self._start_downloads()
        if not plan.host_can_cloud_record and not self._files:
            await self._set_status(
                BookingStatus.NO_RECORDING,
                RecordingReason.HOST_CANNOT_CLOUD_RECORD,
                f"{plan.host_note or 'The meeting host cannot make cloud recordings.'} Zoom makes "
                "cloud recordings only for licensed users, so this interview has no recording. "
                "Give that Zoom user a licence, or connect a licensed user, before the next interview.",
            )
            return

        if not plan.cloud_recording_enabled and not self._has_media():
            # Zoom records nothing while cloud recording is off for the host
            # (docs/zoom.md#recording-settings); one look at Zoom covers a recording made before
            # it was switched off, instead of waiting out the deadline.
            await self._poll()
            if not self._has_media():
                await self._set_status(
                    BookingStatus.NO_RECORDING,
                    RecordingReason.CLOUD_RECORDING_DISABLED,
                    "Cloud recording is switched off for your organization's Zoom user, so Zoom "
                    "made no recording or transcript of this interview. Switch it on in Zoom "
                    "(Settings > Recording > Cloud recording) before the next interview.",
                )
                return

        await self._wait_for(self._has_media, ended_at + timings.recording_deadline,
                             timings.recording_first_poll, "recording completed")
        if not self._files:
            await self._set_status(
                BookingStatus.NO_RECORDING,
                RecordingReason.NO_CLOUD_RECORDING,
                f"Zoom reported no cloud recording of this meeting within {_span(timings.recording_deadline)} "
                "after it ended, and its recording list stayed empty. Check that cloud recording is "
                "on for the host (Zoom web settings > Recording) and that nobody stopped or deleted it.",
            )
            return

        await self._set_status(BookingStatus.PROCESSING_RECORDING)
        arrived_at = workflow.now()
        if plan.transcript_enabled:
            await self._wait_for(self._has_transcript, arrived_at + timings.transcript_deadline,
                                 timings.transcript_first_poll, "transcript completed")
        # else Zoom makes no transcript (audio transcripts are off): no waiting for it; the look
        # below still takes one Zoom already has.
        if self._last_poll is None or self._last_poll < arrived_at:
            await self._poll()  # one last look: files no webhook announced
        await self._downloads_settled()
        await self._conclude()

    async def _wait_for(self, done: Callable[[], bool], until: datetime, first_poll: timedelta,
                        summary: str) -> None:
        """Until `done()` or `until`, taking events as they come; Zoom is asked after `first_poll`
        without news, then at doubling intervals, and once more at the deadline."""
        interval = first_poll
        next_poll = min(workflow.now() + interval, until)
        while True:
            await self._take_events()
            if done():
                return
            now = workflow.now()
            if now >= until:
                if self._last_poll is None or self._last_poll < now:
                    await self._poll()
                return
            if now >= next_poll:
                await self._poll()
                if done():
                    return
                interval = min(interval * 2, self._plan.timings.poll_max_interval)
                next_poll = min(workflow.now() + interval, until)
                continue
            try:
                await workflow.wait_condition(self._news, timeout=next_poll - now, timeout_summary=summary)
            except asyncio.TimeoutError:
                pass

    async def _downloads_settled(self) -> None:
        """Until every known file is stored or failed, taking any late events on the way."""
        while True:
            await self._take_events()
            if not self._news() and len(self._outcomes) == len(self._files):
                return
            await workflow.wait_condition(lambda: self._news() or len(self._outcomes) == len(self._files))

    async def _conclude(self) -> None:
        files = list(self._files.values())
        stored = [f for f in files if self._outcomes.get(f.id) == "stored"]
        failed = [f for f in files if self._outcomes.get(f.id) == "failed"]
        transcript = any(f.file_type == TRANSCRIPT for f in stored)
        lost = ", ".join(f"{describe(f)} ({self._failures.get(f.id, FileFailure.FAILED)})" for f in failed)
        if not stored:
            await self._set_status(
                BookingStatus.FAILED, RecordingReason.DOWNLOAD_FAILED,
                f"None of the {len(files)} recording files could be stored: {lost}. Each was retried "
                "for hours. The files stay at Zoom; ask support to re-drive this booking.")
        elif failed:
            await self._set_status(
                BookingStatus.COMPLETED, RecordingReason.FILES_NOT_STORED,
                f"{len(stored)} of {len(files)} recording files are stored; these could not be: "
                f"{lost}. They stay at Zoom; ask support to re-drive this booking.")
        elif not transcript and not self._plan.transcript_enabled:
            await self._set_status(
                BookingStatus.COMPLETED, RecordingReason.TRANSCRIPTION_DISABLED,
                "The recording is stored, but audio transcripts are switched off for your "
                "organization's Zoom user, so Zoom made no transcript. Tick Create audio transcript "
                "in Zoom (Settings > Recording > Advanced cloud recording settings) before the "
                "next interview.")
        elif not transcript:
            await self._set_status(
                BookingStatus.COMPLETED, RecordingReason.TRANSCRIPT_NOT_AVAILABLE,
                "The recording is stored, but Zoom made no transcript within "
                f"{_span(self._plan.timings.transcript_deadline)} of it. Zoom transcribes only when "
                "'Create audio transcript' is on in the host's cloud recording settings.")
        else:
            await self._set_status(BookingStatus.COMPLETED)

    # --- files ----------------------------------------------------------------------------------

    def _news(self) -> bool:
        return any(e.event_type in RECORDING_EVENTS and e.event_id not in self._taken
                   for e in self._events.values())

    def _has_media(self) -> bool:
        return any(f.file_type != TRANSCRIPT for f in self._files.values())

    def _has_transcript(self) -> bool:
        return any(f.file_type == TRANSCRIPT for f in self._files.values())

    async def _take_events(self) -> None:
        """Register the files of every recording event not yet seen (duplicates never get here:
        the signal handler keeps the first copy of each inbox event)."""
        for event in list(self._events.values()):
            if event.event_type == "meeting.ended" and event.zoom_meeting_uuid:
                self._uuid = event.zoom_meeting_uuid  # the instance to ask Zoom about
            if event.event_type not in RECORDING_EVENTS or event.event_id in self._taken:
                continue
            refs = await workflow.execute_activity(
                register_recording_files,
                RegisterFilesInput(booking_id=self._booking_id, event_id=event.event_id),
                start_to_close_timeout=timedelta(minutes=1),
                heartbeat_timeout=LIVENESS,
                retry_policy=DB_RETRY,
                summary=f"note the files of {event.event_type}",
            )
            self._taken.add(event.event_id)
            self._uuid = event.zoom_meeting_uuid or self._uuid
            self._add(refs)

    async def _poll(self) -> PollResult:
        self._last_poll = workflow.now()
        try:
            result = await workflow.execute_activity(
                poll_recording_files,
                PollInput(booking_id=self._booking_id, zoom_meeting_uuid=self._uuid),
                start_to_close_timeout=timedelta(minutes=1),
                heartbeat_timeout=LIVENESS,
                retry_policy=POLL_RETRY,
                summary="ask Zoom for the recording files",
            )
        except ActivityError:
            return PollResult(reason="zoom_unavailable")
        self._add(result.files)
        return result

    def _add(self, refs: list[RecordingFileRef]) -> None:
        for ref in refs:
            if ref.id in self._files:
                continue
            self._files[ref.id] = ref
            if ref.status == "stored":  # a re-driven booking keeps what it already has
                self._outcomes[ref.id] = "stored"
        self._start_downloads()

    def _start_downloads(self) -> None:
        if not self._running:
            return
        for ref in self._files.values():
            if ref.id not in self._outcomes and ref.id not in self._downloading:
                self._downloading.add(ref.id)
                asyncio.create_task(self._download(ref))

    async def _download(self, ref: RecordingFileRef) -> None:
        heartbeat = self._plan.timings.download_heartbeat
        try:
            await workflow.execute_activity(
                download_recording_file,
                DownloadFileInput(booking_id=self._booking_id, file_id=ref.id,
                                  lease_seconds=heartbeat.total_seconds()),
                start_to_close_timeout=DOWNLOAD_ATTEMPT,
                heartbeat_timeout=heartbeat,
                retry_policy=DOWNLOAD_RETRY,
                summary=f"download {describe(ref)}",
            )
            self._outcomes[ref.id] = "stored"
            return
        except ActivityError as err:
            cause = err.cause
            if isinstance(cause, ApplicationError) and cause.type:
                reason, message = cause.type, cause.message
            else:
                reason, message = FileFailure.FAILED, f"the download did not finish ({cause or err})"
        await workflow.execute_activity(
            record_recording_file_failure,
            FileFailed(booking_id=self._booking_id, file_id=ref.id, reason=reason, message=message),
            start_to_close_timeout=timedelta(seconds=30),
            heartbeat_timeout=LIVENESS,
            retry_policy=DB_RETRY,
            summary=f"{describe(ref)} not stored ({reason})",
        )
        self._failures[ref.id] = reason
        self._outcomes[ref.id] = "failed"


def _span(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    if hours >= 1:
        return f"{hours:g} hours"
    return f"{delta.total_seconds() / 60:g} minutes"
