"""The system account as a pool of hosts with a capacity each, counted right under concurrency."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from booking_helpers import (
    book,
    booking_body,
    future,
    get_booking,
    new_org_with_session,
    new_system_host,
    post_booking,
    reservation_row,
    settled,
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
