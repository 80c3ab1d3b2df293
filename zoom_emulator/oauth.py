"""Zoom's OAuth endpoints (zoom.us side): consent page, token endpoint, revoke.

What it copies from Zoom, including the unpleasant parts (docs/zoom.md#token-rotation, #server-to-server-oauth):
- authorization codes live 5 minutes and work once; redirect_uri must match; PKCE is checked;
- a refresh token works exactly once: the refresh rotates it and the old one answers
  400 {"reason":"Invalid Token!","error":"invalid_grant"} forever after;
- a new authorization of the same user under the same client kills that user's earlier tokens;
- S2S (account_credentials) tokens live 1 hour and come without a refresh token;
- tokens are opaque random strings.

Emulator-only (not Zoom): `/oauth/authorize?...&login_hint=<email>&auto=allow|deny` answers the
consent page at once for automation; POSTing the consent form directly does the same.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from html import escape

from aiohttp import web
from yarl import URL

from .httputil import ZoomError, base_url, emulator, form_params, json_response
from .state import AuthCode, Grant, OAuthClient, User, World

# Numeric codes from Zoom's OAuth error table, only sent when config.oauth_error_codes is on.
_OAUTH_CODES = {
    "invalid_client": 4702,
    "unsupported_grant_type": 4705,
    "redirect_mismatch": 4709,
    "code_expired": 4733,
    "code_invalid": 4734,
    "token_dead": 4741,
}


# --- authorize ---------------------------------------------------------------------------------


def _page(title: str, body: str, status: int = 200) -> web.Response:
    html = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{escape(title)} - Zoom (emulator)</title>"
        "<style>body{font-family:sans-serif;max-width:34rem;margin:3rem auto;line-height:1.5}"
        "button{font-size:1rem;padding:.4rem 1.2rem;margin-right:.5rem}</style></head><body>"
        f"<h1>{escape(title)}</h1>{body}"
        "<p><small>This is the Zoom emulator, not Zoom.</small></p></body></html>"
    )
    return web.Response(text=html, status=status, content_type="text/html")


def _refuse(message: str) -> web.Response:
    # Zoom shows an error page (4709 for a redirect mismatch) and never redirects to an
    # unregistered URI; neither do we.
    return _page("Invalid request", f"<p>{escape(message)}</p>", status=400)


def _redirect(redirect_uri: str, **params: str | None) -> web.Response:
    url = URL(redirect_uri).update_query({k: v for k, v in params.items() if v is not None})
    return web.Response(status=302, headers={"Location": str(url)})


def _check_client(world: World, params: dict[str, str]) -> tuple[OAuthClient, str] | web.Response:
    client = world.clients.get(params.get("client_id", ""))
    if client is None or client.kind != "user":
        return _refuse("Invalid client_id: no OAuth app with this client id.")
    redirect_uri = params.get("redirect_uri", "")
    if redirect_uri not in client.redirect_uris:
        return _refuse(
            f"Invalid redirect: {redirect_uri or '(none)'} is not registered for {client.name} "
            "(Zoom error 4709)."
        )
    return client, redirect_uri


def _issue_code(world: World, client: OAuthClient, user: User, redirect_uri: str,
                params: dict[str, str]) -> str:
    challenge = params.get("code_challenge") or None
    code = AuthCode(
        code=world.new_secret(24),
        client_id=client.client_id,
        user_id=user.id,
        redirect_uri=redirect_uri,
        expires_at=world.now() + world.config.code_ttl,
        challenge=challenge,
        challenge_method=params.get("code_challenge_method") or "plain",
    )
    world.codes[code.code] = code
    return code.code


def _decide(world: World, client: OAuthClient, redirect_uri: str, params: dict[str, str],
            user_ref: str, allow: bool) -> web.Response:
    state = params.get("state")
    if params.get("response_type", "code") != "code":
        return _redirect(redirect_uri, error="unsupported_response_type", state=state)
    if params.get("code_challenge") and params.get("code_challenge_method", "plain") not in (
            "S256", "plain"):
        return _redirect(redirect_uri, error="invalid_request", state=state)
    if not allow:
        return _redirect(redirect_uri, error="access_denied", state=state)
    user = world.find_user(user_ref) if user_ref else None
    if user is None:
        return _refuse(f"No Zoom user {user_ref!r} in the emulator.")
    code = _issue_code(world, client, user, redirect_uri, params)
    return _redirect(redirect_uri, code=code, state=state)


_PASSTHROUGH = ("client_id", "redirect_uri", "response_type", "state", "code_challenge",
                "code_challenge_method")


async def authorize_page(request: web.Request) -> web.Response:
    world = emulator(request).world
    params = dict(request.query)
    checked = _check_client(world, params)
    if isinstance(checked, web.Response):
        return checked
    client, redirect_uri = checked
    hint = params.get("login_hint", "")
    auto = params.get("auto")
    if auto in ("allow", "deny"):  # emulator-only shortcut for automation
        return _decide(world, client, redirect_uri, params, hint, auto == "allow")

    hidden = "".join(
        f"<input type='hidden' name='{k}' value='{escape(params[k], quote=True)}'>"
        for k in _PASSTHROUGH if k in params
    )
    options = []
    for account in world.accounts.values():
        users = [u for u in world.users.values() if u.account_id == account.id]
        opts = "".join(
            f"<option value='{escape(u.id, quote=True)}'>"
            f"{escape(u.display_name)} &lt;{escape(u.email)}&gt;</option>"
            for u in users
        )
        options.append(f"<optgroup label='{escape(account.name, quote=True)} ({account.plan})'>"
                       f"{opts}</optgroup>")
    scopes = "".join(f"<li><code>{escape(s)}</code></li>" for s in client.scopes)
    body = (
        f"<p><b>{escape(client.name)}</b> would like to access your Zoom account.</p>"
        f"<p>It asks for these scopes:</p><ul>{scopes}</ul>"
        "<form method='post' action='/oauth/authorize'>"
        f"{hidden}<p><label>Signed in as <select name='user' required>"
        # Nobody is preselected: a person must pick the Zoom user they mean to authorize.
        "<option value='' selected disabled>Choose a Zoom user</option>"
        f"{''.join(options)}</select></label></p>"
        "<p><button name='decision' value='allow' type='submit'>Allow</button>"
        "<button name='decision' value='deny' type='submit'>Deny</button></p></form>"
    )
    return _page(f"Authorize {client.name}", body)


async def authorize_submit(request: web.Request) -> web.Response:
    """The consent form's POST; automation may post it directly (user = id or email)."""
    world = emulator(request).world
    params = await form_params(request)
    checked = _check_client(world, params)
    if isinstance(checked, web.Response):
        return checked
    client, redirect_uri = checked
    return _decide(world, client, redirect_uri, params, params.get("user", ""),
                   params.get("decision") == "allow")


