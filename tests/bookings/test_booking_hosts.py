"""Who hosts a booking's meeting (docs/promises.md#8-fallback-with-a-recorded-reason), against the real worker, Temporal and the emulator.

An org whose Zoom connection works gets the meeting on its own Zoom user; every other state of the
connection (none, disconnected, expired, revoked, a refresh Zoom refuses now, a Zoom user that no
longer exists) puts it on the system account and the booking says why. A user without a licence
fails the booking with a reason a person can act on.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update
from temporalio.api.enums.v1 import EventType
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from sqlmodel import select

from models import StartUrlIssuance, ZoomConnection, utcnow
from workflows.booking import IdiBookingWorkflow
from workflows.contract import booking_workflow_id

from tests.bookings.helpers import (
    book,
    connect_org,
    fresh_zoom_user,
    future,
    get_booking,
    history_text,
    meeting_row,
    new_org_with_session,
    rfc3339,
    settled,
    zoom_meetings_of,
)


async def test_connected_org_hosts_on_its_own_zoom_user_with_idi_settings(api, emulator, idi_worker, system_host):
    org_id, headers, session_id = await new_org_with_session(api, "Acme Research")
    email = await fresh_zoom_user(emulator, first="Alex", last="Rivera")
    conn = await connect_org(api, emulator, org_id, headers, email)
    start = future(hours=26)
    async with idi_worker(f"{system_host}:1"):
        booking = await book(api, org_id, headers, session_id, start, 50, name="Jordan Lee")
        booking = await settled(api, org_id, headers, booking["id"])
    assert booking["status"] == "scheduled", booking
    meeting = booking["meeting"]
    assert meeting["host_kind"] == "org" and meeting["fallback_reason"] is None
    assert (meeting["host_email"], meeting["host_name"]) == (email, "Alex Rivera")
    [at_zoom] = await zoom_meetings_of(emulator, booking["id"])
    assert at_zoom["host_email"] == email and at_zoom["host_id"] == conn.zoom_user_id
    assert str(at_zoom["id"]) == meeting["zoom_meeting_id"]
    assert at_zoom["topic"] == "Pricing study – Jordan Lee"
    assert at_zoom["start_time"] == rfc3339(start) and at_zoom["duration"] == 50
    assert at_zoom["timezone"] == "UTC"
    assert at_zoom["settings"]["auto_recording"] == "cloud" and at_zoom["settings"]["waiting_room"] is True
    assert f"converge-booking:{booking['id']}" in at_zoom["agenda"]

    # Ops read the story in the UI: the summary names the org, search attributes carry no PII.
    handle = api.services._temporal.get_workflow_handle(booking_workflow_id(booking["id"]))
    described = await handle.describe()
    attrs = {k.name: v for k, v in ((p.key, p.value) for p in described.typed_search_attributes)}
    assert attrs["OrgId"] == org_id and attrs["BookingId"] == booking["id"]
    assert attrs["HostKind"] == "org" and attrs["ZoomMeetingId"] == meeting["zoom_meeting_id"]
    assert attrs["BookingStatus"] == "scheduled"
    assert not any("@" in str(v) or "Jordan" in str(v) for v in attrs.values())
    text = await history_text(handle)
    assert "create meeting on Acme Research's Zoom" in text
    assert booking["id"] in text  # the decoding works: ids are there
    for secret in ("start_url", "zak=", "Jordan Lee", "pat@example.com", email):
        assert secret not in text, secret
    # The real history (real activities, dev server) replays against today's workflow code.
    await Replayer(workflows=[IdiBookingWorkflow], data_converter=pydantic_data_converter).replay_workflow(
        await handle.fetch_history())


async def _fallback(api, emulator, idi_worker, system_host, org_id, headers, session_id) -> dict:
    async with idi_worker(f"{system_host}:1"):
        booking = await book(api, org_id, headers, session_id, future(hours=40))
        return await settled(api, org_id, headers, booking["id"])


def _assert_on_system(booking: dict, system_host: str, reason: str) -> None:
    assert booking["status"] == "scheduled", booking
    meeting = booking["meeting"]
    assert (meeting["host_kind"], meeting["fallback_reason"], meeting["host_email"]) == ("system", reason, system_host)


async def test_fallback_not_connected(api, emulator, idi_worker, system_host):
    org_id, headers, session_id = await new_org_with_session(api)
    booking = await _fallback(api, emulator, idi_worker, system_host, org_id, headers, session_id)
    _assert_on_system(booking, system_host, "not_connected")


async def test_fallback_disconnected(api, emulator, idi_worker, system_host):
    org_id, headers, session_id = await new_org_with_session(api)
    await connect_org(api, emulator, org_id, headers, await fresh_zoom_user(emulator))
    r = await api.http.delete(f"/v1/orgs/{org_id}/integrations/zoom", headers=headers)
    assert r.status_code in (200, 204), r.text
    booking = await _fallback(api, emulator, idi_worker, system_host, org_id, headers, session_id)
    _assert_on_system(booking, system_host, "disconnected")


async def test_fallback_expired(api, emulator, idi_worker, system_host):
    org_id, headers, session_id = await new_org_with_session(api)
    conn = await connect_org(api, emulator, org_id, headers, await fresh_zoom_user(emulator))
    async with api.services.db.session() as s:
        await s.exec(update(ZoomConnection).where(ZoomConnection.id == conn.id)
                     .values(status="expired", status_reason=None))
        await s.commit()
    booking = await _fallback(api, emulator, idi_worker, system_host, org_id, headers, session_id)
    _assert_on_system(booking, system_host, "expired")


async def test_fallback_expired_says_what_expired_it(api, emulator, idi_worker, system_host):
    """Expired earlier by the keep-alive's refresh: the same reason as a refresh failing now."""
    org_id, headers, session_id = await new_org_with_session(api)
    conn = await connect_org(api, emulator, org_id, headers, await fresh_zoom_user(emulator))
    await api.services.tokens.mark_expired(conn.id, "refresh_failed")
    booking = await _fallback(api, emulator, idi_worker, system_host, org_id, headers, session_id)
    _assert_on_system(booking, system_host, "refresh_failed")


