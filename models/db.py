"""The database engine and sessions, built from settings and handed to whoever needs them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import event, exc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

# A pooled connection idle longer than this is pinged at checkout; a busier one is not.
PING_IDLE_SECONDS = 5.0


class Database:
    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url, self.pool_size = url, pool_size
        self.engine: AsyncEngine = create_async_engine(
            url, pool_size=pool_size, max_overflow=pool_size
        )
        _check_at_checkout(self.engine)
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

    @asynccontextmanager
    async def driver(self):
        """The pooled connection's asyncpg connection, outside any transaction (each statement
        commits on its own), for hot paths where building and compiling an ORM statement costs
        more CPU than Postgres spends on it (api/webhooks/)."""
        async with self.engine.connect() as conn:
            yield (await conn.get_raw_connection()).driver_connection

    async def fill_pool(self) -> None:
        """Open the pool's connections now, so that the first burst of requests does not wait
        for them one by one (each new connection costs a login and the driver's type set-up:
        tens of milliseconds in the webhook bench's p99, bench/README.md)."""
        held: list = []

        async def hold() -> None:
            held.append(await self.engine.connect())

        try:
            await asyncio.gather(*(hold() for _ in range(self.pool_size)))
        finally:
            for conn in held:
                await conn.close()

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.exec_driver_sql("SELECT 1")

    async def close(self) -> None:
        await self.engine.dispose()


def _check_at_checkout(engine: AsyncEngine) -> None:
    """What `pool_pre_ping` promised (a connection Postgres closed, say by a restart, is replaced
    at checkout instead of failing the first request: README "When something fails",
    tests/test_outages.py) at a fraction of its cost. pre_ping spent three round trips (BEGIN, a
    query, ROLLBACK) on every checkout, about 30 % of a webhook's database time (bench/README.md).
    Instead: a connection the driver already saw closed is refused at once (no round trip; a
    restarting Postgres closes its connections, and the event loop sees it), and only one idle
    for PING_IDLE_SECONDS (long enough for a silent loss) is pinged. Raising DisconnectionError
    here makes the pool drop it and check out another (SQLAlchemy's "pessimistic" pattern)."""

    @event.listens_for(engine.sync_engine, "checkin")
    def _checked_in(dbapi_connection, record) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _checked_out(dbapi_connection, record, proxy) -> None:
        if dbapi_connection.driver_connection.is_closed():
            raise exc.DisconnectionError("the database closed this connection")
        idle_since = record.info.get("idle_since")
        if idle_since is not None and time.monotonic() - idle_since > PING_IDLE_SECONDS:
            try:
                dbapi_connection.ping()
            except Exception as error:
                raise exc.DisconnectionError(f"ping failed: {error}") from error
