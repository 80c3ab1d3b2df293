"""A file server that answers 429 with Retry-After is waited for as long as it asked, no less and
not the retry policy's backoff (docs/zoom.md#recording-downloads). The wait is read from
Temporal's history: when the download was scheduled, when its second attempt started."""

from __future__ import annotations

from datetime import timedelta, timezone

from temporalio.api.enums.v1 import EventType

from workflows.contract import booking_workflow_id
from workflows.recordings import DOWNLOAD_RETRY

from tests.bookings.helpers import book, future, new_org_with_session, services_with_hosts, settled
from tests.recordings.helpers import file_rows, new_system_host, recording_worker, until, webhooks_to

# Longer than the policy's first interval, so "honoured" and "ignored" cannot look alike.
RETRY_AFTER = 8


async def test_a_429_with_retry_after_is_retried_after_that_wait(api, emulator, temporal_env):
    assert RETRY_AFTER > DOWNLOAD_RETRY.initial_interval.total_seconds()
    svc = services_with_hosts(api.services, f"{await new_system_host(emulator)}:1")
    async with webhooks_to(emulator, api.url), recording_worker(temporal_env.client, svc):
        org_id, headers, session_id = await new_org_with_session(api, "Retry After Research")
        booking = await settled(api, org_id, headers, (await book(
            api, org_id, headers, session_id, start=future(hours=1), duration=30))["id"])
        meeting_id = int(booking["meeting"]["zoom_meeting_id"])
        await emulator.control.start_meeting(meeting_id)
        await emulator.control.end_meeting(meeting_id)
        await settled(api, org_id, headers, booking["id"], until=lambda b: b["status"] == "ended")
        await emulator.control.add_fault("/rec/files/*", status=429, count=1,
                                         headers={"Retry-After": str(RETRY_AFTER)})
        await emulator.control.complete_recording(meeting_id, ["CHAT"])
        await until(lambda: _stored(api.services, booking["id"]), timeout=60)
        handle = temporal_env.client.get_workflow_handle(booking_workflow_id(booking["id"]))
        await handle.terminate("test done")

    scheduled, started = await _download_times(handle)
    assert started.activity_task_started_event_attributes.attempt == 2
    waited = started.event_time.ToDatetime(tzinfo=timezone.utc) - scheduled.event_time.ToDatetime(tzinfo=timezone.utc)
    assert timedelta(seconds=RETRY_AFTER) <= waited < timedelta(seconds=RETRY_AFTER + 10), waited


async def _stored(services, booking_id: str) -> bool:
    row = (await file_rows(services, booking_id)).get("CHAT")
    return row is not None and row.status == "stored"


async def _download_times(handle):
    scheduled = started = None
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED and \
                event.activity_task_scheduled_event_attributes.activity_type.name == "download_recording_file":
            scheduled = event
        elif scheduled is not None and started is None and \
                event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED and \
                event.activity_task_started_event_attributes.scheduled_event_id == scheduled.event_id:
            started = event
    assert scheduled is not None and started is not None, "no download in the history"
    return scheduled, started
