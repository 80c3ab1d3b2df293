"""Sign-in, session cookie and CSRF, over plain HTTP against the real API (no browser needed)."""

from __future__ import annotations

import time

import httpx

from api.pages import session as sessions
from tests.pages.helpers import csrf_of, http_sign_in as sign_in, new_org_key


def _set_cookie(response: httpx.Response, name: str) -> str:
    found = [h for h in response.headers.get_list("set-cookie") if h.startswith(f"{name}=")]
    assert found, f"no {name} cookie set: {response.headers.get_list('set-cookie')}"
    return found[0]


async def test_a_bad_key_is_refused_with_a_clear_message_and_no_session(api, page_client):
    r = await sign_in(page_client, "cvg_not-a-real-key")
    assert r.status_code == 401
    assert "That API key is not valid" in r.text
    assert "cvg_session=" not in " ".join(r.headers.get_list("set-cookie"))
    r = await page_client.get("/sessions")
    assert r.status_code == 303 and r.headers["location"].startswith("/signin")


async def test_the_session_cookie_is_httponly_lax_signed_and_expires(api, page_client):
    _, key = await new_org_key(api.services, "Cookie Org")
    r = await sign_in(page_client, key)
    assert r.status_code == 303 and r.headers["location"] == "/sessions"
    header = _set_cookie(r, sessions.COOKIE)
    flags = [p.strip().lower() for p in header.split(";")]
    assert "httponly" in flags
    assert "samesite=lax" in flags
    assert f"max-age={8 * 3600}" in flags
    assert "path=/" in flags
    value = header.split(";")[0].split("=", 1)[1]
    assert key not in header  # the API key never goes to the browser
    sid, expires, _ = value.split(".")
    assert int(expires) <= time.time() + 8 * 3600 + 5
    # The signature is checked: one changed character and the session is gone.
    tampered = value[:-1] + ("A" if value[-1] != "A" else "B")
    async with httpx.AsyncClient(base_url=api.url, cookies={sessions.COOKIE: tampered}) as other:
        assert (await other.get("/sessions")).status_code == 303
    async with httpx.AsyncClient(base_url=api.url, cookies={sessions.COOKIE: value}) as same:
        assert (await same.get("/sessions")).status_code == 200


async def test_sign_out_ends_the_session_on_the_server(api, page_client):
    _, key = await new_org_key(api.services, "Sign-out Org")
    await sign_in(page_client, key)
    value = page_client.cookies.get(sessions.COOKIE)
    page = await page_client.get("/sessions")
    r = await page_client.post("/signout", data={"csrf_token": csrf_of(page.text)})
    assert r.status_code == 303 and r.headers["location"].startswith("/signin")
    # A copy of the cookie taken before signing out no longer opens anything.
    async with httpx.AsyncClient(base_url=api.url, cookies={sessions.COOKIE: value}) as copy:
        r = await copy.get("/sessions")
    assert r.status_code == 303 and r.headers["location"].startswith("/signin")


async def test_forms_without_the_csrf_token_change_nothing(api, page_client):
    org_id, key = await new_org_key(api.services, "CSRF Org")
    await sign_in(page_client, key)
    page = await page_client.get("/sessions")
    token = csrf_of(page.text)
    body = {"title": "Forged", "kind": "idi", "meeting_provider": "zoom_app"}
    for sent in ({}, {"csrf_token": "wrong"}, {"csrf_token": token[:-1]}):
        r = await page_client.post("/sessions", data={**body, **sent})
        assert r.status_code == 403, sent
        assert "nothing was changed" in r.text
    for path in ("/settings/integrations/zoom/connect", "/settings/integrations/zoom/disconnect",
                 "/signout"):
        assert (await page_client.post(path, data={})).status_code == 403, path
    headers = {"Authorization": f"Bearer {key}"}
    listed = (await api.http.get(f"/v1/orgs/{org_id}/sessions", headers=headers)).json()
    assert listed["sessions"] == []
    # The same form with the token works, and still signed in after the refusals.
    r = await page_client.post("/sessions", data={**body, "csrf_token": token})
    assert r.status_code == 303 and r.headers["location"].startswith("/sessions/")


async def test_the_sign_in_form_needs_its_own_token(api, page_client):
    """Login CSRF: a foreign page posting a key of its own org into the browser is refused."""
    _, key = await new_org_key(api.services, "Login CSRF Org")
    r = await page_client.post("/signin", data={"api_key": key, "csrf_token": "guess"})
    assert r.status_code == 403
    assert sessions.COOKIE not in page_client.cookies


async def test_sign_in_never_redirects_off_site(api, page_client):
    _, key = await new_org_key(api.services, "Redirect Org")
    form = await page_client.get("/signin")
    r = await page_client.post("/signin", data={"api_key": key, "csrf_token": csrf_of(form.text),
                                                "next": "//evil.example/x"})
    assert r.headers["location"] == "/sessions"


def test_cookie_signatures_and_expiry():
    key = b"k" * 32
    value = sessions.sign(key, "abc", 2_000)
    assert sessions.verify(key, value, now=1_000) == "abc"
    assert sessions.verify(key, value, now=2_000) is None  # expired
    assert sessions.verify(b"x" * 32, value, now=1_000) is None  # another server's key
    assert sessions.verify(key, value.replace("2000", "9000"), now=1_000) is None  # longer life
    for junk in ("", "abc", "a.b.c", "a..", None):
        assert sessions.verify(key, junk, now=1_000) is None
