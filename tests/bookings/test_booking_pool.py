"""The system account as a pool of hosts with a capacity each, counted right under concurrency."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from tests.bookings.helpers import (
    book,
    booking_body,
    future,
    get_booking,
    new_org_with_session,
    new_system_host,
    post_booking,
    reservation_row,
    rfc3339,
    settled,
    stored_booking,
    until,
    zoom_meetings_of,
)


async def test_a_full_pool_fails_overlapping_bookings_with_system_hosts_full(api, emulator, idi_worker, system_host):
    org_id, headers, session_id = await new_org_with_session(api)
    start = future(hours=72)
    async with idi_worker(f"{system_host}:1"):
        first = await book(api, org_id, headers, session_id, start, 60)
        first = await settled(api, org_id, headers, first["id"])
        overlapping = await book(api, org_id, headers, session_id, start + timedelta(minutes=30), 60)
        overlapping = await settled(api, org_id, headers, overlapping["id"])
        back_to_back = await book(api, org_id, headers, session_id, start + timedelta(minutes=60), 30)
        back_to_back = await settled(api, org_id, headers, back_to_back["id"])
    assert first["status"] == "scheduled"
    assert (overlapping["status"], overlapping["status_reason"]) == ("failed", "system_hosts_full")
    message = overlapping["status_message"]
    assert "busy at this time" in message and "connect your organization's Zoom" in message
    assert overlapping["meeting"] is None and await zoom_meetings_of(emulator, overlapping["id"]) == []
    assert (await reservation_row(api.services, overlapping["id"])) is None
    assert back_to_back["status"] == "scheduled"  # [start, end) windows: touching is not overlapping


async def test_the_least_busy_host_with_room_is_chosen(api, emulator, idi_worker):
    a, b = await new_system_host(emulator), await new_system_host(emulator)
    org_id, headers, session_id = await new_org_with_session(api)
    start = future(hours=80)
    async with idi_worker(f"{a}:2,{b}:1"):
        hosts = []
        for i in range(3):
            booking = await book(api, org_id, headers, session_id, start + timedelta(minutes=5 * i), 60)
            booking = await settled(api, org_id, headers, booking["id"])
            hosts.append(booking["meeting"]["host_email"])
        fourth = await book(api, org_id, headers, session_id, start, 60)
        fourth = await settled(api, org_id, headers, fourth["id"])
    assert hosts == [a, b, a]
    assert fourth["status_reason"] == "system_hosts_full"


async def test_concurrent_bookings_never_overbook_a_host(api, emulator, idi_worker, system_host):
    """Six bookings at once, all overlapping, one host with room for one: exactly one meeting."""
    org_id, headers, session_id = await new_org_with_session(api)
    start = future(hours=90)
    async with idi_worker(f"{system_host}:1"):
        answers = await asyncio.gather(*[
            post_booking(api, org_id, headers, session_id,
                         booking_body(start + timedelta(minutes=7 * i), 60, name=f"P{i}"))
            for i in range(6)
        ])
        assert [r.status_code for r in answers] == [202] * 6
        bookings = [await settled(api, org_id, headers, r.json()["id"]) for r in answers]
    statuses = sorted((b["status"], b["status_reason"]) for b in bookings)
    assert statuses == [("failed", "system_hosts_full")] * 5 + [("scheduled", None)]
    hosted = await emulator.control.meetings(host=system_host)
    assert len([m for m in hosted if not m["deleted"]]) == 1


async def test_reschedule_rechecks_the_hosts_room_and_keeps_the_old_time_when_full(api, emulator, idi_worker, system_host):
    org_id, headers, session_id = await new_org_with_session(api)
    start = future(hours=100)
    later = start + timedelta(hours=3)
    async with idi_worker(f"{system_host}:1"):
        moving = await settled(api, org_id, headers, (await book(api, org_id, headers, session_id, start))["id"])
        blocker = await settled(api, org_id, headers, (await book(api, org_id, headers, session_id, later))["id"])
        assert moving["status"] == blocker["status"] == "scheduled"
        r = await api.http.patch(f"/v1/orgs/{org_id}/bookings/{moving['id']}", headers=headers,
                                 json={"start_time": (later + timedelta(minutes=30)).isoformat()})
        assert r.status_code == 409, r.text
        assert r.json()["error"]["code"] == "system_hosts_full"
        assert "keeps its old time" in r.json()["error"]["message"]
        after = await get_booking(api, org_id, headers, moving["id"])
        [at_zoom] = await zoom_meetings_of(emulator, moving["id"])
        # A free time still works, on the same host.
        r = await api.http.patch(f"/v1/orgs/{org_id}/bookings/{moving['id']}", headers=headers,
                                 json={"start_time": (later + timedelta(hours=1)).isoformat()})
        assert r.status_code == 200, r.text
    assert after["start_time"] == moving["start_time"] and after["meeting"]["start_time"] == moving["start_time"]
    assert at_zoom["start_time"] == moving["start_time"].replace("+00:00", "Z")
    assert r.json()["meeting"]["host_email"] == system_host
    held = await reservation_row(api.services, moving["id"])
    assert held.start_time == later + timedelta(hours=1)


async def test_a_reservation_whose_create_may_have_reached_zoom_is_never_moved(api, system_host):
    """Review #7: hold() itself keeps the create_sent_at fence, whatever its caller checked."""
    from sqlalchemy import update

    from activities.host_pool import CreateInFlight, Slot, hold
    from models import HostReservation, utcnow

    org_id, _, session_id = await new_org_with_session(api)
    booking = await stored_booking(api.services, org_id, session_id, future(hours=120))
    slot = Slot(booking.id, org_id, booking.start_time, booking.start_time + timedelta(hours=1))
    async with api.services.db.session() as s:
        await hold(s, slot, host_kind="system", host_key=system_host, connection_id=None, fallback_reason="not_connected")
        await s.commit()
    sent_at = utcnow()
    async with api.services.db.session() as s:
        await s.exec(update(HostReservation).where(HostReservation.booking_id == booking.id)
                     .values(create_sent_at=sent_at))
        await s.commit()

    with pytest.raises(CreateInFlight):
        async with api.services.db.session() as s:
            await hold(s, slot, host_kind="system", host_key="another@system.converge.test",
                       connection_id=None, fallback_reason="not_connected")
            await s.commit()
    held = await reservation_row(api.services, booking.id)
    assert (held.host_key, held.create_sent_at) == (system_host, sent_at)


