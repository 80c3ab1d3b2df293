"""Start-up steps a Temporal cluster needs before bookings run: the search attributes ops filter on.

The dev server gets them on its command line; any other cluster gets them here, idempotently,
through the operator service (the time-skipping test server accepts only this route too).
The worker also creates or updates the token keep-alive Schedule here at start-up.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleHandle,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from workflows.contract import (
    INBOX_RETENTION_SCHEDULE_ID,
    SEARCH_ATTRIBUTE_NAMES,
    TASK_QUEUE,
    TOKEN_REFRESH_SCHEDULE_ID,
)


async def ensure_search_attributes(client: Client) -> list[str]:
    """Register any missing Keyword attribute; returns the names it added."""
    existing = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=client.namespace)
    )
    missing = [n for n in SEARCH_ATTRIBUTE_NAMES if n not in existing.custom_attributes]
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=client.namespace,
                search_attributes={n: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD for n in missing},
            )
        )
    return missing


# --- The token keep-alive Schedule ------------------------------------------------------------

TOKEN_REFRESH_EVERY = timedelta(minutes=5)
# Shorter than one interval: after an outage at most one missed sweep is made up, never a burst.
TOKEN_REFRESH_CATCHUP = timedelta(minutes=4)
# A sweep that runs longer than this is stuck; ending it lets the next tick start afresh.
TOKEN_REFRESH_RUN_TIMEOUT = timedelta(hours=1)


def token_refresh_schedule(task_queue: str) -> Schedule:
    from workflows.token_refresh import TokenRefreshWorkflow, TokenSweep

    return Schedule(
        action=ScheduleActionStartWorkflow(
            TokenRefreshWorkflow.run,
            TokenSweep(),
            id=TOKEN_REFRESH_SCHEDULE_ID,  # each run's id gets the action time appended
            task_queue=task_queue,
            execution_timeout=TOKEN_REFRESH_RUN_TIMEOUT,
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=TOKEN_REFRESH_EVERY)]),
        policy=SchedulePolicy(
            # A sweep still running when the next tick comes is left alone, not doubled.
            overlap=ScheduleOverlapPolicy.SKIP,
            catchup_window=TOKEN_REFRESH_CATCHUP,
        ),
    )


async def ensure_schedule(client: Client, schedule_id: str, schedule: Schedule) -> ScheduleHandle:
    """Create a Schedule, or bring an existing one up to this code's definition. Whether ops
    paused it stays as they left it: a deploy must not unpause it."""
    try:
        return await client.create_schedule(schedule_id, schedule)
    except ScheduleAlreadyRunningError:
        handle = client.get_schedule_handle(schedule_id)

        def keep_state(current: ScheduleUpdateInput) -> ScheduleUpdate:
            schedule.state = current.description.schedule.state
            return ScheduleUpdate(schedule=schedule)

        await handle.update(keep_state)
        return handle


async def ensure_token_refresh_schedule(client: Client, task_queue: str = TASK_QUEUE) -> ScheduleHandle:
    """The `zoom-token-refresh` Schedule, created or updated (ops' pause kept)."""
    return await ensure_schedule(client, TOKEN_REFRESH_SCHEDULE_ID, token_refresh_schedule(task_queue))


# --- The inbox retention Schedule --------------------------------------------------------------

INBOX_RETENTION_EVERY = timedelta(days=1)


def inbox_retention_schedule(task_queue: str) -> Schedule:
    from workflows.inbox_retention import InboxRetentionWorkflow

    return Schedule(
        action=ScheduleActionStartWorkflow(
            InboxRetentionWorkflow.run, id=INBOX_RETENTION_SCHEDULE_ID, task_queue=task_queue,
            execution_timeout=timedelta(hours=1)),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=INBOX_RETENTION_EVERY)]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=timedelta(hours=1)),
    )


async def ensure_inbox_retention_schedule(client: Client, task_queue: str = TASK_QUEUE) -> ScheduleHandle:
    """The `inbox-retention` Schedule, created or updated (ops' pause kept)."""
    return await ensure_schedule(client, INBOX_RETENTION_SCHEDULE_ID, inbox_retention_schedule(task_queue))
