"""IdiBookingWorkflow's live and no-show logic on the time-skipping server, with stand-in
activities: meeting.started makes the booking `in_progress` (and it can no longer be moved or
cancelled), participant events are folded into the record by the activity (ids only in
history), and the settled attendance decides between the recording steps' outcome and `no_show`
(with the recordings still stored)."""

from __future__ import annotations

import asyncio

import pytest
from temporalio.client import WorkflowUpdateFailedError

from tests.bookings.test_booking_workflow import FakeZoom, Run, replays, scheduled
from tests.recordings.fakes import ref
from workflows.booking import IdiBookingWorkflow
from workflows.booking_types import AttendanceSummary, ZoomEventSignal


@pytest.fixture
def env(time_skipping_env):
    return time_skipping_env


def event(event_id: str, kind: str) -> ZoomEventSignal:
    return ZoomEventSignal(event_id=event_id, event_type=kind, zoom_meeting_uuid="u1==")


async def _live(handle) -> None:
    await handle.signal(IdiBookingWorkflow.zoom_event, event("e-start", "meeting.started"))
    while (await handle.query(IdiBookingWorkflow.state)).status != "in_progress":
        await asyncio.sleep(0.05)


async def test_started_is_live_then_attended_completes(env):
    fake = FakeZoom()
    fake.files.at_zoom = [ref("f-mp4", "MP4"), ref("f-vtt", "TRANSCRIPT")]
    fake.files.attendance = AttendanceSummary(known=True, source="webhooks", host_joined=True,
                                              interviewee_joined=True, interviewee_minutes=30)
    run = Run(env, fake)
    async with run.worker():
        handle = await run.start()
        await scheduled(handle)
        await _live(handle)
        with pytest.raises(WorkflowUpdateFailedError):
            await handle.execute_update(IdiBookingWorkflow.cancel)  # it is taking place
        for n in range(3):
            await handle.signal(IdiBookingWorkflow.zoom_event, event(f"e-p{n}", "meeting.participant_joined"))
        await handle.signal(IdiBookingWorkflow.zoom_event, event("e-end", "meeting.ended"))
        result = await handle.result()
    assert result.status == "completed"
    assert fake.status_trail == [("scheduled", None), ("in_progress", None), ("ended", None),
                                 ("processing_recording", None), ("completed", None)]
    assert getattr(fake.files, "attendance_records", 0) >= 1  # the record followed the events
    assert [s.zoom_meeting_uuid for s in fake.files.settles] == ["u1=="]
    await replays(handle)


async def test_interviewee_never_joined_is_a_no_show_and_the_recording_is_still_stored(env):
    fake = FakeZoom()
    fake.files.at_zoom = [ref("f-mp4", "MP4"), ref("f-vtt", "TRANSCRIPT")]
    fake.files.attendance = AttendanceSummary(known=True, source="webhooks", host_joined=True)
    run = Run(env, fake)
    async with run.worker():
        handle = await run.start()
        await scheduled(handle)
        await _live(handle)
        await handle.signal(IdiBookingWorkflow.zoom_event, event("e-end", "meeting.ended"))
        result = await handle.result()
    assert (result.status, result.status_reason) == ("no_show", "interviewee_no_show")
    assert "(the host did)" in result.status_message
    # The recording steps ran (files downloaded) without overwriting the no-show.
    assert sorted(fake.files.downloads) == ["f-mp4", "f-vtt"]
    assert fake.status_trail[-1] == ("no_show", "interviewee_no_show")
    assert ("completed", None) not in fake.status_trail
    await replays(handle)


async def test_host_never_joined_says_so(env):
    fake = FakeZoom()
    fake.files.attendance = AttendanceSummary(known=True, source="zoom_participants_list",
                                              interviewee_joined=True, interviewee_minutes=12)
    run = Run(env, fake)
    async with run.worker():
        handle = await run.start()
        await scheduled(handle)
        await handle.signal(IdiBookingWorkflow.zoom_event, event("e-end", "meeting.ended"))
        result = await handle.result()
    assert (result.status, result.status_reason) == ("no_show", "host_no_show")
    assert "joined for 12 min" in result.status_message


async def test_unknown_attendance_claims_no_no_show(env):
    fake = FakeZoom()
    fake.files.at_zoom = [ref("f-mp4", "MP4"), ref("f-vtt", "TRANSCRIPT")]
    run = Run(env, fake)  # the settle knows nothing (no webhooks, Zoom's list empty)
    async with run.worker():
        handle = await run.start()
        await scheduled(handle)
        await handle.signal(IdiBookingWorkflow.zoom_event, event("e-end", "meeting.ended"))
        result = await handle.result()
    assert result.status == "completed"