async def test_a_slow_zoom_patch_does_not_hold_up_other_system_host_bookings(api, emulator, idi_worker, system_host):
    """Review #13: the host's lock is not held while Zoom takes its time over a reschedule."""
    org_id, headers, session_id = await new_org_with_session(api)
    start = future(hours=130)
    new_start = start + timedelta(hours=2)
    async with idi_worker(f"{system_host}:1"):
        moving = await settled(api, org_id, headers, (await book(api, org_id, headers, session_id, start))["id"])
        await emulator.control.add_fault("/v2/meetings/*", method="PATCH", action="delay", latency_ms=5000, count=1)
        patching = asyncio.create_task(api.http.patch(
            f"/v1/orgs/{org_id}/bookings/{moving['id']}", headers=headers, json={"start_time": rfc3339(new_start)}))
        # The slot moves (under the host's lock, committed) before Zoom is asked.
        await until(lambda: _reserved_from(api.services, moving["id"], new_start), what="the slot moving")
        other = await settled(api, org_id, headers, (await book(
            api, org_id, headers, session_id, start + timedelta(hours=6)))["id"])
        moved = await patching
    assert other["status"] == "scheduled" and other["meeting"]["host_email"] == system_host
    assert moved.status_code == 200, moved.text
    assert moved.json()["start_time"] == rfc3339(new_start)
    log = await emulator.control.requests()
    # The last PATCH is the reschedule (the first switched registration on for the interviewee).
    patched_at = [r["at"] for r in log
                  if r["method"] == "PATCH" and r["path"] == f"/v2/meetings/{moving['meeting']['zoom_meeting_id']}"][-1]
    creates = [r["at"] for r in log if r["method"] == "POST" and r["path"] == f"/v2/users/{system_host}/meetings"]
    assert len(creates) == 2
    assert creates[1] < patched_at  # the other booking was made while Zoom still held the PATCH


async def test_a_patch_zoom_refuses_gives_the_slot_its_old_window_back(api, emulator, idi_worker, system_host):
    org_id, headers, session_id = await new_org_with_session(api)
    start = future(hours=140)
    async with idi_worker(f"{system_host}:1"):
        booking = await settled(api, org_id, headers, (await book(api, org_id, headers, session_id, start))["id"])
        await emulator.control.add_fault("/v2/meetings/*", method="PATCH", status=400, count=1,
                                         body={"code": 300, "message": "Invalid field."})
        r = await api.http.patch(f"/v1/orgs/{org_id}/bookings/{booking['id']}", headers=headers,
                                 json={"start_time": rfc3339(start + timedelta(hours=3))})
    assert r.status_code == 422 and r.json()["error"]["code"] == "zoom_rejected"
    held = await reservation_row(api.services, booking["id"])
    assert (held.start_time, held.end_time) == (start, start + timedelta(minutes=60))
    after = await get_booking(api, org_id, headers, booking["id"])
    assert after["start_time"] == booking["start_time"]


async def _reserved_from(services, booking_id: str, start) -> bool:
    held = await reservation_row(services, booking_id)
    return held is not None and held.start_time == start
