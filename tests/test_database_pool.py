"""A pooled connection Postgres has closed is replaced before use (models/db.py): the first
query after a backend is killed (as a Postgres restart kills them all) succeeds, and the check
itself sends nothing to the server."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from models.db import Database


async def _backend_pid(db: Database) -> int:
    async with db.session() as s:
        return (await s.exec(text("SELECT pg_backend_pid()"))).scalar_one()


async def test_a_connection_the_server_closed_is_replaced_before_use(database_url):
    db, killer = Database(database_url, pool_size=1), Database(database_url, pool_size=1)
    try:
        first = await _backend_pid(db)
        assert await _backend_pid(db) == first  # the pool hands the same connection back
        async with killer.session() as s:
            assert (await s.exec(text("SELECT pg_terminate_backend(:pid)"), params={"pid": first})).scalar_one()
        await asyncio.sleep(0.2)  # the event loop reads the server's goodbye, as after a restart
        second = await _backend_pid(db)
        assert second != first
    finally:
        await db.close()
        await killer.close()


async def test_checking_out_a_live_connection_sends_nothing_first(database_url, monkeypatch):
    """SQLAlchemy's pre-ping would send BEGIN, `;` and ROLLBACK here on every checkout."""
    import asyncpg

    sent: list[str] = []
    real_fetchrow = asyncpg.connection.Connection.fetchrow

    async def fetchrow(self, query, *args, **kwargs):
        sent.append(query)
        return await real_fetchrow(self, query, *args, **kwargs)

    db = Database(database_url, pool_size=1)
    try:
        await _backend_pid(db)
        monkeypatch.setattr(asyncpg.connection.Connection, "fetchrow", fetchrow)
        await _backend_pid(db)
        assert ";" not in sent, sent
    finally:
        await db.close()
