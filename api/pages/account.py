"""Signing in with the org's API key, signing out, the front door and the pages' static files."""

from __future__ import annotations

import hmac

from aiohttp import web
from sqlmodel import select

from api.context import SERVICES
from api.auth import hash_api_key
from api.errors import not_found
from api.openapi import documented
from api.pages import session as sessions
from api.pages.access import guarded, posted_form, safe_next, signed_in
from api.pages.render import HERE, PAGE_HEADERS, html, see_other
from api.pages.session import CSRF_FIELD, SIGNIN_COOKIE
from models import Organization

routes = web.RouteTableDef()

STATIC = {"pages.css": "text/css", "pages.js": "text/javascript", "favicon.svg": "image/svg+xml"}


@routes.get("/")
@documented("The web app's front door: Sessions when signed in, else the sign-in page",
            auth="none", status=303, content_type="text/html")
async def get_home(request: web.Request) -> web.Response:
    current = await sessions.load(request)
    return see_other("/sessions" if current else "/signin")


def _signin_page(request: web.Request, next_: str | None, *, error: str | None = None,
                 status: int = 200, notice: str | None = None) -> web.Response:
    settings = request.app[SERVICES].settings
    token = sessions.new_signin_token()
    response = html("signin.html", status=status, title="Sign in", error=error, notice=notice,
                    csrf=token, next=safe_next(next_))
    sessions.set_signin_cookie(response, settings, token)
    return response


@routes.get("/signin")
@documented("Sign-in page: the organization's API key", auth="none", content_type="text/html")
async def get_signin(request: web.Request) -> web.Response:
    if await sessions.load(request) is not None:
        return see_other(safe_next(request.query.get("next")))
    notice = "You are signed out." if "signed_out" in request.query else None
    return _signin_page(request, request.query.get("next"), notice=notice)


@routes.post("/signin")
@documented("Sign in with the organization's API key; sets an HttpOnly, SameSite=Lax session "
            "cookie for 8 hours", auth="none", status=303, content_type="text/html",
            errors=(400, 401, 403))
async def post_signin(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    form = await request.post()
    next_ = str(form.get("next") or "")
    expected = request.cookies.get(SIGNIN_COOKIE)
    sent = form.get(CSRF_FIELD)
    if not (expected and isinstance(sent, str) and hmac.compare_digest(expected, sent)):
        return _signin_page(request, next_, status=403, error=(
            "The sign-in form had expired or did not come from this page. Enter your key again."))
    key = str(form.get("api_key") or "").strip()
    if not key:
        return _signin_page(request, next_, status=400, error="Enter your organization's API key.")
    org = None
    if len(key) <= 200:
        async with services.db.session() as s:
            org = (await s.exec(
                select(Organization).where(Organization.api_key_hash == hash_api_key(key))
            )).first()
    if org is None:
        return _signin_page(request, next_, status=401, error=(
            "That API key is not valid. Paste the whole key your Converge admin gave you "
            "(it starts with cvg_); if it was replaced, ask for the new one."))
    old = await sessions.load(request)
    if old is not None:
        await sessions.destroy(services, old.sid)
    _, cookie = await sessions.create(services, org.id, org.name, key)
    response = see_other(safe_next(next_))
    sessions.set_session_cookie(response, services.settings, cookie)
    sessions.clear_signin_cookie(response, services.settings)
    return response


@routes.post("/signout")
@documented("Sign out: ends the session on the server and clears the cookie", auth="session",
            status=303, content_type="text/html", errors=(403,))
@guarded
async def post_signout(request: web.Request) -> web.Response:
    current = await signed_in(request)
    await posted_form(request, current)
    await sessions.destroy(request.app[SERVICES], current.sid)
    response = see_other("/signin?signed_out=1")
    sessions.clear_session_cookie(response, request.app[SERVICES].settings)
    return response


@routes.get("/static/{name}")
@documented("The pages' static files (" + ", ".join(STATIC) + "); any other name is 404",
            auth="none", content_type="text/css", errors=(404,),
            also={kind: name for name, kind in STATIC.items() if kind != "text/css"})
async def get_static(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if name not in STATIC:
        raise not_found("Static file")
    return web.FileResponse(HERE / "static" / name, headers={
        "Content-Type": STATIC[name], "Cache-Control": "no-cache",
        "X-Content-Type-Options": PAGE_HEADERS["X-Content-Type-Options"]})
