"""Heartbeats that prove the worker is alive (docs/architecture.md#a-dead-worker).

Temporal notices a worker that died mid-activity only through a missing heartbeat; without one it
waits out the whole start-to-close timeout (90 s for choosing a host) before retrying elsewhere.
So every activity heartbeats while it runs, from a background task, and its workflow call sets
`heartbeat_timeout=LIVENESS` (workflows/retries.py): a killed worker's step moves on in seconds.
Downloads are the exception: they heartbeat their byte offset themselves, so a stalled body is
noticed too (activities/recording_download.py).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from contextlib import asynccontextmanager

from temporalio import activity


@asynccontextmanager
async def heartbeating(every: float = 1.0, details: Callable[[], tuple] = tuple):
    """Heartbeat every `every` seconds while the block runs (the SDK batches them).

    The first beat waits `every` too: Temporal counts the heartbeat timeout from the activity's
    start, so a worker that dies before it is noticed just as soon, and the many steps that finish
    within a second send no heartbeat at all - each one is a write on the Temporal server, about
    a sixth of its CPU per booking (bench/README.md#where-the-time-goes)."""

    async def beat() -> None:
        while True:
            await asyncio.sleep(every)
            activity.heartbeat(*details())

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()


def beats(fn):
    """An activity method that heartbeats for as long as it runs."""

    @functools.wraps(fn)
    async def run(*args, **kwargs):
        async with heartbeating():
            return await fn(*args, **kwargs)

    return run
