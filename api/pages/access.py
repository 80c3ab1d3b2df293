"""Who is signed in, and whether a form really came from our page.

Handlers call `await signed_in(request)` first and `await posted_form(request, session)` for
every POST; both stop the request with the right answer (sign-in redirect, 401 for scripts,
403 for a missing CSRF token) by raising `Stop`, which `@guarded` turns into that response.
"""

from __future__ import annotations

import functools
import logging
from urllib.parse import quote, urlsplit

import httpx
from aiohttp import web

from api.context import SERVICES
from api.pages import session as sessions
from api.pages.backend import ApiFailed, Backend, SignedOut
from api.pages.render import html, see_other
from api.pages.session import CSRF_FIELD, PageSession

log = logging.getLogger("api.pages")


class Stop(Exception):
    """End the request with `response` (raised from helpers, answered by @guarded)."""

    def __init__(self, response: web.StreamResponse) -> None:
        self.response = response


def _signin_redirect(request: web.Request) -> web.Response:
    # Back to the same page after signing in; a form's POST target cannot be returned to.
    back = request.path_qs if request.method == "GET" else "/sessions"
    response = see_other(f"/signin?next={quote(back, safe='')}")
    sessions.clear_session_cookie(response, request.app[SERVICES].settings)
    return response


def guarded(handler):
    @functools.wraps(handler)
    async def run(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except Stop as stop:
            return stop.response
        except SignedOut:
            # The org's key stopped working: this session can do nothing more.
            current = await sessions.load(request)
            if current is not None:
                await sessions.destroy(request.app[SERVICES], current.sid)
            return _signin_redirect(request)
        except ApiFailed as failed:
            # A refusal the page did not expect: show the API's own words, not a stack trace.
            return html("error.html", status=failed.status, title="That did not work",
                        message=failed.message)
        except httpx.HTTPError as exc:
            log.warning("page %s: the API did not answer: %s", request.path, exc)
            return html("error.html", status=502, title="Converge did not answer",
                        message="The service did not answer in time. Reload the page in a moment.")
    return run


async def signed_in(request: web.Request, *, for_script: bool = False) -> PageSession:
    """The session, or Stop: a redirect to sign in (pages) or a 401 (fetches from our script)."""
    current = await sessions.load(request)
    if current is not None:
        return current
    if for_script:
        raise Stop(web.json_response(
            {"error": {"code": "signed_out", "message": "Your session has ended; sign in again."}},
            status=401, headers={"Cache-Control": "no-store"}))
    raise Stop(_signin_redirect(request))


def forbidden(message: str, session: PageSession | None = None) -> web.Response:
    return html("error.html", status=403, session=session, title="That form could not be used",
                message=message)


async def posted_form(request: web.Request, current: PageSession):
    """The POSTed form, if it carries this session's CSRF token; Stop(403) otherwise."""
    form = await request.post()
    if not sessions.csrf_ok(current.csrf, form.get(CSRF_FIELD)):
        raise Stop(forbidden(
            "This form was not sent from a current Converge page (its security token is missing "
            "or out of date), so nothing was changed. Reload the page and try again.", current))
    return form


def safe_next(target: str | None) -> str:
    """Only a path on this site: an open redirect after sign-in would be a phishing tool."""
    if not target:
        return "/sessions"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") \
            or "\\" in target:
        return "/sessions"
    return target


async def app_page(request: web.Request, current: PageSession, template: str, *, nav: str,
                   status: int = 200, **context) -> web.Response:
    """A signed-in page: the org in the header, the sign-out form, any one-shot notice."""
    notice = await sessions.take_flash(request.app[SERVICES], current)
    context.setdefault("tz", await org_time_zone(request, current))
    return html(template, status=status, session=current, nav=nav, flash=notice, **context)


async def org_time_zone(request: web.Request, current: PageSession) -> str:
    """The zone the org's pages show times in (its setting; UTC by default)."""


    return (await Backend(request, current).get("")).get("time_zone") or "UTC"
