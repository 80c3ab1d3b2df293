"""A rotated token is never lost and a healthy grant is never expired by a worker that lost track.

Each test plays one way a refresh can go wrong in production against the real token manager,
Redis lock and the emulator's token endpoint: a caller cancelled mid-refresh (an activity timing
out, a worker shutting down), a token call that hangs, a lock that lapses, a disconnect racing a
refresh, a token whose encryption key was dropped. Knobs (LOCK_TIMEOUT, REFRESH_CALL_TIMEOUT,
LOCK_WAIT) are shrunk on a token manager of the test's own so the scenarios take seconds.
"""

from __future__ import annotations

import asyncio
import os
from urllib.parse import parse_qs

import httpx
import pytest
from sqlalchemy import update

from models import ZoomConnection
from tests.connections.helpers import (
    connect,
    fault_fired,
    fresh_zoom_user,
    lock_free,
    make_due,
    refresh_requests,
    row_by_id,
    services_copy,
    tokens_of,
    until,
    works,
)
from token_cipher import TokenCipher
from connections.tokens import ConnectionUnavailable
from zoom.errors import ZoomTransientError
from zoom.oauth import ZoomOAuth
from connections.disconnect import disconnect

REFRESH = {"grant_type": "refresh_token"}


async def connected(api, emulator, name: str) -> tuple[str, dict, ZoomConnection]:
    org_id, headers = await api.new_org(name)
    return org_id, headers, await connect(api, emulator, org_id, headers, await fresh_zoom_user(emulator))


class TokenTraffic:
    """An httpx client that notes the access tokens Zoom issues and the tokens sent to revoke,
    so a test can tell which pair a disconnect ended (the emulator's log never holds tokens).
    While `hold` is clear, a token answer that has arrived is kept from its caller: the test
    decides what happens between Zoom rotating and the service saving."""

    def __init__(self) -> None:
        self.issued: list[str] = []
        self.revoked: list[str] = []
        self.hold = asyncio.Event()
        self.hold.set()
        self.http = httpx.AsyncClient(timeout=httpx.Timeout(15.0, connect=5.0), event_hooks={
            "request": [self._on_request], "response": [self._on_response]})

    async def _on_request(self, request: httpx.Request) -> None:
        if request.url.path == "/oauth/revoke":
            self.revoked += parse_qs(request.content.decode()).get("token", [])

    async def _on_response(self, response: httpx.Response) -> None:
        if response.request.url.path == "/oauth/token" and response.is_success:
            await response.aread()
            self.issued.append(response.json()["access_token"])
            await self.hold.wait()


# --- review finding 3: a cancelled caller must not drop a rotated token ------------------------


async def test_a_caller_cancelled_mid_refresh_still_saves_the_rotated_pair(api, emulator):
    _, _, row = await connected(api, emulator, "Cancelled Caller Ltd")
    services = services_copy(api.services)
    await make_due(services, row.id)
    fault = await emulator.control.add_fault("/oauth/token", action="delay", latency_ms=1500,
                                             match=REFRESH, count=1)
    before = await refresh_requests(emulator)

    caller = asyncio.create_task(services.tokens.org_access_token(row.id))
    await fault_fired(emulator, fault)  # the refresh token is at Zoom now
    caller.cancel()  # what Temporal does on a start-to-close timeout or a worker shutdown
    with pytest.raises(asyncio.CancelledError):
        await caller
    # Zoom rotates regardless: the old refresh token is dead once it has answered.
    await until(lambda: _answered(emulator, before), "Zoom to answer the refresh")
    await lock_free(services, row.id)

    stored = await row_by_id(services, row.id)
    assert stored.status == "active" and stored.token_version == row.token_version + 1
    token = await services.tokens.org_access_token(row.id)  # no second refresh needed
    assert token == tokens_of(services, stored)[0] and await works(emulator, token)
    assert await refresh_requests(emulator) - before == 1


async def _answered(emulator, before: int) -> bool:
    return await refresh_requests(emulator) - before >= 1


# --- review finding 4: the lock must not lapse mid-refresh, and a lapsed holder expires nothing --


