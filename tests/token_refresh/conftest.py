"""Fixtures of the keep-alive tests: a database of their own, and faults that never outlive a test.

The sweep picks every due connection in its database, so these tests get a fresh database (same
Postgres server, same Redis, Temporal dev server and emulator as the rest of the suite): other
tests' connections cannot be swept by them, and theirs cannot be swept by others.
"""

from __future__ import annotations

import uuid

import asyncpg
import pytest_asyncio

from models.migrate import migrate
from services import Services


@pytest_asyncio.fixture(scope="package")
async def keepalive(services, temporal_env):
    """Services on a fresh, migrated database; everything else shared with `services`."""
    base = services.settings.database_url
    server, _, _ = base.rpartition("/")
    name = f"keepalive_{uuid.uuid4().hex[:12]}"
    admin_dsn = base.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(admin_dsn)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    url = f"{server}/{name}"
    await migrate(url)
    svc = Services.from_settings(
        services.settings.model_copy(update={"database_url": url}), temporal=temporal_env.client
    )
    yield svc
    await svc.close()
    conn = await asyncpg.connect(admin_dsn)
    await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await conn.close()


@pytest_asyncio.fixture
async def faults(emulator):
    """`await faults(path, **rule)` adds an emulator fault that is removed when the test ends."""
    added: list[int] = []

    async def add(path: str, **rule):
        created = await emulator.control.add_fault(path, **rule)
        added.append(created["id"])
        return created

    yield add
    for fault_id in added:
        await emulator.control.http.delete(f"/_emulator/faults/{fault_id}")