# --- token -------------------------------------------------------------------------------------


def _oauth_error(request: web.Request, status: int, error: str, reason: str,
                 code_key: str | None = None) -> web.Response:
    body: dict = {"reason": reason, "error": error}
    if code_key and emulator(request).world.config.oauth_error_codes:
        body["code"] = _OAUTH_CODES[code_key]
    return json_response(body, status=status)


def basic_client(request: web.Request) -> OAuthClient | None:
    """The client named by `Authorization: Basic base64(id:secret)`, when the secret is right."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        client_id, _, secret = base64.b64decode(value.strip()).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    client = emulator(request).world.clients.get(client_id)
    if client is None or not hmac.compare_digest(client.client_secret, secret):
        return None
    return client


def _pkce_ok(code: AuthCode, verifier: str | None) -> bool:
    if code.challenge is None:
        return True
    if not verifier:
        return False
    if code.challenge_method == "S256":
        digest = hashlib.sha256(verifier.encode()).digest()
        computed = base64.urlsafe_b64encode(digest).decode().rstrip("=")
    else:
        computed = verifier
    return hmac.compare_digest(computed, code.challenge)


def _token_response(request: web.Request, grant: Grant, with_refresh: bool) -> web.Response:
    world = emulator(request).world
    access, refresh = world.issue(grant, with_refresh)
    body = {
        "access_token": access.token,
        "token_type": "bearer",
        **({"refresh_token": refresh.token} if refresh else {}),
        # Zoom reports one second less than the lifetime (3599 for an hour)
        "expires_in": max(world.config.token_ttl - 1, 1),
        "scope": " ".join(grant.scopes),
        "api_url": base_url(request),
    }
    return json_response(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


async def token(request: web.Request) -> web.Response:
    em = emulator(request)
    world = em.world
    params = await form_params(request)
    if world.config.token_params_in_query:
        params = {**request.query, **params}
    client = basic_client(request)
    if client is None:
        return _oauth_error(request, 401, "invalid_client", "Invalid client_id or client_secret",
                            "invalid_client")
    grant_type = params.get("grant_type")
    if not grant_type:
        return _oauth_error(request, 400, "invalid_request", "Missing grant type")
    allowed = {"user": ("authorization_code", "refresh_token"), "s2s": ("account_credentials",)}
    if grant_type not in allowed[client.kind]:
        return _oauth_error(request, 400, "unsupported_grant_type", "unsupported grant type",
                            "unsupported_grant_type")

    if grant_type == "authorization_code":
        code = world.codes.get(params.get("code", ""))
        if code is None or code.used or code.client_id != client.client_id:
            return _oauth_error(request, 400, "invalid_grant", "Invalid authorization code",
                                "code_invalid")
        if code.expires_at <= world.now():
            return _oauth_error(request, 400, "invalid_grant", "Authorization code expired",
                                "code_expired")
        if params.get("redirect_uri") != code.redirect_uri:
            return _oauth_error(request, 400, "invalid_grant", "Redirect URI mismatch.",
                                "redirect_mismatch")
        if not _pkce_ok(code, params.get("code_verifier")):
            return _oauth_error(request, 400, "invalid_grant", "Invalid code_verifier",
                                "code_invalid")
        code.used = True
        user = world.users[code.user_id]
        # Last authorization wins: earlier tokens of this user under this client die (4741).
        for old in world.grants_of(client.client_id, user.id):
            world.kill_grant(old)
        grant = Grant(world.new_secret(12), client.client_id, "user", user.id, user.account_id,
                      tuple(client.scopes))
        world.grants[grant.id] = grant
        return _token_response(request, grant, with_refresh=True)

    if grant_type == "refresh_token":
        refresh = world.refresh_tokens.get(params.get("refresh_token", ""))
        grant = world.grants.get(refresh.grant_id) if refresh else None
        if (refresh is None or grant is None or not refresh.alive or not grant.alive
                or grant.client_id != client.client_id or refresh.expires_at <= world.now()):
            return _oauth_error(request, 400, world.config.refresh_error, "Invalid Token!",
                                "token_dead")
        refresh.alive = False  # single use: rotation
        if world.config.refresh_kills_old_access:
            for t in world.access_tokens.values():
                if t.grant_id == grant.id:
                    t.alive = False
        return _token_response(request, grant, with_refresh=True)

    # account_credentials (Server-to-Server OAuth)
    if params.get("account_id") != client.account_id:
        return _oauth_error(request, 400, "invalid_request", "Invalid account_id")
    if world.config.s2s_single_token:
        for old in [g for g in world.grants.values()
                    if g.alive and g.kind == "s2s" and g.client_id == client.client_id]:
            world.kill_grant(old)
    grant = Grant(world.new_secret(12), client.client_id, "s2s", None, client.account_id,
                  tuple(client.scopes))
    world.grants[grant.id] = grant
    return _token_response(request, grant, with_refresh=False)


# --- revoke ------------------------------------------------------------------------------------


async def revoke(request: web.Request) -> web.Response:
    em = emulator(request)
    world = em.world
    client = basic_client(request)
    if client is None:
        return _oauth_error(request, 401, "invalid_client", "Invalid client_id or client_secret",
                            "invalid_client")
    params = await form_params(request)
    value = params.get("token") or (
        request.query.get("token") if world.config.revoke_token_in_query else None)
    if not value:
        return _oauth_error(request, 400, "invalid_request", "Missing token")
    held = world.access_tokens.get(value) or world.refresh_tokens.get(value)
    grant = world.grants.get(held.grant_id) if held else None
    if grant is not None and grant.client_id == client.client_id and grant.alive:
        world.kill_grant(grant)  # the access token and its refresh token die together
        if world.config.revoke_sends_deauthorized and grant.user_id:
            em.webhooks.emit_deauthorized(world.users[grant.user_id], client)
    return json_response({"status": "success"})


# --- bearer tokens, for the REST and download routes -------------------------------------------


def resolve_access_token(world: World, token: str | None) -> Grant:
    """The live grant behind a bearer access token, or Zoom's 401 code 124."""
    held = world.access_tokens.get(token or "")
    grant = world.grants.get(held.grant_id) if held else None
    if held is None or grant is None or not held.alive or not grant.alive:
        raise ZoomError(401, 124, "Invalid access token.")
    if held.expires_at <= world.now():
        raise ZoomError(401, 124, "Access token is expired.")
    return grant