async def test_a_hanging_token_call_is_cut_off_and_counts_as_a_lost_answer(api, emulator):
    _, _, row = await connected(api, emulator, "Hanging Token Call Ltd")
    services = services_copy(api.services)
    services.tokens.REFRESH_CALL_TIMEOUT = 0.3  # 15 s in production; the lock lives 60 s
    await make_due(services, row.id)
    await emulator.control.add_fault("/oauth/token", action="delay", latency_ms=2000,
                                     match=REFRESH, count=2)
    before = await refresh_requests(emulator)

    with pytest.raises(ZoomTransientError):
        await services.tokens.org_access_token(row.id)

    stored = await row_by_id(services, row.id)
    assert stored.status == "active" and stored.consecutive_failures == 1
    # Both calls were cut off: the lost-answer check was tried once, nothing more. (Zoom
    # finishes them later; wait, so no other test counts them.)
    await until(lambda: _answered(emulator, before + 1), "Zoom to finish both delayed calls")
    assert await refresh_requests(emulator) - before == 2


async def test_a_lapsed_lock_stops_the_refresh_token_being_sent_again(api, emulator):
    _, _, row = await connected(api, emulator, "Lapsed Lock Ltd")
    services = services_copy(api.services)
    services.tokens.LOCK_TIMEOUT = 1.0  # lapses while the first answer is being lost
    await make_due(services, row.id)
    await emulator.control.add_fault("/oauth/token", action="drop", latency_ms=1500,
                                     match=REFRESH, count=1)
    before = await refresh_requests(emulator)

    with pytest.raises(ZoomTransientError):
        await services.tokens.org_access_token(row.id)

    # Another worker may hold the lock and be sending this very token: no second send from us.
    assert await refresh_requests(emulator) - before == 1
    stored = await row_by_id(services, row.id)
    assert stored.status == "active" and stored.refresh_token_enc == row.refresh_token_enc


async def test_a_worker_whose_lock_lapsed_never_expires_the_connection(api, emulator):
    _, _, row = await connected(api, emulator, "Lapsed Verdict Ltd")
    services = services_copy(api.services)
    services.tokens.LOCK_TIMEOUT = 1.0
    settings = services.settings
    _, refresh_token = tokens_of(services, row)
    # Another worker, whose lock was valid, refreshed with this token: Zoom now calls it dead.
    await ZoomOAuth(services.http, settings.zoom_oauth_base_url, settings.zoom_client_id,
                    settings.zoom_client_secret).refresh(refresh_token)
    await make_due(services, row.id)
    await emulator.control.add_fault("/oauth/token", action="delay", latency_ms=1500,
                                     match=REFRESH, count=1)

    with pytest.raises(ZoomTransientError):
        await services.tokens.org_access_token(row.id)

    stored = await row_by_id(services, row.id)
    assert stored.status == "active" and stored.status_reason is None
    assert stored.refresh_token_enc == row.refresh_token_enc


# --- review finding 5: a disconnect racing a refresh leaves no live grant ------------------------


async def test_a_disconnect_waits_for_a_refresh_in_flight_and_revokes_its_pair(api, emulator):
    org_id, _, row = await connected(api, emulator, "Disconnect Race Ltd")
    traffic = TokenTraffic()
    services = services_copy(api.services, http=traffic.http)
    await make_due(services, row.id)
    fault = await emulator.control.add_fault("/oauth/token", action="delay", latency_ms=1500,
                                             match=REFRESH, count=1)
    try:
        refreshing = asyncio.create_task(services.tokens.org_access_token(row.id))
        await fault_fired(emulator, fault)
        result = await disconnect(services, org_id)
        token = await refreshing  # saved before the disconnect read the row
    finally:
        await traffic.http.aclose()

    assert traffic.issued == [token]
    assert result.zoom_revoke == "revoked" and traffic.revoked[0] == token
    assert not await works(emulator, token)
    stored = await row_by_id(api.services, row.id)
    assert stored.status == "disconnected" and stored.access_token_enc is None and stored.refresh_token_enc is None


