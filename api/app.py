"""The aiohttp application: routes from each module, the error format, body size limits."""

from __future__ import annotations

from aiohttp import web

from api import admin_bookings, bookings, health, integrations, orgs, pages, recordings, sessions
from api.access_log import access_log
from api.context import SERVICES
from api.errors import SHAPED_APP, error_middleware, shape_protocol_errors
from api.input_guard import input_guard
from api.pages.unknown import unknown_page
from api.rate_limits import rate_limits
from api.webhooks import intake as webhooks
from services import Services

# Zoom's recording.completed bodies with many files stay well under this.
MAX_BODY_BYTES = 1024 * 1024
ROUTE_MODULES = (health, orgs, integrations, webhooks, sessions, bookings, pages, recordings, admin_bookings)


def create_app(services: Services) -> web.Application:
    # access_log outermost, so it logs the status the client got; then error_middleware, so even
    # the guard's refusals get the error shape; unknown_page inside it answers the router's 404
    # on page addresses with the styled page before the JSON shape is applied.
    app = web.Application(middlewares=[access_log, error_middleware, unknown_page, input_guard,
                                       rate_limits],
                          client_max_size=MAX_BODY_BYTES)
    app[SHAPED_APP] = True
    shape_protocol_errors()
    app[SERVICES] = services
    for module in ROUTE_MODULES:
        app.add_routes(module.routes)
    app.cleanup_ctx.append(webhooks.signal_delivery)  # webhook signals are sent after the answer
    return app
