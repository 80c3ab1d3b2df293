"""Whoever may wait on a token refresh gives it the time it can take (review finding 3).

A refresh holds its lock for at most two token calls; a caller may first wait LOCK_WAIT for the
lock. Temporal cancels an activity at its start-to-close timeout and, on shutdown, after the
worker's graceful timeout: both must leave a refresh in flight time to save what Zoom rotated.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from connections.tokens import TokenManager
from worker import build_worker
from workflows.booking import IdiBookingWorkflow
from workflows.contract import booking_workflow_id
from workflows.booking_types import BookingHost, BookingInput, BookingStatusChange, Failure, ResolveHostInput

# The longest a caller can spend in the token manager: waiting for the lock, then two calls.
REFRESH_BUDGET = timedelta(seconds=TokenManager.LOCK_WAIT + 2 * TokenManager.REFRESH_CALL_TIMEOUT)


@pytest.fixture
def env(time_skipping_env):
    return time_skipping_env


@activity.defn(name="resolve_booking_host")
async def resolve_booking_host(inp: ResolveHostInput) -> BookingHost:
    raise ApplicationError("no host in this test", type=Failure.SYSTEM_HOSTS_FULL, non_retryable=True)


@activity.defn(name="record_booking_status")
async def record_booking_status(change: BookingStatusChange) -> None:
    pass


async def test_choosing_the_host_may_wait_out_a_refresh(env):
    task_queue = f"refresh-budget-{uuid.uuid4().hex[:8]}"
    booking_id = uuid.uuid4().hex
    now = await env.get_current_time()
    async with Worker(env.client, task_queue=task_queue, workflows=[IdiBookingWorkflow],
                      activities=[resolve_booking_host, record_booking_status]):
        handle = await env.client.start_workflow(
            IdiBookingWorkflow.run,
            BookingInput(booking_id=booking_id, org_id="org-1", org_name="Acme Research",
                         start_time=now + timedelta(days=2), duration_minutes=30),
            id=booking_workflow_id(booking_id), task_queue=task_queue)
        await handle.result()
        history = await handle.fetch_history()

    [resolve] = [e.activity_task_scheduled_event_attributes for e in history.events
                 if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
                 and e.activity_task_scheduled_event_attributes.activity_type.name == "resolve_booking_host"]
    assert resolve.start_to_close_timeout.ToTimedelta() > REFRESH_BUDGET


async def test_a_shutting_down_worker_lets_a_refresh_in_flight_finish(services, temporal_env):
    worker = build_worker(temporal_env.client, services, task_queue=f"budget-{uuid.uuid4().hex[:8]}")

    assert worker.config()["graceful_shutdown_timeout"] >= timedelta(seconds=2 * TokenManager.REFRESH_CALL_TIMEOUT)
