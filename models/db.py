"""The database engine and sessions, built from settings and handed to whoever needs them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession


class Database:
    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self.engine: AsyncEngine = create_async_engine(url, pool_size=pool_size, max_overflow=pool_size)
        event.listen(self.engine.sync_engine, "checkout", _drop_closed_connection)
        self._sessions = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)
        self._autocommit = self.engine.execution_options(isolation_level="AUTOCOMMIT")

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self._sessions() as s:
            yield s

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[AsyncConnection]:
        """A pooled connection where each Core statement commits as it runs: for hot paths made
        of single statements (the token manager's reads and compare-and-swap saves), which then
        cost one round trip each instead of BEGIN, statement, COMMIT and the ORM's bookkeeping
        (bench/README.md, "Where the time goes")."""
        async with self._autocommit.connect() as conn:
            yield conn

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.exec_driver_sql("SELECT 1")

    async def close(self) -> None:
        await self.engine.dispose()


def _drop_closed_connection(dbapi_connection, _record, _proxy) -> None:
    """A pooled connection the server has closed (Postgres restarted, the backend was killed) is
    replaced before use, so the first request after an outage does not fail on it.

    Why not SQLAlchemy's `pool_pre_ping`: with asyncpg it costs three round trips per checkout
    (BEGIN, a ping, ROLLBACK) and a booking checks out 17 connections: about a tenth of the
    service's CPU per booking and per webhook (bench/README.md#where-the-time-goes). When Postgres
    closes a connection its socket says so, and asyncpg marks the connection closed as soon as the
    event loop reads that: a check that costs nothing. Raising DisconnectionError here is
    SQLAlchemy's documented way to make the pool drop it and hand out a fresh one."""
    driver = getattr(dbapi_connection, "driver_connection", None)
    if driver is not None and driver.is_closed():
        raise DisconnectionError("the database closed this pooled connection")
