"""Ending an org's Zoom connection: the org disconnects, or the Zoom user removes the app.

Either way the tokens are destroyed (ciphertext set to NULL, not just flagged) and the row stays,
status `disconnected` or `revoked`, so that meetings, recordings and transcripts made under it keep
their link to it and nothing historical is deleted (docs/promises.md#7-disconnecting-deletes-no-history). A revoke that fails at Zoom does not
keep the connection alive here: without the tokens Converge cannot act for the org any more, and
the answer says so, so the org can also remove the app in Zoom.

A disconnect holds the connection's refresh lock while it destroys the tokens: a refresh in flight
finishes and saves first, and the pair revoked at Zoom is the one Zoom last handed out (a refresh
that still loses the race revokes its own pair, token_manager). An `app_deauthorized` only ends
connections made before the user removed the app: Zoom retries a delivery for up to ~90 minutes,
and a late retry must not end the connection the user made again since.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import update
from sqlmodel import select

from models import ZoomConnection, utcnow
from token_cipher import DecryptionError
from connections.tokens import (
    ACCESS_FIELD,
    REFRESH_FIELD,
    TABLE,
    ZoomNotConfigured,
    tokens_destroyed,
    zoom_oauth,
)
from zoom.errors import ZoomBadRequest, ZoomError, ZoomGrantDead
from zoom.webhooks import DeauthorizationPayload

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services import Services

log = logging.getLogger("zoom_disconnect")

APP_DEAUTHORIZED = "app_deauthorized"

REVOKED = "revoked"
ALREADY_INVALID = "already_invalid"
FAILED = "failed"
NOT_NEEDED = "not_needed"

_REVOKE_MESSAGES = {
    REVOKED: "Zoom confirmed that Converge's access was revoked.",
    ALREADY_INVALID: "Zoom no longer accepted Converge's tokens, so there was nothing left to revoke.",
    NOT_NEEDED: "Converge held no valid Zoom tokens for this connection, so nothing was revoked at Zoom.",
    FAILED: (
        "Zoom did not confirm the revocation. Converge has deleted its copy of the tokens and can no "
        "longer act on your Zoom account; to be sure, also remove the Converge app in Zoom "
        "(App Marketplace > Manage > Added Apps)."
    ),
}


class NotConnected(Exception):
    """There is no connection to disconnect (none yet, or already disconnected)."""

    def __init__(self, status: str) -> None:
        self.status = status
        super().__init__(status)


class ConnectionBusy(Exception):
    """The connection's tokens kept changing under the disconnect; nothing was changed."""


@dataclass
class DisconnectResult:
    connection: ZoomConnection
    zoom_revoke: str  # revoked | already_invalid | failed | not_needed
    message: str


async def disconnect(services: Services, org_id: str) -> DisconnectResult:
    """Destroy the org's tokens, mark the connection disconnected, then revoke at Zoom."""
    row = await _connection_of(services, org_id)
    if row is None or row.status == "disconnected":
        raise NotConnected(row.status if row else "not_connected")
    async with services.tokens.refresh_lock(row.id):
        row, tokens = await _destroy_tokens(services, org_id)
    outcome = await _revoke(services, tokens) if tokens else NOT_NEEDED
    log.info("org %s disconnected zoom connection %s (revoke at zoom: %s)", org_id, row.id, outcome)
    async with services.db.session() as s:
        current = (await s.exec(select(ZoomConnection).where(ZoomConnection.id == row.id))).one()
    return DisconnectResult(current, outcome, _REVOKE_MESSAGES[outcome])


async def _connection_of(services: Services, org_id: str) -> ZoomConnection | None:
    async with services.db.session() as s:
        return (await s.exec(select(ZoomConnection).where(ZoomConnection.org_id == org_id))).first()


