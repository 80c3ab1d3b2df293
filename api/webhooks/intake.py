"""Zoom webhook intake: the signature first, then the inbox, then the booking's workflow.

The order of checks is the order of trust:
1. Size (the app's body limit, 413) and signature: `x-zm-signature` over the raw body bytes with a
   constant-time compare, against the current and the previous secret so a secret rotation loses
   nothing. No valid signature: 401 and nothing is stored or changed.
2. Timestamp window: `x-zm-request-timestamp` may be up to 90 minutes old and 5 minutes ahead.
   Zoom retries an unanswered event after 5, 20 and 60 minutes (about 85 minutes in all,
   docs/zoom.md#webhook-retries-and-duplicates) and whether a retry is re-signed with a new timestamp is not known, so the window must
   cover the whole retry horizon or a retry of a slow first delivery would be refused. A replay
   inside the window is harmless: the inbox stores each event once (dedupe key) and a workflow
   ignores an event id it has.
3. The body: a declared non-JSON content type is 415, a body that is not a JSON object 400, an
   event type Zoom does not have 422, a known type in the wrong shape 400; none of them stored.
   The URL-validation challenge is answered with the secret that verified it.
4. The inbox (api/webhooks/inbox.py): the event is committed (with its booking, looked up in the same
   statement) and Zoom gets its 2xx at once; the `zoom_event` signal (ids only) goes to the
   booking's workflow after the answer, from the app's SignalDelivery queue (`signal_delivery`), so
   Temporal's state and the signal's round trip never hold up Zoom's 3 s budget. What could not be
   delivered (Temporal away, queue full, process gone) stays `pending` for the sweeper, which runs
   in the API process (sweeper.py, started by `python -m api` through `inbox_sweeper`).
   app_deauthorized is still processed inside the request: its answer says what it revoked.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from aiohttp import web

from api.context import SERVICES
from api.errors import ApiError
from metrics import WEBHOOKS
from api.input_guard import load_json
from api.openapi import documented
from api.webhooks.delivery import SignalDelivery
from api.webhooks.inbox import PENDING, process_deauthorization, store
from api.webhooks.sweeper import InboxSweeper
from zoom.webhooks import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    HANDLED_EVENTS,
    IGNORED_EVENTS,
    KNOWN_EVENTS,
    AppDeauthorized,
    UrlValidation,
    WebhookPayloadError,
    parse_event,
    url_validation_response,
    verify_signature,
)

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services import Services

routes = web.RouteTableDef()
DELIVERY = web.AppKey("signal_delivery", SignalDelivery)

# Zoom retries for about 85 minutes, possibly with the original timestamp (docs/zoom.md#webhook-retries-and-duplicates).
MAX_AGE_SECONDS = 90 * 60



def _verifying_secret(secrets: list[str], request: web.Request, raw: bytes) -> str | None:
    """The configured secret that signed this request, or None."""
    timestamp, signature = request.headers.get(TIMESTAMP_HEADER), request.headers.get(SIGNATURE_HEADER)
    now = time.time()
    for secret in secrets:
        if verify_signature([secret], timestamp, signature, raw, now=now, max_age_seconds=MAX_AGE_SECONDS):
            return secret
    return None


def _json_object(request: web.Request, raw: bytes) -> dict[str, Any]:
    # Zoom sends application/json; a missing header is tolerated, a declared other type is not.
    if "Content-Type" in request.headers and request.content_type != "application/json":
        raise ApiError(415, "unsupported_media_type",
                       "Zoom webhooks are JSON; send them with Content-Type: application/json.")
    body = load_json(raw, "The webhook body", code="invalid_payload")  # the one validation layer, as for every route
    if not isinstance(body, dict) or not isinstance(body.get("event"), str):
        raise ApiError(400, "invalid_payload", "webhook body has no 'event' string")
    event_type = body["event"]
    if event_type not in KNOWN_EVENTS:
        raise ApiError(422, "unknown_event_type",
                       f"'{event_type[:100]}' is not a Zoom event this endpoint knows. It acts on "
                       f"{', '.join(HANDLED_EVENTS)}; remove other events from the app's subscriptions.")
    return body


@routes.post("/v1/zoom/webhooks")
@documented("Zoom events, authenticated by the x-zm-signature header only: stored in the inbox "
            "(once per event), then routed to the booking of the meeting",
            auth="zoom_signature", errors=(400, 401, 413, 415, 422),
            body_schema={"type": "object", "required": ["event"], "description": "Zoom's event "
                         "notification: event, event_ts, payload (docs/zoom.md)",
                         "properties": {"event": {"type": "string"}, "event_ts": {"type": "integer"},
                                        "payload": {"type": "object"}}})
async def post_zoom_webhook(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    raw = await request.read()
    secret = _verifying_secret(services.settings.webhook_secrets, request, raw)
    if secret is None:
        WEBHOOKS.labels("unknown", "invalid_signature").inc()
        raise ApiError(401, "invalid_signature",
                       "The x-zm-signature header is missing, stale or does not match the body; "
                       "check the app's webhook secret token.")
    body = _json_object(request, raw)
    try:
        event = parse_event(body)
    except WebhookPayloadError as exc:
        WEBHOOKS.labels("unknown", "invalid_payload").inc()
        raise ApiError(400, "invalid_payload", str(exc)) from None
    if isinstance(event, UrlValidation):
        WEBHOOKS.labels(event.event, "url_validation").inc()
        return web.json_response(url_validation_response(secret, event.payload.plain_token))
    answer = await _take(request, services, event, body)
    # The answer's "status" is the outcome; the label set stays small (KNOWN_EVENTS only).
    WEBHOOKS.labels(event.event if event.event in KNOWN_EVENTS else "other", answer["status"]).inc()
    return web.json_response(answer)


async def _take(request: web.Request, services: Services, event, body: dict) -> dict[str, Any]:
    stored = await store(services, event, body)
    if isinstance(event, AppDeauthorized):
        revoked = await process_deauthorization(services, stored.id, event)
        return {"status": "processed", "connections_revoked": revoked}
    if event.event in IGNORED_EVENTS:
        return {"status": "ignored"}
    if not stored.new:
        return {"status": "duplicate", "event_id": stored.id, "route_status": stored.route_status}
    route_status = stored.route_status
    if route_status == PENDING and stored.signal is not None:
        # A full queue leaves the row to the sweeper: stored is what Zoom needs to know.
        request.app[DELIVERY].offer(stored.id, stored.booking_id, stored.signal)
    return {"status": "stored", "event_id": stored.id, "route_status": route_status}


async def signal_delivery(app: web.Application):
    """aiohttp cleanup context: the tasks that signal stored events after their answer."""
    delivery = app[DELIVERY] = SignalDelivery(app[SERVICES])
    task = asyncio.create_task(delivery.run(), name="webhook-signal-delivery")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def inbox_sweeper(app: web.Application):
    """aiohttp cleanup context: the inbox sweeper runs beside the API for the app's lifetime."""
    task = asyncio.create_task(InboxSweeper(app[SERVICES]).run(), name="inbox-sweeper")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
