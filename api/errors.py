"""The one error shape of the HTTP API: {"error": {"code", "message"}}.

Every failure a client can see goes through here, so the format never drifts and no stack trace
or secret leaks into a response.
"""

from __future__ import annotations

import logging

from aiohttp import web
from typing import TypeVar

from pydantic import BaseModel, ValidationError

log = logging.getLogger("api")
M = TypeVar("M", bound=BaseModel)


class ApiError(web.HTTPException):
    """Raise from a handler; `message` says what happened and what to do."""

    def __init__(self, status: int, code: str, message: str, headers: dict | None = None) -> None:
        self.status_code = status
        super().__init__(
            headers=headers,
            text=_body(code, message),
            content_type="application/json",
        )
        self.code = code
        self.message = message


def _body(code: str, message: str) -> str:
    import json

    return json.dumps({"error": {"code": code, "message": message}})


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"{what} was not found, or your API key cannot see it.")


def describe_validation_error(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "__root__") or "body"
        msg = err.get("msg", "is invalid")
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        parts.append(f"{loc}: {msg}")
    return "; ".join(parts)


async def parse_body(request: web.Request, model: type[M]) -> M:
    """Parse a JSON body into `model`, or answer 400/415 naming the field that was wrong."""
    from api.input_guard import load_json  # the one validation layer (api/input_guard.py)

    if request.content_type != "application/json":
        raise ApiError(415, "unsupported_media_type", "Send the body as JSON with Content-Type: application/json.")
    data = load_json(await request.read())
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ApiError(400, "invalid_request", describe_validation_error(exc)) from None


@web.middleware
async def error_middleware(request: web.Request, handler):
    try:
        return await handler(request)
    except ApiError:
        raise
    except web.HTTPRequestEntityTooLarge:
        raise ApiError(413, "body_too_large", "The request body is larger than this endpoint accepts.") from None
    except web.HTTPException as exc:
        if exc.status >= 400 and exc.content_type != "application/json":
            code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status, "http_error")
            msg = {
                404: f"No route for {request.method} {request.path}; see /openapi.json.",
                405: f"{request.method} is not allowed on {request.path}; see /openapi.json.",
            }.get(exc.status, exc.reason)
            raise ApiError(exc.status, code, msg) from None
        raise
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        raise ApiError(500, "internal_error", "Something failed on our side; it was logged. Try again.") from None


SHAPED_APP = web.AppKey("shaped_protocol_errors", bool)


def shape_protocol_errors() -> None:
    """Give aiohttp's own 4xx answers (a request it could not parse: a control character in a
    header, a malformed request line) the error shape too. They never reach a middleware: the
    protocol answers them itself, so its `handle_error` is wrapped, for this app's servers only
    (another aiohttp app in the same process, such as the emulator in tests, keeps its own)."""
    from aiohttp import web_protocol

    original = web_protocol.RequestHandler.handle_error
    if getattr(original, "_converge_shaped", False):
        return

    def handle_error(self, request, status: int = 500, exc=None, message=None):
        owner = getattr(getattr(self._manager, "request_handler", None), "__self__", None)
        if 400 <= status < 500 and isinstance(owner, web.Application) and owner.get(SHAPED_APP):
            self.log_exception("Error handling request from %s", request.remote, exc_info=exc)
            resp = web.Response(status=status, text=_body("bad_request", (
                "The request could not be read as HTTP (for example a control character or "
                "undecodable bytes in a header); nothing was done.")),
                content_type="application/json", headers={"Connection": "close"})
            resp.force_close()
            return resp
        return original(self, request, status, exc, message)

    handle_error._converge_shaped = True
    web_protocol.RequestHandler.handle_error = handle_error