async def test_fallback_revoked_by_zoom_deauthorization(api, emulator, idi_worker, system_host):
    org_id, headers, session_id = await new_org_with_session(api)
    email = await fresh_zoom_user(emulator)
    await connect_org(api, emulator, org_id, headers, email)
    # The user uninstalls the app at Zoom; app_deauthorized reaches our webhook.
    await emulator.control.set_webhook(f"{api.url}/v1/zoom/webhooks", secret="emu-webhook-secret")
    try:
        await emulator.control.deauthorize(email, wait=True)
    finally:
        await emulator.control.set_webhook(None)
    status = (await api.http.get(f"/v1/orgs/{org_id}/integrations/zoom", headers=headers)).json()["status"]
    assert status == "revoked"
    booking = await _fallback(api, emulator, idi_worker, system_host, org_id, headers, session_id)
    _assert_on_system(booking, system_host, "revoked")


async def test_fallback_when_the_refresh_fails_now(api, emulator, idi_worker, system_host):
    """Active in our database, dead at Zoom: the booking's own refresh finds out and falls back."""
    org_id, headers, session_id = await new_org_with_session(api)
    email = await fresh_zoom_user(emulator)
    conn = await connect_org(api, emulator, org_id, headers, email)
    await emulator.control.deauthorize(email)  # no webhook configured: we are not told
    async with api.services.db.session() as s:  # the access token is due, so it must refresh
        await s.exec(update(ZoomConnection).where(ZoomConnection.id == conn.id)
                     .values(access_expires_at=utcnow() + timedelta(seconds=5)))
        await s.commit()
    booking = await _fallback(api, emulator, idi_worker, system_host, org_id, headers, session_id)
    _assert_on_system(booking, system_host, "refresh_failed")
    integration = (await api.http.get(f"/v1/orgs/{org_id}/integrations/zoom", headers=headers)).json()
    assert integration["status"] == "expired"


async def test_fallback_when_zoom_says_the_org_user_no_longer_exists(api, emulator, idi_worker, system_host):
    org_id, headers, session_id = await new_org_with_session(api)
    await connect_org(api, emulator, org_id, headers, await fresh_zoom_user(emulator))
    await emulator.control.add_fault("/v2/users/me/meetings", method="POST", action="respond", status=404,
                                     body={"code": 1001, "message": "User does not exist: me."}, count=1)
    booking = await _fallback(api, emulator, idi_worker, system_host, org_id, headers, session_id)
    _assert_on_system(booking, system_host, "zoom_user_not_found")
    integration = (await api.http.get(f"/v1/orgs/{org_id}/integrations/zoom", headers=headers)).json()
    assert (integration["status"], integration["status_reason"]) == ("expired", "zoom_user_not_found")
    assert len(await zoom_meetings_of(emulator, booking["id"])) == 1


