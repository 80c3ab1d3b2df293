"""Closed and ignored inbox rows, and routed participant events, older than INBOX_RETENTION_DAYS
go, by a daily Schedule; the rest stay."""

from __future__ import annotations

import contextlib
import uuid
from datetime import timedelta

from temporalio.client import ScheduleActionStartWorkflow
from temporalio.service import RPCError
from temporalio.worker import Worker

from activities.inbox_retention import InboxRetentionActivities
from models import WebhookEvent, utcnow
from temporal_setup import INBOX_RETENTION_EVERY, ensure_inbox_retention_schedule
from workflows.contract import INBOX_RETENTION_SCHEDULE_ID
from workflows.inbox_retention import InboxRetentionWorkflow


async def add(services, status: str, age_days: float, event_type: str = "meeting.participant_joined") -> str:
    row = WebhookEvent(dedupe_key=uuid.uuid4().hex, event_type=event_type,
                       payload={"payload": {"object": {"participant": {"user_name": "Pat", "email": "p@x.test"}}}},
                       route_status=status, received_at=utcnow() - timedelta(days=age_days))
    async with services.db.session() as s:
        s.add(row)
        await s.commit()
    return row.id


async def test_retention_deletes_only_old_closed_and_ignored_rows(api, temporal_env):
    services = api.services
    # Routed participant events go too: their names and emails live on only in `attendees`.
    old = [await add(services, s, 31) for s in ("closed", "ignored", "routed")]
    kept = [await add(services, s, 31) for s in ("pending", "unrouted")]
    kept += [await add(services, "routed", 31, "meeting.ended")]
    kept += [await add(services, s, 29) for s in ("closed", "ignored")]
    queue = f"retention-{uuid.uuid4().hex[:6]}"
    async with Worker(temporal_env.client, task_queue=queue, workflows=[InboxRetentionWorkflow],
                      activities=[InboxRetentionActivities(services).delete_old_inbox_events]):
        deleted = await temporal_env.client.execute_workflow(
            InboxRetentionWorkflow.run, id=f"retention-{queue}", task_queue=queue)
    assert deleted >= 3
    async with services.db.session() as s:
        assert [await s.get(WebhookEvent, i) for i in old] == [None, None, None]
        assert None not in [await s.get(WebhookEvent, i) for i in kept]


async def test_the_retention_schedule_runs_daily(temporal_env):
    client = temporal_env.client
    try:
        handle = await ensure_inbox_retention_schedule(client, task_queue="retention-nobody")
        await handle.pause(note="no worker serves this queue in the test")
        described = await handle.describe()
        assert described.id == INBOX_RETENTION_SCHEDULE_ID == "inbox-retention"
        assert [i.every for i in described.schedule.spec.intervals] == [INBOX_RETENTION_EVERY]
        action = described.schedule.action
        assert isinstance(action, ScheduleActionStartWorkflow) and action.workflow == "InboxRetentionWorkflow"
        again = await (await ensure_inbox_retention_schedule(client, task_queue="retention-nobody")).describe()
        assert again.schedule.state.paused  # an update keeps ops' pause
    finally:
        with contextlib.suppress(RPCError):
            await client.get_schedule_handle(INBOX_RETENTION_SCHEDULE_ID).delete()
