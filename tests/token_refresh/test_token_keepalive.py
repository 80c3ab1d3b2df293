"""The keep-alive sweep end to end: Temporal dev server, real Postgres and Redis, the Zoom emulator.

Connections are made through the real connect flow, then aged by writing their expiry columns, so
each test decides exactly which ones are due. What the sweep did is read back from the database
(token_version, last_refreshed_at, status) and from the emulator's own count of refresh requests.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest
from metrics import WORKER_REGISTRY as REGISTRY
from sqlalchemy import func
from sqlmodel import select

from api.integrations import status_view
from api.pages.wording import CONNECTION_REASONS
from models import ZoomConnection, utcnow
from tests.token_refresh.helpers import (
    call_soon,
    connect,
    connected,
    keepalive_worker,
    new_org,
    refresh_requests,
    row,
    run_sweep,
    set_row,
    start_sweep,
    zoom_users,
)
from connections.tokens import ConnectionUnavailable, refresh_lock_key


def sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def plaintext(svc, r: ZoomConnection, field: str) -> str:
    return svc.cipher.decrypt(getattr(r, field), table="zoom_connections", row_id=r.id, field=field)


async def until(condition, what: str, timeout: float = 10.0) -> None:
    """Wait for a state (not a time): fail with `what` if it never comes."""
    deadline = time.monotonic() + timeout
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        await asyncio.sleep(0.005)


async def test_sweep_refreshes_exactly_the_due_connections(keepalive, emulator, temporal_env):
    svc, now = keepalive, utcnow()
    soon, quiet, idle, never, gone, fine, unbooked = await connected(svc, emulator, 7)
    # Due: a token about to expire with an interview within the hour; idle for over 30 days.
    await set_row(svc, soon.id, access_expires_at=now + timedelta(minutes=5))
    await call_soon(svc, soon)
    await set_row(svc, quiet.id, access_expires_at=now + timedelta(minutes=50),
                  last_refreshed_at=now - timedelta(days=1))
    await set_row(svc, idle.id, access_expires_at=now + timedelta(minutes=50),
                  last_refreshed_at=now - timedelta(days=31))
    await set_row(svc, never.id, connected_at=now - timedelta(days=31), last_refreshed_at=None)
    # Tokens left in place: only its status keeps this one out of the sweep.
    await set_row(svc, gone.id, status="disconnected", access_expires_at=now + timedelta(minutes=1))
    await call_soon(svc, gone)
    await set_row(svc, fine.id, access_expires_at=now + timedelta(minutes=20),
                  last_refreshed_at=now - timedelta(days=29))
    await call_soon(svc, fine)
    # About to expire but nothing booked: refreshed on demand when needed, not by the Schedule.
    await set_row(svc, unbooked.id, access_expires_at=now + timedelta(minutes=5),
                  last_refreshed_at=now - timedelta(days=1))
    before = {c.id: await row(svc, c.id) for c in (soon, quiet, idle, never, gone, fine, unbooked)}
    zoom_before = await refresh_requests(emulator)
    refreshed_before = sample("zoom_token_refresh_total", outcome="refreshed")
    sweeps_before = sample("zoom_token_refresh_sweep_seconds_count")

    result, histories = await run_sweep(svc, temporal_env.client)

    assert result.outcomes == {"refreshed": 3}
    assert await refresh_requests(emulator) - zoom_before == 3
    for c in (soon, idle, never):
        after = await row(svc, c.id)
        assert after.token_version == before[c.id].token_version + 1
        assert after.last_refreshed_at >= now and after.consecutive_failures == 0
        assert after.access_expires_at > now + timedelta(minutes=50)
        # The rotated tokens are real: Zoom accepts the new access token.
        me = await svc.tokens.org_api(c.id).get_me()
        assert me["email"] == c.zoom_email
    for c in (quiet, gone, fine, unbooked):
        after = await row(svc, c.id)
        assert after.token_version == before[c.id].token_version
        assert after.refresh_token_enc == before[c.id].refresh_token_enc
        assert after.last_refreshed_at == before[c.id].last_refreshed_at

    # Metrics: three refreshes counted, one sweep timed, connections counted by status.
    assert sample("zoom_token_refresh_total", outcome="refreshed") - refreshed_before == 3
    assert sample("zoom_token_refresh_sweep_seconds_count") - sweeps_before == 1
    async with svc.db.session() as s:
        by_status = dict((await s.exec(
            select(ZoomConnection.status, func.count()).group_by(ZoomConnection.status))).all())
    for status in ("active", "disconnected", "expired", "revoked"):
        assert sample("zoom_connections", status=status) == by_status.get(status, 0)

    # Only ids and counts in the history: no token the sweep handled is in it.
    text = "".join(h.to_json() for h in histories)
    for c in (soon, idle, never):
        after = await row(svc, c.id)
        assert plaintext(svc, after, "access_token_enc") not in text
        assert plaintext(svc, after, "refresh_token_enc") not in text
        assert plaintext(svc, before[c.id], "refresh_token_enc") not in text


@pytest.mark.parametrize("first", ["sweep", "on_demand"])
async def test_a_sweep_racing_an_on_demand_refresh_makes_one_refresh(
    keepalive, emulator, temporal_env, faults, first
):
    svc, client = keepalive, temporal_env.client
    (conn,) = await connected(svc, emulator, 1)
    await set_row(svc, conn.id, access_expires_at=utcnow() + timedelta(minutes=1))
    await call_soon(svc, conn)
    # Zoom answers refreshes slowly, so whoever refreshes first is still inside the lock when the
    # other arrives (the lock's presence in Redis is what the test waits for, not a time).
    await faults("/oauth/token", action="delay", latency_ms=2000, match={"grant_type": "refresh_token"})
    lock = refresh_lock_key(conn.id)
    zoom_before = await refresh_requests(emulator)

    async def lock_held() -> bool:
        return bool(await svc.redis.exists(lock))

    tq = f"keepalive-race-{first}"
    async with keepalive_worker(svc, client, tq):
        if first == "sweep":
            handle = await start_sweep(client, tq)
            await until(lock_held, "the sweep takes the refresh lock")
            token = await svc.tokens.org_access_token(conn.id)
            result = await handle.result()
        else:
            on_demand = asyncio.create_task(svc.tokens.org_access_token(conn.id))
            await until(lock_held, "the on-demand refresh takes the lock")
            result = await (await start_sweep(client, tq)).result()
            token = await on_demand

    assert await refresh_requests(emulator) - zoom_before == 1
    after = await row(svc, conn.id)
    assert after.token_version == conn.token_version + 1
    assert token == plaintext(svc, after, "access_token_enc")
    # The loser waited for the lock, re-read the row and found the winner's fresh token.
    assert result.outcomes == ({"refreshed": 1} if first == "sweep" else {"not_due": 1})


async def test_a_revoked_grant_expires_the_connection_until_the_org_reconnects(
    keepalive, emulator, temporal_env
):
    svc, client = keepalive, temporal_env.client
    org_id = await new_org(svc)
    (email,) = await zoom_users(emulator, 1)
    conn = await connect(svc, emulator, org_id, email)
    # The user removes the Converge app in Zoom: every token of the grant dies.
    await emulator.control.deauthorize(email)
    await set_row(svc, conn.id, access_expires_at=utcnow() + timedelta(minutes=5))
    await call_soon(svc, conn)
    zoom_before = await refresh_requests(emulator)

    result, _ = await run_sweep(svc, client)

    assert result.outcomes == {"expired": 1}
    assert await refresh_requests(emulator) - zoom_before == 1  # a dead grant is asked once
    expired = await row(svc, conn.id)
    assert (expired.status, expired.status_reason) == ("expired", "refresh_failed")
    assert expired.access_token_enc is None and expired.refresh_token_enc is None
    # What GET .../integrations/zoom answers: expired, and why; the Integrations page puts the
    # reason in words and offers Reconnect Zoom for every expired connection.
    view = status_view(expired)
    assert (view.status, view.status_reason) == ("expired", "refresh_failed")
    assert "refresh_failed" in CONNECTION_REASONS
    # The next resolve of the org's host falls back, with the reason.
    with pytest.raises(ConnectionUnavailable) as unavailable:
        await svc.tokens.org_access_token(conn.id)
    assert (unavailable.value.reason, unavailable.value.detail) == ("expired", "refresh_failed")
    # Later sweeps leave it alone: Zoom is not asked again about a dead grant.
    result, _ = await run_sweep(svc, client)
    assert result.outcomes == {} and await refresh_requests(emulator) - zoom_before == 1

    await set_row(svc, conn.id, consecutive_failures=3)  # as if Zoom had also failed before
    again = await connect(svc, emulator, org_id, email)

    assert again.id == conn.id
    assert (again.status, again.status_reason) == ("active", None)
    assert again.consecutive_failures == 0 and again.access_token_enc is not None
    assert (await svc.tokens.org_api(conn.id).get_me())["email"] == email
    result, _ = await run_sweep(svc, client)
    assert result.outcomes == {}  # fresh tokens: nothing due


async def test_zoom_5xx_leaves_the_connection_active_and_counts_failures(
    keepalive, emulator, temporal_env, faults
):
    svc, client = keepalive, temporal_env.client
    (conn,) = await connected(svc, emulator, 1)
    await set_row(svc, conn.id, access_expires_at=utcnow() + timedelta(minutes=5))
    await call_soon(svc, conn)
    fault = await faults("/oauth/token", action="respond", status=503,
                         match={"grant_type": "refresh_token"})
    transient_before = sample("zoom_token_refresh_total", outcome="transient_failure")

    for failures in (1, 2):
        result, _ = await run_sweep(svc, client)
        assert result.outcomes == {"transient_failure": 1}
        r = await row(svc, conn.id)
        assert (r.status, r.status_reason, r.consecutive_failures) == ("active", None, failures)
        assert r.token_version == conn.token_version
        assert r.refresh_token_enc == conn.refresh_token_enc
    assert sample("zoom_token_refresh_total", outcome="transient_failure") - transient_before == 2

    await emulator.control.http.delete(f"/_emulator/faults/{fault['id']}")
    result, _ = await run_sweep(svc, client)

    assert result.outcomes == {"refreshed": 1}
    r = await row(svc, conn.id)
    assert (r.status, r.consecutive_failures, r.token_version) == ("active", 0, conn.token_version + 1)

