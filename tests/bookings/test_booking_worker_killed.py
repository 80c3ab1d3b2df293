"""A killed worker costs seconds, not minutes (docs/architecture.md#a-dead-worker).

The worker process is SIGKILLed while it chooses the host of a booking - in the middle of the
org's token refresh, which the emulator holds for a minute. Another worker must get the step
after the missing heartbeat, not after the step's 90 s start-to-close timeout. The gap is read
from Temporal itself (when attempt 1 was scheduled, when attempt 2 started); the bound is loose:
it tells "noticed by the heartbeat" from "waited out the timeout", it is no benchmark.
"""

from __future__ import annotations

import asyncio
import signal
from datetime import timedelta, timezone

from sqlalchemy import update
from temporalio.api.enums.v1 import EventType, PendingActivityState

from models import ZoomConnection, utcnow
from workflows.contract import TASK_QUEUE, booking_workflow_id
from workflows.booking import RESOLVE_HOST_TIMEOUT

from tests.bookings.helpers import (
    book,
    connect_org,
    fresh_zoom_user,
    future,
    new_org_with_session,
    until,
    worker_process,
)

TOKEN = "/oauth/token"
TAKEOVER_BOUND = timedelta(seconds=45)


async def test_a_worker_killed_while_choosing_the_host_is_replaced_in_seconds(
        api, emulator, idi_worker, system_host, temporal_env):
    org_id, headers, session_id = await new_org_with_session(api, "Killed Host Choice Research")
    conn = await connect_org(api, emulator, org_id, headers, await fresh_zoom_user(emulator))
    async with api.services.db.session() as s:  # the token is due: choosing the host refreshes it
        await s.exec(update(ZoomConnection).where(ZoomConnection.id == conn.id)
                     .values(access_expires_at=utcnow() + timedelta(seconds=5)))
        await s.commit()
    # The first refresh hangs at Zoom for a minute (then fails, so nothing rotates meanwhile).
    stall = await emulator.control.add_fault(TOKEN, method="POST", status=503, latency_ms=60_000,
                                             count=1, match={"grant_type": "refresh_token"})
    temporal_address = temporal_env.client.service_client.config.target_host
    async with worker_process(api.services, system_host, temporal_address, TASK_QUEUE) as proc:
        booking = await book(api, org_id, headers, session_id, future(hours=30))
        await until(lambda: _fired(emulator, stall["id"]), what="the refresh reaching Zoom")
        proc.send_signal(signal.SIGKILL)
        await proc.wait()

    handle = temporal_env.client.get_workflow_handle(booking_workflow_id(booking["id"]))
    async with idi_worker(f"{system_host}:1"):  # another worker takes over
        retried = await until(lambda: _second_attempt(handle), timeout=RESOLVE_HOST_TIMEOUT.total_seconds() + 30,
                              what="attempt 2 of resolve_booking_host")
        await handle.terminate("test done")  # the rest of the booking is other tests' business
    scheduled_at = await _scheduled_at(handle, "resolve_booking_host")
    gap = retried - scheduled_at
    assert gap < TAKEOVER_BOUND, f"attempt 2 began {gap} after attempt 1 was scheduled"


async def _fired(emulator, rule_id: int) -> bool:
    return any(r["id"] == rule_id and r["fired"] for r in await emulator.control.faults())


async def _second_attempt(handle):
    """When attempt 2 of resolve_booking_host started, once it has (a pending activity's state)."""
    description = await handle.describe()
    for pending in description.raw_description.pending_activities:
        if pending.activity_type.name == "resolve_booking_host" and pending.attempt >= 2 \
                and pending.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED:
            return pending.last_started_time.ToDatetime(tzinfo=timezone.utc)
    return None


async def _scheduled_at(handle, activity_type: str):
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED and \
                event.activity_task_scheduled_event_attributes.activity_type.name == activity_type:
            return event.event_time.ToDatetime(tzinfo=timezone.utc)
    raise AssertionError(f"{activity_type} was never scheduled")
