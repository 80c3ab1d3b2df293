"""A pooled connection Postgres has closed (a restart closes every one) is replaced when it is
checked out, so the first request afterwards is served, not a 500 (README "When something
fails"; the whole outage is tests/test_outages.py). This is what pool_pre_ping promised, kept by
models/db.py without its three round trips per checkout."""

from __future__ import annotations

import asyncpg

import models.db
from models.db import Database
from tests.bookings.helpers import until


async def _terminate(database_url: str, pid: int) -> None:
    """Postgres ends that backend, as a restart ends them all; returns once it is gone."""
    admin = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)

        async def gone() -> bool:
            return not await admin.fetchval("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pid)

        await until(gone, timeout=30, what="the backend to exit")
    finally:
        await admin.close()


async def _pooled_backend(db: Database) -> tuple[int, object]:
    async with db.driver() as conn:
        return await conn.fetchval("SELECT pg_backend_pid()"), conn


async def test_a_connection_postgres_closed_is_replaced_at_checkout(database_url):
    db = Database(database_url, pool_size=1)
    try:
        pid, conn = await _pooled_backend(db)
        await _terminate(database_url, pid)

        async def noticed() -> bool:
            return conn.is_closed()

        await until(noticed, timeout=30, what="the driver to see the connection closed")
        async with db.session() as s:  # the ORM path, as every route has it
            conn = await s.connection()
            assert (await conn.exec_driver_sql("SELECT 1")).scalar() == 1
        again, _ = await _pooled_backend(db)
        assert again != pid
    finally:
        await db.close()


async def test_an_idle_connection_is_pinged_so_a_dead_one_is_replaced_before_the_driver_noticed(
        database_url, monkeypatch):
    monkeypatch.setattr(models.db, "PING_IDLE_SECONDS", 0.0)  # every returned connection counts as idle
    db = Database(database_url, pool_size=1)
    try:
        pid, _ = await _pooled_backend(db)
        await _terminate(database_url, pid)  # no wait for the driver to see it: the ping finds out
        again, _ = await _pooled_backend(db)
        assert again != pid
    finally:
        await db.close()


async def test_the_api_opens_its_pool_before_the_first_request(database_url):
    """`python -m api` fills the pool at start (a burst of webhooks would otherwise wait for
    connections being opened one by one); they are all back in the pool, ready."""
    db = Database(database_url, pool_size=3)
    try:
        await db.fill_pool()
        pool = db.engine.sync_engine.pool
        assert (pool.checkedin(), pool.checkedout()) == (3, 0)
    finally:
        await db.close()


async def test_checking_out_a_live_connection_sends_nothing_first(database_url, monkeypatch):
    """SQLAlchemy's pre-ping would send BEGIN, `;` and ROLLBACK here on every checkout."""
    from sqlalchemy import text

    sent: list[str] = []
    real_fetchrow = asyncpg.connection.Connection.fetchrow

    async def fetchrow(self, query, *args, **kwargs):
        sent.append(query)
        return await real_fetchrow(self, query, *args, **kwargs)

    db = Database(database_url, pool_size=1)
    try:
        async with db.session() as s:
            await s.exec(text("SELECT 1"))
        monkeypatch.setattr(asyncpg.connection.Connection, "fetchrow", fetchrow)
        async with db.session() as s:
            await s.exec(text("SELECT 1"))
        assert ";" not in sent, sent
    finally:
        await db.close()
