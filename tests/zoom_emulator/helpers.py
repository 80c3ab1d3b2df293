"""Helpers for the emulator's own tests: a webhook receiver, tokens, meetings."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time

import httpx
from aiohttp import web

SECRET = "test-webhook-secret"
REDIRECT = "http://127.0.0.1:8000/v1/integrations/zoom/callback"


class Receiver:
    """A stand-in for the service's webhook endpoint that records what arrives.

    `plan` holds (status, delay seconds) per request, consumed in order; then 200 at once.
    It answers endpoint.url_validation correctly with `validation_secret` (default SECRET).
    """

    def __init__(self) -> None:
        self.calls: list[dict] = []
        self.plan: list[tuple[int, float]] = []
        self.validation_secret = SECRET
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        self.calls.append({"headers": {k.lower(): v for k, v in request.headers.items()},
                           "raw": raw, "at": time.monotonic()})
        status, delay = self.plan.pop(0) if self.plan else (200, 0)
        if delay:
            await asyncio.sleep(delay)
        event = json.loads(raw)
        if event["event"] == "endpoint.url_validation" and status == 200:
            plain = event["payload"]["plainToken"]
            digest = hmac.new(self.validation_secret.encode(), plain.encode(),
                              hashlib.sha256).hexdigest()
            return web.json_response({"plainToken": plain, "encryptedToken": digest})
        return web.Response(status=status)

    def events(self, name: str | None = None) -> list[dict]:
        out = [json.loads(c["raw"]) for c in self.calls]
        return [e for e in out if name in (None, e["event"])]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def user_headers(emu, email: str) -> dict[str, str]:
    return bearer((await emu.control.user_token(email))["access_token"])


async def s2s_headers(emu) -> dict[str, str]:
    return bearer((await emu.control.s2s_token())["access_token"])


async def create_meeting(client: httpx.AsyncClient, headers: dict, user: str = "me",
                         **body) -> dict:
    body = {"topic": "IDI", "type": 2, "start_time": "2030-01-01T10:00:00Z", "duration": 30,
            **body}
    r = await client.post(f"/v2/users/{user}/meetings", json=body, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


async def ended_meeting(emu, client: httpx.AsyncClient, headers: dict | None = None,
                        user: str = "host1@system.converge.test", **body) -> dict:
    """A meeting created (S2S, system host by default), started and ended."""
    meeting = await create_meeting(client, headers or await s2s_headers(emu), user, **body)
    await emu.control.start_meeting(meeting["id"])
    await emu.control.end_meeting(meeting["id"])
    return meeting
