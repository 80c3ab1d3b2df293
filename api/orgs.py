"""Organizations: created by an admin; each gets one API key, shown once."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, Field, field_validator

from api.context import SERVICES
from api.auth import hash_api_key, new_api_key, require_admin, require_org
from api.errors import parse_body
from api.openapi import documented
from models import Organization

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services import Services

routes = web.RouteTableDef()


class OrgIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)

    @field_validator("name")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be blank")
        return v.strip()


class OrgCreated(BaseModel):
    id: str
    name: str
    api_key: str = Field(description="Shown once; only its hash is stored")


async def create_org(services: Services, name: str) -> OrgCreated:
    key = new_api_key()
    org = Organization(name=name, api_key_hash=hash_api_key(key))
    async with services.db.session() as s:
        s.add(org)
        await s.commit()
    return OrgCreated(id=org.id, name=org.name, api_key=key)


@routes.post("/v1/orgs")
@documented("Create an organization (admin key); the org's API key is in this response only",
            auth="admin", body=OrgIn, response=OrgCreated, status=201, errors=(400, 401, 403))
async def post_org(request: web.Request) -> web.Response:
    require_admin(request)
    body = await parse_body(request, OrgIn)
    created = await create_org(request.app[SERVICES], body.name)
    return web.json_response(created.model_dump(), status=201)


class OrgOut(BaseModel):
    id: str
    name: str
    time_zone: str = Field(description="IANA time zone the pages show times in (default UTC); "
                                        "the API always answers RFC 3339 with offsets")


class OrgSettingsIn(BaseModel):
    time_zone: str = Field(min_length=1, max_length=64, description="An IANA zone, e.g. Europe/Berlin")

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        v = v.strip()
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{v!r} is not an IANA time zone (for example UTC, Europe/Berlin, "
                             "America/New_York)") from None
        return v


def org_out(org: Organization) -> OrgOut:
    return OrgOut(id=org.id, name=org.name, time_zone=org.time_zone or "UTC")


@routes.get("/v1/orgs/{org}")
@documented("The organization: its name and the time zone its pages show times in", response=OrgOut,
            errors=(401, 404))
async def get_org(request: web.Request) -> web.Response:
    return web.json_response(org_out(await require_org(request)).model_dump())


@routes.patch("/v1/orgs/{org}")
@documented("Change the organization's settings (time_zone)", body=OrgSettingsIn, response=OrgOut,
            errors=(400, 401, 404))
async def patch_org(request: web.Request) -> web.Response:
    org = await require_org(request)
    body = await parse_body(request, OrgSettingsIn)
    async with request.app[SERVICES].db.session() as s:
        row = await s.get(Organization, org.id)
        row.time_zone = body.time_zone
        s.add(row)
        await s.commit()
        await s.refresh(row)
    return web.json_response(org_out(row).model_dump())
