"""API keys: org keys and the admin key, both sent as `Authorization: Bearer <key>`.

Org keys are 256-bit random strings, so a plain SHA-256 of the key is a safe lookup value;
the key itself is shown once at creation and never stored.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from typing import TYPE_CHECKING, TypeVar

from aiohttp import web
from sqlmodel import select

from api.context import SERVICES
from api.errors import ApiError, not_found
from models import Organization

if TYPE_CHECKING:
    from services import Services

KEY_PREFIX = "cvg_"
Row = TypeVar("Row")


def new_api_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def bearer(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(
            401, "unauthorized", "Send your API key as 'Authorization: Bearer <key>'.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return token.strip()


def require_admin(request: web.Request) -> None:
    expected = request.app[SERVICES].settings.admin_api_key
    if not expected:
        raise ApiError(403, "admin_api_disabled", "ADMIN_API_KEY is not set on this server; set it to create orgs over the API.")
    if not hmac.compare_digest(bearer(request).encode(), expected.encode()):
        raise ApiError(401, "unauthorized", "The admin API key is not valid.")


async def require_org(request: web.Request) -> Organization:
    """The org named in the path, if the caller's key belongs to it; another org's key gets 404."""
    key = bearer(request)
    org_id = request.match_info["org"]
    async with request.app[SERVICES].db.session() as s:
        org = (await s.exec(select(Organization).where(Organization.api_key_hash == hash_api_key(key)))).first()
    if org is None:
        raise ApiError(401, "unauthorized", "The API key is not valid; ask your admin for a key.")
    if org.id != org_id:
        raise not_found("Organization")
    return org


async def org_row(services: Services, model: type[Row], row_id: str, org_id: str, what: str,
                  **also) -> Row:
    """The org's row of `model` (matching `also` too), or 404: another org's row answers exactly
    like a missing one (docs/promises.md#6-no-org-sees-another-orgs-data)."""
    async with services.db.session() as s:
        row = await s.get(model, row_id)
    if (row is None or row.org_id != org_id
            or any(getattr(row, field) != value for field, value in also.items())):
        raise not_found(what)
    return row
