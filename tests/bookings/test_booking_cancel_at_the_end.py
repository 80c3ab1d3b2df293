"""Issue 16 item 3a: a cancel that meets Zoom's meeting.ended in one workflow task gets a definite
answer, never a 202 for a cancel that is then dropped.

The worker is stopped while the booking is scheduled; the meeting.ended signal and the cancel
update then wait at Temporal and reach the workflow together in its next task, in either order.
The interview took place, so it wins: the cancel is refused with that reason (409), the meeting
stays, and the booking goes on to its recording steps.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.bookings.helpers import book, new_org_with_session, settled, zoom_meetings_of
from workflows.booking import IdiBookingWorkflow
from workflows.booking_types import ZoomEventSignal


@pytest.mark.parametrize("first", ["meeting.ended", "cancel"])
async def test_a_cancel_in_the_same_task_as_meeting_ended_is_refused_with_the_reason(
        api, emulator, idi_worker, system_host, temporal_env, first):
    org_id, headers, session_id = await new_org_with_session(api)
    async with idi_worker(f"{system_host}:1"):
        booking = await settled(api, org_id, headers, (await book(api, org_id, headers, session_id))["id"])
    assert booking["status"] == "scheduled", booking
    handle = temporal_env.client.get_workflow_handle(f"idi-booking-{booking['id']}")
    ended = ZoomEventSignal(event_id=f"ended-{booking['id']}", event_type="meeting.ended")

    async def cancel():
        return await api.http.post(f"/v1/orgs/{org_id}/bookings/{booking['id']}/cancel", headers=headers)

    if first == "meeting.ended":
        await handle.signal(IdiBookingWorkflow.zoom_event, ended)
        cancelling = asyncio.create_task(cancel())
        await asyncio.sleep(0.5)  # lets the cancel reach Temporal (the order is the parameter's)
    else:
        cancelling = asyncio.create_task(cancel())
        await asyncio.sleep(0.5)
        await handle.signal(IdiBookingWorkflow.zoom_event, ended)
    async with idi_worker(f"{system_host}:1"):
        answer = await cancelling
        after = await settled(api, org_id, headers, booking["id"],
                              until=lambda b: b["status"] not in ("scheduled", "in_progress"))
    assert answer.status_code == 409, answer.text
    assert answer.json()["error"]["code"] == "booking_not_cancellable"
    assert "already ended" in answer.json()["error"]["message"]
    assert after["status"] != "cancelled", after
    live = [m for m in await zoom_meetings_of(emulator, booking["id"]) if not m["deleted"]]
    assert [str(m["id"]) for m in live] == [booking["meeting"]["zoom_meeting_id"]]


async def test_a_cancel_before_the_meeting_is_done_at_once(api, emulator, idi_worker, system_host):
    """The definite answer of an ordinary cancel: 200 and cancelled, the meeting deleted."""
    org_id, headers, session_id = await new_org_with_session(api)
    async with idi_worker(f"{system_host}:1"):
        booking = await settled(api, org_id, headers, (await book(api, org_id, headers, session_id))["id"])
        answer = await api.http.post(f"/v1/orgs/{org_id}/bookings/{booking['id']}/cancel", headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "cancelled"
    assert [m["deleted"] for m in await zoom_meetings_of(emulator, booking["id"])] == [True]
