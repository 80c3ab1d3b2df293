"""InboxRetentionWorkflow: delete webhook inbox rows nobody needs any more.

Ignored Zoom events (participant joins and the like) carry names and emails, and closed ones
(for finished bookings) are done with; both go once older than INBOX_RETENTION_DAYS. Started
daily by the `inbox-retention` Schedule (temporal_setup.py); deletes in batches so one run stays
a handful of events, and stops after MAX_BATCHES (the next day goes on).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.inbox_retention_activities import delete_old_inbox_events
    from workflows.retries import LIVENESS

BATCH = 1000
MAX_BATCHES = 100


@workflow.defn
class InboxRetentionWorkflow:
    @workflow.run
    async def run(self) -> int:
        deleted = 0
        for _ in range(MAX_BATCHES):
            n = await workflow.execute_activity(
                delete_old_inbox_events, BATCH, start_to_close_timeout=timedelta(minutes=2),
                heartbeat_timeout=LIVENESS)
            deleted += n
            if n < BATCH:
                break
        return deleted
