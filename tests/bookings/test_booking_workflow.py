"""IdiBookingWorkflow's logic on the time-skipping server, activities replaced by stand-ins.

The stand-ins register under the real activity names and play Zoom's answers (an org host, a
fallback, a licence refusal, the daily cap), recording every call, so each test shows what the
workflow decided and in what order; days of waiting take milliseconds.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowFailureError, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ActivityError, ApplicationError, RetryState
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker

from tests.recordings.fakes import FakeZoomFiles, ref
from workflows.booking import IdiBookingWorkflow
from workflows.contract import BOOKING_STATUS, HOST_KIND, ZOOM_MEETING_ID
from workflows.contract import booking_workflow_id
from workflows.booking_types import (
    MEETING_NOT_HELD_AFTER,
    BookingHost,
    BookingInput,
    BookingState,
    BookingStatusChange,
    CreateMeetingInput,
    DeleteMeetingInput,
    Failure,
    MeetingRef,
    RescheduleMeetingInput,
    RescheduleRequest,
    ResolveHostInput,
    ZoomEventSignal,
)

ORG_HOST = BookingHost(kind="org", connection_id="conn-1", label="Acme Research's Zoom")


def system_host(reason: str) -> BookingHost:
    return BookingHost(kind="system", system_host="host1@system.converge.test", fallback_reason=reason,
                       label="Converge's system Zoom (host1@system.converge.test)")


class FakeZoom:
    """Stand-ins for the booking activities; `create_errors` are raised by successive creates."""

    def __init__(self) -> None:
        self.resolves: list[ResolveHostInput] = []
        self.creates: list[CreateMeetingInput] = []
        self.reschedules: list[RescheduleMeetingInput] = []
        self.deletes: list[DeleteMeetingInput] = []
        self.statuses: list[BookingStatusChange] = []
        self.create_errors: list[Exception] = []
        self.reschedule_errors: list[Exception] = []
        self.org_reason: str | None = None  # None: the org host works
        self.create_hangs = False  # the create waits on Zoom (heartbeating) until cancelled
        self.create_started = asyncio.Event()
        self.create_cancelled = False
        self.status_fails = False  # the database refuses every status write
        # The recording steps after the meeting (tests/recordings): Zoom holds no recording
        # unless a test puts files in `files.at_zoom`.
        self.files = FakeZoomFiles()

    @activity.defn(name="resolve_booking_host")
    async def resolve_booking_host(self, inp: ResolveHostInput) -> BookingHost:
        self.resolves.append(inp)
        reason = inp.skip_org_reason or self.org_reason
        return system_host(reason) if reason else ORG_HOST

    @activity.defn(name="create_booking_meeting")
    async def create_booking_meeting(self, inp: CreateMeetingInput) -> MeetingRef:
        self.creates.append(inp)
        self.create_started.set()
        if self.create_hangs:
            try:
                while True:
                    activity.heartbeat()
                    await asyncio.sleep(0.05)
            except asyncio.CancelledError:
                self.create_cancelled = True
                raise
        if self.create_errors:
            raise self.create_errors.pop(0)
        return MeetingRef(booking_id=inp.booking_id, zoom_meeting_id="81234567890", host_kind=inp.host.kind)

    @activity.defn(name="reschedule_booking_meeting")
    async def reschedule_booking_meeting(self, inp: RescheduleMeetingInput) -> MeetingRef:
        self.reschedules.append(inp)
        if self.reschedule_errors:
            raise self.reschedule_errors.pop(0)
        return MeetingRef(booking_id=inp.booking_id, zoom_meeting_id="81234567890", host_kind="org")

    @activity.defn(name="delete_booking_meeting")
    async def delete_booking_meeting(self, inp: DeleteMeetingInput) -> None:
        self.deletes.append(inp)

    @activity.defn(name="record_booking_status")
    async def record_booking_status(self, change: BookingStatusChange) -> None:
        if self.status_fails:
            raise RuntimeError("database unavailable")
        self.statuses.append(change)

    def activities(self) -> list:
        return [self.resolve_booking_host, self.create_booking_meeting, self.reschedule_booking_meeting,
                self.delete_booking_meeting, self.record_booking_status] + self.files.activities()

    @property
    def status_trail(self) -> list[tuple[str, str | None]]:
        return [(c.status, c.reason) for c in self.statuses]


@pytest.fixture
def env(time_skipping_env):
    return time_skipping_env


class Run:
    def __init__(self, env: WorkflowEnvironment, fake: FakeZoom) -> None:
        self.env, self.fake = env, fake
        self.task_queue = f"booking-wf-{uuid.uuid4().hex[:8]}"
        self.booking_id = uuid.uuid4().hex

    async def start(self, *, starts_in: timedelta = timedelta(days=2), duration: int = 60) -> WorkflowHandle:
        now = await self.env.get_current_time()
        self.input = BookingInput(booking_id=self.booking_id, org_id="org-1", org_name="Acme Research",
                                  start_time=now + starts_in, duration_minutes=duration)
        return await self.env.client.start_workflow(
            IdiBookingWorkflow.run, self.input, id=booking_workflow_id(self.booking_id),
            task_queue=self.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
        )

    def worker(self, **options) -> Worker:
        return Worker(self.env.client, task_queue=self.task_queue, workflows=[IdiBookingWorkflow],
                      activities=self.fake.activities(), **options)


async def scheduled(handle: WorkflowHandle) -> BookingState:
    return await handle.execute_update(IdiBookingWorkflow.wait_scheduled)


async def activity_schedules(handle: WorkflowHandle, name: str) -> list:
    history = await handle.fetch_history()
    return [e for e in history.events
            if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
            and e.activity_task_scheduled_event_attributes.activity_type.name == name]


async def summaries(handle: WorkflowHandle) -> list[str]:
    history = await handle.fetch_history()
    out = []
    for e in history.events:
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED and e.user_metadata.HasField("summary"):
            out.append(pydantic_data_converter.payload_converter.from_payload(e.user_metadata.summary, str))
    return out


async def replays(handle: WorkflowHandle) -> None:
    await Replayer(workflows=[IdiBookingWorkflow], data_converter=pydantic_data_converter).replay_workflow(
        await handle.fetch_history()
    )


async def test_happy_path_org_host_scheduled_then_ended(env):
    fake = FakeZoom()
    fake.files.at_zoom = [ref("f-mp4", "MP4"), ref("f-vtt", "TRANSCRIPT")]
    run = Run(env, fake)
    async with run.worker():
        handle = await run.start()
        state = await scheduled(handle)
        assert (state.status, state.host_kind, state.zoom_meeting_id) == ("scheduled", "org", "81234567890")
        await handle.signal(IdiBookingWorkflow.zoom_event,
                            ZoomEventSignal(event_id="e-end", event_type="meeting.ended", zoom_meeting_uuid="u1=="))
        result = await handle.result()
        described = await handle.describe()
    # After `ended` the recording steps run to `completed` (tests/recordings covers them).
    assert result.status == "completed"
    assert fake.status_trail == [("scheduled", None), ("ended", None), ("processing_recording", None),
                                 ("completed", None)]
    assert [c.host for c in fake.creates] == [ORG_HOST]
    sa = described.typed_search_attributes
    assert (sa.get(HOST_KIND), sa.get(ZOOM_MEETING_ID), sa.get(BOOKING_STATUS)) == ("org", "81234567890", "completed")
    assert "create meeting on Acme Research's Zoom" in await summaries(handle)
    await replays(handle)


async def test_unusable_org_user_falls_back_to_the_system_account_with_the_reason(env):
    fake = FakeZoom()
    fake.create_errors = [ApplicationError("user gone", "zoom_user_not_found",
                                           type=Failure.ORG_HOST_UNAVAILABLE, non_retryable=True)]
    run = Run(env, fake)
    async with run.worker():
        handle = await run.start()
        state = await scheduled(handle)
        described = await handle.describe()
    assert state.status == "scheduled" and state.host_kind == "system"
    assert [r.skip_org_reason for r in fake.resolves] == [None, "zoom_user_not_found"]
    assert [c.host.kind for c in fake.creates] == ["org", "system"]
    assert fake.creates[1].host.fallback_reason == "zoom_user_not_found"
    assert described.typed_search_attributes.get(HOST_KIND) == "system"


async def test_not_connected_org_books_on_the_system_account(env):
    fake = FakeZoom()
    fake.org_reason = "not_connected"
    run = Run(env, fake)
    async with run.worker():
        handle = await run.start()
        state = await scheduled(handle)
    assert state.host_kind == "system"
    assert fake.creates[0].host.fallback_reason == "not_connected"
    assert "create meeting on Converge's system Zoom (host1@system.converge.test)" in await summaries(handle)


async def test_licence_refusal_fails_the_booking_with_an_actionable_reason(env):
    fake = FakeZoom()
    fake.create_errors = [ApplicationError("The connected Zoom user has no Zoom licence ...",
                                           type=Failure.LICENSE_UNAVAILABLE, non_retryable=True)]
    run = Run(env, fake)
    async with run.worker():
        handle = await run.start()
        result = await handle.result()
        described = await handle.describe()
    assert (result.status, result.status_reason) == ("failed", "zoom_license_unavailable")
    assert fake.status_trail == [("failed", "zoom_license_unavailable")]
    assert "no Zoom licence" in fake.statuses[0].message
    assert len(fake.creates) == 1  # permanent: not retried
    assert described.typed_search_attributes.get(BOOKING_STATUS) == "failed"


async def test_transient_zoom_errors_are_retried_by_temporal(env):
    fake = FakeZoom()
    fake.create_errors = [ApplicationError("Zoom 503", type="ZoomTransientError"),
                          ApplicationError("Zoom 429 per second", type="ZoomTransientError")]
    run = Run(env, fake)
    async with run.worker():
        handle = await run.start()
        result = await handle.result()  # lets the server skip the retry backoff too
    assert result.zoom_meeting_id == "81234567890" and len(fake.creates) == 3
    assert fake.status_trail[0] == ("scheduled", None)


async def test_daily_cap_waits_for_the_reset_on_a_durable_timer_then_creates(env):
    fake = FakeZoom()
    run = Run(env, fake)
    now = await env.get_current_time()
    reset = now + timedelta(days=1)
    fake.create_errors = [ApplicationError("daily limit", reset.isoformat(), type=Failure.DAILY_LIMIT,
                                           non_retryable=True)]
    async with run.worker():
        handle = await run.start(starts_in=timedelta(days=3))
        first = await scheduled(handle)  # settles on "waiting" first
        assert (first.status, first.status_reason) == ("scheduling", "waiting_for_zoom_daily_limit")
        # Waiting on the result lets the server skip ahead: past the reset, then to the end.
        result = await handle.result()
        creates = await activity_schedules(handle, "create_booking_meeting")
    assert result.zoom_meeting_id == "81234567890"
    assert len(creates) == 2
    waited = creates[1].event_time.ToDatetime() - creates[0].event_time.ToDatetime()
    assert waited >= timedelta(days=1) - timedelta(seconds=1)
    assert fake.status_trail == [("scheduling", "waiting_for_zoom_daily_limit"), ("scheduled", None),
                                 ("no_recording", "meeting_not_held")]
    assert reset.strftime("%Y-%m-%d %H:%M UTC") in fake.statuses[0].message
    await replays(handle)


async def test_daily_cap_that_resets_after_the_interview_fails_the_booking(env):
    fake = FakeZoom()
    run = Run(env, fake)
    now = await env.get_current_time()
    fake.create_errors = [ApplicationError("daily limit", (now + timedelta(days=1)).isoformat(),
                                           type=Failure.DAILY_LIMIT, non_retryable=True)]
    async with run.worker():
        handle = await run.start(starts_in=timedelta(hours=3))
        result = await handle.result()
    assert (result.status, result.status_reason) == ("failed", "zoom_daily_limit")
    assert "Book a later time" in fake.statuses[-1].message
    assert len(fake.creates) == 1


async def test_reschedule_moves_the_meeting_and_the_not_held_deadline(env):
    fake = FakeZoom()
    run = Run(env, fake)
    async with run.worker():
        handle = await run.start(starts_in=timedelta(days=1))
        await scheduled(handle)
        new_start = run.input.start_time + timedelta(days=5)
        state = await handle.execute_update(IdiBookingWorkflow.reschedule,
                                            RescheduleRequest(start_time=new_start, duration_minutes=90))
        assert (state.start_time, state.duration_minutes, state.status) == (new_start, 90, "scheduled")
        result = await handle.result()  # nobody holds the meeting
        history = await handle.fetch_history()
    assert [(r.start_time, r.duration_minutes) for r in fake.reschedules] == [(new_start, 90)]
    assert len(fake.creates) == 1  # moved, never recreated
    assert (result.status, result.status_reason) == ("no_recording", "meeting_not_held")
    ended_at = history.events[-1].event_time.ToDatetime().replace(tzinfo=new_start.tzinfo)
    assert ended_at >= new_start + timedelta(minutes=90) + MEETING_NOT_HELD_AFTER
    await replays(handle)


async def test_reschedules_are_capped_so_a_bookings_history_stays_bounded(env):
    from workflows.booking import MAX_RESCHEDULES

    fake = FakeZoom()
    run = Run(env, fake)
    async with run.worker():
        handle = await run.start(starts_in=timedelta(days=1))
        before = await scheduled(handle)
        for i in range(MAX_RESCHEDULES):
            await handle.execute_update(IdiBookingWorkflow.reschedule, RescheduleRequest(
                start_time=before.start_time + timedelta(minutes=i + 1), duration_minutes=60))
        from temporalio.api.enums.v1 import EventType

        def accepted(history) -> int:
            return sum(e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
                       for e in history.events)

        history = await handle.fetch_history()
        length, accepted_before = len(history.events), accepted(history)
        with pytest.raises(WorkflowUpdateFailedError) as failed:
            await handle.execute_update(IdiBookingWorkflow.reschedule, RescheduleRequest(
                start_time=before.start_time + timedelta(hours=5), duration_minutes=60))
        after = await handle.query(IdiBookingWorkflow.state)
        # The refused one was never accepted into history.
        assert accepted(await handle.fetch_history()) == accepted_before
    assert failed.value.cause.type == Failure.TOO_MANY_RESCHEDULES
    assert after.start_time == before.start_time + timedelta(minutes=MAX_RESCHEDULES)
    assert len(fake.reschedules) == MAX_RESCHEDULES and length < 1000


async def test_reschedule_refused_by_zoom_or_a_full_host_keeps_the_old_time(env):
    fake = FakeZoom()
    fake.reschedule_errors = [ApplicationError("host full at the new time", type=Failure.SYSTEM_HOSTS_FULL,
                                               non_retryable=True)]
    run = Run(env, fake)
    async with run.worker():
        handle = await run.start()
        before = await scheduled(handle)
        with pytest.raises(WorkflowUpdateFailedError) as failed:
            await handle.execute_update(IdiBookingWorkflow.reschedule,
                                        RescheduleRequest(start_time=before.start_time + timedelta(hours=1),
                                                          duration_minutes=60))
        after = await handle.query(IdiBookingWorkflow.state)
    assert failed.value.cause.type == Failure.SYSTEM_HOSTS_FULL
    assert (after.start_time, after.status) == (before.start_time, "scheduled")


async def test_reschedule_of_a_booking_still_scheduling_is_refused(env):
    fake = FakeZoom()
    run = Run(env, fake)
    now = await env.get_current_time()
    fake.create_errors = [ApplicationError("daily limit", (now + timedelta(hours=5)).isoformat(),
                                           type=Failure.DAILY_LIMIT, non_retryable=True)]
    async with run.worker():
        handle = await run.start()
        await scheduled(handle)  # waiting for the daily cap
        with pytest.raises(WorkflowUpdateFailedError) as failed:
            await handle.execute_update(IdiBookingWorkflow.reschedule,
                                        RescheduleRequest(start_time=now + timedelta(days=4), duration_minutes=60))
    assert failed.value.cause.type == Failure.NOT_RESCHEDULABLE
    assert fake.reschedules == []


async def test_cancel_deletes_the_meeting_and_ends_cancelled(env):
    fake = FakeZoom()
    run = Run(env, fake)
    async with run.worker():
        handle = await run.start()
        await scheduled(handle)
        state = await handle.execute_update(IdiBookingWorkflow.cancel)
        result = await handle.result()
        described = await handle.describe()
    assert state.status == result.status == "cancelled"
    assert [d.booking_id for d in fake.deletes] == [run.booking_id]
    assert fake.status_trail[-1] == ("cancelled", "cancelled_by_request")
    assert described.typed_search_attributes.get(BOOKING_STATUS) == "cancelled"
    await replays(handle)


async def test_cancel_while_waiting_for_the_daily_cap_needs_no_delete(env):
    fake = FakeZoom()
    run = Run(env, fake)
    now = await env.get_current_time()
    fake.create_errors = [ApplicationError("daily limit", (now + timedelta(hours=5)).isoformat(),
                                           type=Failure.DAILY_LIMIT, non_retryable=True)]
    async with run.worker():
        handle = await run.start()
        await scheduled(handle)
        state = await handle.execute_update(IdiBookingWorkflow.cancel)
    assert state.status == "cancelled" and fake.deletes == [] and len(fake.creates) == 1


async def test_cancel_stops_a_create_still_waiting_on_zoom_then_deletes_what_it_made(env):
    """Review #11: the create may retry until the interview; a cancel must not wait for it."""
    fake = FakeZoom()
    fake.create_hangs = True
    run = Run(env, fake)
    # Cancellation reaches an activity with its next heartbeat: send them often here.
    async with run.worker(max_heartbeat_throttle_interval=timedelta(milliseconds=100)):
        handle = await run.start()
        await asyncio.wait_for(fake.create_started.wait(), 30)
        state = await asyncio.wait_for(handle.execute_update(IdiBookingWorkflow.cancel), 30)
        result = await handle.result()
        creates = await activity_schedules(handle, "create_booking_meeting")
    assert state.status == result.status == "cancelled"
    assert fake.create_cancelled and len(creates) == 1
    # The stopped create may have reached Zoom: the delete activity looks for its meeting.
    assert [d.booking_id for d in fake.deletes] == [run.booking_id]
    assert fake.status_trail == [("cancelled", "cancelled_by_request")]
    assert result.zoom_meeting_id is None
    await replays(handle)


