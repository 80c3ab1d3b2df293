"""Connecting an org's Zoom user: the authorize URL, the callback, a confirmation, then the store.

The `state` in the authorize URL ties Zoom's redirect back to the org that asked: random, single
use (Redis GETDEL), bound to the org and gone after 10 minutes. The PKCE verifier stays with it
server-side (encrypted even there). A state alone is not enough, though: whoever holds the link
could otherwise complete it with their own Zoom user (a connect link sent to another org's Zoom
user would connect that user to the sender's org). So the code is only exchanged for a caller
that proves it is the org that started the flow (`exchange` takes the org id of the signed-in
browser session), and nothing is stored until that org has seen which Zoom user it got and
confirmed (`confirm`); the exchanged tokens wait encrypted in Redis for 10 minutes meanwhile.
A Zoom user that is one of Converge's system hosts is never connected to an org.
Nothing is written to the database until then, so a failed attempt leaves any earlier connection
as it was. Reconnecting reuses the org's one row, so meetings keep pointing at it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime

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
from connections import recording_settings
from connections.capacity import capacity_on_reconnect
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
PENDING_TTL_SECONDS = 600
_STATE_PREFIX = "zoom:connect-state:"
_PENDING_PREFIX = "zoom:connect-pending:"


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


def _bad_link() -> ConnectFailed:
    return ConnectFailed(400, "invalid_state", "This link has expired or was already used",
                         "Connect links work once and only for 10 minutes, and this one was "
                         "already used, has expired, or was never issued by Converge. Nothing "
                         "was changed.")


def _usable_state(state: str | None) -> str:
    if not state or len(state) > 200 or not state.isascii() or not state.isprintable():
        raise ConnectFailed(400, "invalid_state", "This link is not valid",
                            "The address Zoom sent you back to has no valid state, so Converge "
                            "cannot tell which organization it belongs to. Nothing was changed.")
    return state


async def state_org(services: Services, state: str | None) -> str:
    """The org that started the flow of `state`, without using the state up."""
    raw = await services.redis.get(state_key(_usable_state(state)))
    if raw is None:
        raise _bad_link()
    return json.loads(raw)["org_id"]


async def _take_state(services: Services, state: str | None, org_id: str) -> str:
    """The verifier of a state started by `org_id`, consumed; ConnectFailed(400) otherwise.

    A state started by another org is consumed too: a link that reached the wrong browser is
    dead for everyone (docs/architecture.md#connect-link-binding)."""
    key = state_key(_usable_state(state))
    raw = await services.redis.getdel(key)
    if raw is None:
        raise _bad_link()
    data = json.loads(raw)
    if data["org_id"] != org_id:
        raise ConnectFailed(403, "wrong_organization", "This Zoom link belongs to another organization",
                            "This connect link was started by a different Converge organization "
                            "than the one you are signed in to, so nothing was connected and the "
                            "link no longer works. If you did not ask for it, ignore it; to connect "
                            "your own Zoom, start from Account Settings > Integrations.")
    return services.cipher.decrypt(data["verifier"], **_verifier_binding(key))


@dataclass(frozen=True)
class PendingConnect:
    """A Zoom user whose tokens are held until the org confirms; `id` names it for `confirm`."""

    id: str
    org_id: str
    zoom_user_name: str
    zoom_email: str
    zoom_user_type: int


def _pending_key(pending_id: str) -> str:
    return _PENDING_PREFIX + hashlib.sha256(pending_id.encode()).hexdigest()


def _pending_binding(key: str, field: str) -> dict[str, str]:
    return {"table": "redis", "row_id": key, "field": field}


async def exchange(
    services: Services, *, state: str | None, code: str | None, error: str | None, org_id: str
) -> PendingConnect:
    """Handle Zoom's redirect for the signed-in `org_id`: consume the state, exchange the code,
    read the user, and hold the tokens (encrypted, 10 minutes) until `confirm`."""
    oauth = zoom_oauth(services)
    verifier = await _take_state(services, state, org_id)
    if error:
        denied = error == "access_denied"
        raise ConnectFailed(
            400, "access_denied" if denied else "authorization_failed",
            "Zoom was not connected",
            "You chose not to allow Converge access to your Zoom account, so nothing was "
            "connected." if denied else
            f"Zoom ended the authorization with the error '{error[:60]}'; nothing was connected.",
        )
    if not code or len(code) > 2000:
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
        str(me["id"]), str(me["account_id"])
    except (ZoomError, KeyError, TypeError) as exc:
        log.warning("zoom /users/me failed for org %s: %s", org_id, type(exc).__name__)
        await _revoke_quietly(oauth, access)
        raise ConnectFailed(502, "zoom_profile_failed", "Zoom did not return your profile",
                            "Zoom authorized Converge but then did not return the Zoom user's "
                            "profile, so nothing was connected.") from None
    email = str(me.get("email") or "").lower()
    if email and email in {h.email for h in st.system_hosts}:
        # A system host hosts every org's fallback meetings; no org may own its grant.
        await _revoke_quietly(oauth, access)
        raise ConnectFailed(400, "system_host_refused", "This Zoom user cannot be connected",
                            f"{email} is one of Converge's own Zoom hosts, which host interviews "
                            "for every organization, so it cannot be connected to one. Nothing was "
                            "connected; sign in to Zoom as a user of your own organization and "
                            "try again.")
    settings = await recording_settings.read(
        ZoomApi(services.http, st.zoom_api_base_url, _constant(access)), tokens.scope)
    pending_id = secrets.token_urlsafe(32)
    key = _pending_key(pending_id)
    cipher = services.cipher
    await services.redis.set(key, json.dumps({
        "org_id": org_id,
        "me": {k: me.get(k) for k in ("id", "account_id", "email", "type", "display_name",
                                       "first_name", "last_name")},
        "access": cipher.encrypt(access, **_pending_binding(key, "access_token")),
        "refresh": cipher.encrypt(tokens.refresh_token.get_secret_value(),
                                  **_pending_binding(key, "refresh_token")),
        "expires_at": tokens.expires_at(utcnow()).isoformat(),
        "scope": tokens.scope,
        "settings": settings,
    }), ex=PENDING_TTL_SECONDS)
    return PendingConnect(pending_id, org_id, _display_name(me), email, int(me.get("type") or 0))


async def _take_pending(services: Services, pending_id: str | None, org_id: str) -> dict:
    if not pending_id or len(pending_id) > 200:
        raise _pending_gone()
    key = _pending_key(pending_id)
    raw = await services.redis.getdel(key)
    if raw is None:
        raise _pending_gone()
    data = json.loads(raw)
    c = services.cipher
    data["access"] = c.decrypt(data["access"], **_pending_binding(key, "access_token"))
    data["refresh"] = c.decrypt(data["refresh"], **_pending_binding(key, "refresh_token"))
    if data["org_id"] != org_id:
        await _revoke_quietly(zoom_oauth(services), data["access"])
        raise ConnectFailed(403, "wrong_organization", "This confirmation belongs to another organization",
                            "You are signed in to a different organization than the one this "
                            "Zoom connection was started for, so nothing was connected.")
    return data


def _pending_gone() -> ConnectFailed:
    return ConnectFailed(400, "confirmation_expired", "This confirmation has expired",
                         "A Zoom connection waits 10 minutes for confirmation, and this one was "
                         "already answered or waited too long. Nothing was connected; click "
                         "Connect Zoom again.")


async def confirm(services: Services, pending_id: str | None, org_id: str) -> ZoomConnection:
    """Store the Zoom user the org has just confirmed."""
    data = await _take_pending(services, pending_id, org_id)
    me = data["me"]
    tokens = TokenSet(access_token=data["access"], refresh_token=data["refresh"],
                      expires_in=max(0, int((datetime.fromisoformat(data["expires_at"])
                                             - utcnow()).total_seconds())),
                      scope=data["scope"])
    row = await _store(services, org_id, me, str(me["id"]), str(me["account_id"]), tokens,
                       data.get("settings"))
    log.info("org %s connected zoom connection %s (user type %s, token version %d)",
             org_id, row.id, row.zoom_user_type, row.token_version)
    return row


async def cancel(services: Services, pending_id: str | None, org_id: str) -> None:
    """The org said no: end the held grant at Zoom, store nothing."""
    data = await _take_pending(services, pending_id, org_id)
    await _revoke_quietly(zoom_oauth(services), data["access"])


async def finish_connect(
    services: Services, *, state: str | None, code: str | None, error: str | None, org_id: str
) -> ZoomConnection:
    """`exchange` then `confirm` in one step, for callers that already act as the org (tests,
    scripts); the HTTP callback shows the confirmation in between."""
    pending = await exchange(services, state=state, code=code, error=error, org_id=org_id)
    return await confirm(services, pending.id, org_id)


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
                 tokens: TokenSet, settings: dict | None = None) -> ZoomConnection:
    for attempt in (1, 2):
        try:
            return await _store_once(services, org_id, me, user_id, account_id, tokens, settings)
        except IntegrityError:
            # Two first-time connects of one org raced to insert; the second one updates instead.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


async def _store_once(services: Services, org_id: str, me: dict, user_id: str, account_id: str,
                      tokens: TokenSet, settings: dict | None) -> ZoomConnection:
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

        warnings = connect_warnings(int(me.get("type") or 0), tokens.scope, settings)
        if others:
            warnings.append(took_over_warning())
        row.concurrent_meetings, row.concurrent_meetings_source = capacity_on_reconnect(row, user_id)
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
