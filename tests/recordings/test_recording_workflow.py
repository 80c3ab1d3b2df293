"""The booking's recording steps on the time-skipping server, activities replaced by stand-ins.

Each test plays one way Zoom behaves after a call - events out of order and twice, a webhook that
never comes, a transcript that comes late or never, a Basic host, a file that cannot be fetched -
and checks what the workflow decided, when (in virtual time, from history) and that it replays.
Days of waiting take milliseconds.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker

from tests.recordings.fakes import FakeBooking, FakeZoomFiles, ref
from workflows.booking import IdiBookingWorkflow
from workflows.contract import BOOKING_STATUS
from workflows.recording_types import RecordingTimings
from workflows.contract import booking_workflow_id
from workflows.booking_types import MEETING_NOT_HELD_AFTER, BookingInput, ZoomEventSignal

TIMINGS = RecordingTimings()


@pytest.fixture
def env(time_skipping_env):
    return time_skipping_env


class Run:
    def __init__(self, env: WorkflowEnvironment, files: FakeZoomFiles | None = None) -> None:
        self.env, self.booking, self.files = env, FakeBooking(), files or FakeZoomFiles()
        self.task_queue = f"recording-wf-{uuid.uuid4().hex[:8]}"
        self.booking_id = uuid.uuid4().hex

    def worker(self) -> Worker:
        return Worker(self.env.client, task_queue=self.task_queue, workflows=[IdiBookingWorkflow],
                      activities=self.booking.activities() + self.files.activities())

    async def start(self, starts_in: timedelta = timedelta(hours=1), duration: int = 30) -> WorkflowHandle:
        now = await self.env.get_current_time()
        self.input = BookingInput(booking_id=self.booking_id, org_id="org-1", org_name="Acme Research",
                                  start_time=now + starts_in, duration_minutes=duration)
        handle = await self.env.client.start_workflow(
            IdiBookingWorkflow.run, self.input, id=booking_workflow_id(self.booking_id),
            task_queue=self.task_queue, id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING)
        await handle.execute_update(IdiBookingWorkflow.wait_scheduled)
        return handle


def event(event_id: str, event_type: str, *file_ids: str) -> ZoomEventSignal:
    return ZoomEventSignal(event_id=event_id, event_type=event_type, zoom_meeting_uuid="uuid/1==",
                           file_ids=list(file_ids))


async def send(handle: WorkflowHandle, *events: ZoomEventSignal) -> None:
    for e in events:
        await handle.signal(IdiBookingWorkflow.zoom_event, e)


async def scheduled_at(handle: WorkflowHandle, activity: str) -> list[datetime]:
    """When each call of an activity was scheduled (virtual time, from history)."""
    history = await handle.fetch_history()
    return [e.event_time.ToDatetime() for e in history.events
            if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
            and e.activity_task_scheduled_event_attributes.activity_type.name == activity]


async def status_times(handle: WorkflowHandle) -> dict[str, datetime]:
    """When each booking status was recorded (from the record_booking_status schedules)."""
    history = await handle.fetch_history()
    out = {}
    for e in history.events:
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED \
                and e.activity_task_scheduled_event_attributes.activity_type.name == "record_booking_status":
            payload = e.activity_task_scheduled_event_attributes.input.payloads[0]
            change = pydantic_data_converter.payload_converter.from_payload(payload)
            out.setdefault(change["status"], e.event_time.ToDatetime())
    return out


async def replays(handle: WorkflowHandle) -> None:
    await Replayer(workflows=[IdiBookingWorkflow], data_converter=pydantic_data_converter).replay_workflow(
        await handle.fetch_history())


async def test_events_in_any_order_and_twice_store_each_file_once_then_complete(env):
    run = Run(env)
    mp4, m4a, vtt = ref("f-mp4", "MP4"), ref("f-m4a", "M4A"), ref("f-vtt", "TRANSCRIPT")
    run.files.announced = {"e-rec1": [mp4], "e-rec2": [m4a], "e-rec3": [mp4, m4a], "e-tr": [vtt]}
    run.files.at_zoom = [mp4, m4a, vtt]
    async with run.worker():
        handle = await run.start()
        # One recording.completed per file, the first one before meeting.ended, each delivered twice.
        await send(handle, event("e-rec1", "recording.completed", "zoom-f-mp4"),
                   event("e-rec1", "recording.completed", "zoom-f-mp4"),
                   event("e-end", "meeting.ended"),
                   event("e-rec2", "recording.completed", "zoom-f-m4a"),
                   event("e-rec3", "recording.completed", "zoom-f-mp4", "zoom-f-m4a"),
                   event("e-rec2", "recording.completed", "zoom-f-m4a"),
                   event("e-tr", "recording.transcript_completed", "zoom-f-vtt"),
                   event("e-end", "meeting.ended"))
        result = await handle.result()
        described = await handle.describe()
    assert (result.status, result.status_reason) == ("completed", None)
    assert run.booking.trail == [("scheduled", None), ("ended", None), ("processing_recording", None),
                                 ("completed", None)]
    assert sorted(run.files.downloads) == ["f-m4a", "f-mp4", "f-vtt"]  # each file once
    assert sorted(run.files.registered) == ["e-rec1", "e-rec2", "e-rec3", "e-tr"]  # each event once
    assert len(run.files.polls) == 1  # webhooks were on time: only the last look before finishing
    assert described.typed_search_attributes.get(BOOKING_STATUS) == "completed"
    await replays(handle)


async def test_a_missed_recording_webhook_is_recovered_by_asking_zoom(env):
    run = Run(env)
    run.files.at_zoom = [ref("f-mp4", "MP4"), ref("f-vtt", "TRANSCRIPT")]
    async with run.worker():
        handle = await run.start()
        await send(handle, event("e-end", "meeting.ended"))
        result = await handle.result()
    assert (result.status, result.status_reason) == ("completed", None)
    assert sorted(run.files.downloads) == ["f-mp4", "f-vtt"]
    ended = (await status_times(handle))["ended"]
    first_poll = (await scheduled_at(handle, "poll_recording_files"))[0]
    # Zoom is asked only once the webhook is overdue, and with the instance uuid it reported.
    assert first_poll - ended >= TIMINGS.recording_first_poll - timedelta(seconds=1)
    assert run.files.polls[0].zoom_meeting_uuid == "uuid/1=="
    await replays(handle)


async def test_a_late_transcript_still_completes_the_booking_with_it(env):
    run = Run(env)
    mp4, vtt = ref("f-mp4", "MP4"), ref("f-vtt", "TRANSCRIPT")
    run.files.announced = {"e-rec": [mp4], "e-tr": [vtt]}
    run.files.at_zoom = [mp4]  # Zoom has not finished the transcript when the workflow asks
    async with run.worker():
        handle = await run.start()
        await send(handle, event("e-end", "meeting.ended"), event("e-rec", "recording.completed", "zoom-f-mp4"))
        await env.sleep(timedelta(hours=2))  # past the first transcript poll (30 min) and the next
        assert (await handle.query(IdiBookingWorkflow.state)).status == "processing_recording"
        await send(handle, event("e-tr", "recording.transcript_completed", "zoom-f-vtt"))
        result = await handle.result()
    assert (result.status, result.status_reason) == ("completed", None)
    assert sorted(run.files.downloads) == ["f-mp4", "f-vtt"]
    assert len(run.files.polls) >= 2  # it did ask Zoom while the transcript was late
    await replays(handle)


async def test_no_transcript_by_the_deadline_completes_without_it_and_says_so(env):
    run = Run(env)
    run.files.announced = {"e-rec": [ref("f-mp4", "MP4")]}
    async with run.worker():
        handle = await run.start()
        await send(handle, event("e-end", "meeting.ended"), event("e-rec", "recording.completed", "zoom-f-mp4"))
        result = await handle.result()
        state = await handle.query(IdiBookingWorkflow.state)
    assert (result.status, result.status_reason) == ("completed", "transcript_not_available")
    assert "no transcript within 12 hours" in state.status_message
    times = await status_times(handle)
    assert times["completed"] - times["processing_recording"] >= TIMINGS.transcript_deadline
    polls = await scheduled_at(handle, "poll_recording_files")
    gaps = [b - a for a, b in zip(polls, polls[1:])]
    # Doubling from 30 minutes, capped, then a last look at the deadline; never a busy loop.
    assert polls[0] - times["processing_recording"] >= TIMINGS.transcript_first_poll - timedelta(seconds=1)
    assert all(later >= earlier for earlier, later in zip(gaps, gaps[1:-1]))
    assert len(polls) <= 6
    await replays(handle)


async def test_no_recording_by_the_deadline_ends_no_cloud_recording(env):
    run = Run(env)
    async with run.worker():
        handle = await run.start()
        await send(handle, event("e-end", "meeting.ended"))
        result = await handle.result()
    assert (result.status, result.status_reason) == ("no_recording", "no_cloud_recording")
    times = await status_times(handle)
    assert times["no_recording"] - times["ended"] >= TIMINGS.recording_deadline
    polls = await scheduled_at(handle, "poll_recording_files")
    assert polls[-1] - times["ended"] >= TIMINGS.recording_deadline - timedelta(seconds=1)  # last look
    assert max(b - a for a, b in zip(polls, polls[1:])) <= TIMINGS.poll_max_interval + timedelta(seconds=1)
    assert run.files.downloads == []
    await replays(handle)


async def test_a_basic_host_ends_no_recording_at_once_with_the_reason(env):
    run = Run(env)
    run.files.plan = run.files.plan.model_copy(update={
        "host_can_cloud_record": False,
        "host_note": "The meeting's host, the Zoom user connected to your organization, is a Basic (free) Zoom user."})
    async with run.worker():
        handle = await run.start()
        await send(handle, event("e-end", "meeting.ended"))
        result = await handle.result()
        state = await handle.query(IdiBookingWorkflow.state)
    assert (result.status, result.status_reason) == ("no_recording", "host_cannot_cloud_record")
    assert "Basic (free) Zoom user" in state.status_message and "licence" in state.status_message
    assert run.files.polls == [] and run.files.downloads == []
    times = await status_times(handle)
    assert times["no_recording"] - times["ended"] < timedelta(minutes=1)


async def test_meeting_ended_lost_but_zoom_holds_a_recording_it_is_stored(env):
    run = Run(env)
    run.files.at_zoom = [ref("f-mp4", "MP4"), ref("f-vtt", "TRANSCRIPT")]
    async with run.worker():
        handle = await run.start(starts_in=timedelta(hours=2), duration=45)
        result = await handle.result()  # no webhook at all
    assert (result.status, result.status_reason) == ("completed", None)
    assert run.booking.trail[:3] == [("scheduled", None), ("ended", None), ("processing_recording", None)]
    assert sorted(run.files.downloads) == ["f-mp4", "f-vtt"]
    times = await status_times(handle)
    scheduled_end = run.input.start_time + timedelta(minutes=45)
    assert times["ended"] >= scheduled_end.replace(tzinfo=None) + MEETING_NOT_HELD_AFTER - timedelta(seconds=1)
    await replays(handle)


async def test_a_file_that_cannot_be_stored_is_marked_and_the_booking_says_which(env):
    run = Run(env)
    mp4, m4a, vtt = ref("f-mp4", "MP4"), ref("f-m4a", "M4A"), ref("f-vtt", "TRANSCRIPT")
    run.files.announced = {"e-rec": [mp4, m4a, vtt]}
    run.files.download_errors = {"f-m4a": ApplicationError("Zoom announced 1000 bytes but sent 12.",
                                                           type="size_mismatch", non_retryable=True)}
    async with run.worker():
        handle = await run.start()
        await send(handle, event("e-end", "meeting.ended"),
                   event("e-rec", "recording.completed", "zoom-f-mp4", "zoom-f-m4a", "zoom-f-vtt"))
        result = await handle.result()
        state = await handle.query(IdiBookingWorkflow.state)
    assert (result.status, result.status_reason) == ("completed", "recording_files_not_stored")
    assert [(f.file_id, f.reason) for f in run.files.failures] == [("f-m4a", "size_mismatch")]
    assert "2 of 3 recording files are stored" in state.status_message
    assert "M4A audio (size_mismatch)" in state.status_message


async def test_when_no_file_can_be_stored_the_booking_fails_with_the_reasons(env):
    run = Run(env)
    run.files.announced = {"e-rec": [ref("f-mp4", "MP4")]}
    run.files.download_errors = {"f-mp4": ApplicationError("gone", type="recording_file_gone", non_retryable=True)}
    async with run.worker():
        handle = await run.start()
        await send(handle, event("e-end", "meeting.ended"), event("e-rec", "recording.completed", "zoom-f-mp4"))
        result = await handle.result()
    assert (result.status, result.status_reason) == ("failed", "recording_download_failed")
    assert run.files.downloads == ["f-mp4"]  # recording_file_gone is not retried


async def test_activity_summaries_name_each_download(env):
    run = Run(env)
    run.files.announced = {"e-rec": [ref("f-mp4", "MP4"), ref("f-vtt", "TRANSCRIPT")]}
    async with run.worker():
        handle = await run.start()
        await send(handle, event("e-end", "meeting.ended"),
                   event("e-rec", "recording.completed", "zoom-f-mp4", "zoom-f-vtt"))
        await handle.result()
    history = await handle.fetch_history()
    summaries = [pydantic_data_converter.payload_converter.from_payload(e.user_metadata.summary, str)
                 for e in history.events
                 if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED and e.user_metadata.HasField("summary")]
    assert "download MP4 recording" in summaries and "download TRANSCRIPT transcript" in summaries
