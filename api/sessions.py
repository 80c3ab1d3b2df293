"""Sessions: the study an org books interviews into (the "Create Session" step users are shown).

Only in-depth interviews on the Zoom App provider get Zoom meetings from this service; other kinds
and providers can be created (Converge has them) but cannot take bookings here.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime, timezone
from typing import Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlmodel import select

from api.context import SERVICES
from api.auth import org_row, require_org
from api.errors import parse_body
from api.openapi import documented
from models import IdiSession

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services import Services

routes = web.RouteTableDef()


class SessionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=200)
    kind: Literal["idi", "focus_group", "live"] = "idi"
    meeting_provider: Literal["zoom_app", "external_link"] = "zoom_app"

    @field_validator("title")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if any(unicodedata.category(ch) == "Cc" for ch in v):
            raise ValueError("must be one line of plain text (no control characters)")
        if not v.strip():
            raise ValueError("must not be blank")
        return v.strip()


class SessionOut(BaseModel):
    id: str
    org_id: str
    title: str
    kind: str
    meeting_provider: str
    created_at: datetime


class SessionList(BaseModel):
    sessions: list[SessionOut]


def session_out(row: IdiSession) -> SessionOut:
    return SessionOut(id=row.id, org_id=row.org_id, title=row.title, kind=row.kind,
                      meeting_provider=row.meeting_provider,
                      created_at=row.created_at.astimezone(timezone.utc))


async def org_session(services: Services, org_id: str, session_id: str) -> IdiSession:
    return await org_row(services, IdiSession, session_id, org_id, "Session")


@routes.post("/v1/orgs/{org}/sessions")
@documented("Create a session (an IDI on the Zoom App takes bookings)", body=SessionIn,
            response=SessionOut, status=201, errors=(400, 415))
async def post_session(request: web.Request) -> web.Response:
    org = await require_org(request)
    body = await parse_body(request, SessionIn)
    row = IdiSession(org_id=org.id, title=body.title, kind=body.kind,
                     meeting_provider=body.meeting_provider)
    async with request.app[SERVICES].db.session() as s:
        s.add(row)
        await s.commit()
    return web.json_response(session_out(row).model_dump(mode="json"), status=201)


@routes.get("/v1/orgs/{org}/sessions")
@documented("List the org's sessions, newest first", response=SessionList)
async def list_sessions(request: web.Request) -> web.Response:
    org = await require_org(request)
    async with request.app[SERVICES].db.session() as s:
        rows = (await s.exec(
            select(IdiSession).where(IdiSession.org_id == org.id)
            .order_by(IdiSession.created_at.desc(), IdiSession.id)
        )).all()
    return web.json_response(SessionList(sessions=[session_out(r) for r in rows]).model_dump(mode="json"))


@routes.get("/v1/orgs/{org}/sessions/{session}")
@documented("One session", response=SessionOut)
async def get_session(request: web.Request) -> web.Response:
    org = await require_org(request)
    row = await org_session(request.app[SERVICES], org.id, request.match_info["session"])
    return web.json_response(session_out(row).model_dump(mode="json"))
