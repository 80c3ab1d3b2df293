"""Small HTTP helpers shared by the route modules: Zoom's error shape, request parameters, base URL."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from .app import Emulator

EMULATOR_KEY: web.AppKey["Emulator"] = web.AppKey("emulator")
_NOTES = (web.RequestKey("zoom_emulator_notes", dict) if hasattr(web, "RequestKey")
          else "zoom_emulator_notes")


def notes(request: web.Request) -> dict[str, Any]:
    """Per-request scratch space shared by middlewares and handlers (fault id, outcome...)."""
    if _NOTES not in request:
        request[_NOTES] = {}
    return request[_NOTES]


def emulator(request: web.Request) -> "Emulator":
    return request.app[EMULATOR_KEY]


class ZoomError(Exception):
    """An API error in Zoom's shape: HTTP status plus `{"code", "message"}` (and extras)."""

    def __init__(self, status: int, code: int, message: str, *,
                 headers: dict[str, str] | None = None, **extra: Any):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}
        self.extra = extra

    def response(self) -> web.Response:
        return json_response({"code": self.code, "message": self.message, **self.extra},
                             status=self.status, headers=self.headers)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    # Zoom sends compact JSON; so do we.
    return web.Response(text=json.dumps(body, separators=(",", ":")), status=status,
                        headers=headers, content_type="application/json")


async def request_params(request: web.Request) -> dict[str, str]:
    """Query parameters overlaid with a form body's fields (the form wins). Cached per request."""
    scratch = notes(request)
    if "params" not in scratch:
        params = dict(request.query)
        if request.content_type == "application/x-www-form-urlencoded":
            params.update({k: v for k, v in (await request.post()).items() if isinstance(v, str)})
        scratch["params"] = params
    return scratch["params"]


async def form_params(request: web.Request) -> dict[str, str]:
    """Only the form body's fields."""
    if request.content_type != "application/x-www-form-urlencoded":
        return {}
    return {k: v for k, v in (await request.post()).items() if isinstance(v, str)}


def base_url(request: web.Request) -> str:
    """Where callers reach this emulator: the configured public URL, else the request's origin."""
    configured = emulator(request).options.get("public_base_url")
    return (configured or str(request.url.origin())).rstrip("/")


async def json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object, or Zoom's 300 error when it is not one."""
    if not request.can_read_body:
        return {}
    try:
        body = json.loads(await request.read() or b"{}")
    except ValueError:
        raise ZoomError(400, 300, "Request Body should be a valid JSON object.") from None
    if not isinstance(body, dict):
        raise ZoomError(400, 300, "Request Body should be a valid JSON object.")
    return body
