"""The Zoom client that may act on a booking's meeting: its host's, and only while that host is
still the Zoom user the org is connected as.

An org's connection row is reused when the org reconnects, even as a different Zoom user, and
meetings point at that row. The new user's token cannot see the old user's meetings: Zoom answers
3001/404, which reads as "the meeting is gone", so a cancel would report a deletion that never
happened and the meeting would stay open at Zoom (docs/promises.md#1-one-meeting-per-booking, #8-fallback-with-a-recorded-reason). So the meeting's host, as
Zoom named it when the meeting was made, is compared with the connection's user before acting,
and again after an answer that would mean "gone" (a reconnect may land during the call).
"""

from __future__ import annotations

from models import Meeting, ZoomConnection
from zoom.client import ZoomApi

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services import Services


class MeetingHostChanged(Exception):
    """The org is now connected as another Zoom user than the one hosting the meeting."""

    def __init__(self, zoom_meeting_id: str) -> None:
        self.zoom_meeting_id = zoom_meeting_id
        super().__init__(
            f"Zoom meeting {zoom_meeting_id} is hosted by a Zoom user no longer connected to this "
            "organization; reconnect that Zoom user under Integrations, or manage the meeting in Zoom."
        )


async def meeting_api(services: Services, meeting: Meeting) -> ZoomApi:
    """The Zoom client of the meeting's host (org user or system account).

    Raises MeetingHostChanged for an org meeting whose host is no longer the connected user; a
    connection that cannot give a token raises ConnectionUnavailable on the first call instead."""
    if meeting.host_kind != "org":
        return services.tokens.system_api()
    await check_meeting_host(services, meeting)
    return services.tokens.org_api(meeting.connection_id)


async def check_meeting_host(services: Services, meeting: Meeting) -> None:
    """Raise MeetingHostChanged when the org's connection now belongs to another Zoom user.

    A meeting saved without Zoom's host id (Zoom's create answer always names one) has nothing
    to compare it with and is let through."""
    if meeting.host_kind != "org" or not meeting.host_user_id:
        return
    async with services.db.session() as s:
        conn = await s.get(ZoomConnection, meeting.connection_id)
    if conn is not None and conn.zoom_user_id != meeting.host_user_id:
        raise MeetingHostChanged(meeting.zoom_meeting_id)
