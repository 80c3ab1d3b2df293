"""OAuth: consent page, code exchange, PKCE, refresh rotation, S2S, revoke, token faults."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from tests.zoom_emulator.helpers import REDIRECT, bearer

CLIENT = ("emu-client-id", "emu-client-secret")
S2S = ("emu-s2s-client-id", "emu-s2s-client-secret")


def authorize_query(**extra) -> str:
    params = {"response_type": "code", "client_id": CLIENT[0], "redirect_uri": REDIRECT,
              "state": "st-1", **extra}
    return "/oauth/authorize?" + urlencode(params)


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


async def get_code(emu, email: str = "alex@acme.test", **extra) -> str:
    location = await emu.control.authorize(authorize_query(**extra), email)
    return query_of(location)["code"]


async def exchange(http, code: str, **extra) -> httpx.Response:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, **extra}
    return await http.post("/oauth/token", auth=CLIENT, data=data)


async def refresh(http, token: str, auth=CLIENT) -> httpx.Response:
    return await http.post("/oauth/token", auth=auth,
                           data={"grant_type": "refresh_token", "refresh_token": token})


async def test_consent_page_shows_app_scopes_users_and_buttons(http):
    r = await http.get(authorize_query(login_hint="gina@globex.test"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    page = r.text
    assert "Converge IDI (emulator)" in page
    for scope in ("meeting:write:meeting", "user:read:user", "meeting:read:list_meetings"):
        assert scope in page
    assert "<select name='user' required>" in page and "alex@acme.test" in page
    # Nobody is preselected, not even the login hint: the person picks the user to authorize.
    assert page.count(" selected") == 1 and "selected disabled>Choose a Zoom user" in page
    assert "value='allow'" in page and "value='deny'" in page
    assert "method='post'" in page and "name='state' value='st-1'" in page


async def test_posting_the_consent_form_redirects_with_code_and_state(http):
    r = await http.post("/oauth/authorize", data={
        "client_id": CLIENT[0], "redirect_uri": REDIRECT, "response_type": "code",
        "state": "abc", "user": "alex@acme.test", "decision": "allow"})
    assert r.status_code == 302
    location = r.headers["Location"]
    assert location.startswith(REDIRECT + "?")
    q = query_of(location)
    assert q["state"] == "abc" and len(q["code"]) > 20


async def test_deny_redirects_with_access_denied_and_state(http, emu):
    location = await emu.control.authorize(authorize_query(), "alex@acme.test", allow=False)
    assert query_of(location) == {"error": "access_denied", "state": "st-1"}
    r = await http.post("/oauth/authorize", data={
        "client_id": CLIENT[0], "redirect_uri": REDIRECT, "state": "s", "decision": "deny"})
    assert r.status_code == 302 and query_of(r.headers["Location"])["error"] == "access_denied"


async def test_unregistered_redirect_uri_gets_a_400_page_and_no_redirect(http, emu):
    for url in (authorize_query(redirect_uri="http://evil.test/cb"),
                authorize_query(redirect_uri="http://evil.test/cb", login_hint="alex@acme.test",
                                auto="allow")):
        r = await http.get(url)
        assert r.status_code == 400 and "Location" not in r.headers
        assert "not registered" in r.text
    # once registered it works
    await emu.control.add_redirect_uri("http://evil.test/cb")
    r = await http.get(authorize_query(redirect_uri="http://evil.test/cb",
                                       login_hint="alex@acme.test", auto="allow"))
    assert r.status_code == 302


async def test_code_exchange_returns_zoom_shaped_tokens(http, emu):
    r = await exchange(http, await get_code(emu))
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"access_token", "token_type", "refresh_token", "expires_in", "scope",
                         "api_url"}
    assert body["token_type"] == "bearer" and body["expires_in"] == 3599
    # the default app is a granular user-managed app, as Zoom creates them today
    assert body["scope"].split(" ") == [
        "user:read:user", "user:read:settings", "meeting:write:meeting", "meeting:read:meeting",
        "meeting:update:meeting", "meeting:delete:meeting", "meeting:read:list_meetings",
        "cloud_recording:read:list_recording_files", "meeting:read:list_past_participants",
        "meeting:write:registrant"]
    assert body["api_url"] == emu.base_url
    assert r.headers["Cache-Control"] == "no-store"
    # opaque: not a JWT, and never the same twice
    other = (await exchange(http, await get_code(emu, "gina@globex.test"))).json()
    for token in (body["access_token"], body["refresh_token"]):
        assert token.count(".") < 2
    assert other["access_token"] != body["access_token"]
    me = await http.get("/v2/users/me", headers=bearer(body["access_token"]))
    assert me.json()["email"] == "alex@acme.test"


async def test_code_is_single_use_and_redirect_uri_must_match(http, emu):
    code = await get_code(emu)
    r = await exchange(http, code, redirect_uri="http://127.0.0.1:8000/other")
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    assert (await exchange(http, code)).status_code == 200
    again = await exchange(http, code)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


async def test_code_expires_after_five_minutes(http, emu):
    code = await get_code(emu)
    await emu.control.advance_clock(301)
    r = await exchange(http, code)
    assert r.status_code == 400
    assert r.json() == {"reason": "Authorization code expired", "error": "invalid_grant"}


async def test_numeric_oauth_error_codes_by_switch(http, emu):
    await emu.control.config(oauth_error_codes=True)
    code = await get_code(emu)
    await emu.control.advance_clock(301)
    assert (await exchange(http, code)).json()["code"] == 4733


@pytest.mark.parametrize("method", ["S256", "plain"])
async def test_pkce_is_checked(http, emu, method):
    verifier = "v" * 50
    challenge = verifier if method == "plain" else base64.urlsafe_b64encode(
        hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    code = await get_code(emu, code_challenge=challenge, code_challenge_method=method)
    wrong = await exchange(http, code, code_verifier="w" * 50)
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    missing = await exchange(http, code)
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_grant"
    assert (await exchange(http, code, code_verifier=verifier)).status_code == 200


async def test_token_params_in_query_string_work_unless_switched_off(http, emu):
    code = await get_code(emu)
    params = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
    await emu.control.config(token_params_in_query=False)
    r = await http.post("/oauth/token", auth=CLIENT, params=params)
    assert r.status_code == 400
    await emu.control.config(token_params_in_query=True)
    assert (await http.post("/oauth/token", auth=CLIENT, params=params)).status_code == 200


async def test_refresh_rotates_and_a_used_refresh_token_is_dead(http, emu):
    first = (await exchange(http, await get_code(emu))).json()
    second = await refresh(http, first["refresh_token"])
    assert second.status_code == 200
    body = second.json()
    assert body["refresh_token"] != first["refresh_token"]
    assert body["access_token"] != first["access_token"]
    dead = await refresh(http, first["refresh_token"])
    assert dead.status_code == 400
    assert dead.json() == {"reason": "Invalid Token!", "error": "invalid_grant"}
    # the new one works exactly once as well
    assert (await refresh(http, body["refresh_token"])).status_code == 200
    # the old access token still works until it expires (switchable)
    assert (await http.get("/v2/users/me", headers=bearer(first["access_token"]))).status_code == 200


async def test_refresh_switches(http, emu):
    await emu.control.config(refresh_error="invalid_request", refresh_kills_old_access=True)
    first = (await exchange(http, await get_code(emu))).json()
    await refresh(http, first["refresh_token"])
    assert (await refresh(http, first["refresh_token"])).json() == {
        "reason": "Invalid Token!", "error": "invalid_request"}
    old = await http.get("/v2/users/me", headers=bearer(first["access_token"]))
    assert old.status_code == 401 and old.json()["code"] == 124


async def test_refresh_token_of_another_client_or_expired_is_dead(http, emu):
    first = (await exchange(http, await get_code(emu))).json()
    await emu.control.register_client("other", "other-secret", scopes=["user:read"],
                                      redirect_uris=[REDIRECT])
    assert (await refresh(http, first["refresh_token"], auth=("other", "other-secret"))
            ).status_code == 400
    await emu.control.config(refresh_token_ttl=60)
    second = (await exchange(http, await get_code(emu))).json()
    await emu.control.advance_clock(61)
    assert (await refresh(http, second["refresh_token"])).json()["error"] == "invalid_grant"


async def test_new_authorization_of_same_user_kills_earlier_tokens(http, emu):
    first = (await exchange(http, await get_code(emu))).json()
    other_user = (await exchange(http, await get_code(emu, "gina@globex.test"))).json()
    second = (await exchange(http, await get_code(emu))).json()
    r = await http.get("/v2/users/me", headers=bearer(first["access_token"]))
    assert r.status_code == 401 and r.json() == {"code": 124, "message": "Invalid access token."}
    assert (await refresh(http, first["refresh_token"])).json()["error"] == "invalid_grant"
    assert (await http.get("/v2/users/me", headers=bearer(second["access_token"]))).status_code == 200
    # another user's grant is untouched
    assert (await refresh(http, other_user["refresh_token"])).status_code == 200


async def test_bad_client_credentials(http, emu):
    code = await get_code(emu)
    for auth in (("emu-client-id", "wrong"), ("nobody", "x"), None):
        r = await http.post("/oauth/token", auth=auth, data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT})
        assert r.status_code == 401
        assert r.json() == {"reason": "Invalid client_id or client_secret",
                            "error": "invalid_client"}


async def test_s2s_account_credentials(http, emu):
    r = await http.post("/oauth/token", auth=S2S, params={
        "grant_type": "account_credentials", "account_id": "emu-system-account"})
    assert r.status_code == 200
    body = r.json()
    assert "refresh_token" not in body and body["expires_in"] == 3599
    assert "meeting:write:admin" in body["scope"].split()
    wrong = await http.post("/oauth/token", auth=S2S, data={
        "grant_type": "account_credentials", "account_id": "emu-acme"})
    assert wrong.status_code == 400
    # the user-managed app cannot use this grant, the S2S app cannot refresh
    r = await http.post("/oauth/token", auth=CLIENT, data={
        "grant_type": "account_credentials", "account_id": "emu-system-account"})
    assert r.json() == {"reason": "unsupported grant type", "error": "unsupported_grant_type"}
    # several S2S tokens live side by side, unless the historic behaviour is switched on
    second = (await emu.control.s2s_token())["access_token"]
    assert (await http.get("/v2/users/host1@system.converge.test",
                           headers=bearer(body["access_token"]))).status_code == 200
    await emu.control.config(s2s_single_token=True)
    third = (await emu.control.s2s_token())["access_token"]
    assert (await http.get("/v2/users/host1@system.converge.test",
                           headers=bearer(second))).status_code == 401
    assert (await http.get("/v2/users/host1@system.converge.test",
                           headers=bearer(third))).status_code == 200


async def test_revoke_kills_access_and_refresh_at_once(http, emu):
    tokens = (await exchange(http, await get_code(emu))).json()
    r = await http.post("/oauth/revoke", auth=CLIENT, data={"token": tokens["access_token"]})
    assert r.status_code == 200 and r.json() == {"status": "success"}
    assert (await http.get("/v2/users/me", headers=bearer(tokens["access_token"]))).status_code == 401
    assert (await refresh(http, tokens["refresh_token"])).status_code == 400
    assert (await http.post("/oauth/revoke", data={"token": "x"})).status_code == 401


async def test_revoke_token_in_query_only_by_switch(http, emu):
    tokens = (await exchange(http, await get_code(emu))).json()
    r = await http.post("/oauth/revoke", auth=CLIENT, params={"token": tokens["access_token"]})
    assert r.status_code == 400
    await emu.control.config(revoke_token_in_query=True)
    r = await http.post("/oauth/revoke", auth=CLIENT, params={"token": tokens["access_token"]})
    assert r.status_code == 200
    assert (await refresh(http, tokens["refresh_token"])).status_code == 400


async def test_access_tokens_expire_after_the_configured_lifetime(http, emu):
    await emu.control.config(token_ttl=120)
    tokens = (await exchange(http, await get_code(emu))).json()
    assert tokens["expires_in"] == 119
    assert (await http.get("/v2/users/me", headers=bearer(tokens["access_token"]))).status_code == 200
    await emu.control.advance_clock(121)
    r = await http.get("/v2/users/me", headers=bearer(tokens["access_token"]))
    assert r.status_code == 401 and r.json() == {"code": 124, "message": "Access token is expired."}
    # the refresh token still works and gives a live access token
    fresh = (await refresh(http, tokens["refresh_token"])).json()
    assert (await http.get("/v2/users/me", headers=bearer(fresh["access_token"]))).status_code == 200


async def test_token_in_query_string_is_refused(http, emu):
    token = (await emu.control.user_token("alex@acme.test"))["access_token"]
    r = await http.get("/v2/users/me", params={"access_token": token})
    assert r.status_code == 401
    assert r.json() == {"code": 124, "message": "Invalid access token, this access token is not "
                                                "supported as query parameter string."}


async def test_refresh_commit_then_drop_rotates_and_loses_the_answer(http, emu):
    tokens = (await exchange(http, await get_code(emu))).json()
    await emu.control.add_fault("/oauth/token", action="commit_then_drop", count=1,
                                match={"grant_type": "refresh_token"})
    with pytest.raises(httpx.TransportError):
        await refresh(http, tokens["refresh_token"])
    # Zoom rotated it: the old refresh token is dead and the new one never arrived
    assert (await refresh(http, tokens["refresh_token"])).json()["error"] == "invalid_grant"
    stats = await emu.control.stats()
    assert stats["token_requests"] == {"authorization_code": 1, "refresh_token": 2}
    log = [e for e in await emu.control.requests() if e.get("grant_type") == "refresh_token"]
    assert [e["outcome"] for e in log] == ["dropped", "answered"]
    assert log[0]["status"] == 200


async def test_token_endpoint_5xx_fault(http, emu):
    await emu.control.add_fault("/oauth/token", status=503, count=1,
                                body={"reason": "busy", "error": "server_error"})
    r = await http.post("/oauth/token", auth=S2S, data={
        "grant_type": "account_credentials", "account_id": "emu-system-account"})
    assert r.status_code == 503 and r.json()["error"] == "server_error"
    assert (await emu.control.s2s_token())["access_token"]
