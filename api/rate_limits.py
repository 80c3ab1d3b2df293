"""Per-org and per-IP rate limits, counted in Redis so every API replica shares them.

Fixed one-minute windows (INCR + EXPIRE): simple, and a burst at a window edge is at most twice
the limit, which is fine for stopping abuse. Over the limit: 429 with Retry-After and the error
shape, before the handler runs, so a refused request changes nothing.
- Sign-in attempts (`POST /signin`): per client IP.
- Mutating requests (POST, PUT, PATCH, DELETE) under `/v1/orgs/{org}/…`: per API key (an org has
  one key; counting by the org id in the path would let anyone with a bad key lock an org out),
  and per client IP. Zoom's webhooks are not limited (Zoom retries, and they are signed).
The pages call the API over loopback as the signed-in org; those calls carry a marker only this
process can make (`pages_marker`), so they count per org but not against the loopback address.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from aiohttp import web

from api.context import SERVICES
from api.errors import ApiError

WINDOW_SECONDS = 60
PAGES_HEADER = "X-Converge-Pages"
_MUTATING = {"POST", "PUT", "PATCH", "DELETE"}


def pages_marker(settings) -> str:
    """What the pages' loopback calls send in PAGES_HEADER (HMAC under the cookie key)."""
    from api.pages.session import cookie_key

    return hmac.new(cookie_key(settings), b"pages-backend", hashlib.sha256).hexdigest()


async def _take(redis, scope: str, who: str, limit: int) -> int | None:
    """Count one request; the seconds until the window ends when over `limit`, else None."""
    now = time.time()
    window = int(now // WINDOW_SECONDS)
    key = f"ratelimit:{scope}:{hashlib.sha256(who.encode()).hexdigest()[:32]}:{window}"
    async with redis.pipeline(transaction=True) as pipe:
        pipe.incr(key)
        pipe.expire(key, WINDOW_SECONDS + 5)
        count, _ = await pipe.execute()
    if count > limit:
        return max(1, int((window + 1) * WINDOW_SECONDS - now) + 1)
    return None


def _refuse(retry_after: int, what: str) -> ApiError:
    return ApiError(429, "rate_limited", f"Too many {what}; try again in {retry_after} seconds.",
                    headers={"Retry-After": str(retry_after)})


@web.middleware
async def rate_limits(request: web.Request, handler):
    services = request.app[SERVICES]
    st, redis = services.settings, services.redis
    ip = request.remote or "unknown"
    if request.method == "POST" and request.path == "/signin":
        wait = await _take(redis, "signin-ip", ip, st.rate_limit_signin_per_ip)
        if wait:
            raise _refuse(wait, "sign-in attempts from this address")
    elif request.method in _MUTATING and request.path.startswith("/v1/orgs/"):
        from_pages = hmac.compare_digest(request.headers.get(PAGES_HEADER, ""), pages_marker(st))
        token = request.headers.get("Authorization", "").partition(" ")[2].strip()
        wait = await _take(redis, "org", token or "no-key", st.rate_limit_org_per_minute)
        if wait:
            raise _refuse(wait, "changes for this organization")
        if not from_pages:
            wait = await _take(redis, "ip", ip, st.rate_limit_ip_per_minute)
            if wait:
                raise _refuse(wait, "changes from this address")
    return await handler(request)
