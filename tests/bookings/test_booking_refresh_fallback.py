"""Product doc §11, "if a refresh attempt fails … fall back" (review #9): Zoom's token endpoint
failing without killing the grant (5xx) sends the booking to the system account with the reason
refresh_failed after a few attempts, or at once when the interview is close, instead of leaving
it in `scheduling` until the interview and then failing. The connection itself stays active: its
grant is alive and the next refresh may well work."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from activities.booking_hosts import BookingHostActivities
from models import ZoomConnection, utcnow
from workflows.booking_types import ResolveHostInput
from zoom.errors import ZoomTransientError

from tests.bookings.helpers import (
    activity_attempt,
    book,
    connect_org,
    fresh_zoom_user,
    future,
    new_org_with_session,
    services_with_hosts,
    settled,
    stored_booking,
)


async def _org_whose_refresh_fails(api, emulator) -> tuple[str, dict, str, ZoomConnection]:
    """An org connected a moment ago whose token is due, while Zoom's token endpoint answers 503."""
    org_id, headers, session_id = await new_org_with_session(api)
    conn = await connect_org(api, emulator, org_id, headers, await fresh_zoom_user(emulator))
    async with api.services.db.session() as s:
        await s.exec(update(ZoomConnection).where(ZoomConnection.id == conn.id)
                     .values(access_expires_at=utcnow() + timedelta(seconds=5)))
        await s.commit()
    await emulator.control.add_fault("/oauth/token", method="POST", status=503,
                                     match={"grant_type": "refresh_token"})
    return org_id, headers, session_id, conn


async def _status(api, org_id: str, headers: dict) -> str:
    return (await api.http.get(f"/v1/orgs/{org_id}/integrations/zoom", headers=headers)).json()["status"]


async def test_refresh_failing_close_to_the_interview_falls_back_at_once(api, emulator, idi_worker, system_host):
    org_id, headers, session_id, _ = await _org_whose_refresh_fails(api, emulator)
    async with idi_worker(f"{system_host}:1"):
        booking = await book(api, org_id, headers, session_id, future(hours=0, minutes=40))
        booking = await settled(api, org_id, headers, booking["id"])
    assert booking["status"] == "scheduled", booking
    meeting = booking["meeting"]
    assert (meeting["host_kind"], meeting["fallback_reason"], meeting["host_email"]) == (
        "system", "refresh_failed", system_host)
    assert await _status(api, org_id, headers) == "active"


async def test_refresh_failing_far_from_the_interview_is_retried_then_falls_back(api, emulator, system_host):
    org_id, headers, session_id, conn = await _org_whose_refresh_fails(api, emulator)
    booking = await stored_booking(api.services, org_id, session_id, future(hours=48))
    hosts = BookingHostActivities(services_with_hosts(api.services, f"{system_host}:1"))
    inp = ResolveHostInput(booking_id=booking.id, org_id=org_id, start_time=booking.start_time,
                           duration_minutes=booking.duration_minutes)

    # A hiccup first: Temporal retries the activity (the org may well host it in a minute).
    with pytest.raises(ZoomTransientError):
        await activity_attempt(1).run(hosts.resolve_booking_host, inp)
    # The third attempt in a row: the system account takes the booking, and says why.
    host = await activity_attempt(3).run(hosts.resolve_booking_host, inp)
    assert (host.kind, host.system_host, host.fallback_reason) == ("system", system_host, "refresh_failed")
    assert await _status(api, org_id, headers) == "active"
    # The choice sticks: a later attempt answers the same even once the token endpoint works.
    await emulator.control.clear_faults()
    assert await activity_attempt(1).run(hosts.resolve_booking_host, inp) == host
