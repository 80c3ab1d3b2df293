"""One structured log line and one latency sample per request, and a request id to follow it by.

The id comes from the caller's `X-Request-Id` when it is a short plain token, else a new one; it
is echoed in the response header and carried into the booking workflow's start (as a memo, so ops
find the request in the Temporal UI). Logged fields are ids, never a key, token or body.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import secrets
import time

from aiohttp import web

from metrics import HTTP_REQUEST_SECONDS

log = logging.getLogger("api.access")
REQUEST_ID_HEADER = "X-Request-Id"
_PLAIN_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")
current_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

def _route(request: web.Request) -> str:
    info = request.match_info.route.resource if request.match_info.route else None
    return info.canonical if info is not None else "unmatched"


@web.middleware
async def access_log(request: web.Request, handler):
    given = request.headers.get(REQUEST_ID_HEADER, "")
    request_id = given if _PLAIN_ID.fullmatch(given) else secrets.token_hex(8)
    token = current_request_id.set(request_id)
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        response.headers[REQUEST_ID_HEADER] = request_id
        return response
    except web.HTTPException as exc:  # redirects and the like raised by handlers
        status = exc.status
        exc.headers[REQUEST_ID_HEADER] = request_id
        raise
    finally:
        elapsed = time.perf_counter() - started
        route = _route(request)
        HTTP_REQUEST_SECONDS.labels(route, request.method, str(status)).observe(elapsed)
        if log.isEnabledFor(logging.INFO):  # the line is built only when it will be written
            log.info(json.dumps({
                "method": request.method, "route": route, "status": status,
                "ms": round(elapsed * 1000, 1), "org_id": request.match_info.get("org"),
                "request_id": request_id,
            }))
        current_request_id.reset(token)
