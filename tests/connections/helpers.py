"""Shared steps of the connection tests: connect an org through the emulator, read its row."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from datetime import timedelta
from urllib.parse import urlsplit

import httpx
from sqlalchemy import update
from sqlmodel import select

from models import ZoomConnection, utcnow
from connections.tokens import refresh_lock_key
from zoom.webhooks import sign
from tests.helpers import callback_path, finish_connect_as  # noqa: F401 (re-exported)

WEBHOOK_SECRET = "emu-webhook-secret"  # what zoom_env() configures and the emulator signs with


async def start(api, org_id: str, headers: dict) -> str:
    """POST connect; the authorize URL."""
    r = await api.http.post(f"/v1/orgs/{org_id}/integrations/zoom/connect", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()["authorize_url"]


async def connect(api, emulator, org_id: str, headers: dict, email: str = "alex@acme.test") -> ZoomConnection:
    """Connect the org as the Zoom user `email` (the emulator's auto-consent shortcut)."""
    location = await emulator.control.authorize(await start(api, org_id, headers), email)
    r = await finish(api, headers, location)
    assert r.status_code == 303, r.text
    return await row_of(api.services, org_id)


async def finish(api, headers: dict, location: str):
    """Complete Zoom's redirect as the org's signed-in browser and confirm (303 when stored)."""
    return await finish_connect_as(api.url, headers, location)


async def row_of(services, org_id: str) -> ZoomConnection | None:
    async with services.db.session() as s:
        return (await s.exec(select(ZoomConnection).where(ZoomConnection.org_id == org_id))).first()


async def row_by_id(services, connection_id: str) -> ZoomConnection:
    async with services.db.session() as s:
        return (await s.exec(select(ZoomConnection).where(ZoomConnection.id == connection_id))).one()


async def make_due(services, connection_id: str) -> None:
    """Pretend the access token is about to expire (as an hour later), so the next use refreshes."""
    async with services.db.session() as s:
        await s.exec(update(ZoomConnection).where(ZoomConnection.id == connection_id)
                     .values(access_expires_at=utcnow() + timedelta(seconds=30)))
        await s.commit()


def tokens_of(services, row: ZoomConnection) -> tuple[str, str]:
    c = services.cipher
    return (
        c.decrypt(row.access_token_enc, table="zoom_connections", row_id=row.id, field="access_token_enc"),
        c.decrypt(row.refresh_token_enc, table="zoom_connections", row_id=row.id, field="refresh_token_enc"),
    )


async def refresh_requests(emulator) -> int:
    return (await emulator.control.stats())["token_requests"].get("refresh_token", 0)


async def fresh_zoom_user(emulator, *, type: int = 2, account_id: str = "emu-globex") -> str:
    """A Zoom user no other test has connected (connecting one user twice ends the first)."""
    import uuid

    email = f"user-{uuid.uuid4().hex[:10]}@globex.test"
    await emulator.control.create_user(email, account_id=account_id, type=type,
                                       first_name="Fresh", last_name="User")
    return email


def services_copy(services, **changes):
    """The shared services with some parts swapped and a token manager of its own (so per-test
    knobs such as LOCK_WAIT stay in the test)."""
    return dataclasses.replace(services, _tokens=None, _temporal_lock=asyncio.Lock(), **changes)


async def until(condition, what: str, rounds: int = 400) -> None:
    """Poll `condition()` (async) every 25 ms; a bound on waiting, not a timing assertion."""
    for _ in range(rounds):
        if await condition():
            return
        await asyncio.sleep(0.025)
    raise AssertionError(f"gave up waiting: {what}")


async def fault_fired(emulator, fault: dict) -> None:
    """Wait until the emulator has picked `fault` for a request (the request reached Zoom)."""
    async def fired() -> bool:
        rules = (await emulator.control.http.get("/_emulator/faults")).json()
        return any(f["id"] == fault["id"] and f["fired"] for f in rules)
    await until(fired, f"fault {fault['id']} to fire")


async def lock_free(services, connection_id: str) -> None:
    """Wait until nobody holds the connection's refresh lock."""
    async def free() -> bool:
        return not await services.redis.exists(refresh_lock_key(connection_id))
    await until(free, "the refresh lock to be released")


async def works(emulator, token: str) -> bool:
    """Whether Zoom accepts `token` as a bearer right now."""
    async with httpx.AsyncClient() as c:
        r = await c.get(f"{emulator.api_base_url}/users/me", headers={"Authorization": f"Bearer {token}"})
    return r.status_code == 200


def signed(body: dict, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> tuple[bytes, dict]:
    """A webhook body and headers signed as Zoom signs them."""
    raw = json.dumps(body, separators=(",", ":")).encode()
    ts = str(timestamp if timestamp is not None else int(time.time()))
    return raw, {"x-zm-request-timestamp": ts, "x-zm-signature": sign(secret, ts, raw),
                 "Content-Type": "application/json"}


def deauthorized(row, at=None) -> dict:
    """app_deauthorized for the row's Zoom user, who removed the app at `at` (default: now)."""
    at = at or utcnow()
    return {"event": "app_deauthorized", "payload": {
        "account_id": row.zoom_account_id, "user_id": row.zoom_user_id, "client_id": "emu-client-id",
        "deauthorization_time": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "signature": "x", "event_ts": int(at.timestamp() * 1000)}}