async def test_a_database_down_for_an_hour_fails_the_run_instead_of_retrying_forever(env):
    """Review #12: the status write gives up after STATUS_WRITE_TIMEOUT; ops see a failed run."""
    fake = FakeZoom()
    fake.status_fails = True
    run = Run(env, fake)
    async with run.worker():
        handle = await run.start()
        with pytest.raises(WorkflowFailureError) as failed:
            await asyncio.wait_for(handle.result(), 60)
    cause = failed.value.cause
    # Temporal stops retrying once the next try would pass the schedule-to-close timeout.
    assert isinstance(cause, ActivityError) and cause.retry_state == RetryState.TIMEOUT
    assert "database unavailable" in str(cause.cause)


async def test_duplicate_zoom_events_are_kept_once(env):
    fake = FakeZoom()
    fake.files.announced = {"ev-2": [ref("f1", "MP4"), ref("f2", "TRANSCRIPT")]}
    run = Run(env, fake)
    started = ZoomEventSignal(event_id="ev-1", event_type="meeting.started", zoom_meeting_uuid="abc==")
    recording = ZoomEventSignal(event_id="ev-2", event_type="recording.completed", zoom_meeting_uuid="abc==",
                                file_ids=["f1", "f2"])
    async with run.worker():
        handle = await run.start()
        await scheduled(handle)
        for event in (started, started, started):
            await handle.signal(IdiBookingWorkflow.zoom_event, event)
        state = await handle.query(IdiBookingWorkflow.state)
        assert [e.event_id for e in state.events] == ["ev-1"]
        assert state.status == "in_progress"  # started: live, not ended
        # A recording event proves the meeting ended (events come in any order).
        for event in (recording, recording, started):
            await handle.signal(IdiBookingWorkflow.zoom_event, event)
        ended = ZoomEventSignal(event_id="ev-3", event_type="meeting.ended", zoom_meeting_uuid="abc==")
        await handle.signal(IdiBookingWorkflow.zoom_event, ended)
        await handle.signal(IdiBookingWorkflow.zoom_event, ended)
        result = await handle.result()
    assert result.status == "completed" and [e.event_id for e in result.events] == ["ev-1", "ev-2", "ev-3"]
    assert result.events[1].file_ids == ["f1", "f2"]
    assert fake.status_trail.count(("ended", None)) == 1
    assert sorted(fake.files.downloads) == ["f1", "f2"] and fake.files.registered == ["ev-2"]
    await replays(handle)


async def test_meeting_never_held_ends_no_recording_well_after_its_end(env):
    fake = FakeZoom()
    run = Run(env, fake)
    async with run.worker():
        handle = await run.start(starts_in=timedelta(hours=2), duration=45)
        result = await handle.result()
        history = await handle.fetch_history()
    assert (result.status, result.status_reason) == ("no_recording", "meeting_not_held")
    assert fake.status_trail == [("scheduled", None), ("no_recording", "meeting_not_held")]
    start = run.input.start_time
    ended_at = history.events[-1].event_time.ToDatetime().replace(tzinfo=start.tzinfo)
    assert ended_at >= start + timedelta(minutes=45) + MEETING_NOT_HELD_AFTER
    await replays(handle)


async def test_a_repeated_start_returns_the_running_booking(env):
    fake = FakeZoom()
    run = Run(env, fake)
    async with run.worker():
        first = await run.start()
        await scheduled(first)
        second = await run.start()
        assert second.result_run_id == first.result_run_id
    assert len(fake.creates) == 1