async def _destroy_tokens(services: Services, org_id: str) -> tuple[ZoomConnection, list[str]]:
    """Mark the connection disconnected with its tokens gone; (the row as read, its tokens)."""
    for _ in range(5):
        row = await _connection_of(services, org_id)
        if row is None or row.status == "disconnected":
            raise NotConnected(row.status if row else "not_connected")
        tokens = [t for t in (_plain(services, row, ACCESS_FIELD), _plain(services, row, REFRESH_FIELD)) if t]
        now = utcnow()
        async with services.db.session() as s:
            # Version check: a refresh that rotated the pair meanwhile makes us re-read, so the
            # token revoked at Zoom is the current one.
            result = await s.exec(
                update(ZoomConnection)
                .where(ZoomConnection.id == row.id, ZoomConnection.token_version == row.token_version)
                .values(**tokens_destroyed("disconnected", None, now), disconnected_at=now, warnings=[])
            )
            await s.commit()
        if result.rowcount == 1:
            return row, tokens
    raise ConnectionBusy()


def _plain(services: Services, row: ZoomConnection, field: str) -> str | None:
    ciphertext = getattr(row, field)
    if not ciphertext:
        return None
    try:
        return services.cipher.decrypt(ciphertext, table=TABLE, row_id=row.id, field=field)
    except DecryptionError as exc:  # e.g. its key was dropped: it can still be destroyed
        log.warning("zoom connection %s: cannot decrypt %s for revoke: %s", row.id, field, exc)
        return None


async def _revoke(services: Services, tokens: list[str]) -> str:
    """Revoke with the access token; if Zoom calls it invalid, try the refresh token."""
    try:
        oauth = zoom_oauth(services)
    except ZoomNotConfigured:
        return FAILED
    for token in tokens:
        try:
            await oauth.revoke(token)
            return REVOKED
        except (ZoomGrantDead, ZoomBadRequest):
            continue
        except ZoomError as exc:
            log.warning("zoom revoke failed: %s", exc)
            return FAILED
    return ALREADY_INVALID


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _deauthorized_at(payload: DeauthorizationPayload) -> datetime:
    """When the user removed the app: Zoom's deauthorization_time, else the event's own time,
    else now (then any connection made before this moment is the one it means)."""
    when = _parse_time(payload.deauthorization_time)
    if when is None and payload.event_ts:
        when = datetime.fromtimestamp(payload.event_ts / 1000, tz=timezone.utc)
    return when or utcnow()


async def handle_app_deauthorized(services: Services, payload: DeauthorizationPayload | dict) -> int:
    """The Zoom user removed Converge's app: their connection(s) become `revoked`, tokens gone.

    Returns how many connections changed (0 for a repeated event or an unknown user). Matched by
    Zoom user id and account id, which connect stored for exactly this, and only connections made
    before the removal: a delayed or retried event must not end a reconnect made after it. An
    event for another app (client_id) is ignored. Meetings and recordings stay whatever
    `user_data_retention` says: they belong to the org's booking history, not to Zoom."""
    if not isinstance(payload, DeauthorizationPayload):
        payload = DeauthorizationPayload.model_validate(payload)
    own_client = services.settings.zoom_client_id
    if payload.client_id and own_client and payload.client_id != own_client:
        return 0
    when = _deauthorized_at(payload)
    conditions = [ZoomConnection.zoom_user_id == payload.user_id,
                  ZoomConnection.status.in_(("active", "expired")),
                  ZoomConnection.connected_at < when]
    if payload.account_id:
        conditions.append(ZoomConnection.zoom_account_id == payload.account_id)
    async with services.db.session() as s:
        result = await s.exec(
            update(ZoomConnection)
            .where(*conditions)
            .values(**tokens_destroyed("revoked", APP_DEAUTHORIZED, when))
            .returning(ZoomConnection.id)
        )
        ids = [r[0] for r in result.all()]
        await s.commit()
    for connection_id in ids:
        log.warning("zoom connection %s revoked: the Zoom user removed the app", connection_id)
    return len(ids)
