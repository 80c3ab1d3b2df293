"""Shared steps of the connection tests: connect an org through the emulator, read its row."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

from sqlalchemy import update
from sqlmodel import select

from models import ZoomConnection, utcnow


def callback_path(location: str) -> str:
    """Zoom redirects to ZOOM_REDIRECT_URI (port 8000); the test API listens elsewhere."""
    parts = urlsplit(location)
    assert parts.path == "/v1/integrations/zoom/callback", location
    return f"{parts.path}?{parts.query}"


async def start(api, org_id: str, headers: dict) -> str:
    """POST connect; the authorize URL."""
    r = await api.http.post(f"/v1/orgs/{org_id}/integrations/zoom/connect", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()["authorize_url"]


async def connect(api, emulator, org_id: str, headers: dict, email: str = "alex@acme.test") -> ZoomConnection:
    """Connect the org as the Zoom user `email` (the emulator's auto-consent shortcut)."""
    location = await emulator.control.authorize(await start(api, org_id, headers), email)
    r = await api.http.get(callback_path(location))
    assert r.status_code == 302, r.text
    return await row_of(api.services, org_id)


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
