"""How many meetings the org's connected Zoom user may run at once (docs/zoom.md#concurrency).

Zoom allows Basic users and licensed users on Pro accounts 1 meeting at a time, licensed users on
Business, Education and Enterprise accounts 2. Past that nothing fails at the API: the second
start ends the first meeting (and its recording). The account's plan is not readable with the
user-level scopes a user-managed app gets (GET /users/me names the user type, not the plan), so
the default assumes the smaller plan for every user type: 1. An org on Business or above sets 2
under Integrations; bookings past the capacity run on Converge's system account instead
(fallback_reason org_host_busy).
"""

from __future__ import annotations

from sqlalchemy import update
from sqlmodel import select

from models import ZoomConnection

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services import Services

# Zoom's most for one host is 2 (Business and up); more would only let bookings collide.
MAX_CONCURRENT_MEETINGS = 2
SOURCE_DEFAULT = "default"
SOURCE_ORG = "org"


# The default at connect, for every user type: a licensed user (type 2) may be on a Business plan
# with room for 2, but the plan cannot be read, and guessing high would end running interviews;
# guessing low only sends the overlap to the system account. Basic (1) and Pro users have 1.
DEFAULT_CONCURRENT_MEETINGS = 1


def capacity_on_reconnect(row: ZoomConnection, user_id: str) -> tuple[int, str]:
    """What a (re)connect stores: the org's own setting survives a reconnect of the same Zoom
    user; another user starts again from the default."""
    if row.concurrent_meetings_source == SOURCE_ORG and row.zoom_user_id == user_id:
        return row.concurrent_meetings, SOURCE_ORG
    return DEFAULT_CONCURRENT_MEETINGS, SOURCE_DEFAULT


class NoConnection(Exception):
    """The org has no Zoom connection to set a capacity on."""


async def set_capacity(services: Services, org_id: str, concurrent_meetings: int) -> ZoomConnection:
    """Store the org's own capacity for its connected Zoom user. Bookings already placed keep
    their host; the next booking is counted against the new number."""
    async with services.db.session() as s:
        result = await s.exec(
            update(ZoomConnection).where(ZoomConnection.org_id == org_id)
            .values(concurrent_meetings=concurrent_meetings, concurrent_meetings_source=SOURCE_ORG)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            raise NoConnection(org_id)
        await s.commit()
        return (await s.exec(select(ZoomConnection).where(ZoomConnection.org_id == org_id))).one()
