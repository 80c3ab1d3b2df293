"""The token manager: one refresh for many callers (and for many processes), dead grants,
lost refresh answers, transient failures, a rejected access token, and the system account token.

Counts of refresh requests come from the emulator's own stats, so "exactly one refresh" is what
Zoom saw, not what the service believes it did.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import sys
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import update

from models import ZoomConnection
from tests.helpers import zoom_env
from tests.connections.helpers import connect, fresh_zoom_user, make_due, refresh_requests, row_by_id, tokens_of
from tests.connections.race_worker import wait_for_item
from connections.tokens import ConnectionUnavailable, s2s_cache_key
from zoom.errors import ZoomTransientError
from zoom.oauth import ZoomOAuth

ROOT = Path(__file__).resolve().parents[2]


async def works(emulator, token: str) -> bool:
    async with httpx.AsyncClient() as c:
        r = await c.get(f"{emulator.api_base_url}/users/me", headers={"Authorization": f"Bearer {token}"})
    return r.status_code == 200


async def connected(api, emulator, name: str) -> ZoomConnection:
    org_id, headers = await api.new_org(name)
    return await connect(api, emulator, org_id, headers, await fresh_zoom_user(emulator))


async def test_fifty_callers_needing_a_refresh_cause_one(api, emulator):
    row = await connected(api, emulator, "Fifty Callers Ltd")
    old_access, _ = tokens_of(api.services, row)
    await make_due(api.services, row.id)
    before = await refresh_requests(emulator)

    tokens = await asyncio.gather(*(api.services.tokens.org_access_token(row.id) for _ in range(50)))

    assert await refresh_requests(emulator) - before == 1
    assert len(tokens) == 50 and len(set(tokens)) == 1 and tokens[0] != old_access
    assert await works(emulator, tokens[0])
    stored = await row_by_id(api.services, row.id)
    # What was handed out is what was saved (saved before use), under a new version.
    assert tokens_of(api.services, stored)[0] == tokens[0]
    assert stored.token_version == row.token_version + 1 and stored.last_refreshed_at is not None


async def test_two_processes_racing_the_same_refresh_cause_one(api, emulator, base_env):
    row = await connected(api, emulator, "Two Workers Ltd")
    await make_due(api.services, row.id)
    barrier = f"test:race:{uuid.uuid4().hex}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZOOM_")}
    env |= base_env | zoom_env(emulator) | {"PYTHONPATH": str(ROOT)}
    before = await refresh_requests(emulator)
    workers = [
        await asyncio.create_subprocess_exec(
            sys.executable, str(ROOT / "tests/connections/race_worker.py"), row.id, barrier,
            cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        for _ in range(2)
    ]
    redis = api.services.redis
    for _ in workers:
        await wait_for_item(redis, f"{barrier}:ready")
    await redis.rpush(f"{barrier}:go", "1", "1")
    outputs = [await w.communicate() for w in workers]

    assert [w.returncode for w in workers] == [0, 0], [err.decode()[-2000:] for _, err in outputs]
    hashes = {out.decode().strip() for out, _ in outputs}
    assert await refresh_requests(emulator) - before == 1
    stored, _ = tokens_of(api.services, await row_by_id(api.services, row.id))
    assert hashes == {hashlib.sha256(stored.encode()).hexdigest()}
    assert await works(emulator, stored)


@pytest.mark.parametrize("zoom_error", ["invalid_grant", "invalid_request"])
async def test_a_dead_refresh_token_expires_the_connection(api, emulator, zoom_error):
    """Zoom answers `invalid_grant` (or `invalid_request` + "Invalid Token!") once the refresh
    token was used elsewhere: the connection expires and nobody retries."""
    row = await connected(api, emulator, f"Dead Grant {zoom_error}")
    settings = api.services.settings
    _, refresh_token = tokens_of(api.services, row)
    oauth = ZoomOAuth(api.services.http, settings.zoom_oauth_base_url, settings.zoom_client_id,
                      settings.zoom_client_secret)
    await oauth.refresh(refresh_token)  # someone else used it: the stored one is now dead
    await make_due(api.services, row.id)
    await emulator.control.config(refresh_error=zoom_error)
    try:
        before = await refresh_requests(emulator)
        with pytest.raises(ConnectionUnavailable) as first:
            await api.services.tokens.org_access_token(row.id)
        with pytest.raises(ConnectionUnavailable) as later:
            await api.services.tokens.org_access_token(row.id)
    finally:
        await emulator.control.config(refresh_error="invalid_grant")

    assert first.value.reason == "refresh_failed" and later.value.reason == "expired"
    assert await refresh_requests(emulator) - before == 1
    stored = await row_by_id(api.services, row.id)
    assert (stored.status, stored.status_reason) == ("expired", "refresh_failed")
    assert stored.access_token_enc is None and stored.refresh_token_enc is None
    assert await api.services.tokens.refresh(row.id) == "not_active"


async def test_a_lost_refresh_answer_that_rotated_expires_with_its_reason(api, emulator):
    row = await connected(api, emulator, "Lost Answer Ltd")
    await make_due(api.services, row.id)
    await emulator.control.add_fault("/oauth/token", action="commit_then_drop",
                                     match={"grant_type": "refresh_token"}, count=1)
    before = await refresh_requests(emulator)

    with pytest.raises(ConnectionUnavailable) as exc:
        await api.services.tokens.org_access_token(row.id)

    assert exc.value.reason == "refresh_response_lost"
    assert await refresh_requests(emulator) - before == 2  # the lost one, then one check
    stored = await row_by_id(api.services, row.id)
    assert (stored.status, stored.status_reason) == ("expired", "refresh_response_lost")


async def test_a_lost_refresh_request_that_did_nothing_is_retried_once(api, emulator):
    row = await connected(api, emulator, "Dropped Request Ltd")
    await make_due(api.services, row.id)
    await emulator.control.add_fault("/oauth/token", action="drop",
                                     match={"grant_type": "refresh_token"}, count=1)
    before = await refresh_requests(emulator)

    token = await api.services.tokens.org_access_token(row.id)

    assert await refresh_requests(emulator) - before == 2
    assert await works(emulator, token)
    assert (await row_by_id(api.services, row.id)).status == "active"


async def test_transient_failures_keep_the_connection_and_count(api, emulator):
    row = await connected(api, emulator, "Transient Ltd")
    await make_due(api.services, row.id)
    tokens = api.services.tokens
    # A 5xx may come after Zoom rotated, so it is checked once more: two make it a failure.
    await emulator.control.add_fault("/oauth/token", status=503, match={"grant_type": "refresh_token"}, count=2)
    with pytest.raises(ZoomTransientError):
        await tokens.org_access_token(row.id)
    await emulator.control.add_fault("/oauth/token", action="qps", match={"grant_type": "refresh_token"}, count=1)
    assert await tokens.refresh(row.id) == "transient_failure"

    failing = await row_by_id(api.services, row.id)
    assert (failing.status, failing.consecutive_failures) == ("active", 2)
    assert failing.refresh_token_enc == row.refresh_token_enc

    assert await tokens.refresh(row.id) == "refreshed"
    recovered = await row_by_id(api.services, row.id)
    assert (recovered.status, recovered.consecutive_failures) == ("active", 0)


async def test_a_rejected_access_token_is_replaced_once_and_the_call_retried(api, emulator):
    row = await connected(api, emulator, "Rejected Token Ltd")
    bogus = api.services.cipher.encrypt("not-a-zoom-token", table="zoom_connections", row_id=row.id,
                                        field="access_token_enc")
    async with api.services.db.session() as s:  # looks fresh, but Zoom answers 124
        await s.exec(update(ZoomConnection).where(ZoomConnection.id == row.id).values(access_token_enc=bogus))
        await s.commit()
    before = await refresh_requests(emulator)

    me = await api.services.tokens.org_api(row.id).get_me()

    assert me["email"] == row.zoom_email
    assert await refresh_requests(emulator) - before == 1


async def test_a_reconnect_during_a_refresh_wins(api, emulator):
    """The refresh that loses to a reconnect must not expire the fresh connection (peer lesson:
    the loser deletes the winner's token)."""
    org_id, headers = await api.new_org("Race Reconnect Ltd")
    email = await fresh_zoom_user(emulator)
    row = await connect(api, emulator, org_id, headers, email)
    await make_due(api.services, row.id)
    fault = await emulator.control.add_fault("/oauth/token", action="delay", latency_ms=2000,
                                             match={"grant_type": "refresh_token"}, count=1)
    refreshing = asyncio.create_task(api.services.tokens.org_access_token(row.id))
    while not any(f["id"] == fault["id"] and f["fired"]
                  for f in (await emulator.control.http.get("/_emulator/faults")).json()):
        await asyncio.sleep(0.01)

    reconnected = await connect(api, emulator, org_id, headers, email)
    token = await refreshing

    stored = await row_by_id(api.services, row.id)
    assert stored.status == "active" and stored.token_version == reconnected.token_version
    assert token == tokens_of(api.services, stored)[0]
    assert await works(emulator, token)


async def test_an_inactive_connection_says_why(api, emulator):
    org_id, headers = await api.new_org("Gone Ltd")
    row = await connect(api, emulator, org_id, headers, "gina@globex.test")
    await api.http.delete(f"/v1/orgs/{org_id}/integrations/zoom", headers=headers)

    with pytest.raises(ConnectionUnavailable) as disconnected:
        await api.services.tokens.org_access_token(row.id)
    with pytest.raises(ConnectionUnavailable) as unknown:
        await api.services.tokens.org_access_token("no-such-connection")

    assert disconnected.value.reason == "disconnected" and unknown.value.reason == "not_connected"


async def test_scheduled_refresh_outcomes(api, emulator):
    row = await connected(api, emulator, "Scheduled Ltd")
    tokens = api.services.tokens
    before = await refresh_requests(emulator)

    assert await tokens.refresh(row.id) == "not_due"
    assert await tokens.refresh(row.id, force=True) == "refreshed"
    await make_due(api.services, row.id)
    assert await tokens.refresh(row.id) == "refreshed"

    assert await refresh_requests(emulator) - before == 2


# --- the system account ----------------------------------------------------------------------


async def s2s_requests(emulator) -> int:
    return (await emulator.control.stats())["token_requests"].get("account_credentials", 0)


async def test_system_token_is_fetched_once_and_kept_encrypted(api, emulator):
    redis, tokens = api.services.redis, api.services.tokens
    key = s2s_cache_key(api.services.settings)
    await redis.delete(key)
    before = await s2s_requests(emulator)

    got = await asyncio.gather(*(tokens.system_access_token() for _ in range(20)))

    assert await s2s_requests(emulator) - before == 1 and len(set(got)) == 1
    cached = (await redis.get(key)).decode()
    assert got[0] not in cached and cached.startswith("v1.")
    assert 0 < await redis.ttl(key) <= 3600 - 300
    host = await tokens.system_api().get_user("host1@system.converge.test")
    assert host["email"] == "host1@system.converge.test"


async def test_a_rejected_system_token_is_fetched_again_only_if_still_current(api, emulator):
    redis, tokens, cipher = api.services.redis, api.services.tokens, api.services.cipher
    key = s2s_cache_key(api.services.settings)
    current = await tokens.system_access_token()

    await tokens.forget_system_access_token(rejected_token="some-older-token")
    assert await redis.exists(key) == 1
    assert await tokens.system_access_token() == current

    await redis.set(key, cipher.encrypt("revoked-token", table="redis", row_id="s2s", field="access_token"))
    before = await s2s_requests(emulator)
    host = await tokens.system_api().get_user("host2@system.converge.test")

    assert host["email"] == "host2@system.converge.test"
    assert await s2s_requests(emulator) - before == 1
    assert await tokens.system_access_token() != "revoked-token"
