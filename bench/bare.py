"""The Temporal floor: N bare workflows of one no-op activity each, on the same server.

The bookings benchmark divides by this: whatever a booking costs above it is the service's own
work (its activities, database, Zoom calls), not Temporal's round trips on this machine.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.worker import Worker


@activity.defn(name="bench_noop")
async def noop(n: int) -> int:
    return n


@workflow.defn(name="BenchBareWorkflow")
class BareWorkflow:
    @workflow.run
    async def run(self, n: int) -> int:
        return await workflow.execute_activity(
            noop, n, start_to_close_timeout=timedelta(seconds=30))


_last_queue = ""


def last_workflow_id(n: int) -> str:
    """The id of the last bare workflow of the latest run (its history is the baseline's)."""
    return f"{_last_queue}-{n - 1}"


async def run_bare(client, n: int, concurrency: int) -> float:
    """Seconds from the first start to the last result of `n` bare workflows, at most
    `concurrency` started and unfinished at once (the same gate the bookings get)."""
    global _last_queue
    queue = _last_queue = f"bench-bare-{uuid.uuid4().hex[:8]}"
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with gate:
            result = await client.execute_workflow(
                BareWorkflow.run, i, id=f"{queue}-{i}", task_queue=queue)
            assert result == i

    async with Worker(client, task_queue=queue, workflows=[BareWorkflow], activities=[noop]):
        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        return time.perf_counter() - started


@workflow.defn(name="BenchBookingShapedWorkflow")
class BookingShapedWorkflow:
    """A booking's Temporal shape with no work in it: started by update-with-start with three
    search attributes, then four no-op activities in a row with the booking's upserts and patch
    checks between them, the update answered after the last (as IdiBookingWorkflow does until
    `scheduled`). What a booking costs the Temporal server for being four visible steps."""

    def __init__(self) -> None:
        self._done = False

    @workflow.run
    async def run(self, n: int) -> int:
        from workflows.contract import BOOKING_STATUS, HOST_KIND, ZOOM_MEETING_ID

        step = dict(start_to_close_timeout=timedelta(seconds=30))
        await workflow.execute_activity(noop, n, **step)
        workflow.upsert_search_attributes([HOST_KIND.value_set("system")])
        await workflow.execute_activity(noop, n, **step)
        workflow.upsert_search_attributes([ZOOM_MEETING_ID.value_set(str(n))])
        if workflow.patched("bench-one") and workflow.patched("bench-two"):
            await workflow.execute_activity(noop, n, **step)
        workflow.upsert_search_attributes([BOOKING_STATUS.value_set("scheduled")])
        await workflow.execute_activity(noop, n, **step)
        self._done = True
        await workflow.wait_condition(workflow.all_handlers_finished)
        return n

    @workflow.update
    async def wait_done(self) -> int:
        await workflow.wait_condition(lambda: self._done)
        return 1


async def run_booking_shaped(client, n: int, concurrency: int) -> float:
    """`run_bare` for BookingShapedWorkflow, started the way the booking API starts a booking."""
    from temporalio.client import WithStartWorkflowOperation
    from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDConflictPolicy

    from workflows.contract import BOOKING_ID, BOOKING_STATUS, ORG_ID

    global _last_shaped_queue
    queue = _last_shaped_queue = f"bench-shaped-{uuid.uuid4().hex[:8]}"
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with gate:
            op = WithStartWorkflowOperation(
                BookingShapedWorkflow.run, i, id=f"{queue}-{i}", task_queue=queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                search_attributes=TypedSearchAttributes([
                    SearchAttributePair(ORG_ID, "bench"), SearchAttributePair(BOOKING_ID, str(i)),
                    SearchAttributePair(BOOKING_STATUS, "scheduling")]))
            assert await client.execute_update_with_start_workflow(
                BookingShapedWorkflow.wait_done, start_workflow_operation=op) == 1

    async with Worker(client, task_queue=queue, workflows=[BookingShapedWorkflow], activities=[noop]):
        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        return time.perf_counter() - started


_last_shaped_queue = ""


def last_shaped_workflow_id(n: int) -> str:
    return f"{_last_shaped_queue}-{n - 1}"
