"""The interviewee's own join link (docs/zoom.md#meeting-registrants), end to end: the booking API,
the real worker on the Temporal dev server and the emulator over HTTP.

- once the meeting exists the interviewee is registered on it: the booking shows their own link,
  a join through it is matched by registrant id (even under another name and address), in the
  webhooks and in Zoom's participants list, and neither the link nor the person reaches Temporal;
- registering the same email again gives the same registrant, never a second one;
- when Zoom refuses (a Basic host cannot take registrations) the booking keeps the plain link,
  registration is switched off again, and the match falls back to email.
"""

from __future__ import annotations

import uuid
from contextlib import asynccontextmanager

from activities.booking_registrants import BookingRegistrantActivities
from models import Booking
from tests.attendance.helpers import a_while_ago, at, booked, person, stack, until_status
from tests.bookings.helpers import history_text, services_with_hosts, settled
from tests.recordings.helpers import recording_worker, webhooks_to
from workflows.booking_types import MeetingRef
from workflows.contract import booking_workflow_id


async def _history(temporal_env, booking_id: str) -> str:
    return await history_text(temporal_env.client.get_workflow_handle(booking_workflow_id(booking_id)))


async def _emulated(emulator, meeting_id: int) -> dict:
    return next(m for m in await emulator.control.meetings() if m["id"] == meeting_id)


async def test_registered_interviewee_is_matched_by_registrant_id(api, emulator, temporal_env):
    base = a_while_ago()
    async with stack(api, emulator, temporal_env):
        b = await booked(api, "Registered Research")
        meeting = b.booking["meeting"]
        if meeting.get("registration_status") is None:  # the answer may precede the registration
            b.booking = await settled(api, b.org_id, b.headers, b.id,
                                      until=lambda x: x["meeting"]["registration_status"])
            meeting = b.booking["meeting"]
        own_link = meeting["interviewee_join_url"]
        at_zoom = await _emulated(emulator, b.meeting_id)
        await emulator.control.start_meeting(b.meeting_id)
        await until_status(api, b, "in_progress")
        await emulator.control.join(b.meeting_id, "Converge Host", host=True, at=at(base, 0))
        # On a borrowed phone: another name, no email; only their own link says who this is.
        j = await emulator.control.join(b.meeting_id, "Galaxy S21", join_url=own_link, at=at(base, 1))
        await emulator.control.leave(b.meeting_id, j["participant_id"], at=at(base, 21))
        await emulator.control.end_meeting(b.meeting_id, wait=True)
        done = await settled(api, b.org_id, b.headers, b.id,
                             until=lambda x: x["attendance"]["status"] is not None)
        history = await _history(temporal_env, b.id)

    assert (meeting["registration_status"], meeting["registration_reason"]) == ("registered", None)
    assert own_link and own_link != meeting["join_url"], meeting
    assert [r["email"] for r in at_zoom["registrants"]] == [b.email]
    assert at_zoom["registrants"][0]["join_url"] == own_link
    assert at_zoom["settings"]["approval_type"] == 0
    assert done["attendance"]["status"] == "attended", done["attendance"]
    guest = person(done, "interviewee")
    assert (guest["matched_by"], guest["minutes"]) == ("registrant_id", 20), guest
    # The registration step passed ids only: no name, email, personal link or registrant id.
    registrant_id = at_zoom["registrants"][0]["registrant_id"]
    for personal in (b.name, b.email, own_link, registrant_id, "Galaxy S21"):
        assert personal not in history, personal


async def test_missed_webhooks_still_match_by_registrant_id_from_the_participants_list(
        api, emulator, temporal_env):
    base = a_while_ago()
    async with stack(api, emulator, temporal_env):
        await emulator.control.config(participant_webhooks=False)
        b = await booked(api, "Registered Missed Research")
        b.booking = await settled(api, b.org_id, b.headers, b.id,
                                  until=lambda x: x["meeting"]["registration_status"])
        await emulator.control.start_meeting(b.meeting_id)
        await until_status(api, b, "in_progress")
        await emulator.control.join(b.meeting_id, "Converge Host", host=True, at=at(base, 0))
        await emulator.control.join(b.meeting_id, "R.", email="riley@home.test",
                                    join_url=b.booking["meeting"]["interviewee_join_url"], at=at(base, 2))
        await emulator.control.end_meeting(b.meeting_id, wait=True)
        done = await settled(api, b.org_id, b.headers, b.id,
                             until=lambda x: x["attendance"]["status"] is not None)
    assert done["attendance"]["source"] == "zoom_participants_list"
    assert person(done, "interviewee")["matched_by"] == "registrant_id"


