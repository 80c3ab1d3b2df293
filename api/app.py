"""The aiohttp application: routes from each module, the error format, body size limits."""

from __future__ import annotations

from aiohttp import web

from api import admin_bookings, bookings, health, integrations, orgs, pages, recordings, sessions
from api.context import SERVICES
from api.errors import error_middleware
from api.webhooks import intake as webhooks
from services import Services

# Zoom's recording.completed bodies with many files stay well under this.
MAX_BODY_BYTES = 1024 * 1024
ROUTE_MODULES = (health, orgs, integrations, webhooks, sessions, bookings, pages, recordings, admin_bookings)


def create_app(services: Services) -> web.Application:
    app = web.Application(middlewares=[error_middleware], client_max_size=MAX_BODY_BYTES)
    app[SERVICES] = services
    for module in ROUTE_MODULES:
        app.add_routes(module.routes)
    app.cleanup_ctx.append(webhooks.signal_delivery)  # webhook signals are sent after the answer
    return app
