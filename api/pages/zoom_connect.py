"""Zoom's OAuth callback as a page: only the org that started a connect link can finish it.

`GET /v1/integrations/zoom/callback` (the redirect URL registered at Zoom, a contract) completes
only in a browser signed in to the org whose `state` it carries. Signed out, it asks that org to
sign in and comes back here (the state is not used up); signed in to another org, it burns the
state and says so, storing nothing. For the right org it exchanges the code, then shows which
Zoom user is about to be connected to which org and waits for Confirm
(`POST /settings/integrations/zoom/confirm`, CSRF-checked) before anything is stored.
docs/architecture.md#connect-link-binding explains why.
"""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web

from api.context import SERVICES
from api.openapi import documented
from api.pages import session as sessions
from api.pages.access import guarded, posted_form, signed_in
from api.pages.render import html, see_other
from connections.connect import ConnectFailed, cancel, confirm, exchange, state_org
from connections.tokens import ZoomNotConfigured
from models import Organization

routes = web.RouteTableDef()

# The callback URL carries the authorization code: keep it out of caches and Referer headers.
_NO_LEAK = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
_RETRY = ("To try again, go back to Account Settings > Integrations in Converge and click "
          "Connect Zoom.")


def _failed(status: int, title: str, message: str, session=None, retry: str = _RETRY) -> web.Response:
    return html("connect_result.html", status=status, headers=_NO_LEAK, session=session,
                title=title, message=message, retry=retry)


@routes.get("/v1/integrations/zoom/callback")
@documented("Zoom's OAuth redirect. Signed in to the org that started the link: the Zoom user is "
            "shown for confirmation (nothing stored yet); signed out: a sign-in step first; "
            "signed in to another org: an error page, the link is dead, nothing stored",
            auth="none", content_type="text/html", errors=(400, 403, 502, 503))
async def get_zoom_callback(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    q = request.query
    current = await sessions.load(request)
    try:
        if current is None:
            org_id = await state_org(services, q.get("state"))
            async with services.db.session() as s:
                org = await s.get(Organization, org_id)
            return html("connect_signin.html", status=401, headers=_NO_LEAK,
                        title="Sign in to finish connecting Zoom",
                        org_name=org.name if org else "an organization",
                        signin=f"/signin?next={quote(request.path_qs, safe='')}")
        pending = await exchange(services, state=q.get("state"), code=q.get("code"),
                                 error=q.get("error"), org_id=current.org_id)
    except ConnectFailed as failed:
        return _failed(failed.status, failed.title, failed.message, current)
    except ZoomNotConfigured:
        return _failed(503, "Zoom is not set up on this server",
                       "This Converge server has no Zoom app configured. Nothing was changed.",
                       current, "Ask your Converge administrator to configure Zoom, then try again.")
    return html("connect_confirm.html", headers=_NO_LEAK, session=current, nav="settings",
                title="Confirm the Zoom connection", pending=pending)


@routes.post("/settings/integrations/zoom/confirm")
@documented("Confirm (or cancel) connecting the Zoom user shown on the callback page; stores the "
            "connection only on confirm", auth="session", status=303, content_type="text/html",
            errors=(400, 403))
@guarded
async def post_confirm(request: web.Request) -> web.Response:
    current = await signed_in(request)
    form = await posted_form(request, current)
    services = request.app[SERVICES]
    pending_id = form.get("pending")
    pending_id = pending_id if isinstance(pending_id, str) else None
    try:
        if form.get("decision") == "confirm":
            await confirm(services, pending_id, current.org_id)
            return see_other("/settings/integrations?zoom=connected")
        await cancel(services, pending_id, current.org_id)
    except ConnectFailed as failed:
        return _failed(failed.status, failed.title, failed.message, current)
    await sessions.flash(services, current, "notice", "Zoom was not connected; nothing was changed.")
    return see_other("/settings/integrations")
