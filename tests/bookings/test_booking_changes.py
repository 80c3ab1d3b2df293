"""Rescheduling, cancelling and Zoom's daily cap, end to end (API → workflow → emulator)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

from workflows.booking import IdiBookingWorkflow
from workflows.booking_types import ZoomEventSignal

from tests.bookings.helpers import (
    book,
    connect_org,
    fresh_zoom_user,
    future,
    get_booking,
    meeting_row,
    new_org_with_session,
    reservation_row,
    rfc3339,
    settled,
    zoom_meetings_of,
)


async def test_reschedule_moves_the_same_zoom_meeting(api, emulator, idi_worker, system_host):
    org_id, headers, session_id = await new_org_with_session(api)
    await connect_org(api, emulator, org_id, headers, await fresh_zoom_user(emulator))
    start = future(hours=30)
    new_start = start + timedelta(days=1, hours=2)
    async with idi_worker(f"{system_host}:1"):
        booking = await settled(api, org_id, headers, (await book(api, org_id, headers, session_id, start, 60))["id"])
        before = (await emulator.control.stats())["meetings_created"]
        r = await api.http.patch(f"/v1/orgs/{org_id}/bookings/{booking['id']}", headers=headers,
                                 json={"start_time": new_start.astimezone(timezone(timedelta(hours=-5))).isoformat(),
                                       "duration_minutes": 90})
        assert r.status_code == 200, r.text
        moved = r.json()
        only_duration = await api.http.patch(f"/v1/orgs/{org_id}/bookings/{booking['id']}", headers=headers,
                                             json={"duration_minutes": 75})
        assert only_duration.status_code == 200, only_duration.text
        after = (await emulator.control.stats())["meetings_created"]
    assert moved["start_time"] == rfc3339(new_start) and moved["duration_minutes"] == 90
    assert moved["meeting"]["zoom_meeting_id"] == booking["meeting"]["zoom_meeting_id"]
    assert moved["meeting"]["start_time"] == rfc3339(new_start)
    assert only_duration.json()["start_time"] == rfc3339(new_start)
    assert only_duration.json()["duration_minutes"] == 75
    [at_zoom] = await zoom_meetings_of(emulator, booking["id"])
    assert str(at_zoom["id"]) == booking["meeting"]["zoom_meeting_id"] and not at_zoom["deleted"]
    assert (at_zoom["start_time"], at_zoom["duration"]) == (rfc3339(new_start), 75)
    assert after == before  # moved, never recreated


async def test_a_reschedule_to_the_same_time_answers_without_touching_the_workflow(
        api, emulator, idi_worker, system_host):
    from temporalio.api.enums.v1 import EventType

    org_id, headers, session_id = await new_org_with_session(api)
    start = future(hours=31)
    async with idi_worker(f"{system_host}:1"):
        booking = await settled(api, org_id, headers, (await book(api, org_id, headers, session_id, start, 60))["id"])
        handle = api.services._temporal.get_workflow_handle(booking["workflow_id"])
        updates = lambda events: sum(1 for e in events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED)
        before = updates((await handle.fetch_history()).events)
        for body in ({"start_time": rfc3339(start)}, {"duration_minutes": 60},
                     {"start_time": start.astimezone(timezone(timedelta(hours=2))).isoformat(), "duration_minutes": 60}):
            r = await api.http.patch(f"/v1/orgs/{org_id}/bookings/{booking['id']}", headers=headers, json=body)
            assert r.status_code == 200 and r.json()["start_time"] == rfc3339(start), r.text
        after = updates((await handle.fetch_history()).events)
    assert after == before


async def test_reschedule_refuses_bad_input_and_changes_nothing(api, emulator, idi_worker, system_host):
    org_id, headers, session_id = await new_org_with_session(api)
    async with idi_worker(f"{system_host}:1"):
        booking = await settled(api, org_id, headers, (await book(api, org_id, headers, session_id))["id"])
        path = f"/v1/orgs/{org_id}/bookings/{booking['id']}"
        cases = [
            ({}, 400, "nothing_to_change"),
            ({"start_time": "2020-01-01T00:00:00Z"}, 422, "start_time_in_past"),
            ({"start_time": "2031-01-01T10:00:00"}, 400, "start_time_without_offset"),
            ({"duration_minutes": 5}, 422, "duration_out_of_range"),
            ({"duration_minutes": 60, "title": "x"}, 400, "invalid_request"),
        ]
        for body, status, code in cases:
            r = await api.http.patch(path, headers=headers, json=body)
            assert (r.status_code, r.json()["error"]["code"]) == (status, code), (body, r.text)
    after = await get_booking(api, org_id, headers, booking["id"])
    assert (after["start_time"], after["duration_minutes"]) == (booking["start_time"], booking["duration_minutes"])


async def test_cancel_deletes_the_zoom_meeting_and_keeps_the_booking(api, emulator, idi_worker, system_host):
    org_id, headers, session_id = await new_org_with_session(api)
    async with idi_worker(f"{system_host}:1"):
        booking = await settled(api, org_id, headers, (await book(api, org_id, headers, session_id))["id"])
        r = await api.http.post(f"/v1/orgs/{org_id}/bookings/{booking['id']}/cancel", headers=headers)
        assert r.status_code == 200, r.text
        again = await api.http.post(f"/v1/orgs/{org_id}/bookings/{booking['id']}/cancel", headers=headers)
        start_url = await api.http.get(f"/v1/orgs/{org_id}/bookings/{booking['id']}/start-url", headers=headers)
        patch = await api.http.patch(f"/v1/orgs/{org_id}/bookings/{booking['id']}", headers=headers,
                                     json={"duration_minutes": 30})
        # The slot is free again: a booking at the same time gets the same host.
        same_slot = await settled(api, org_id, headers, (await book(
            api, org_id, headers, session_id, datetime.fromisoformat(booking["start_time"])))["id"])
    cancelled = r.json()
    assert (cancelled["status"], cancelled["status_reason"]) == ("cancelled", "cancelled_by_request")
    assert cancelled["meeting"]["status"] == "deleted"
    assert again.status_code == 200 and again.json()["status"] == "cancelled"
    [at_zoom] = await zoom_meetings_of(emulator, booking["id"])
    assert at_zoom["deleted"] is True
    assert start_url.status_code == 409 and start_url.json()["error"]["code"] == "booking_cancelled"
    assert patch.status_code == 409
    assert (await reservation_row(api.services, booking["id"])).status == "released"
    assert same_slot["status"] == "scheduled" and same_slot["meeting"]["host_email"] == system_host
    assert await get_booking(api, org_id, headers, booking["id"])  # kept


async def test_cancel_of_a_failed_booking_is_refused(api, emulator, idi_worker, system_host):
    org_id, headers, session_id = await new_org_with_session(api)
    await connect_org(api, emulator, org_id, headers, await fresh_zoom_user(emulator, type=4))
    async with idi_worker(f"{system_host}:1"):
        booking = await settled(api, org_id, headers, (await book(api, org_id, headers, session_id))["id"])
        r = await api.http.post(f"/v1/orgs/{org_id}/bookings/{booking['id']}/cancel", headers=headers)
    assert booking["status"] == "failed"
    assert r.status_code == 409 and r.json()["error"]["code"] == "booking_not_cancellable"


def _next_utc_midnight() -> datetime:
    now = datetime.now(timezone.utc)
    return datetime(now.year, now.month, now.day, tzinfo=timezone.utc) + timedelta(days=1)


async def test_daily_cap_that_resets_after_the_interview_fails_with_zoom_daily_limit(api, emulator, idi_worker, system_host):
    org_id, headers, session_id = await new_org_with_session(api)
    midnight = _next_utc_midnight()
    if midnight - datetime.now(timezone.utc) < timedelta(minutes=3):  # too close to call
        await asyncio.sleep((midnight - datetime.now(timezone.utc)).total_seconds() + 1)
        midnight = _next_utc_midnight()
    start = min(future(hours=0, minutes=2), midnight - timedelta(minutes=1))
    await emulator.control.config(daily_limit=0)  # the host used its 100 creates today
    async with idi_worker(f"{system_host}:1"):
        booking = await settled(api, org_id, headers, (await book(api, org_id, headers, session_id, start, 30))["id"])
    assert (booking["status"], booking["status_reason"]) == ("failed", "zoom_daily_limit")
    assert midnight.strftime("%Y-%m-%d %H:%M UTC") in booking["status_message"]
    assert "Book a later time" in booking["status_message"]
    assert await zoom_meetings_of(emulator, booking["id"]) == []


async def test_daily_cap_that_resets_before_the_interview_waits_then_can_be_cancelled(api, emulator, idi_worker, system_host):
    org_id, headers, session_id = await new_org_with_session(api)
    await emulator.control.config(daily_limit=0)
    start = _next_utc_midnight() + timedelta(days=2)
    async with idi_worker(f"{system_host}:1"):
        booking = await book(api, org_id, headers, session_id, start, 30)
        waiting = await settled(api, org_id, headers, booking["id"])
        r = await api.http.post(f"/v1/orgs/{org_id}/bookings/{booking['id']}/cancel", headers=headers)
    assert (waiting["status"], waiting["status_reason"]) == ("scheduling", "waiting_for_zoom_daily_limit")
    assert "creates the meeting automatically" in waiting["status_message"]
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert await zoom_meetings_of(emulator, booking["id"]) == []
    assert await meeting_row(api.services, booking["id"]) is None


async def test_a_meeting_that_took_place_can_no_longer_be_moved_or_cancelled(api, emulator, idi_worker, system_host):
    org_id, headers, session_id = await new_org_with_session(api)
    async with idi_worker(f"{system_host}:1"):
        booking = await settled(api, org_id, headers, (await book(api, org_id, headers, session_id))["id"])
        # What the webhook route will do when Zoom reports the end.
        handle = api.services._temporal.get_workflow_handle(booking["workflow_id"])
        await handle.signal(IdiBookingWorkflow.zoom_event,
                            ZoomEventSignal(event_id="end-1", event_type="meeting.ended"))
        ended = await settled(api, org_id, headers, booking["id"], until=lambda b: b["status"] == "ended")
        cancel = await api.http.post(f"/v1/orgs/{org_id}/bookings/{booking['id']}/cancel", headers=headers)
        patch = await api.http.patch(f"/v1/orgs/{org_id}/bookings/{booking['id']}", headers=headers,
                                     json={"duration_minutes": 30})
    assert ended["meeting"]["status"] == "scheduled"
    assert cancel.status_code == 409 and cancel.json()["error"]["code"] == "booking_not_cancellable"
    assert patch.status_code == 409 and patch.json()["error"]["code"] == "booking_not_reschedulable"
    [at_zoom] = await zoom_meetings_of(emulator, booking["id"])
    assert not at_zoom["deleted"]
