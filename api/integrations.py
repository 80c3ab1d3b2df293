"""An org's Zoom integration: status, connect (OAuth with PKCE), the connected user's capacity,
disconnect.

Zoom's callback is a browser page bound to the org's session: api/pages/zoom_connect.py."""

from __future__ import annotations

from datetime import datetime

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StrictInt
from sqlmodel import select

from api.context import SERVICES
from api.auth import require_org
from api.errors import ApiError, parse_body
from api.openapi import documented
from models import ZoomConnection
from connections.capacity import MAX_CONCURRENT_MEETINGS, NoConnection, set_capacity
from connections.tokens import ZoomNotConfigured
from connections.connect import start_connect
from connections.recording_settings import refresh_warnings
from connections.disconnect import ConnectionBusy, NotConnected, disconnect

routes = web.RouteTableDef()


class ConnectionWarning(BaseModel):
    code: str
    message: str


class ZoomStatusOut(BaseModel):
    status: str = Field(description="not_connected, active, expired, revoked or disconnected")
    zoom_user_name: str | None
    zoom_email: str | None
    zoom_user_type: int | None = Field(description="Zoom user type: 1 Basic, 2 Licensed, 4 no meetings licence")
    connected_at: datetime | None
    last_refreshed_at: datetime | None
    status_reason: str | None = Field(description="Why the status is what it is, e.g. refresh_failed")
    warnings: list[ConnectionWarning]
    concurrent_meetings: int | None = Field(
        default=None,
        description="Meetings the connected Zoom user may host at once (Zoom: 1 on Basic and Pro, 2 "
                    "on Business, Education, Enterprise); bookings past it run on Converge's "
                    "system account with fallback_reason org_host_busy. Added field.")
    concurrent_meetings_source: str | None = Field(
        default=None, description="default (set at connect) or org (set by the org)")


class CapacityIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    concurrent_meetings: StrictInt = Field(
        ge=1, le=MAX_CONCURRENT_MEETINGS,
        description=f"1 (Zoom Basic or Pro) to {MAX_CONCURRENT_MEETINGS} (Business, Education, Enterprise)")


class ConnectOut(BaseModel):
    authorize_url: str = Field(description="Send the user's browser here; valid once, for 10 minutes")


class DisconnectOut(ZoomStatusOut):
    zoom_revoke: str = Field(description="revoked, already_invalid, not_needed or failed")
    message: str


def status_view(row: ZoomConnection | None) -> ZoomStatusOut:
    if row is None:
        return ZoomStatusOut(status="not_connected", zoom_user_name=None, zoom_email=None,
                             zoom_user_type=None, connected_at=None, last_refreshed_at=None,
                             status_reason=None, warnings=[])
    return ZoomStatusOut(
        status=row.status, zoom_user_name=row.zoom_user_name, zoom_email=row.zoom_email,
        zoom_user_type=row.zoom_user_type, connected_at=row.connected_at,
        last_refreshed_at=row.last_refreshed_at, status_reason=row.status_reason,
        warnings=[ConnectionWarning(**w) for w in row.warnings],
        concurrent_meetings=row.concurrent_meetings,
        concurrent_meetings_source=row.concurrent_meetings_source,
    )


def _not_configured() -> ApiError:
    return ApiError(503, "zoom_not_configured",
                    "This server has no Zoom OAuth app configured (ZOOM_CLIENT_ID, ZOOM_CLIENT_SECRET, "
                    "ZOOM_REDIRECT_URI); ask the operator to set them.")


@routes.get("/v1/orgs/{org}/integrations/zoom")
@documented("The org's Zoom connection: status, connected user and warnings (recording settings "
            "read from Zoom again on each call)", response=ZoomStatusOut)
async def get_zoom_status(request: web.Request) -> web.Response:
    org = await require_org(request)
    services = request.app[SERVICES]
    async with services.db.session() as s:
        row = (await s.exec(select(ZoomConnection).where(ZoomConnection.org_id == org.id))).first()
    if row is not None and row.status == "active":
        # Cloud recording or transcripts may have been switched off in Zoom since connect
        # (docs/zoom.md#recording-settings): ask again, then answer what is stored now.
        await refresh_warnings(services, row.id)
        async with services.db.session() as s:
            row = await s.get(ZoomConnection, row.id)
    return web.json_response(status_view(row).model_dump(mode="json"))


@routes.patch("/v1/orgs/{org}/integrations/zoom")
@documented("Set how many meetings the connected Zoom user may host at once (an addition to the "
            "contract); the next bookings are counted against it", body=CapacityIn,
            response=ZoomStatusOut, errors=(400, 404, 415))
async def patch_zoom_capacity(request: web.Request) -> web.Response:
    org = await require_org(request)
    body = await parse_body(request, CapacityIn)
    try:
        row = await set_capacity(request.app[SERVICES], org.id, body.concurrent_meetings)
    except NoConnection:
        raise ApiError(404, "zoom_not_connected",
                       "This organization has never connected Zoom, so there is no Zoom user to set "
                       "a capacity for; connect Zoom first. Nothing was changed.") from None
    return web.json_response(status_view(row).model_dump(mode="json"))


@routes.post("/v1/orgs/{org}/integrations/zoom/connect")
@documented("Start connecting Zoom: returns the Zoom authorize URL (single-use state, PKCE)",
            response=ConnectOut, errors=(503,))
async def post_zoom_connect(request: web.Request) -> web.Response:
    org = await require_org(request)
    try:
        url = await start_connect(request.app[SERVICES], org.id)
    except ZoomNotConfigured:
        raise _not_configured() from None
    return web.json_response(ConnectOut(authorize_url=url).model_dump())


@routes.delete("/v1/orgs/{org}/integrations/zoom")
@documented("Disconnect Zoom: revoke at Zoom, destroy the tokens, keep every meeting and recording; "
            "404 when there is no connection to disconnect", response=DisconnectOut, errors=(409,))
async def delete_zoom_connection(request: web.Request) -> web.Response:
    org = await require_org(request)
    try:
        result = await disconnect(request.app[SERVICES], org.id)
    except NotConnected as exc:
        raise ApiError(404, "zoom_not_connected",
                       f"This organization has no Zoom connection to disconnect (status: {exc.status}); "
                       "nothing was changed.") from None
    except ConnectionBusy:
        raise ApiError(409, "zoom_connection_busy",
                       "The Zoom connection's tokens kept changing while disconnecting (a refresh or "
                       "reconnect was under way); nothing was changed. Try again in a few seconds.") from None
    out = DisconnectOut(**status_view(result.connection).model_dump(), zoom_revoke=result.zoom_revoke,
                        message=result.message)
    return web.json_response(out.model_dump(mode="json"))
