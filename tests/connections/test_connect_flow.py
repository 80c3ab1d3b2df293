"""Connecting an org's Zoom: the OAuth round trip, its state and PKCE checks, and what is stored.

Every test goes through the real API on its port and the emulator over HTTP; the emulator's
consent page is driven like a browser would (form fields, Allow/Deny, the redirect Location).
"""

from __future__ import annotations

import secrets
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx

from tests.helpers import finish_connect_as, start_api
from tests.connections.helpers import callback_path, connect, finish, fresh_zoom_user, row_of, start, tokens_of
from connections.connect import STATE_TTL_SECONDS, state_key


class ConsentForm(HTMLParser):
    """The consent page's form: its hidden fields and the users one can sign in as."""

    def __init__(self) -> None:
        super().__init__()
        self.action = ""
        self.fields: dict[str, str] = {}
        self.users: dict[str, str] = {}  # option text -> value
        self._option: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.action = a.get("action", "")
        elif tag == "input" and a.get("type") == "hidden":
            self.fields[a["name"]] = a.get("value", "")
        elif tag == "option":
            self._option = a.get("value")

    def handle_data(self, data):
        if self._option is not None:
            self.users[data] = self._option
            self._option = None


async def consent(authorize_url: str, email: str, decision: str) -> str:
    """Open the consent page, sign in as `email`, click Allow/Deny; the redirect Location."""
    async with httpx.AsyncClient(follow_redirects=False) as browser:
        page = await browser.get(authorize_url)
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        form = ConsentForm()
        form.feed(page.text)
        user = next(v for text, v in form.users.items() if email in text)
        origin = "{0.scheme}://{0.netloc}".format(urlsplit(authorize_url))
        answer = await browser.post(origin + form.action,
                                    data={**form.fields, "user": user, "decision": decision})
    assert answer.status_code == 302, answer.text
    return answer.headers["Location"]


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()} | changes
    return urlunsplit(parts._replace(query=urlencode(query)))