# What each action accepts: classic scopes (a :write scope also reads) and granular ones.
ACTION_SCOPES = {
    "user:read": ("user:read", "user:read:admin", "user:write", "user:write:admin",
                  "user:read:user", "user:read:user:admin"),
    "user:settings": ("user:read", "user:read:admin", "user:write", "user:write:admin",
                      "user:read:settings", "user:read:settings:admin"),
    "meeting:create": ("meeting:write", "meeting:write:admin", "meeting:write:meeting",
                       "meeting:write:meeting:admin"),
    "meeting:read": ("meeting:read", "meeting:read:admin", "meeting:write", "meeting:write:admin",
                     "meeting:read:meeting", "meeting:read:meeting:admin"),
    "meeting:update": ("meeting:write", "meeting:write:admin", "meeting:update:meeting",
                       "meeting:update:meeting:admin"),
    "meeting:delete": ("meeting:write", "meeting:write:admin", "meeting:delete:meeting",
                       "meeting:delete:meeting:admin"),
    "meeting:participants": ("meeting:read", "meeting:read:admin", "meeting:write", "meeting:write:admin",
                             "meeting:read:list_past_participants",
                             "meeting:read:list_past_participants:admin"),
    "meeting:registrant": ("meeting:write", "meeting:write:admin", "meeting:write:registrant",
                           "meeting:write:registrant:admin"),
    "meeting:list": ("meeting:read", "meeting:read:admin", "meeting:write", "meeting:write:admin",
                     "meeting:read:list_meetings", "meeting:read:list_meetings:admin"),
    "recording:read": ("recording:read", "recording:read:admin", "recording:write",
                       "recording:write:admin", "cloud_recording:read:list_recording_files",
                       "cloud_recording:read:list_recording_files:admin"),
}


