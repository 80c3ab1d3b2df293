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
