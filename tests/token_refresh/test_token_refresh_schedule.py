"""The `zoom-token-refresh` Schedule on the real Temporal dev server (the time-skipping server does
not run schedules): created once, brought up to date by every later worker start, never unpaused
by one."""

from __future__ import annotations

import contextlib

from temporalio.client import ScheduleActionStartWorkflow, ScheduleOverlapPolicy
from temporalio.service import RPCError

from temporal_setup import (
    TOKEN_REFRESH_CATCHUP,
    TOKEN_REFRESH_EVERY,
    TOKEN_REFRESH_RUN_TIMEOUT,
    TOKEN_REFRESH_SCHEDULE_ID,
    ensure_token_refresh_schedule,
)


async def _delete_schedule(client) -> None:
    with contextlib.suppress(RPCError):
        await client.get_schedule_handle(TOKEN_REFRESH_SCHEDULE_ID).delete()


async def test_schedule_is_created_once_and_updated_in_place(temporal_env):
    client = temporal_env.client
    await _delete_schedule(client)
    try:
        handle = await ensure_token_refresh_schedule(client, task_queue="keepalive-a")
        first = await handle.describe()
        # Paused at once so no tick starts a sweep on a queue nobody serves.
        await handle.pause(note="paused by ops")

        assert first.id == TOKEN_REFRESH_SCHEDULE_ID == "zoom-token-refresh"
        assert [i.every for i in first.schedule.spec.intervals] == [TOKEN_REFRESH_EVERY]
        assert first.schedule.spec.cron_expressions == []
        assert first.schedule.policy.overlap == ScheduleOverlapPolicy.SKIP
        assert first.schedule.policy.catchup_window == TOKEN_REFRESH_CATCHUP < TOKEN_REFRESH_EVERY
        action = first.schedule.action
        assert isinstance(action, ScheduleActionStartWorkflow)
        assert action.workflow == "TokenRefreshWorkflow"
        assert action.id == "zoom-token-refresh" and action.task_queue == "keepalive-a"
        assert action.execution_timeout == TOKEN_REFRESH_RUN_TIMEOUT

        # A second worker start (say, a deploy that moved the task queue) updates the same one.
        handle = await ensure_token_refresh_schedule(client, task_queue="keepalive-b")
        second = await handle.describe()
        assert second.id == TOKEN_REFRESH_SCHEDULE_ID
        assert second.info.created_at == first.info.created_at
        assert second.info.last_updated_at is not None
        assert second.schedule.action.task_queue == "keepalive-b"
        assert [i.every for i in second.schedule.spec.intervals] == [TOKEN_REFRESH_EVERY]
        assert second.schedule.policy.overlap == ScheduleOverlapPolicy.SKIP
        # What ops did to it stays: a deploy must not unpause a paused keep-alive.
        assert second.schedule.state.paused and second.schedule.state.note == "paused by ops"
    finally:
        await _delete_schedule(client)
