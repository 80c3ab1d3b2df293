"""Helpers every test folder may use: settings for a test environment, the API on a port."""

from __future__ import annotations

import os

import httpx
from aiohttp import web


def make_settings(env: dict, **extra):
    from settings import load_settings

    saved = dict(os.environ)
    try:
        for k in list(os.environ):
            if k.startswith(("ZOOM_", "DATABASE_URL", "REDIS_URL", "TEMPORAL_", "TOKEN_ENC", "ADMIN_API")):
                del os.environ[k]
        return load_settings(_env_file=None, **{**env, **extra})
    finally:
        os.environ.clear()
        os.environ.update(saved)


def zoom_env(emu) -> dict:
    """The ZOOM_* variables that point the service at an emulator, as `make run` sets them."""
    return {
        "ZOOM_OAUTH_BASE_URL": emu.oauth_base_url,
        "ZOOM_API_BASE_URL": emu.api_base_url,
        "ZOOM_CLIENT_ID": "emu-client-id",
        "ZOOM_CLIENT_SECRET": "emu-client-secret",
        "ZOOM_REDIRECT_URI": "http://127.0.0.1:8000/v1/integrations/zoom/callback",
        "ZOOM_WEBHOOK_SECRET_TOKEN": "emu-webhook-secret",
        "ZOOM_S2S_ACCOUNT_ID": "emu-system-account",
        "ZOOM_S2S_CLIENT_ID": "emu-s2s-client-id",
        "ZOOM_S2S_CLIENT_SECRET": "emu-s2s-client-secret",
        "ZOOM_SYSTEM_HOSTS": "host1@system.converge.test:2,host2@system.converge.test:2",
    }


class Api:
    """The API on a real port plus an httpx client for it."""

    def __init__(self, url: str, client: httpx.AsyncClient, services) -> None:
        self.url, self.http, self.services = url, client, services

    async def new_org(self, name: str = "Acme Research") -> tuple[str, dict]:
        r = await self.http.post(
            "/v1/orgs", json={"name": name},
            headers={"Authorization": f"Bearer {self.services.settings.admin_api_key}"},
        )
        assert r.status_code == 201, r.text
        body = r.json()
        return body["id"], {"Authorization": f"Bearer {body['api_key']}"}


async def start_api(services) -> tuple[web.AppRunner, str]:
    from api.app import create_app
    from devstack import free_port

    runner = web.AppRunner(create_app(services))
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}"


def _hidden(html: str, name: str) -> str:
    import re

    m = re.search(rf"name=\"{name}\" value=\"([^\"]*)\"", html)
    assert m, f"no hidden field {name!r} in the page"
    return m.group(1)


class OrgBrowser:
    """A browser signed in to one org's pages (cookie jar), as a person finishing a connect link."""

    def __init__(self, url: str) -> None:
        self.http = httpx.AsyncClient(base_url=url, timeout=30, follow_redirects=False)

    async def sign_in(self, api_key: str) -> "OrgBrowser":
        page = await self.http.get("/signin")
        r = await self.http.post("/signin", data={
            "csrf_token": _hidden(page.text, "csrf_token"), "api_key": api_key, "next": "/sessions"})
        assert r.status_code == 303, r.text
        return self

    async def finish(self, callback: str) -> httpx.Response:
        """Follow Zoom's redirect to the callback and confirm; the last answer (303 when stored,
        the error page otherwise)."""
        r = await self.http.get(callback)
        if r.status_code != 200:
            return r
        return await self.http.post("/settings/integrations/zoom/confirm", data={
            "csrf_token": _hidden(r.text, "csrf_token"), "pending": _hidden(r.text, "pending"),
            "decision": "confirm"})

    async def close(self) -> None:
        await self.http.aclose()


def key_of(headers: dict) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


def callback_path(location: str) -> str:
    """Zoom redirects to ZOOM_REDIRECT_URI (port 8000); the test API listens elsewhere."""
    from urllib.parse import urlsplit

    parts = urlsplit(location)
    assert parts.path == "/v1/integrations/zoom/callback", location
    return f"{parts.path}?{parts.query}"


async def finish_connect_as(url: str, headers: dict, location: str) -> httpx.Response:
    """Zoom's redirect `location` completed in a browser signed in to the org of `headers`."""
    browser = await OrgBrowser(url).sign_in(key_of(headers))
    try:
        return await browser.finish(callback_path(location))
    finally:
        await browser.close()
