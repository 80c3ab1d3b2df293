"""/openapi.json, generated from the routes the app really has.

Each handler carries its own description (`@documented`), so the document cannot list a route
the code lacks or miss one it has; a test checks both directions, and a schemathesis run
(tests/api/test_openapi_truth.py) checks that the answers are the documented ones. What every
route may answer besides its own is added here once: 400 from the input guard (api/input_guard.py),
429 from the rate limits (api/rate_limits.py), the sign-in redirect of the pages, and HTML error
pages on the routes a browser opens.
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
    responses: dict[int, type[BaseModel]] | None = None,
    body_schema: dict[str, Any] | None = None,
) -> Callable:
    """`responses`: other statuses that answer with a model rather than the error shape (the
    503 of /healthz); `body_schema`: the JSON body's schema when no pydantic model parses it."""
    assert auth in AUTH_SCHEMES

    def mark(handler: Callable) -> Callable:
        handler.__openapi__ = dict(
            summary=summary, auth=auth, body=body, response=response, status=status,
            errors=errors, content_type=content_type, headers=headers or {},
            query=query or {}, also=also or {}, responses=responses or {}, body_schema=body_schema,
        )
        return handler

    return mark


ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {
        "code": {"type": "string"}, "message": {"type": "string"}}}},
}


REDIRECT = {"description": "See Other: the browser goes to the Location header; no body",
            "headers": {"Location": {"schema": {"type": "string"}}}}
SIGNIN_REDIRECT = {"description": "Not signed in (or the session ended): See Other to "
                                  "/signin?next=…; no body",
                   "headers": {"Location": {"schema": {"type": "string"}}}}
NO_BODY = {"required": False, "description": "None: the operation takes no body (one sent is ignored)",
           "content": {"application/json": {"schema": {"type": "object", "maxProperties": 0}}}}
# The pages' forms: every field is text; the CSRF token of the page that showed the form.
FORM_BODY = {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": {
    "type": "object", "properties": {"csrf_token": {"type": "string"}},
    "additionalProperties": {"type": "string"}}}}}
_ERROR_JSON = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
_HTML = {"schema": {"type": "string"}}


def _operation_ids(routes: list) -> dict[Any, str]:
    """The handler's name, unless two handlers share it: then the page's (not under /v1) gets
    `page_` in front, so API clients keep their names and every id is unique."""
    names: dict[str, list] = {}
    for route in routes:
        names.setdefault(route.handler.__name__, []).append(route)
    ids = {}
    for name, same in names.items():
        for route in same:
            page = len(same) > 1 and not route.resource.canonical.startswith("/v1/")
            ids[route] = f"page_{name}" if page else name
    assert len(set(ids.values())) == len(ids), "operationIds must be unique"
    return ids


def build_spec(app: web.Application) -> dict[str, Any]:
    paths: dict[str, dict] = {}
    schemas: dict[str, Any] = {"Error": ERROR_SCHEMA}

    def ref(model: type[BaseModel]) -> dict:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, sub in schema.pop("$defs", {}).items():
            schemas[name] = sub
        schemas[model.__name__] = schema
        return {"$ref": f"#/components/schemas/{model.__name__}"}

    routes = [r for r in app.router.routes()
              if r.method != "HEAD" and getattr(r.handler, "__openapi__", None) is not None]
    operation_ids = _operation_ids(routes)
    for route in routes:
        doc = route.handler.__openapi__
        path = route.resource.canonical if route.resource else ""
        # Routes a browser opens answer their errors as HTML pages (the OAuth callback's too);
        # their scripts' fetches and the input guard answer the JSON error shape.
        browser = doc["content_type"] == "text/html" or doc["auth"] == "session"
        op: dict[str, Any] = {
            "summary": doc["summary"],
            "operationId": operation_ids[route],
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
        elif doc["body_schema"] is not None:
            op["requestBody"] = {"required": True, "content": {"application/json": {"schema": doc["body_schema"]}}}
        elif route.method == "POST":
            op["requestBody"] = FORM_BODY if browser else NO_BODY
        ok: dict[str, Any] = {"description": "Success"}
        if 300 <= doc["status"] < 400:
            ok = dict(REDIRECT)
        elif doc["response"] is not None:
            ok["content"] = {doc["content_type"]: {"schema": ref(doc["response"])}}
        elif doc["content_type"] != "application/json":
            ok["content"] = {doc["content_type"]: {}}
        for other_type, description in doc["also"].items():  # other representations (CSV)
            ok.setdefault("content", {})[other_type] = {"schema": {"type": "string", "description": description}}
        op["responses"][str(doc["status"])] = ok
        if doc["auth"] == "session" and doc["status"] != 303:
            op["responses"]["303"] = SIGNIN_REDIRECT
        errors = set(doc["errors"]) | {400} | ({401, 404} if doc["auth"] == "org" else set())
        if (route.method, path) == ("POST", "/signin") or (
                route.method != "GET" and path.startswith("/v1/orgs/")):
            errors.add(429)  # api/rate_limits.py
        for code in sorted(errors - set(doc["responses"])):
            content = dict(_ERROR_JSON)
            if browser:
                content["text/html"] = _HTML
            op["responses"][str(code)] = {"description": "Error", "content": content}
        for code, model in doc["responses"].items():
            op["responses"][str(code)] = {"description": model.__doc__ or model.__name__,
                                          "content": {"application/json": {"schema": ref(model)}}}
        op["responses"] = dict(sorted(op["responses"].items()))
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
