"""The keep-alive's cadence (issue 13 item 4): idle connections are not rotated every few minutes;
connections with a Zoom call due are kept fresh.

Three hours of the 5-minute Schedule are played in fast time by bench/cadence.py's `tick`: the
clock moves by ageing the rows' times, then the sweep's real activity runs against Postgres,
Redis and the emulator's token endpoint. Each saved rotation bumps token_version.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from bench.cadence import book, connections_with_grants, rotations, tick
from connections.tokens import TokenManager
from models import Booking, Meeting, new_id, utcnow
from tests.token_refresh.helpers import refresh_requests, row, set_row

THREE_HOURS = 36  # ticks of 5 minutes


async def recordings_pending(svc, org_id: str, connection_id: str) -> None:
    """A meeting on the connection that ended an hour ago, its recordings not in yet."""
    booking_id = await book(svc, org_id, starts_in=-timedelta(hours=2))
    async with svc.db.session() as s:
        s.add(Meeting(booking_id=booking_id, org_id=org_id, zoom_meeting_id=new_id(),
                      host_kind="org", connection_id=connection_id,
                      start_time=utcnow() - timedelta(hours=2), duration_minutes=60))
        await s.commit()
    async with svc.db.session() as s:
        await s.exec(update(Booking).where(Booking.id == booking_id)
                     .values(status="processing_recording"))
        await s.commit()


async def test_an_idle_connection_is_left_alone_and_one_with_a_call_due_is_kept_fresh(
    keepalive, emulator
):
    svc = keepalive
    (idle_org, idle_id), (busy_org, busy_id), (rec_org, rec_id) = await connections_with_grants(
        svc, emulator, 3)
    await book(svc, busy_org, starts_in=timedelta(hours=2))
    await recordings_pending(svc, rec_org, rec_id)
    orgs = [idle_org, busy_org, rec_org]

    for i in range(1, THREE_HOURS + 1):
        await tick(svc, orgs)
        now = utcnow()
        # From an hour before the interview, a booking never has to refresh in its own path.
        if i >= 12:
            busy = await row(svc, busy_id)
            assert busy.access_expires_at - now > TokenManager.MARGIN, f"tick {i}"
        recording = await row(svc, rec_id)
        assert recording.access_expires_at - now > TokenManager.MARGIN, f"tick {i}"

    # Before issue 13 the idle one was rotated about every 45 minutes (4 times here).
    assert await rotations(svc, [idle_org]) == 0
    assert await rotations(svc, [busy_org]) >= 2
    assert await rotations(svc, [rec_org]) >= 3
    idle = await row(svc, idle_id)
    assert idle.status == "active" and idle.access_expires_at < utcnow()

    # Its token lapsed unused; the first caller that needs it refreshes it on demand, once.
    zoom_before = await refresh_requests(emulator)
    token = await svc.tokens.org_access_token(idle_id)
    assert await svc.tokens.org_access_token(idle_id) == token
    assert await refresh_requests(emulator) - zoom_before == 1
    assert (await svc.tokens.org_api(idle_id).get_me())["email"] == idle.zoom_email


async def test_an_idle_connection_is_refreshed_once_it_nears_the_refresh_token_risk(keepalive, emulator):
    svc = keepalive
    ((org, conn_id),) = await connections_with_grants(svc, emulator, 1)
    await set_row(svc, conn_id, last_refreshed_at=utcnow() - timedelta(days=30) + timedelta(minutes=7))

    await tick(svc, [org])
    assert await rotations(svc, [org]) == 0  # 29 days 23 h 58 min: not yet
    await tick(svc, [org])
    assert await rotations(svc, [org]) == 1  # past 30 days
    for _ in range(12):
        await tick(svc, [org])
    assert await rotations(svc, [org]) == 1  # and then left alone again
