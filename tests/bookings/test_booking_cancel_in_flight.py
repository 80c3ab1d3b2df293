"""Cancelling while the meeting is still being created (review #11), end to end.

The create retries Zoom's hiccups until the interview is close, which can be weeks: a cancel stops
it at once, then deletes whatever it may have made at Zoom, found by the booking reference in the
agenda. Whatever Zoom was doing at that moment, no meeting of a cancelled booking stays open.
"""

from __future__ import annotations

from tests.bookings.helpers import (
    book,
    meeting_row,
    new_org_with_session,
    reservation_row,
    until,
    zoom_meetings_of,
)

CREATE = "/v2/users/*/meetings"


async def _posts_for(emulator, host: str) -> list[dict]:
    return [r for r in await emulator.control.requests()
            if r["method"] == "POST" and r["path"] == f"/v2/users/{host}/meetings"]


async def _cancel(api, org_id: str, headers: dict, booking_id: str) -> dict:
    r = await api.http.post(f"/v1/orgs/{org_id}/bookings/{booking_id}/cancel", headers=headers)
    # 200, not 202: the cancel finished within the API's wait, not after the create gave up.
    assert r.status_code == 200, r.text
    return r.json()


async def _open_meetings(emulator, booking_id: str) -> list[dict]:
    return [m for m in await zoom_meetings_of(emulator, booking_id) if not m["deleted"]]


async def test_cancel_during_a_create_that_keeps_failing_is_prompt(api, emulator, idi_worker, system_host):
    org_id, headers, session_id = await new_org_with_session(api)
    await emulator.control.add_fault(CREATE, method="POST", action="respond", status=503)
    async with idi_worker(f"{system_host}:1"):
        booking = await book(api, org_id, headers, session_id)
        await until(lambda: _posts_for(emulator, system_host), what="a create at Zoom")
        cancelled = await _cancel(api, org_id, headers, booking["id"])
    assert (cancelled["status"], cancelled["status_reason"]) == ("cancelled", "cancelled_by_request")
    assert cancelled["meeting"] is None
    assert await _open_meetings(emulator, booking["id"]) == []
    held = await reservation_row(api.services, booking["id"])
    assert held.status == "released" and held.create_sent_at is None


async def test_cancel_deletes_the_meeting_a_lost_create_made(api, emulator, idi_worker, system_host):
    """Zoom made the meeting but its answer was lost; the retry that would find it is held up
    at Zoom when the cancel comes. The cancel's delete finds it by the agenda and deletes it."""
    org_id, headers, session_id = await new_org_with_session(api)
    await emulator.control.add_fault(CREATE, method="POST", action="commit_then_drop", count=1)
    await emulator.control.add_fault(CREATE, method="GET", action="delay", latency_ms=10_000, count=1)
    async with idi_worker(f"{system_host}:1"):
        booking = await book(api, org_id, headers, session_id)
        await until(lambda: zoom_meetings_of(emulator, booking["id"]), what="the lost create's meeting")
        cancelled = await _cancel(api, org_id, headers, booking["id"])
    assert (cancelled["status"], cancelled["status_reason"]) == ("cancelled", "cancelled_by_request")
    [at_zoom] = await zoom_meetings_of(emulator, booking["id"])
    assert at_zoom["deleted"] is True
    assert await meeting_row(api.services, booking["id"]) is None  # found by the cancel, not saved


async def test_cancel_waits_for_a_create_zoom_is_still_answering_then_deletes_it(api, emulator, idi_worker,
                                                                                system_host):
    """The cancel reaches the create while its request is at Zoom. Abandoning the request would not
    stop Zoom making the meeting after the cancel had looked; the create waits for the answer."""
    org_id, headers, session_id = await new_org_with_session(api)
    fault = await emulator.control.add_fault(CREATE, method="POST", action="delay", latency_ms=10_000, count=1)
    async with idi_worker(f"{system_host}:1"):
        booking = await book(api, org_id, headers, session_id)
        await until(lambda: _create_sent(api.services, booking["id"]), what="the create being sent")
        cancelled = await _cancel(api, org_id, headers, booking["id"])
        # Zoom has answered the slow create by now (or does so in a moment): see it through.
        await until(lambda: _answered(emulator, system_host, fault["id"]), what="Zoom answering the create")
    assert (cancelled["status"], cancelled["status_reason"]) == ("cancelled", "cancelled_by_request")
    assert len(await zoom_meetings_of(emulator, booking["id"])) == 1  # Zoom did make it...
    assert await _open_meetings(emulator, booking["id"]) == []  # ...and it was deleted


async def _create_sent(services, booking_id: str) -> bool:
    held = await reservation_row(services, booking_id)
    return held is not None and held.create_sent_at is not None


async def _answered(emulator, host: str, fault_id: int) -> bool:
    return any(r.get("fault") == fault_id for r in await _posts_for(emulator, host))



async def test_a_cancel_while_the_interviewee_is_being_registered_is_answered_at_once(
        api, emulator, idi_worker, system_host):
    """Zoom holds three registration attempts past the client's 15 s timeout, so the registration
    with its retries outlasts the 30 s the API waits for a cancel: the cancel stops it instead of
    waiting behind it, and the booking never turns scheduled."""
    org_id, headers, session_id = await new_org_with_session(api)
    await emulator.control.add_fault("/v2/meetings/*/registrants", method="POST", action="delay",
                                     latency_ms=16_000, count=3)
    async with idi_worker(f"{system_host}:1"):
        booking = await book(api, org_id, headers, session_id)
        await until(lambda: _open_meetings(emulator, booking["id"]), what="the meeting at Zoom")
        cancelled = await _cancel(api, org_id, headers, booking["id"])
    assert cancelled["status"] == "cancelled", cancelled
    assert await _open_meetings(emulator, booking["id"]) == []
