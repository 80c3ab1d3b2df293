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
    if request.content_type != "application/json":
        raise ApiError(415, "unsupported_media_type", "Send the body as JSON with Content-Type: application/json.")
    try:
        data = await request.json()
    except ValueError:
        raise ApiError(400, "invalid_json", "The body is not valid JSON.") from None
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
