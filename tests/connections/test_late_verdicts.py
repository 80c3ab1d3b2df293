"""A verdict about an old grant never ends the connection made after it (review finding 1).

Zoom's answers can arrive late: an `app_deauthorized` retried up to ~90 minutes after the user
removed the app, a "user does not exist" (1001) answer to a call made with a token handed out just
before the org reconnected. Each must end only the grant it is about.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.booking_meetings import BookingMeetingActivities
from models import Booking, IdiSession, utcnow
from tests.connections.helpers import (
    connect,
    deauthorized,
    fault_fired,
    fresh_zoom_user,
    row_of,
    signed,
    tokens_of,
    works,
)
from workflows.booking_types import BookingHost, CreateMeetingInput, Failure


async def test_a_late_app_deauthorized_leaves_a_reconnect_made_after_it_alone(api, emulator):
    org_id, headers = await api.new_org("Reinstalled Ltd")
    email = await fresh_zoom_user(emulator)
    await connect(api, emulator, org_id, headers, email)
    # 10:00 the user removes the app in Zoom; the webhook's first delivery is lost.
    removed_at = utcnow()
    await emulator.control.deauthorize(email)
    # 10:15 the org connects Zoom again.
    row = await connect(api, emulator, org_id, headers, email)
    assert row.connected_at > removed_at

    # 10:25 Zoom's retry of the 10:00 event arrives, validly signed.
    raw, h = signed(deauthorized(row, at=removed_at))
    late = await api.http.post("/v1/zoom/webhooks", content=raw, headers=h)

    assert late.status_code == 200 and late.json()["connections_revoked"] == 0
    stored = await row_of(api.services, org_id)
    assert stored.status == "active" and stored.token_version == row.token_version
    assert await works(emulator, tokens_of(api.services, stored)[0])

    # Removing the app after the reconnect still ends the reconnect.
    raw, h = signed(deauthorized(row, at=utcnow()))
    later = await api.http.post("/v1/zoom/webhooks", content=raw, headers=h)
    assert later.json()["connections_revoked"] == 1
    assert (await row_of(api.services, org_id)).status == "revoked"


async def test_a_user_not_found_answer_about_an_old_grant_does_not_expire_a_reconnect(api, emulator):
    """The create is sent with the org's token; while Zoom answers "no such user" (1001), the
    org reconnects. The booking still gives up on that host, but the new connection stays."""
    services = api.services
    org_id, headers = await api.new_org("Reconnected Mid Create Ltd")
    email = await fresh_zoom_user(emulator)
    row = await connect(api, emulator, org_id, headers, email)
    booking_id = await _booking(services, org_id)
    fault = await emulator.control.add_fault(
        "/v2/users/*/meetings", method="POST", action="respond", latency_ms=1500, status=404,
        body={"code": 1001, "message": "User does not exist: me."}, count=1)
    host = BookingHost(kind="org", connection_id=row.id, label="Reconnected Mid Create Ltd's Zoom")

    creating = asyncio.create_task(ActivityEnvironment().run(
        BookingMeetingActivities(services).create_booking_meeting,
        CreateMeetingInput(booking_id=booking_id, host=host)))
    await fault_fired(emulator, fault)  # the create is at Zoom, under the old grant's token
    reconnected = await connect(api, emulator, org_id, headers, email)
    with pytest.raises(ApplicationError) as refused:
        await creating

    assert refused.value.type == Failure.ORG_HOST_UNAVAILABLE
    stored = await row_of(services, org_id)
    assert stored.status == "active" and stored.status_reason is None
    assert stored.token_version == reconnected.token_version
    assert await works(emulator, tokens_of(services, stored)[0])


async def _booking(services, org_id: str) -> str:
    async with services.db.session() as s:
        session = IdiSession(org_id=org_id, title="Pricing study")
        s.add(session)
        await s.flush()
        booking = Booking(org_id=org_id, session_id=session.id, participant_name="Pat",
                          participant_email="pat@example.test",
                          start_time=(utcnow() + timedelta(days=2)).replace(microsecond=0),
                          duration_minutes=30)
        s.add(booking)
        await s.commit()
        return booking.id
