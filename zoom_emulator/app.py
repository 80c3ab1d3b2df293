"""The emulator's aiohttp application: wiring, request log and counters.

One port serves everything, as `http://host:port`:
  /oauth/...       zoom.us OAuth (oauth.py)           OAuth base URL = http://host:port
  /v2/...          api.zoom.us REST (rest.py)         API base URL   = http://host:port/v2
  /rec/...         recording downloads (files.py)
  /s/, /j/         start/join links (tiny pages)
  /_emulator/...   control API, not Zoom (control.py)
"""

from __future__ import annotations

import time
from collections import Counter, deque
from dataclasses import fields
from html import escape
from typing import Any

from aiohttp import web

from . import control, files, oauth, rest
from .faults import FaultBook, fault_middleware
from .httputil import EMULATOR_KEY, ZoomError, emulator, notes, request_params
from .state import DEFAULT_WEBHOOK_SECRET, DEFAULT_WEBHOOK_URL, Config, WebhookConfig, World
from .webhooks import WebhookDispatcher

_OPTION_NAMES = {"webhook_url", "webhook_secret", "redirect_uris", "public_base_url"}
_CONFIG_NAMES = {f.name for f in fields(Config)}


class Stats:
    """What the emulator was asked, so tests can assert "exactly one refresh" or "one create".

    Counts every request that reached a Zoom route, including ones a fault answered or dropped.
    The log keeps paths and grant types, never tokens or query strings.
    """

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self.log: deque[dict[str, Any]] = deque(maxlen=5000)
        self.routes: Counter[str] = Counter()
        self.token_requests: Counter[str] = Counter()
        self.counters: Counter[str] = Counter()

    def bump(self, name: str) -> None:
        self.counters[name] += 1

    def record(self, request: web.Request, status: int | None, grant_type: str | None) -> None:
        resource = request.match_info.route.resource
        route = f"{request.method} {resource.canonical if resource else request.path}"
        self.routes[route] += 1
        if grant_type is not None:
            self.token_requests[grant_type] += 1
        scratch = notes(request)
        entry = {"at": time.time(), "method": request.method, "path": request.path,
                 "route": route, "status": status, "outcome": scratch.get("outcome", "answered")}
        if grant_type is not None:
            entry["grant_type"] = grant_type
        if "fault" in scratch:
            entry["fault"] = scratch["fault"]
        self.log.append(entry)

    def as_dict(self) -> dict[str, Any]:
        return {
            "token_requests": dict(self.token_requests),
            "meeting_create_requests": self.routes["POST /v2/users/{user_id}/meetings"],
            "meetings_created": self.counters["meetings_created"],
            "meetings_updated": self.counters["meetings_updated"],
            "meetings_deleted": self.counters["meetings_deleted"],
            "download_requests": self.routes["GET /rec/download/{key}"],
            "routes": dict(self.routes),
        }


class Emulator:
    """Holds the world and the machinery around it; `reset()` brings back the start-up state."""

    def __init__(self, **options: Any):
        unknown = set(options) - _OPTION_NAMES - _CONFIG_NAMES
        if unknown:
            raise TypeError(f"unknown emulator options {sorted(unknown)}")
        self.options = options
        self.faults = FaultBook()
        self.stats = Stats()
        self.webhooks = WebhookDispatcher(self)
        self.world: World
        self.reset()

    def reset(self) -> None:
        config = Config()
        config.update({k: v for k, v in self.options.items() if k in _CONFIG_NAMES})
        hook = WebhookConfig(url=self.options.get("webhook_url", DEFAULT_WEBHOOK_URL),
                             secret=self.options.get("webhook_secret", DEFAULT_WEBHOOK_SECRET))
        self.webhooks.reset()
        self.faults.clear()
        self.stats.clear()
        self.world = World(config, hook)
        self.world.seed(list(self.options.get("redirect_uris", ())))


@web.middleware
async def stats_middleware(request: web.Request, handler):
    if request.path.startswith("/_emulator"):
        return await handler(request)
    grant_type = None
    if request.path == "/oauth/token":
        grant_type = (await request_params(request)).get("grant_type", "")
    status = None
    try:
        response = await handler(request)
        status = notes(request).get("committed_status", response.status)
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        emulator(request).stats.record(request, status, grant_type)


@web.middleware
async def zoom_errors(request: web.Request, handler):
    try:
        return await handler(request)
    except ZoomError as exc:
        return exc.response()


async def start_page(request: web.Request) -> web.Response:
    mid = escape(request.match_info["meeting_id"])
    return web.Response(content_type="text/html", text=(
        f"<!doctype html><title>Start meeting {mid}</title><h1>Zoom emulator: meeting {mid}</h1>"
        f"<p>There is no video here. Start it with <code>POST /_emulator/meetings/{mid}/start"
        "</code>.</p>"))


async def join_page(request: web.Request) -> web.Response:
    mid = escape(request.match_info["meeting_id"])
    return web.Response(content_type="text/html", text=(
        f"<!doctype html><title>Join meeting {mid}</title><h1>Zoom emulator: meeting {mid}</h1>"
        "<p>Participants would join here. This is not Zoom.</p>"))


async def _close_webhooks(app: web.Application) -> None:
    await app[EMULATOR_KEY].webhooks.close()


def create_app(**options: Any) -> web.Application:
    """Build the emulator app.

    Options: `webhook_url` (None: send no webhooks), `webhook_secret`, `redirect_uris` (added to
    the default client), `public_base_url` (else taken from each request), and any `Config`
    field (state.py), e.g. `token_ttl=5`, `time_factor=0.001`, `daily_limit_style="300"`.
    """
    app = web.Application(middlewares=[stats_middleware, fault_middleware, zoom_errors,
                                       control.control_errors])
    app[EMULATOR_KEY] = Emulator(**options)
    app.add_routes(oauth.routes())
    app.add_routes(rest.routes())
    app.add_routes(files.routes())
    app.add_routes(control.routes())
    app.add_routes([web.get("/s/{meeting_id}", start_page), web.get("/j/{meeting_id}", join_page)])
    app.on_cleanup.append(_close_webhooks)
    return app
