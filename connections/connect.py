"""Connecting an org's Zoom user: the authorize URL, then the callback that stores the connection.

The `state` in the authorize URL is the only thing tying Zoom's redirect back to the org that
asked, so it is random, single use (Redis GETDEL), bound to the org and gone after 10 minutes.
The PKCE verifier stays with it server-side (encrypted even there): a code injected from another
browser session cannot be exchanged without it. Nothing is written to the database until Zoom has
given tokens and `/users/me` has answered, so a failed attempt leaves any earlier connection as
it was. Reconnecting reuses the org's one row, so meetings keep pointing at it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from models import ZoomConnection, new_id, utcnow
from connections.tokens import (
    ACCESS_FIELD,
    REFRESH_FIELD,
    TABLE,
    tokens_destroyed,
    zoom_oauth,
)
from zoom.client import ZoomApi
from zoom.errors import ZoomError, ZoomGrantDead
from zoom.oauth import TokenSet, ZoomOAuth, authorize_url, new_pkce_pair
from connections.warnings import (
    ZOOM_USER_CONNECTED_ELSEWHERE,
    connect_warnings,
    taken_over_warning,
    took_over_warning,
)

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services import Services

log = logging.getLogger("zoom_connect")

STATE_TTL_SECONDS = 600
_STATE_PREFIX = "zoom:connect-state:"


@dataclass
class ConnectFailed(Exception):
    """The callback could not connect; `status` 400 (our link) or 502 (Zoom), text for a page."""

    status: int
    code: str
    title: str
    message: str


def state_key(state: str) -> str:
    """Redis key of a state; hashed so a key listing does not reveal usable states."""
    return _STATE_PREFIX + hashlib.sha256(state.encode()).hexdigest()


def _verifier_binding(key: str) -> dict[str, str]:
    return {"table": "redis", "row_id": key, "field": "code_verifier"}


async def start_connect(services: Services, org_id: str) -> str:
    """A fresh authorize URL for `org_id`; its state works once, for 10 minutes."""
    zoom_oauth(services)  # fail before storing anything when Zoom is not configured
    st = services.settings
    state = secrets.token_urlsafe(32)
    pkce = new_pkce_pair()
    key = state_key(state)
    value = json.dumps({
        "org_id": org_id,
        "verifier": services.cipher.encrypt(pkce.verifier, **_verifier_binding(key)),
    })
    await services.redis.set(key, value, ex=STATE_TTL_SECONDS, nx=True)
    return authorize_url(st.zoom_oauth_base_url, st.zoom_client_id, st.zoom_redirect_uri_or_default,
                         state, pkce.challenge)


async def _take_state(services: Services, state: str | None) -> tuple[str, str]:
    """(org_id, verifier) of a state, consumed; ConnectFailed(400) when unknown, used or expired."""
    if not state or len(state) > 200:
        raise ConnectFailed(400, "invalid_state", "This link is not valid",
                            "The address Zoom sent you back to has no valid state, so Converge "
                            "cannot tell which organization it belongs to. Nothing was changed.")
    key = state_key(state)
    raw = await services.redis.getdel(key)
    if raw is None:
        raise ConnectFailed(400, "invalid_state", "This link has expired or was already used",
                            "Connect links work once and only for 10 minutes, and this one was "
                            "already used, has expired, or was never issued by Converge. Nothing "
                            "was changed.")
    data = json.loads(raw)
    return data["org_id"], services.cipher.decrypt(data["verifier"], **_verifier_binding(key))


async def finish_connect(
    services: Services, *, state: str | None, code: str | None, error: str | None
) -> ZoomConnection:
    """Handle Zoom's redirect: consume the state, exchange the code, read the user, store."""
    oauth = zoom_oauth(services)
    org_id, verifier = await _take_state(services, state)
    if error:
        denied = error == "access_denied"
        raise ConnectFailed(
            400, "access_denied" if denied else "authorization_failed",
            "Zoom was not connected",
            "You chose not to allow Converge access to your Zoom account, so nothing was "
            "connected." if denied else
            f"Zoom ended the authorization with the error '{error[:60]}'; nothing was connected.",
        )
    if not code:
        raise ConnectFailed(400, "invalid_request", "This link is not valid",
                            "Zoom's answer carried no authorization code. Nothing was changed.")
    st = services.settings
    try:
        tokens = await oauth.exchange_code(code, st.zoom_redirect_uri_or_default, verifier)
    except ZoomGrantDead as exc:
        log.warning("zoom code exchange refused for org %s: %s", org_id, exc)
        raise ConnectFailed(502, "zoom_exchange_failed", "Zoom did not accept the authorization",
                            "Zoom refused the authorization code (it may have expired, been "
                            "used already, or not match this browser session). Nothing was "
                            "changed.") from None
    except ZoomError as exc:
        log.warning("zoom code exchange failed for org %s: %s", org_id, exc)
        raise ConnectFailed(502, "zoom_exchange_failed", "Zoom could not be reached",
                            "Zoom did not complete the authorization (it failed or did not "
                            "answer). Nothing was changed.") from None
    access = tokens.access_token.get_secret_value()
    if tokens.refresh_token is None:
        await _revoke_quietly(oauth, access)
        raise ConnectFailed(502, "zoom_exchange_failed", "Zoom did not complete the authorization",
                            "Zoom's answer had no refresh token, so Converge could not keep the "
                            "connection alive. Nothing was changed.")
    try:
        me = await ZoomApi(services.http, st.zoom_api_base_url, _constant(access)).get_me()
        user_id, account_id = str(me["id"]), str(me["account_id"])
    except (ZoomError, KeyError, TypeError) as exc:
        log.warning("zoom /users/me failed for org %s: %s", org_id, type(exc).__name__)
        await _revoke_quietly(oauth, access)
        raise ConnectFailed(502, "zoom_profile_failed", "Zoom did not return your profile",
                            "Zoom authorized Converge but then did not return the Zoom user's "
                            "profile, so nothing was connected.") from None
    row = await _store(services, org_id, me, user_id, account_id, tokens)
    log.info("org %s connected zoom connection %s (user type %s, token version %d)",
             org_id, row.id, row.zoom_user_type, row.token_version)
    return row