async def test_unlicensed_org_user_fails_the_booking_with_zoom_license_unavailable(api, emulator, idi_worker, system_host):
    org_id, headers, session_id = await new_org_with_session(api)
    # Like nora@acme.test (type 4: no meetings licence), but nobody else connects this one.
    await connect_org(api, emulator, org_id, headers,
                      await fresh_zoom_user(emulator, type=4, account_id="emu-acme", first="Nora", last="Nolicense"))
    async with idi_worker(f"{system_host}:1"):
        booking = await book(api, org_id, headers, session_id, future(hours=44))
        booking = await settled(api, org_id, headers, booking["id"])
    assert (booking["status"], booking["status_reason"]) == ("failed", "zoom_license_unavailable")
    assert "licence" in booking["status_message"] and "Assign a licence" in booking["status_message"]
    assert booking["meeting"] is None
    assert await zoom_meetings_of(emulator, booking["id"]) == []
    # The host is never switched silently: a licence problem is not a fallback reason.
    handle = api.services._temporal.get_workflow_handle(booking_workflow_id(booking["id"]))
    creates = [e for e in (await handle.fetch_history()).events
               if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
               and e.activity_task_scheduled_event_attributes.activity_type.name == "create_booking_meeting"]
    assert len(creates) == 1


async def test_start_url_is_fetched_fresh_and_never_stored(api, emulator, idi_worker, system_host):
    org_id, headers, session_id = await new_org_with_session(api)
    async with idi_worker(f"{system_host}:1"):
        # A system host: inside the interview's own window (from 15 minutes before).
        booking = await book(api, org_id, headers, session_id, future(hours=0, minutes=10))
        booking = await settled(api, org_id, headers, booking["id"])
        urls = []
        for _ in range(2):
            r = await api.http.get(f"/v1/orgs/{org_id}/bookings/{booking['id']}/start-url", headers=headers)
            assert r.status_code == 200, r.text
            assert r.headers["cache-control"] == "no-store"
            urls.append(r.json()["start_url"])
    assert urls[0] != urls[1] and all("zak=" in u for u in urls)  # a new one from Zoom each time
    row = await meeting_row(api.services, booking["id"])
    assert all(u not in str(row.model_dump()) for u in urls)
    view = await get_booking(api, org_id, headers, booking["id"])
    assert "zak=" not in str(view)
    text = await history_text(api.services._temporal.get_workflow_handle(booking_workflow_id(booking["id"])))
    assert booking["id"] in text and "zak=" not in text and "start_url" not in text


async def test_a_system_hosts_start_url_only_in_the_bookings_window_and_every_issuance_recorded(
        api, emulator, idi_worker, system_host):
    """A system host's start URL is its ZAK: not handed out days ahead; each one handed out is on
    record with who asked."""
    org_id, headers, session_id = await new_org_with_session(api)
    async with idi_worker(f"{system_host}:1"):
        later = await settled(api, org_id, headers,
                              (await book(api, org_id, headers, session_id, future(hours=30)))["id"])
        soon = await settled(api, org_id, headers,
                             (await book(api, org_id, headers, session_id, future(hours=0, minutes=12)))["id"])
        early = await api.http.get(f"/v1/orgs/{org_id}/bookings/{later['id']}/start-url", headers=headers)
        now = await api.http.get(f"/v1/orgs/{org_id}/bookings/{soon['id']}/start-url",
                                 headers={**headers, "User-Agent": "interviewer-laptop"})
    assert later["meeting"]["host_kind"] == "system" and soon["meeting"]["host_kind"] == "system"
    assert early.status_code == 409 and early.json()["error"]["code"] == "start_url_outside_window"
    assert "zak=" not in early.text
    assert now.status_code == 200 and "zak=" in now.json()["start_url"]
    async with api.services.db.session() as s:
        rows = (await s.exec(select(StartUrlIssuance).where(StartUrlIssuance.org_id == org_id))).all()
    [issued] = rows  # the refused one is not an issuance
    assert (issued.booking_id, issued.host_kind, issued.requested_by, issued.user_agent) == (
        soon["id"], "system", f"org:{org_id}", "interviewer-laptop")
    assert issued.host_email == soon["meeting"]["host_email"] and issued.client_ip == "127.0.0.1"


async def test_start_url_before_the_meeting_exists(api):
    org_id, headers, session_id = await new_org_with_session(api)
    # No worker runs: the booking stays `scheduling`.
    booking = await book(api, org_id, headers, session_id, future(hours=47))
    try:
        assert booking["status"] == "scheduling" and booking["meeting"] is None
        r = await api.http.get(f"/v1/orgs/{org_id}/bookings/{booking['id']}/start-url", headers=headers)
        assert r.status_code == 409 and r.json()["error"]["code"] == "meeting_not_ready"
        r = await api.http.patch(f"/v1/orgs/{org_id}/bookings/{booking['id']}", headers=headers,
                                 json={"duration_minutes": 30})
        assert r.status_code == 409 and r.json()["error"]["code"] == "booking_not_reschedulable"
        assert "once its meeting is created" in r.json()["error"]["message"]
    finally:
        # Later tests run workers on this queue; this booking must not be picked up there.
        await api.services._temporal.get_workflow_handle(booking["workflow_id"]).terminate("test over")