async def test_registering_the_same_email_again_gives_the_same_registrant(api, emulator, temporal_env):
    """A retry after a lost answer: Zoom answers with the registration already made (or refuses,
    by switch); there is never a second registrant."""
    async with stack(api, emulator, temporal_env):
        b = await booked(api, "Twice Registered Research")
        first = await settled(api, b.org_id, b.headers, b.id,
                              until=lambda x: x["meeting"]["registration_status"])
        register = BookingRegistrantActivities(api.services).register_interviewee
        ref = MeetingRef(booking_id=b.id, zoom_meeting_id=str(b.meeting_id), host_kind="system")

        async def forget_answer() -> None:
            async with api.services.db.session() as s:
                row = await s.get(Booking, b.id)
                row.registration_status = row.zoom_registrant_id = row.interviewee_join_url = None
                s.add(row)
                await s.commit()

        await forget_answer()
        again = await register(ref)
        second = await settled(api, b.org_id, b.headers, b.id,
                               until=lambda x: x["meeting"]["registration_status"])
        await emulator.control.config(registrant_duplicate="error")
        try:
            await forget_answer()
            refused = await register(ref)
        finally:
            await emulator.control.config(registrant_duplicate="existing")
        at_zoom = await _emulated(emulator, b.meeting_id)
        third = await settled(api, b.org_id, b.headers, b.id,
                              until=lambda x: x["meeting"]["registration_status"])

    assert again.registered
    assert second["meeting"]["interviewee_join_url"] == first["meeting"]["interviewee_join_url"]
    assert (refused.registered, refused.reason) == (False, "zoom_refused")
    assert len(at_zoom["registrants"]) == 1
    assert third["meeting"]["interviewee_join_url"] is None  # the plain join link serves


@asynccontextmanager
async def basic_host_stack(api, emulator, temporal_env):
    email = f"basic-{uuid.uuid4().hex[:10]}@system.converge.test"
    await emulator.control.create_user(email, account_id="emu-system-account", type=1,
                                       first_name="Basic", last_name="Host")
    svc = services_with_hosts(api.services, f"{email}:3")
    async with webhooks_to(emulator, api.url), recording_worker(temporal_env.client, svc):
        yield


async def test_refused_registration_keeps_the_plain_link_and_matches_by_email(api, emulator, temporal_env):
    base = a_while_ago()
    async with basic_host_stack(api, emulator, temporal_env):
        b = await booked(api, "Basic Host Research")
        b.booking = await settled(api, b.org_id, b.headers, b.id,
                                  until=lambda x: x["meeting"]["registration_status"])
        at_zoom = await _emulated(emulator, b.meeting_id)
        await emulator.control.start_meeting(b.meeting_id)
        await until_status(api, b, "in_progress")
        await emulator.control.join(b.meeting_id, "Converge Host", host=True, at=at(base, 0))
        await emulator.control.join(b.meeting_id, b.name, email=b.email,
                                    join_url=b.booking["meeting"]["join_url"], at=at(base, 1))
        await emulator.control.end_meeting(b.meeting_id, wait=True)
        done = await settled(api, b.org_id, b.headers, b.id,
                             until=lambda x: x["attendance"]["status"] is not None)

    meeting = b.booking["meeting"]
    assert b.booking["status"] == "scheduled"
    assert (meeting["registration_status"], meeting["registration_reason"]) == (
        "not_registered", "host_not_licensed")
    assert meeting["interviewee_join_url"] is None and meeting["join_url"]
    assert at_zoom["registrants"] == [] and at_zoom["settings"]["approval_type"] == 2
    assert done["attendance"]["status"] == "attended"
    assert person(done, "interviewee")["matched_by"] == "email"


async def test_a_zoom_refusal_or_outage_switches_registration_off_and_keeps_the_booking(
        api, emulator, temporal_env):
    """A licensed host, but Zoom refuses the registrant (or never answers): the meeting stops
    asking for registration, so the plain link that the booking keeps joins directly."""
    async with stack(api, emulator, temporal_env):
        await emulator.control.add_fault("/v2/meetings/*/registrants", method="POST", action="respond",
                                         status=400, body={"code": 3000, "message": "Registration has not been enabled for this meeting"}, count=1)
        try:
            refused = await booked(api, "Refused Registration Research")
            await emulator.control.add_fault("/v2/meetings/*/registrants", method="POST",
                                             action="respond", status=503, body={"code": 500, "message": "down"})
            down = await booked(api, "Zoom Down Registration Research")
        finally:
            await emulator.control.clear_faults()
        refused_at_zoom = await _emulated(emulator, refused.meeting_id)
        down_at_zoom = await _emulated(emulator, down.meeting_id)

    for b, reason, at_zoom in ((refused, "zoom_refused", refused_at_zoom),
                               (down, "zoom_unavailable", down_at_zoom)):
        meeting = b.booking["meeting"]
        assert b.booking["status"] == "scheduled"
        assert (meeting["registration_status"], meeting["registration_reason"]) == ("not_registered", reason)
        assert meeting["interviewee_join_url"] is None and meeting["join_url"]
        assert at_zoom["settings"]["approval_type"] == 2 and at_zoom["registrants"] == []