def scope_is_granular(scope: str) -> bool:
    """`meeting:read:meeting` (three parts before `:admin`) is granular; `meeting:read` classic."""
    return scope.removesuffix(":admin").removesuffix(":master").count(":") >= 2


def has_scope(grant: Grant, action: str) -> bool:
    return bool(set(grant.scopes) & set(ACTION_SCOPES[action]))


def accepted_scopes(grant: Grant, action: str) -> list[str]:
    """What a 4700 names: the scopes that would do, in the vocabulary of the grant's app.

    Zoom's message lists them admin-first, e.g. `[user:read:user:admin, user:read:user]`.
    """
    granular = not grant.scopes or any(scope_is_granular(s) for s in grant.scopes)
    names = [s for s in ACTION_SCOPES[action] if scope_is_granular(s) == granular]
    return sorted(names, key=lambda s: (not s.endswith(":admin"), s))


def may_act_on(grant: Grant, user: User) -> bool:
    """User tokens act on their own user only; S2S tokens on any user of their account."""
    if grant.kind == "user":
        return grant.user_id == user.id
    return grant.account_id == user.account_id


def routes() -> list[web.RouteDef]:
    return [
        web.get("/oauth/authorize", authorize_page),
        web.post("/oauth/authorize", authorize_submit),
        web.post("/oauth/token", token),
        web.post("/oauth/revoke", revoke),
    ]