async def status(api, org_id, headers) -> dict:
    r = await api.http.get(f"/v1/orgs/{org_id}/integrations/zoom", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def assert_error_page(r: httpx.Response, status_code: int, *phrases: str) -> None:
    assert r.status_code == status_code, r.text
    assert r.headers["content-type"].startswith("text/html")
    assert "Connect Zoom" in r.text  # how to retry
    for phrase in phrases:
        assert phrase in r.text


async def test_status_before_connecting_is_not_connected(api):
    org_id, headers = await api.new_org("Never Connected")
    assert await status(api, org_id, headers) == {
        "status": "not_connected", "zoom_user_name": None, "zoom_email": None, "zoom_user_type": None,
        "connected_at": None, "last_refreshed_at": None, "status_reason": None, "warnings": [],
        # Added fields (issue 13): no Zoom user, so no capacity.
        "concurrent_meetings": None, "concurrent_meetings_source": None}


async def test_connect_through_the_consent_page(api, emulator):
    org_id, headers = await api.new_org("Acme Research")
    url = await start(api, org_id, headers)
    query = parse_qs(urlsplit(url).query)
    assert url.startswith(emulator.oauth_base_url + "/oauth/authorize?")
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
    state = query["state"][0]
    assert 0 < await api.services.redis.ttl(state_key(state)) <= STATE_TTL_SECONDS

    location = await consent(url, "alex@acme.test", "allow")
    r = await finish(api, headers, location)

    assert r.status_code == 303, r.text
    assert r.headers["Location"] == "/settings/integrations?zoom=connected"
    body = await status(api, org_id, headers)
    assert body["status"] == "active"
    assert (body["zoom_user_name"], body["zoom_email"], body["zoom_user_type"]) == ("Alex Rivera", "alex@acme.test", 2)
    # alex may still be connected by another test's org: taking it over is warned about, nothing else.
    assert {w["code"] for w in body["warnings"]} <= {"zoom_user_connected_elsewhere"}
    assert body["status_reason"] is None and body["connected_at"]
    row = await row_of(api.services, org_id)
    assert row.zoom_account_id == "emu-acme" and row.zoom_user_id
    assert {"meeting:write:meeting", "meeting:read:meeting", "meeting:read:list_meetings",
            "user:read:user"} <= set(row.scopes.split())
    assert await api.services.redis.exists(state_key(state)) == 0  # consumed


async def test_a_state_works_once(api, emulator):
    org_id, headers = await api.new_org("Replay Ltd")
    location = await emulator.control.authorize(await start(api, org_id, headers), "alex@acme.test")
    assert (await finish(api, headers, location)).status_code == 303
    before = await row_of(api.services, org_id)

    replay = await finish(api, headers, location)

    assert_error_page(replay, 400, "already used")
    after = await row_of(api.services, org_id)
    assert (after.token_version, after.access_token_enc) == (before.token_version, before.access_token_enc)


async def test_an_expired_state_is_refused_and_stores_nothing(api, emulator):
    org_id, headers = await api.new_org("Slow Clicker Ltd")
    url = await start(api, org_id, headers)
    location = await emulator.control.authorize(url, "alex@acme.test")
    key = state_key(parse_qs(urlsplit(url).query)["state"][0])
    # What ten minutes of waiting does: Redis drops the state.
    await api.services.redis.pexpire(key, 1)
    while await api.services.redis.exists(key):
        pass

    r = await finish(api, headers, location)

    assert_error_page(r, 400, "expired")
    assert await row_of(api.services, org_id) is None


async def test_a_forged_or_missing_state_is_refused(api, emulator):
    org_id, headers = await api.new_org("Forgery Target")
    location = await emulator.control.authorize(await start(api, org_id, headers), "alex@acme.test")

    forged = await finish(api, headers, (with_query(location, state=secrets.token_urlsafe(32))))
    missing = await api.http.get("/v1/integrations/zoom/callback?code=abc")

    assert_error_page(forged, 400)
    assert_error_page(missing, 400)
    assert await row_of(api.services, org_id) is None


async def test_a_code_issued_for_another_pkce_challenge_is_not_exchanged(api, emulator):
    """A code obtained with someone else's challenge (e.g. injected) fails Zoom's PKCE check."""
    org_id, headers = await api.new_org("Pkce Ltd")
    url = with_query(await start(api, org_id, headers), code_challenge="A" * 43)
    location = await emulator.control.authorize(url, "alex@acme.test")

    r = await finish(api, headers, location)

    assert_error_page(r, 502, "Zoom refused the authorization code")
    assert await row_of(api.services, org_id) is None


async def test_deny_stores_nothing_and_keeps_the_earlier_connection(api, emulator):
    org_id, headers = await api.new_org("Second Thoughts Ltd")
    earlier = await connect(api, emulator, org_id, headers, "gina@globex.test")

    location = await consent(await start(api, org_id, headers), "alex@acme.test", "deny")
    r = await finish(api, headers, location)

    assert_error_page(r, 400, "chose not to allow")
    row = await row_of(api.services, org_id)
    assert row.status == "active" and row.zoom_email == "gina@globex.test"
    assert (row.token_version, row.refresh_token_enc) == (earlier.token_version, earlier.refresh_token_enc)


async def test_zoom_failures_at_exchange_or_profile_store_nothing(api, emulator):
    org_id, headers = await api.new_org("Flaky Zoom Ltd")
    earlier = await connect(api, emulator, org_id, headers, "gina@globex.test")

    await emulator.control.add_fault("/oauth/token", status=503, match={"grant_type": "authorization_code"}, count=1)
    location = await emulator.control.authorize(await start(api, org_id, headers), "alex@acme.test")
    exchange = await finish(api, headers, location)

    await emulator.control.add_fault("/v2/users/me", status=500, count=1)
    location = await emulator.control.authorize(await start(api, org_id, headers), "alex@acme.test")
    profile = await finish(api, headers, location)

    assert_error_page(exchange, 502, "Nothing was changed")
    assert_error_page(profile, 502, "nothing was connected")
    row = await row_of(api.services, org_id)
    assert row.zoom_email == "gina@globex.test" and row.status == "active"
    assert (row.token_version, row.access_token_enc) == (earlier.token_version, earlier.access_token_enc)


async def test_reconnect_keeps_the_row_replaces_tokens_and_clears_the_reason(api, emulator):
    org_id, headers = await api.new_org("Comeback Ltd")
    first = await connect(api, emulator, org_id, headers, "gina@globex.test")
    await api.services.tokens.mark_expired(first.id, "refresh_failed")
    assert (await status(api, org_id, headers))["status_reason"] == "refresh_failed"

    second = await connect(api, emulator, org_id, headers, "gina@globex.test")

    assert second.id == first.id
    assert second.token_version > first.token_version
    assert set(tokens_of(api.services, second)).isdisjoint(tokens_of(api.services, first))
    body = await status(api, org_id, headers)
    assert (body["status"], body["status_reason"]) == ("active", None)
    assert await api.services.tokens.org_access_token(second.id)


async def test_same_zoom_user_in_a_second_org_expires_the_first(api, emulator):
    first_org, first_headers = await api.new_org("First Org")
    second_org, second_headers = await api.new_org("Second Org")
    email = await fresh_zoom_user(emulator)
    first = await connect(api, emulator, first_org, first_headers, email)

    await connect(api, emulator, second_org, second_headers, email)

    old = await status(api, first_org, first_headers)
    new = await status(api, second_org, second_headers)
    assert (old["status"], old["status_reason"]) == ("expired", "zoom_user_connected_elsewhere")
    assert new["status"] == "active"
    assert [w["code"] for w in old["warnings"]] == ["zoom_user_connected_elsewhere"]
    assert [w["code"] for w in new["warnings"]] == ["zoom_user_connected_elsewhere"]
    assert "Second Org" not in str(old) and "First Org" not in str(new)  # no other org's data
    row = await row_of(api.services, first_org)
    assert row.id == first.id and row.access_token_enc is None and row.refresh_token_enc is None


async def test_hosts_that_cannot_record_or_host_are_warned_about(api, emulator):
    basic_org, basic_headers = await api.new_org("Basic Host Ltd")
    unlicensed_org, unlicensed_headers = await api.new_org("No Licence Ltd")

    await connect(api, emulator, basic_org, basic_headers, await fresh_zoom_user(emulator, type=1))
    await connect(api, emulator, unlicensed_org, unlicensed_headers, await fresh_zoom_user(emulator, type=4))

    basic = await status(api, basic_org, basic_headers)
    unlicensed = await status(api, unlicensed_org, unlicensed_headers)
    assert basic["status"] == "active" and basic["zoom_user_type"] == 1
    assert [w["code"] for w in basic["warnings"]] == ["basic_host"]
    assert "40 minutes" in basic["warnings"][0]["message"] and "no recording" in basic["warnings"][0]["message"]
    assert [w["code"] for w in unlicensed["warnings"]] == ["cannot_host"]


async def test_another_orgs_key_gets_404_and_no_data(api, emulator):
    org_a, headers_a = await api.new_org("Org A")
    org_b, headers_b = await api.new_org("Org B")
    await connect(api, emulator, org_a, headers_a, "gina@globex.test")

    answers = [
        await api.http.get(f"/v1/orgs/{org_a}/integrations/zoom", headers=headers_b),
        await api.http.post(f"/v1/orgs/{org_a}/integrations/zoom/connect", headers=headers_b),
        await api.http.delete(f"/v1/orgs/{org_a}/integrations/zoom", headers=headers_b),
    ]

    for r in answers:
        assert r.status_code == 404, r.text
        assert r.json()["error"]["code"] == "not_found"
        assert "gina" not in r.text and "authorize_url" not in r.text
    assert (await status(api, org_a, headers_a))["status"] == "active"
    assert (await api.http.get(f"/v1/orgs/{org_a}/integrations/zoom")).status_code == 401


async def _connect_with_app(api, emulator, client_id: str, scopes: list[str], org_name: str):
    settings = api.services.settings
    await emulator.control.register_client(
        client_id, f"{client_id}-secret", scopes=scopes,
        redirect_uris=[settings.zoom_redirect_uri_or_default])
    narrow = type(api.services)(**{**api.services.__dict__, "settings": settings.model_copy(
        update={"zoom_client_id": client_id, "zoom_client_secret": f"{client_id}-secret"})})
    runner, url = await start_api(narrow)
    org_id, headers = await api.new_org(org_name)
    try:
        async with httpx.AsyncClient(base_url=url) as c:
            authorize = (await c.post(f"/v1/orgs/{org_id}/integrations/zoom/connect", headers=headers)).json()
            location = await emulator.control.authorize(authorize["authorize_url"], await fresh_zoom_user(emulator))
            assert (await finish_connect_as(url, headers, location)).status_code == 303
    finally:
        await runner.cleanup()
    return await status(api, org_id, headers)


async def test_scopes_zoom_did_not_grant_are_warned_about(api, emulator):
    """An older (classic) app configured without the recording scope: works, with a warning."""
    body = await _connect_with_app(api, emulator, "emu-narrow-client",
                                   ["meeting:write:admin", "user:read:admin"], "Narrow Scopes Ltd")
    assert body["status"] == "active"
    [warning] = body["warnings"]
    assert warning["code"] == "missing_scopes" and "recording:read:admin" in warning["message"]


async def test_a_granular_grant_missing_meeting_reads_is_named_in_granular_scopes(api, emulator):
    """A new user-managed app that can create but not read or list meetings: the old check let it
    pass, then GET /meetings/{id} and the lost-create recovery failed with 4700."""
    body = await _connect_with_app(api, emulator, "emu-granular-narrow", [
        "user:read:user", "user:read:settings", "meeting:write:meeting", "meeting:update:meeting",
        "meeting:delete:meeting", "cloud_recording:read:list_recording_files"], "Granular Ltd")
    assert body["status"] == "active"
    [warning] = body["warnings"]
    assert warning["code"] == "missing_scopes"
    assert "meeting:read:meeting (to check a meeting's state)" in warning["message"]
    assert "meeting:read:list_meetings" in warning["message"]
    assert ":admin" not in warning["message"]
