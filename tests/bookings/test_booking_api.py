"""The sessions and bookings API against the real stack: what it accepts, what it refuses (and
that a refusal stores nothing and starts nothing), Idempotency-Key replays, org isolation."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from datetime import timedelta, timezone

import httpx
import pytest
from aiohttp import web
from sqlmodel import func, select
from temporalio.service import RPCError, RPCStatusCode

from api.app import create_app
from devstack import free_port
from models import Booking, utcnow
from workflows.contract import booking_workflow_id

# A start inside the booking horizon (a year ahead at most), whenever the suite runs.
SOON = (utcnow() + timedelta(days=30)).strftime("%Y-%m-%dT10:00:00Z")

from tests.bookings.helpers import (
    book,
    booking_body,
    future,
    get_booking,
    new_org_with_session,
    post_booking,
    rfc3339,
    settled,
    zoom_meetings_of,
)


async def _bookings_in(services, org_id: str) -> int:
    async with services.db.session() as s:
        return (await s.exec(select(func.count()).select_from(Booking).where(Booking.org_id == org_id))).one()


async def _workflow_count(client, org_id: str) -> int:
    return (await client.count_workflows(f'OrgId="{org_id}"')).count


async def test_create_and_list_sessions(api):
    org_id, headers, session_id = await new_org_with_session(api, "Initech")
    r = await api.http.post(f"/v1/orgs/{org_id}/sessions", headers=headers,
                            json={"title": "Focus group", "kind": "focus_group", "meeting_provider": "external_link"})
    assert r.status_code == 201
    assert r.json()["kind"] == "focus_group"
    r = await api.http.post(f"/v1/orgs/{org_id}/sessions", headers=headers, json={"title": "  "})
    assert r.status_code == 400 and "title" in r.json()["error"]["message"]
    r = await api.http.post(f"/v1/orgs/{org_id}/sessions", headers=headers, json={"title": "x", "kind": "webinar"})
    assert r.status_code == 400 and "kind" in r.json()["error"]["message"]
    listed = (await api.http.get(f"/v1/orgs/{org_id}/sessions", headers=headers)).json()["sessions"]
    assert {s["title"] for s in listed} == {"Pricing study", "Focus group"}
    one = (await api.http.get(f"/v1/orgs/{org_id}/sessions/{session_id}", headers=headers)).json()
    assert (one["kind"], one["meeting_provider"]) == ("idi", "zoom_app")


async def test_booking_on_the_system_account_returns_the_meeting_and_lists_it(api, emulator, idi_worker, system_host):
    org_id, headers, session_id = await new_org_with_session(api)
    start = future(hours=30)
    async with idi_worker(f"{system_host}:1"):
        r = await post_booking(api, org_id, headers, session_id,
                               booking_body(start, 45, name="Pat Doe", email="pat@example.com"))
        assert r.status_code == 202, r.text
        booking = r.json()
        booking = await settled(api, org_id, headers, booking["id"])
    assert booking["status"] == "scheduled", booking
    assert booking["workflow_id"] == booking_workflow_id(booking["id"])
    assert booking["start_time"] == rfc3339(start) and booking["duration_minutes"] == 45
    meeting = booking["meeting"]
    assert meeting["host_kind"] == "system" and meeting["fallback_reason"] == "not_connected"
    assert meeting["host_email"] == system_host and meeting["host_name"] == "Converge Pool Host"
    assert meeting["join_url"].startswith(emulator.base_url)
    assert booking["recordings"] == []
    [at_zoom] = await zoom_meetings_of(emulator, booking["id"])
    assert str(at_zoom["id"]) == meeting["zoom_meeting_id"] and at_zoom["host_email"] == system_host
    listed = (await api.http.get(f"/v1/orgs/{org_id}/sessions/{session_id}/bookings", headers=headers)).json()
    assert [b["id"] for b in listed["bookings"]] == [booking["id"]]
    assert listed["bookings"][0]["meeting"]["zoom_meeting_id"] == meeting["zoom_meeting_id"]


BAD_BODIES = [
    ({"participant_email": "p@example.com", "start_time": SOON, "duration_minutes": 60},
     400, "invalid_request", "participant_name"),
    ({"participant_name": "P", "participant_email": "not-an-email", "start_time": SOON,
      "duration_minutes": 60}, 400, "invalid_participant_email", "name@example.com"),
    ({"participant_name": "P", "participant_email": "p@example", "start_time": SOON,
      "duration_minutes": 60}, 400, "invalid_participant_email", "not an email"),
    ({"participant_name": " ", "participant_email": "p@example.com", "start_time": SOON,
      "duration_minutes": 60}, 400, "invalid_participant_name", "participant_name"),
    ({"participant_name": "P", "participant_email": "p@example.com", "start_time": "2031-01-01T10:00:00",
      "duration_minutes": 60}, 400, "start_time_without_offset", "offset"),
    ({"participant_name": "P", "participant_email": "p@example.com", "start_time": "next tuesday",
      "duration_minutes": 60}, 400, "invalid_start_time", "RFC 3339"),
    ({"participant_name": "P", "participant_email": "p@example.com", "start_time": "2020-01-01T10:00:00Z",
      "duration_minutes": 60}, 422, "start_time_in_past", "in the past"),
    ({"participant_name": "P", "participant_email": "p@example.com", "start_time": SOON,
      "duration_minutes": 14}, 422, "duration_out_of_range", "between 15 and 480"),
    ({"participant_name": "P", "participant_email": "p@example.com", "start_time": SOON,
      "duration_minutes": 481}, 422, "duration_out_of_range", "between 15 and 480"),
    ({"participant_name": "P", "participant_email": "p@example.com", "start_time": SOON,
      "duration_minutes": "60"}, 400, "invalid_request", "duration_minutes"),
    ({"participant_name": "P", "participant_email": "p@example.com", "start_time": SOON,
      "duration_minutes": 60, "duration": 30}, 400, "invalid_request", "duration"),
]


@pytest.mark.parametrize("body,status,code,hint", BAD_BODIES)
async def test_invalid_bookings_are_refused_and_leave_nothing_behind(api, body, status, code, hint):
    org_id, headers, session_id = await new_org_with_session(api)
    r = await post_booking(api, org_id, headers, session_id, body, key=str(uuid.uuid4()))
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["code"] == code and hint in error["message"], error
    assert await _bookings_in(api.services, org_id) == 0
    assert await _workflow_count(api.services._temporal, org_id) == 0


async def test_unknown_session_and_non_idi_session(api):
    org_id, headers, _ = await new_org_with_session(api)
    r = await post_booking(api, org_id, headers, "nope", booking_body(future()))
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = await api.http.post(f"/v1/orgs/{org_id}/sessions", headers=headers,
                            json={"title": "Live", "kind": "live", "meeting_provider": "zoom_app"})
    live = r.json()["id"]
    r = await post_booking(api, org_id, headers, live, booking_body(future()))
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "session_not_zoom_idi" and "'idi'" in r.json()["error"]["message"]
    r = await api.http.post(f"/v1/orgs/{org_id}/sessions", headers=headers,
                            json={"title": "Link", "kind": "idi", "meeting_provider": "external_link"})
    r = await post_booking(api, org_id, headers, r.json()["id"], booking_body(future()))
    assert r.status_code == 422 and r.json()["error"]["code"] == "session_not_zoom_idi"
    assert await _bookings_in(api.services, org_id) == 0


async def test_idempotency_key_replays_the_same_booking_and_refuses_a_different_body(api, emulator, idi_worker, system_host):
    org_id, headers, session_id = await new_org_with_session(api)
    key = str(uuid.uuid4())
    start = future(hours=50)
    body = booking_body(start, 60)
    async with idi_worker(f"{system_host}:1"):
        first = await post_booking(api, org_id, headers, session_id, body, key=key)
        assert first.status_code == 202
        # Same instant written with another offset: the same request.
        same = dict(body, start_time=start.astimezone(timezone(timedelta(hours=2))).isoformat())
        replays = await asyncio.gather(*[post_booking(api, org_id, headers, session_id, same, key=key)
                                         for _ in range(3)])
        assert {r.status_code for r in replays} == {200}
        assert {r.json()["id"] for r in replays} == {first.json()["id"]}
        other = await post_booking(api, org_id, headers, session_id, dict(body, duration_minutes=90), key=key)
        assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_key_reused"
        booking = await settled(api, org_id, headers, first.json()["id"])
    assert booking["status"] == "scheduled"
    assert await _bookings_in(api.services, org_id) == 1
    assert len(await zoom_meetings_of(emulator, booking["id"])) == 1


async def test_concurrent_first_requests_with_one_key_make_one_booking(api, emulator, idi_worker, system_host):
    org_id, headers, session_id = await new_org_with_session(api)
    key = str(uuid.uuid4())
    body = booking_body(future(hours=52), 30)
    async with idi_worker(f"{system_host}:1"):
        answers = await asyncio.gather(*[post_booking(api, org_id, headers, session_id, body, key=key)
                                         for _ in range(5)])
        assert {r.status_code for r in answers} <= {200, 202}
        ids = {r.json()["id"] for r in answers}
        assert len(ids) == 1
        booking = await settled(api, org_id, headers, ids.pop())
    assert booking["status"] == "scheduled"
    assert await _bookings_in(api.services, org_id) == 1
    assert len(await zoom_meetings_of(emulator, booking["id"])) == 1


async def test_every_booking_route_hides_other_orgs(api, idi_worker, system_host):
    org_a, headers_a, session_a = await new_org_with_session(api, "Org A")
    org_b, headers_b, session_b = await new_org_with_session(api, "Org B")
    async with idi_worker(f"{system_host}:1"):
        booking = await book(api, org_a, headers_a, session_a, future(hours=60))
        await settled(api, org_a, headers_a, booking["id"])
    bid = booking["id"]
    body = booking_body(future(hours=70))
    attempts = [
        # B's key on A's paths: 404 for the org itself
        ("GET", f"/v1/orgs/{org_a}/sessions", None),
        ("GET", f"/v1/orgs/{org_a}/sessions/{session_a}", None),
        ("POST", f"/v1/orgs/{org_a}/sessions", {"title": "x"}),
        ("POST", f"/v1/orgs/{org_a}/sessions/{session_a}/bookings", body),
        ("GET", f"/v1/orgs/{org_a}/sessions/{session_a}/bookings", None),
        ("GET", f"/v1/orgs/{org_a}/bookings/{bid}", None),
        ("GET", f"/v1/orgs/{org_a}/bookings/{bid}/start-url", None),
        ("PATCH", f"/v1/orgs/{org_a}/bookings/{bid}", {"duration_minutes": 30}),
        ("POST", f"/v1/orgs/{org_a}/bookings/{bid}/cancel", None),
        # B's key on B's own paths naming A's objects: 404 for the object
        ("GET", f"/v1/orgs/{org_b}/sessions/{session_a}", None),
        ("POST", f"/v1/orgs/{org_b}/sessions/{session_a}/bookings", body),
        ("GET", f"/v1/orgs/{org_b}/sessions/{session_a}/bookings", None),
        ("GET", f"/v1/orgs/{org_b}/bookings/{bid}", None),
        ("GET", f"/v1/orgs/{org_b}/bookings/{bid}/start-url", None),
        ("PATCH", f"/v1/orgs/{org_b}/bookings/{bid}", {"duration_minutes": 30}),
        ("POST", f"/v1/orgs/{org_b}/bookings/{bid}/cancel", None),
    ]
    for method, path, json_body in attempts:
        r = await api.http.request(method, path, headers=headers_b, json=json_body)
        assert r.status_code == 404, (method, path, r.status_code, r.text)
        assert bid not in r.text and "Pat" not in r.text
    after = await get_booking(api, org_a, headers_a, bid)
    assert after["status"] == "scheduled" and after["duration_minutes"] == 60
    assert await _bookings_in(api.services, org_b) == 0
    no_key = await api.http.get(f"/v1/orgs/{org_a}/bookings/{bid}")
    assert no_key.status_code == 401


async def test_booking_fails_cleanly_when_temporal_is_unreachable(api, services):
    """Nothing may stay behind for a booking whose workflow could not start."""

    class DownTemporal:
        async def execute_update_with_start_workflow(self, *args, **kwargs):
            raise RPCError("connection refused", RPCStatusCode.UNAVAILABLE, b"")

        async def start_workflow(self, *args, **kwargs):
            raise RPCError("connection refused", RPCStatusCode.UNAVAILABLE, b"")

    runner = web.AppRunner(create_app(dataclasses.replace(services, _temporal=DownTemporal())))
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        org_id, headers, session_id = await new_org_with_session(api)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            r = await http.post(f"/v1/orgs/{org_id}/sessions/{session_id}/bookings", headers=headers,
                                json=booking_body(future()))
        assert r.status_code == 503 and r.json()["error"]["code"] == "workflow_service_unavailable"
        assert "nothing was booked" in r.json()["error"]["message"]
        assert await _bookings_in(services, org_id) == 0
    finally:
        await runner.cleanup()


async def test_a_start_cut_off_after_its_workflow_already_ran_is_not_temporal_down(api, idi_worker):
    """Under load the quick wait can end after Temporal started the workflow but before it said
    so, and a booking that fails at once may have finished by then. The fallback start then meets
    a closed run: that is a started workflow, not an outage (before, the API answered 503 and
    deleted a booking whose workflow had run)."""
    from api.booking_workflow import start_booking

    org_id, headers, session_id = await new_org_with_session(api)
    async with idi_worker(""):  # no system hosts: an unconnected org's booking fails at once
        booking = await settled(api, org_id, headers, (await book(api, org_id, headers, session_id))["id"])
    assert (booking["status"], booking["status_reason"]) == ("failed", "system_host_missing")
    async with api.services.db.session() as s:
        row = await s.get(Booking, booking["id"])
    handle = api.services._temporal.get_workflow_handle(booking["workflow_id"])
    ran = (await handle.describe()).run_id
    await start_booking(api.services, row, "Acme Research", quick_wait=0)  # cut off at once
    assert (await handle.describe()).run_id == ran  # the one run, not a second
