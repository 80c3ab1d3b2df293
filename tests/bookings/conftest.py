"""Fixtures of the booking integration tests: a worker on the `idi` queue whose system-host pool is
fresh for each test (its own Zoom user in the emulator's system account), so capacity counts
never mix between tests; faults and switches never outlive a test."""

from __future__ import annotations

from contextlib import asynccontextmanager

import pytest_asyncio

from tests.bookings.helpers import new_system_host, services_with_hosts
from workflows.contract import TASK_QUEUE


@pytest_asyncio.fixture(autouse=True)
async def _clean_emulator(emulator):
    yield
    await emulator.control.clear_faults()
    await emulator.control.config(daily_limit=100, clock_offset=0)


@pytest_asyncio.fixture
async def system_host(emulator) -> str:
    """A system host no other test books on."""
    return await new_system_host(emulator)


@pytest_asyncio.fixture
async def idi_worker(services, temporal_env):
    """Start a worker on `idi` with a given system-host pool: `async with idi_worker("a@x:1"):`."""
    from worker import build_worker

    @asynccontextmanager
    async def run(hosts_raw: str):
        svc = services_with_hosts(services, hosts_raw)
        async with build_worker(temporal_env.client, svc, task_queue=TASK_QUEUE):
            yield svc

    return run
