"""Zoom webhook intake: the signature first, then one handler per event type.

Only a valid signature over the raw body gets past the first line, checked against the current and
the previous secret so a secret rotation loses nothing. The URL-validation challenge is answered
with the secret that verified it. Each event type has one entry in HANDLERS; types without one are
acknowledged and ignored (Zoom retries anything that is not a 2xx).
"""

from __future__ import annotations

import time
from typing import Any, Awaitable, Callable

from aiohttp import web

from api.errors import ApiError
from api.openapi import documented
from zoom.webhooks import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    AppDeauthorized,
    UrlValidation,
    WebhookPayloadError,
    parse_event,
    url_validation_response,
    verify_signature,
)
from zoom_disconnect import handle_app_deauthorized

routes = web.RouteTableDef()

# Zoom retries for about 85 minutes, possibly with the original timestamp (zoom-facts §6).
MAX_AGE_SECONDS = 90 * 60


async def _app_deauthorized(services, event: AppDeauthorized) -> dict[str, Any]:
    revoked = await handle_app_deauthorized(services, event.payload)
    return {"status": "processed", "connections_revoked": revoked}


HANDLERS: dict[type, Callable[[Any, Any], Awaitable[dict[str, Any]]]] = {
    AppDeauthorized: _app_deauthorized,
}


def _verifying_secret(secrets: list[str], request: web.Request, raw: bytes) -> str | None:
    """The configured secret that signed this request, or None."""
    timestamp, signature = request.headers.get(TIMESTAMP_HEADER), request.headers.get(SIGNATURE_HEADER)
    now = time.time()
    for secret in secrets:
        if verify_signature([secret], timestamp, signature, raw, now=now, max_age_seconds=MAX_AGE_SECONDS):
            return secret
    return None


@routes.post("/v1/zoom/webhooks")
@documented("Zoom events, authenticated by the x-zm-signature header only",
            auth="zoom_signature", errors=(400, 401))
async def post_zoom_webhook(request: web.Request) -> web.Response:
    services = request.app["ctx"]
    raw = await request.read()
    secret = _verifying_secret(services.settings.webhook_secrets, request, raw)
    if secret is None:
        raise ApiError(401, "invalid_signature",
                       "The x-zm-signature header is missing, stale or does not match the body; "
                       "check the app's webhook secret token.")
    try:
        event = parse_event(raw)
    except WebhookPayloadError as exc:
        raise ApiError(400, "invalid_payload", str(exc)) from None
    if isinstance(event, UrlValidation):
        return web.json_response(url_validation_response(secret, event.payload.plain_token))
    handler = HANDLERS.get(type(event))
    if handler is None:
        return web.json_response({"status": "ignored"})
    return web.json_response(await handler(services, event))
