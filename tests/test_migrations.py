"""Alembic migrations run forward on an empty database and end at the tables the code defines."""

from __future__ import annotations

import uuid

import asyncpg
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import SQLModel

import models  # noqa: F401
from models.migrate import migrate


async def test_migrations_build_the_model_schema_on_an_empty_database(database_url):
    server = database_url.rpartition("/")[0]
    name = f"migr_{uuid.uuid4().hex[:10]}"
    admin = database_url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(admin)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    url = f"{server}/{name}"
    try:
        await migrate(url)
        await migrate(url)  # a second run is a no-op, as on every `make run`
        engine = create_async_engine(url)
        async with engine.connect() as c:
            def read(sync):
                insp = inspect(sync)
                return {t: {col["name"] for col in insp.get_columns(t)} for t in insp.get_table_names()}, {
                    t: [u["column_names"] for u in insp.get_unique_constraints(t)]
                    + [i["column_names"] for i in insp.get_indexes(t) if i["unique"]]
                    for t in insp.get_table_names()
                }
            tables, uniques = await c.run_sync(read)
        await engine.dispose()
        for table in SQLModel.metadata.sorted_tables:
            assert {c.name for c in table.columns} == tables[table.name], table.name
        assert ["booking_id"] in uniques["meetings"]
        assert ["meeting_id", "zoom_file_id"] in uniques["recording_files"]
        assert ["dedupe_key"] in uniques["webhook_events"]
        assert ["org_id", "idempotency_key"] in uniques["bookings"]
    finally:
        conn = await asyncpg.connect(admin)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()
