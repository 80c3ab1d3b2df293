"""The long-lived connections one process holds: database, Redis, Temporal, Zoom HTTP, the cipher.

Built once at start-up from settings and handed to the API handlers and activities, so nothing
reaches for a global and tests can build one against their own servers.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httpx
import redis.asyncio as redis
from tenacity import AsyncRetrying, RetryCallState, stop_after_delay, stop_never, wait_exponential
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from models import Database
from settings import ConfigError, Settings
from workflows.contract import TASK_QUEUE
from token_cipher import TokenCipher

if TYPE_CHECKING:
    from connections.tokens import TokenManager

log = logging.getLogger("startup")


async def connect_temporal(settings: Settings, timeout: float = 5.0) -> Client:
    return await asyncio.wait_for(
        Client.connect(
            settings.temporal_address,
            namespace=settings.temporal_namespace,
            data_converter=pydantic_data_converter,
        ),
        timeout,
    )


@dataclass
class Services:
    settings: Settings
    db: Database
    redis: redis.Redis
    cipher: TokenCipher
    http: httpx.AsyncClient
    _temporal: Client | None = None
    _temporal_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # The queue this process's bookings run on: /healthz checks that a worker polls it.
    task_queue: str = TASK_QUEUE
    _tokens: TokenManager | None = None

    @classmethod
    def from_settings(cls, settings: Settings, temporal: Client | None = None) -> "Services":
        if not settings.database_url or not settings.redis_url:
            raise RuntimeError("DATABASE_URL and REDIS_URL must be set (make run sets them for you)")
        return cls(
            settings=settings,
            db=Database(settings.database_url),
            redis=redis.from_url(settings.redis_url),
            cipher=TokenCipher.from_settings(settings),
            # Zoom answers within seconds or not at all; downloads set their own timeouts.
            http=httpx.AsyncClient(timeout=httpx.Timeout(15.0, connect=5.0)),
            _temporal=temporal,
        )

    @property
    def tokens(self) -> TokenManager:
        """The one token manager every Zoom call goes through (connections/tokens.py)."""
        if self._tokens is None:
            from connections.tokens import TokenManager

            self._tokens = TokenManager(self)
        return self._tokens

    async def temporal(self) -> Client:
        """The Temporal client, connected on first use so the API can start while Temporal is down."""
        if self._temporal is None:
            async with self._temporal_lock:
                if self._temporal is None:
                    self._temporal = await connect_temporal(self.settings)
        return self._temporal

    async def wait_for_dependencies(self, *, temporal: bool) -> None:
        """At start, wait for Postgres and Redis (and Temporal when `temporal`) with backoff and a
        log line per try, instead of exiting: in a deploy they may come up after this process.
        With DEPENDENCY_WAIT_SECONDS set, give up after that long with one line naming the setting."""
        from sqlalchemy.engine import make_url

        db = make_url(self.settings.database_url)
        redis_at = self.redis.connection_pool.connection_kwargs
        await self._wait_for("Postgres", "DATABASE_URL", f"{db.host}:{db.port or 5432}/{db.database}",
                             self.db.ping)
        await self._wait_for("Redis", "REDIS_URL", f"{redis_at.get('host')}:{redis_at.get('port')}",
                             self.redis.ping)
        if temporal:
            await self._wait_for("Temporal", "TEMPORAL_ADDRESS", self.settings.temporal_address,
                                 self.temporal)

    async def _wait_for(self, name: str, setting: str, target: str, check) -> None:
        limit = self.settings.dependency_wait_seconds
        stop = stop_after_delay(limit) if limit is not None else stop_never

        def say(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            log.warning("waiting for %s at %s (%s); next try in %.1f s", name, target,
                        type(exc).__name__, state.upcoming_sleep)

        try:
            async for attempt in AsyncRetrying(stop=stop, wait=wait_exponential(multiplier=0.5, max=10),
                                               before_sleep=say, reraise=True):
                with attempt:
                    await asyncio.wait_for(check(), 10)
        except Exception as exc:
            raise ConfigError(
                f"{setting}: cannot reach {target} ({type(exc).__name__}); check the server is "
                "running and the setting is right"
            ) from None

    async def close(self) -> None:
        await self.http.aclose()
        await self.redis.aclose()
        await self.db.close()