async def test_a_refresh_that_loses_to_a_disconnect_revokes_what_it_got(api, emulator):
    org_id, _, row = await connected(api, emulator, "Disconnect Wins Ltd")
    traffic = TokenTraffic()
    refresher = services_copy(api.services, http=traffic.http)
    disconnecter = services_copy(api.services, http=traffic.http)
    disconnecter.tokens.LOCK_WAIT = 0.1  # cannot wait for the refresh: goes ahead without the lock
    await make_due(refresher, row.id)
    traffic.hold.clear()
    try:
        refreshing = asyncio.create_task(refresher.tokens.org_access_token(row.id))
        # Zoom has rotated and answered; the answer is not saved yet when the disconnect runs.
        await until(lambda: _issued(traffic), "Zoom to issue the new pair")
        result = await disconnect(disconnecter, org_id)
        traffic.hold.set()
        with pytest.raises(ConnectionUnavailable) as lost:
            await refreshing
    finally:
        traffic.hold.set()
        await traffic.http.aclose()

    assert lost.value.reason == "disconnected"
    [new_pair] = traffic.issued
    assert new_pair not in traffic.revoked[:1]  # the disconnect could only revoke the pair it saw
    assert result.zoom_revoke == "revoked"
    assert traffic.revoked[-1] == new_pair  # nobody else holds the new pair: the refresh ended it
    stored = await row_by_id(api.services, row.id)
    assert stored.status == "disconnected" and stored.access_token_enc is None


async def _issued(traffic: TokenTraffic) -> bool:
    return bool(traffic.issued)


# --- review finding 16: an undecryptable token makes bookings fall back at once -----------------


def _misbound(services, row: ZoomConnection, field: str) -> str:
    """Ciphertext under a loaded key that does not authenticate for this row (altered, copied
    from another row): useless to every process."""
    return services.cipher.encrypt("old-token", table="zoom_connections", row_id="another-row", field=field)


def _under_dropped_key(row: ZoomConnection, field: str) -> str:
    """Ciphertext under a key id this process does not load."""
    dropped = TokenCipher({"dropped": os.urandom(32)})
    return dropped.encrypt("old-token", table="zoom_connections", row_id=row.id, field=field)


async def _store(services, row: ZoomConnection, **values) -> None:
    async with services.db.session() as s:
        await s.exec(update(ZoomConnection).where(ZoomConnection.id == row.id).values(**values))
        await s.commit()


async def test_an_access_token_that_does_not_authenticate_expires_the_connection(api, emulator):
    _, headers, row = await connected(api, emulator, "Garbled Token Ltd")
    tokens = api.services.tokens
    await _store(api.services, row, access_token_enc=_misbound(api.services, row, "access_token_enc"))

    with pytest.raises(ConnectionUnavailable) as first:
        await tokens.org_access_token(row.id)
    with pytest.raises(ConnectionUnavailable) as later:
        await tokens.org_access_token(row.id)

    # A booking falls back with this reason (booking_hosts.fallback_reason) instead of retrying.
    assert first.value.reason == "token_undecryptable"
    assert (later.value.reason, later.value.detail) == ("expired", "token_undecryptable")
    stored = await row_by_id(api.services, row.id)
    assert (stored.status, stored.status_reason) == ("expired", "token_undecryptable")
    assert stored.access_token_enc is None and stored.refresh_token_enc is None
    status = (await api.http.get(f"/v1/orgs/{row.org_id}/integrations/zoom", headers=headers)).json()
    assert (status["status"], status["status_reason"]) == ("expired", "token_undecryptable")


async def test_the_scheduled_refresh_expires_a_connection_whose_refresh_token_is_garbled(api, emulator):
    _, _, row = await connected(api, emulator, "Garbled Refresh Ltd")
    await _store(api.services, row, refresh_token_enc=_misbound(api.services, row, "refresh_token_enc"))
    await make_due(api.services, row.id)
    before = await refresh_requests(emulator)

    assert await api.services.tokens.refresh(row.id) == "expired"

    assert await refresh_requests(emulator) == before  # nothing to send
    stored = await row_by_id(api.services, row.id)
    assert (stored.status, stored.status_reason) == ("expired", "token_undecryptable")


async def test_a_token_under_a_key_this_process_lacks_falls_back_and_keeps_the_grant(api, emulator):
    """A dropped key, or a new first key not deployed to this process yet: the booking falls
    back now, and nothing is destroyed that a correctly configured process could still use."""
    _, _, row = await connected(api, emulator, "Missing Key Ltd")
    tokens = api.services.tokens
    foreign = _under_dropped_key(row, "refresh_token_enc")
    await _store(api.services, row, refresh_token_enc=foreign)
    await make_due(api.services, row.id)

    with pytest.raises(ConnectionUnavailable) as unavailable:
        await tokens.org_access_token(row.id)
    assert await tokens.refresh(row.id) == "transient_failure"

    assert (unavailable.value.reason, unavailable.value.detail) == ("token_undecryptable", "key_not_loaded")
    stored = await row_by_id(api.services, row.id)
    assert stored.status == "active" and stored.refresh_token_enc == foreign
