"""ZoomOAuth and ZoomS2S against the Zoom emulator over HTTP (docs/zoom.md#token-rotation, #server-to-server-oauth)."""

from __future__ import annotations

import base64
import hashlib
import re
import socket
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from zoom.errors import (
    ZoomBadRequest,
    ZoomClientAuthError,
    ZoomGrantDead,
    ZoomRefreshOutcomeUnknown,
    ZoomTokenRejected,
    ZoomTransientError,
)
from zoom.oauth import (
    TokenSet,
    ZoomOAuth,
    ZoomS2S,
    authorize_url,
    new_pkce_pair,
    pkce_challenge,
)
from zoom_emulator.state import (
    DEFAULT_CLIENT_ID as CLIENT_ID,
    DEFAULT_CLIENT_SECRET as CLIENT_SECRET,
    DEFAULT_REDIRECT_URI as REDIRECT_URI,
    S2S_ACCOUNT_ID,
    S2S_CLIENT_ID,
    S2S_CLIENT_SECRET,
)

# --- pure helpers ---------------------------------------------------------------------------


def test_pkce_pair() -> None:
    pair = new_pkce_pair()
    assert 43 <= len(pair.verifier) <= 128
    assert re.fullmatch(r"[A-Za-z0-9\-._~]+", pair.verifier)
    expected = base64.urlsafe_b64encode(hashlib.sha256(pair.verifier.encode()).digest())
    assert pair.challenge == expected.rstrip(b"=").decode()
    assert pair.verifier not in repr(pair)
    assert new_pkce_pair().verifier != pair.verifier


def test_pkce_rfc7636_example() -> None:
    # RFC 7636 appendix B
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert pkce_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_authorize_url() -> None:
    url = authorize_url(
        "https://zoom.us/", "cid", "https://app.test/cb?x=1&y=2", "s t/ä", "chal-lenge"
    )
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "zoom.us", "/oauth/authorize")
    assert parse_qs(parts.query) == {
        "response_type": ["code"],
        "client_id": ["cid"],
        "redirect_uri": ["https://app.test/cb?x=1&y=2"],
        "state": ["s t/ä"],
        "code_challenge": ["chal-lenge"],
        "code_challenge_method": ["S256"],
    }
    assert "scope" not in parts.query


def test_token_set_hides_tokens() -> None:
    ts = TokenSet.model_validate(
        {
            "access_token": "ACCESS-SECRET",
            "refresh_token": "REFRESH-SECRET",
            "expires_in": 3599,
            "scope": "meeting:write:admin user:read:admin",
            "token_type": "bearer",
            "api_url": "https://api.zoom.us",
            "unknown": 1,
        }
    )
    for text in (repr(ts), str(ts), ts.model_dump_json(), f"{ts}", str(ts.model_dump())):
        assert "ACCESS-SECRET" not in text and "REFRESH-SECRET" not in text
    assert ts.access_token.get_secret_value() == "ACCESS-SECRET"
    assert ts.scope == ["meeting:write:admin", "user:read:admin"]
    now = datetime(2024, 1, 1, tzinfo=timezone.utc)
    assert ts.expires_at(now) == now + timedelta(seconds=3599)


def test_token_set_without_refresh_or_scope() -> None:
    ts = TokenSet.model_validate({"access_token": "a", "expires_in": 3600})
    assert ts.refresh_token is None and ts.scope == [] and ts.api_url is None


def test_clients_repr_hides_secret(http: httpx.AsyncClient) -> None:
    oauth = ZoomOAuth(http, "https://zoom.us", "cid", "CLIENT-SECRET")
    s2s = ZoomS2S(http, "https://zoom.us", "acc", "cid", "CLIENT-SECRET")
    assert "CLIENT-SECRET" not in repr(oauth) and "CLIENT-SECRET" not in repr(s2s)


# --- authorization code + PKCE ----------------------------------------------------------------


async def test_code_exchange_with_pkce(emu, oauth: ZoomOAuth, api_for) -> None:
    pkce = new_pkce_pair()
    url = authorize_url(emu.oauth_base_url, CLIENT_ID, REDIRECT_URI, "state-123", pkce.challenge)
    location = await emu.control.authorize(url, "alex@acme.test")
    query = parse_qs(urlsplit(location).query)
    assert location.startswith(REDIRECT_URI)
    assert query["state"] == ["state-123"]

    tokens = await oauth.exchange_code(query["code"][0], REDIRECT_URI, pkce.verifier)
    assert tokens.refresh_token is not None
    assert tokens.token_type.lower() == "bearer"
    assert 0 < tokens.expires_in <= 3600
    assert "meeting:write:meeting" in tokens.scope
    assert tokens.api_url

    me = await api_for(tokens.access_token.get_secret_value()).get_me()
    assert me["email"] == "alex@acme.test"