def _constant(token: str):
    async def get_token() -> str:
        return token
    return get_token


async def _revoke_quietly(oauth: ZoomOAuth, token: str) -> None:
    """A grant we will not store should not stay alive at Zoom; failing to end it is harmless."""
    try:
        await oauth.revoke(token)
    except ZoomError:
        pass


def _display_name(me: dict) -> str:
    name = me.get("display_name") or f"{me.get('first_name') or ''} {me.get('last_name') or ''}"
    return str(name).strip()


async def _store(services: Services, org_id: str, me: dict, user_id: str, account_id: str,
                 tokens: TokenSet) -> ZoomConnection:
    for attempt in (1, 2):
        try:
            return await _store_once(services, org_id, me, user_id, account_id, tokens)
        except IntegrityError:
            # Two first-time connects of one org raced to insert; the second one updates instead.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


async def _store_once(services: Services, org_id: str, me: dict, user_id: str, account_id: str,
                      tokens: TokenSet) -> ZoomConnection:
    cipher, now = services.cipher, utcnow()
    async with services.db.session() as s:
        row = (await s.exec(
            select(ZoomConnection).where(ZoomConnection.org_id == org_id).with_for_update()
        )).first()
        if row is None:
            row = ZoomConnection(id=new_id(), org_id=org_id, zoom_user_id=user_id,
                                 zoom_account_id=account_id, token_version=0)
        # Zoom keeps only the newest authorization of a user: another org's connection of the
        # same Zoom user died when this one was made.
        others = (await s.exec(
            select(ZoomConnection)
            .where(ZoomConnection.zoom_user_id == user_id, ZoomConnection.org_id != org_id,
                   ZoomConnection.status == "active")
            .with_for_update()
        )).all()
        for other in others:
            kept = [w for w in other.warnings
                    if w.get("code") != ZOOM_USER_CONNECTED_ELSEWHERE] + [taken_over_warning()]
            await s.exec(
                update(ZoomConnection)
                .where(ZoomConnection.id == other.id)
                .values(**tokens_destroyed("expired", ZOOM_USER_CONNECTED_ELSEWHERE, now),
                        warnings=kept)
                .execution_options(synchronize_session=False)
            )
            log.warning("zoom connection %s expired: its Zoom user was connected by org %s",
                        other.id, org_id)

        warnings = connect_warnings(int(me.get("type") or 0), tokens.scope)
        if others:
            warnings.append(took_over_warning())
        row.zoom_user_id, row.zoom_account_id = user_id, account_id
        row.zoom_user_name = _display_name(me)
        row.zoom_email = str(me.get("email") or "")
        row.zoom_user_type = int(me.get("type") or 0)
        row.scopes = " ".join(tokens.scope)
        row.status, row.status_reason, row.status_changed_at = "active", None, now
        row.warnings = warnings
        row.access_token_enc = cipher.encrypt(tokens.access_token.get_secret_value(),
                                              table=TABLE, row_id=row.id, field=ACCESS_FIELD)
        row.refresh_token_enc = cipher.encrypt(tokens.refresh_token.get_secret_value(),
                                               table=TABLE, row_id=row.id, field=REFRESH_FIELD)
        row.access_expires_at = tokens.expires_at(now)
        row.token_version += 1
        row.consecutive_failures = 0
        row.connected_at, row.last_refreshed_at, row.disconnected_at = now, None, None
        s.add(row)
        await s.commit()
        return row
