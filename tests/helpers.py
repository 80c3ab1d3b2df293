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