async def test_wrong_code_verifier_is_grant_dead(oauth: ZoomOAuth, fresh_code) -> None:
    code, verifier = await fresh_code("alex@acme.test")
    with pytest.raises(ZoomGrantDead):
        await oauth.exchange_code(code, REDIRECT_URI, new_pkce_pair().verifier)


async def test_code_is_single_use(oauth: ZoomOAuth, fresh_code) -> None:
    code, verifier = await fresh_code("alex@acme.test")
    await oauth.exchange_code(code, REDIRECT_URI, verifier)
    with pytest.raises(ZoomGrantDead) as info:
        await oauth.exchange_code(code, REDIRECT_URI, verifier)
    assert code not in str(info.value)


async def test_expired_code_is_grant_dead(emu, oauth: ZoomOAuth, fresh_code) -> None:
    code, verifier = await fresh_code("alex@acme.test")
    await emu.control.advance_clock(301)
    with pytest.raises(ZoomGrantDead):
        await oauth.exchange_code(code, REDIRECT_URI, verifier)


async def test_params_travel_in_the_form_body(
    emu, oauth: ZoomOAuth, s2s: ZoomS2S, connect
) -> None:
    # With query-string parameters switched off at the emulator, every call must still work.
    await emu.control.config(token_params_in_query=False, revoke_token_in_query=False)
    tokens = await connect("alex@acme.test")
    assert tokens.refresh_token is not None
    rotated = await oauth.refresh(tokens.refresh_token.get_secret_value())
    await oauth.revoke(rotated.access_token.get_secret_value())
    assert (await s2s.fetch_token()).access_token.get_secret_value()


async def test_wrong_client_secret_is_client_auth_error(emu, http: httpx.AsyncClient) -> None:
    bad = ZoomOAuth(http, emu.oauth_base_url, CLIENT_ID, "not-the-secret")
    with pytest.raises(ZoomClientAuthError) as info:
        await bad.refresh("whatever")
    assert "not-the-secret" not in str(info.value)
    bad_s2s = ZoomS2S(http, emu.oauth_base_url, S2S_ACCOUNT_ID, S2S_CLIENT_ID, "nope")
    with pytest.raises(ZoomClientAuthError):
        await bad_s2s.fetch_token()


# --- refresh ------------------------------------------------------------------------------------


async def test_refresh_rotates_and_old_refresh_token_is_dead(
    emu, oauth: ZoomOAuth, connect, api_for
) -> None:
    first = await connect("alex@acme.test")
    old_refresh = first.refresh_token.get_secret_value()

    second = await oauth.refresh(old_refresh)
    assert second.refresh_token is not None
    new_refresh = second.refresh_token.get_secret_value()
    assert new_refresh != old_refresh
    assert second.access_token.get_secret_value() != first.access_token.get_secret_value()
    assert (await api_for(second.access_token.get_secret_value()).get_me())["email"]

    with pytest.raises(ZoomGrantDead) as info:
        await oauth.refresh(old_refresh)
    assert old_refresh not in str(info.value)
    assert info.value.status == 400

    # The newest refresh token keeps working.
    third = await oauth.refresh(new_refresh)
    assert third.refresh_token is not None
    assert (await emu.control.stats())["token_requests"]["refresh_token"] == 3


async def test_dead_refresh_token_as_invalid_request_variant(
    emu, oauth: ZoomOAuth, connect
) -> None:
    # cal.com saw {"reason":"Invalid Token!","error":"invalid_request"} for a rotated-out token.
    await emu.control.config(refresh_error="invalid_request", oauth_error_codes=True)
    tokens = await connect("alex@acme.test")
    old = tokens.refresh_token.get_secret_value()
    await oauth.refresh(old)
    with pytest.raises(ZoomGrantDead):
        await oauth.refresh(old)


async def test_reauthorization_kills_earlier_grant(oauth: ZoomOAuth, connect) -> None:
    first = await connect("alex@acme.test")
    await connect("alex@acme.test")  # the same user connects again elsewhere
    with pytest.raises(ZoomGrantDead):
        await oauth.refresh(first.refresh_token.get_secret_value())


async def test_refresh_5xx_is_outcome_unknown(emu, oauth: ZoomOAuth, connect) -> None:
    tokens = await connect("alex@acme.test")
    await emu.control.add_fault(
        "/oauth/token", action="respond", status=503, match={"grant_type": "refresh_token"}, count=1
    )
    with pytest.raises(ZoomRefreshOutcomeUnknown) as info:
        await oauth.refresh(tokens.refresh_token.get_secret_value())
    assert isinstance(info.value, ZoomTransientError)
    assert info.value.status == 503
    # Nothing was rotated, so the same refresh token still works.
    assert (await oauth.refresh(tokens.refresh_token.get_secret_value())).refresh_token


