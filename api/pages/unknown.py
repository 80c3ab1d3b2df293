"""Unknown addresses outside the API answer with the styled page, not the API's JSON error.

A person who mistypes a page address, follows an old link, or bookmarked a form's POST target
gets a page with the header and a way back. The JSON API (`/v1/…`), health, metrics, the OpenAPI
document and static files keep the error shape of api/errors.py, which scripts rely on.
"""

from __future__ import annotations

from aiohttp import web

from api.pages import session as sessions
from api.pages.render import html

API_PREFIXES = ("/v1/", "/static/")
API_PATHS = {"/v1", "/healthz", "/metrics", "/openapi.json"}


def is_page_path(path: str) -> bool:
    return path not in API_PATHS and not path.startswith(API_PREFIXES)


@web.middleware
async def unknown_page(request: web.Request, handler):
    try:
        return await handler(request)
    except (web.HTTPNotFound, web.HTTPMethodNotAllowed) as exc:
        # Only the router's own answers: a handler's ApiError 404 is neither of these classes.
        if not is_page_path(request.path) or request.method not in ("GET", "HEAD"):
            raise
        current = await sessions.load(request)
        if isinstance(exc, web.HTTPMethodNotAllowed):
            return html("error.html", status=405, session=current, title="Nothing to show here",
                        message="This address only receives a form from a Converge page. Go "
                                "back to the page the form was on.")
        return html("error.html", status=404, session=current, title="Page not found",
                    message="There is no Converge page at this address. It may have been typed "
                            "wrong, or the link is out of date.")
