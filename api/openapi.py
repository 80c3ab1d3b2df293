"""/openapi.json, generated from the routes the app really has.

Each handler carries its own description (`@documented`), so the document cannot list a route
the code lacks or miss one it has; a test checks both directions.
"""

from __future__ import annotations

import re
from typing import Any, Callable

from aiohttp import web
from pydantic import BaseModel

AUTH_SCHEMES = {
    "org": [{"orgApiKey": []}],
    "admin": [{"adminApiKey": []}],
    "zoom_signature": [],
    "none": [],
    "session": [{"sessionCookie": []}],
}


def documented(
    summary: str,
    *,
    auth: str = "org",
    body: type[BaseModel] | None = None,
    response: type[BaseModel] | None = None,
    status: int = 200,
    errors: tuple[int, ...] = (),
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    also: dict[str, str] | None = None,
) -> Callable:
    assert auth in AUTH_SCHEMES

    def mark(handler: Callable) -> Callable:
        handler.__openapi__ = dict(
            summary=summary, auth=auth, body=body, response=response, status=status,
            errors=errors, content_type=content_type, headers=headers or {},
            query=query or {}, also=also or {},
        )
        return handler

    return mark


ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {
        "code": {"type": "string"}, "message": {"type": "string"}}}},
}


def build_spec(app: web.Application) -> dict[str, Any]:
    paths: dict[str, dict] = {}
    schemas: dict[str, Any] = {"Error": ERROR_SCHEMA}

    def ref(model: type[BaseModel]) -> dict:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, sub in schema.pop("$defs", {}).items():
            schemas[name] = sub
        schemas[model.__name__] = schema
        return {"$ref": f"#/components/schemas/{model.__name__}"}

    for route in app.router.routes():
        if route.method == "HEAD":
            continue
        doc = getattr(route.handler, "__openapi__", None)
        if doc is None:
            continue
        path = route.resource.canonical if route.resource else ""
        op: dict[str, Any] = {
            "summary": doc["summary"],
            "operationId": route.handler.__name__,
            "security": AUTH_SCHEMES[doc["auth"]],
            "parameters": [
                {"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
                for p in re.findall(r"{(\w+)}", path)
            ] + [
                {"name": h, "in": "header", "required": False, "schema": {"type": "string"}, "description": d}
                for h, d in doc["headers"].items()
            ] + [
                {"name": q, "in": "query", "required": False, "schema": {"type": "string"}, "description": d}
                for q, d in doc["query"].items()
            ],
            "responses": {},
        }
        if doc["body"] is not None:
            op["requestBody"] = {"required": True, "content": {"application/json": {"schema": ref(doc["body"])}}}
        ok: dict[str, Any] = {"description": "Success"}
        if doc["response"] is not None:
            ok["content"] = {doc["content_type"]: {"schema": ref(doc["response"])}}
        elif doc["content_type"] != "application/json":
            ok["content"] = {doc["content_type"]: {}}
        for other_type, description in doc["also"].items():  # other representations (CSV)
            ok.setdefault("content", {})[other_type] = {"schema": {"type": "string", "description": description}}
        op["responses"][str(doc["status"])] = ok
        for code in sorted(set(doc["errors"]) | ({401, 404} if doc["auth"] == "org" else set())):
            op["responses"][str(code)] = {
                "description": "Error",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            }
        paths.setdefault(path, {})[route.method.lower()] = op

    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Converge Zoom integration for IDI bookings",
            "version": "1.0.0",
            "description": "Per-organization Zoom hosting for in-depth interviews. Errors are "
            '{"error": {"code", "message"}}.',
        },
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "orgApiKey": {"type": "http", "scheme": "bearer", "description": "The org's API key"},
                "adminApiKey": {"type": "http", "scheme": "bearer", "description": "ADMIN_API_KEY"},
                "sessionCookie": {"type": "apiKey", "in": "cookie", "name": "cvg_session",
                                  "description": "The web pages' session (POST /signin)"},
            },
        },
    }