async def test_refresh_response_lost_then_old_token_is_dead(
    emu, oauth: ZoomOAuth, connect
) -> None:
    """The devforum 10375 case: Zoom rotated the token but the answer never arrived."""
    tokens = await connect("alex@acme.test")
    old = tokens.refresh_token.get_secret_value()
    await emu.control.add_fault(
        "/oauth/token", action="commit_then_drop", match={"grant_type": "refresh_token"}, count=1
    )
    with pytest.raises(ZoomRefreshOutcomeUnknown):
        await oauth.refresh(old)
    # The token manager's rule: try the old refresh token once; invalid_grant means it was used.
    with pytest.raises(ZoomGrantDead):
        await oauth.refresh(old)


async def test_refresh_read_timeout_is_outcome_unknown(emu, connect) -> None:
    async with httpx.AsyncClient(timeout=httpx.Timeout(10, read=0.2)) as slow_http:
        oauth = ZoomOAuth(slow_http, emu.oauth_base_url, CLIENT_ID, CLIENT_SECRET)
        tokens = await connect("alex@acme.test")
        await emu.control.add_fault(
            "/oauth/token", action="delay", latency_ms=1000, match={"grant_type": "refresh_token"},
            count=1,
        )
        with pytest.raises(ZoomRefreshOutcomeUnknown):
            await oauth.refresh(tokens.refresh_token.get_secret_value())


async def test_exchange_connection_drop_is_plain_transient(
    emu, oauth: ZoomOAuth, fresh_code
) -> None:
    code, verifier = await fresh_code("alex@acme.test")
    await emu.control.add_fault("/oauth/token", action="drop", count=1)
    with pytest.raises(ZoomTransientError) as info:
        await oauth.exchange_code(code, REDIRECT_URI, verifier)
    assert not isinstance(info.value, ZoomRefreshOutcomeUnknown)


async def test_unreachable_zoom_is_transient_not_unknown(http: httpx.AsyncClient) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    oauth = ZoomOAuth(http, f"http://127.0.0.1:{port}", CLIENT_ID, "secret")
    with pytest.raises(ZoomTransientError) as info:
        await oauth.refresh("some-refresh-token")
    # Nothing was sent, so the refresh token is certainly unused.
    assert not isinstance(info.value, ZoomRefreshOutcomeUnknown)
    assert "some-refresh-token" not in str(info.value)


async def test_garbled_200_on_refresh_is_outcome_unknown(emu, oauth: ZoomOAuth, connect) -> None:
    tokens = await connect("alex@acme.test")
    await emu.control.add_fault(
        "/oauth/token", action="respond", status=200, body={"unexpected": True},
        match={"grant_type": "refresh_token"}, count=1,
    )
    with pytest.raises(ZoomRefreshOutcomeUnknown):
        await oauth.refresh(tokens.refresh_token.get_secret_value())


# --- revoke ---------------------------------------------------------------------------------------


async def test_revoke_kills_access_and_refresh(oauth: ZoomOAuth, connect, api_for) -> None:
    tokens = await connect("alex@acme.test")
    access = tokens.access_token.get_secret_value()
    await oauth.revoke(access)
    with pytest.raises(ZoomTokenRejected):
        await api_for(access).get_me()
    with pytest.raises(ZoomGrantDead):
        await oauth.refresh(tokens.refresh_token.get_secret_value())
    await oauth.revoke(access)  # revoking again is harmless


# --- Server-to-Server -----------------------------------------------------------------------------


async def test_s2s_token(emu, s2s: ZoomS2S, api_for) -> None:
    tokens = await s2s.fetch_token()
    assert tokens.refresh_token is None
    assert 0 < tokens.expires_in <= 3600
    assert tokens.scope
    api = api_for(tokens.access_token.get_secret_value())
    user = await api.get_user("host1@system.converge.test")
    assert user["email"] == "host1@system.converge.test"
    assert (await emu.control.stats())["token_requests"]["account_credentials"] == 1


async def test_s2s_wrong_account_is_bad_request(emu, http: httpx.AsyncClient) -> None:
    s2s = ZoomS2S(http, emu.oauth_base_url, "someone-elses-account", S2S_CLIENT_ID,
                  S2S_CLIENT_SECRET)
    with pytest.raises(ZoomBadRequest):
        await s2s.fetch_token()


async def test_s2s_5xx_is_transient(emu, s2s: ZoomS2S) -> None:
    await emu.control.add_fault("/oauth/token", action="respond", status=502,
                                body="<html>Bad Gateway</html>", count=1)
    with pytest.raises(ZoomTransientError) as info:
        await s2s.fetch_token()
    assert not isinstance(info.value, ZoomRefreshOutcomeUnknown)
    assert (await s2s.fetch_token()).access_token
