"""Browser sessions for the pages: a signed, expiring, HttpOnly cookie naming a session in Redis.

An org's only credential is its API key, so that is what a person signs in with. The pages act
through the JSON API as the org (backend.py), so the session keeps the key, encrypted with the
token cipher, in Redis for the session's 8 hours; the browser never gets it back. The cookie holds
only a random session id, its expiry and an HMAC over both, keyed by a secret derived (HKDF) from
the first TOKEN_ENCRYPTION_KEYS key under a label of its own: no new setting, and the cookie key
is never the token key. Signing out deletes the Redis session, so a copied cookie dies with it.

Forms that change something carry the session's CSRF token in a hidden field, checked on POST;
SameSite=Lax keeps the cookie off cross-site POSTs as a second line. The sign-in form has no
session yet, so it uses a double-submit token (a short-lived SameSite=Strict cookie plus the same
value in the form) against login CSRF: a foreign page cannot sign a browser into its own org.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from functools import lru_cache

from aiohttp import web

from api.context import SERVICES
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services import Services

COOKIE = "cvg_session"
SIGNIN_COOKIE = "cvg_signin"
SESSION_SECONDS = 8 * 3600
SIGNIN_FORM_SECONDS = 30 * 60
CSRF_FIELD = "csrf_token"
_REDIS_PREFIX = "pages:session:"
_KEY_LABEL = b"converge/pages/session-cookie/v1"


@dataclass(frozen=True)
class PageSession:
    sid: str
    org_id: str
    org_name: str
    csrf: str
    api_key: str
    expires: int


@lru_cache(maxsize=8)
def _derive(token_key: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_KEY_LABEL).derive(token_key)


def cookie_key(settings) -> bytes:
    """The HMAC key of session cookies: HKDF of the first (encrypting) token key, own label."""
    return _derive(next(iter(settings.encryption_keys.values())))


def _mac(key: bytes, message: str) -> str:
    digest = hmac.new(key, message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def sign(key: bytes, sid: str, expires: int) -> str:
    return f"{sid}.{expires}.{_mac(key, f'{sid}.{expires}')}"


def verify(key: bytes, value: str | None, now: float) -> str | None:
    """The session id of a cookie value whose signature is right and which has not expired."""
    if not value or len(value) > 200:
        return None
    sid, _, rest = value.partition(".")
    expires, _, mac = rest.partition(".")
    if not (sid and expires.isdigit() and mac):
        return None
    if not hmac.compare_digest(mac, _mac(key, f"{sid}.{expires}")):
        return None
    return sid if int(expires) > now else None


def _redis_key(sid: str) -> str:
    # Hashed, so a Redis key listing does not hand out usable cookies.
    return _REDIS_PREFIX + hashlib.sha256(sid.encode()).hexdigest()


def _binding(redis_key: str) -> dict[str, str]:
    return {"table": "redis", "row_id": redis_key, "field": "org_api_key"}


async def create(services: Services, org_id: str, org_name: str, api_key: str) -> tuple[PageSession, str]:
    """A new session for the org; returns it and the cookie value."""
    sid = secrets.token_urlsafe(32)
    expires = int(time.time()) + SESSION_SECONDS
    key = _redis_key(sid)
    record = {
        "org_id": org_id,
        "org_name": org_name,
        "csrf": secrets.token_urlsafe(32),
        "api_key": services.cipher.encrypt(api_key, **_binding(key)),
        "expires": expires,
    }
    await services.redis.set(key, json.dumps(record), ex=SESSION_SECONDS)
    session = PageSession(sid, org_id, org_name, record["csrf"], api_key, expires)
    return session, sign(cookie_key(services.settings), sid, expires)


async def load(request: web.Request) -> PageSession | None:
    """The request's session, or None (no cookie, bad signature, expired, signed out)."""
    services = request.app[SERVICES]
    sid = verify(cookie_key(services.settings), request.cookies.get(COOKIE), time.time())
    if sid is None:
        return None
    key = _redis_key(sid)
    raw = await services.redis.get(key)
    if raw is None:
        return None
    record = json.loads(raw)
    api_key = services.cipher.decrypt(record["api_key"], **_binding(key))
    return PageSession(sid, record["org_id"], record["org_name"], record["csrf"], api_key,
                       int(record["expires"]))


async def destroy(services: Services, sid: str) -> None:
    await services.redis.delete(_redis_key(sid), _flash_key(sid))  # a kept form expires in 2 min


def csrf_ok(expected: str | None, sent: str | None) -> bool:
    return bool(expected and sent) and hmac.compare_digest(expected.encode(), sent.encode())


def _secure(settings) -> bool:
    # A Secure cookie is never sent over plain http, which `make run` serves on 127.0.0.1.
    return settings.public_base_url.startswith("https://")


def set_session_cookie(response: web.StreamResponse, settings, value: str) -> None:
    response.set_cookie(COOKIE, value, max_age=SESSION_SECONDS, path="/", httponly=True,
                        samesite="Lax", secure=_secure(settings))


def clear_session_cookie(response: web.StreamResponse, settings) -> None:
    response.del_cookie(COOKIE, path="/", httponly=True, samesite="Lax", secure=_secure(settings))


def new_signin_token() -> str:
    return secrets.token_urlsafe(32)


def set_signin_cookie(response: web.StreamResponse, settings, token: str) -> None:
    response.set_cookie(SIGNIN_COOKIE, token, max_age=SIGNIN_FORM_SECONDS, path="/signin",
                        httponly=True, samesite="Strict", secure=_secure(settings))


def clear_signin_cookie(response: web.StreamResponse, settings) -> None:
    response.del_cookie(SIGNIN_COOKIE, path="/signin", httponly=True, samesite="Strict",
                        secure=_secure(settings))


# One-shot notices shown on the next page (after a POST → 303), kept beside the session.
_FLASH_SECONDS = 120


def _flash_key(sid: str) -> str:
    return _redis_key(sid) + ":flash"


async def flash(services: Services, current: PageSession, kind: str, text: str) -> None:
    """`kind` is "notice" or "error"."""
    await services.redis.set(_flash_key(current.sid), json.dumps({"kind": kind, "text": text}),
                             ex=_FLASH_SECONDS)


async def take_flash(services: Services, current: PageSession) -> dict | None:
    raw = await services.redis.getdel(_flash_key(current.sid))
    return json.loads(raw) if raw else None


# A refused form goes back to its page with a 303 (so a reload or a bookmark is a plain GET of the
# page, never a re-POST or the POST URL's JSON); what was typed and the error wait here for it.
def _form_key(sid: str, page: str) -> str:
    return _flash_key(sid) + ":form:" + hashlib.sha256(page.encode()).hexdigest()[:16]


async def keep_form(services: Services, current: PageSession, page: str, error: str,
                    values: dict[str, str]) -> None:
    await services.redis.set(_form_key(current.sid, page),
                             json.dumps({"error": error, "form": values}), ex=_FLASH_SECONDS)


async def take_form(services: Services, current: PageSession, page: str) -> dict | None:
    """{"error", "form"} of the refused form of `page`, once."""
    raw = await services.redis.getdel(_form_key(current.sid, page))
    return json.loads(raw) if raw else None
