"""The org's own Zoom user hosts only as many overlapping interviews as Zoom lets it run at once
(docs/zoom.md#concurrency); the next one runs on Converge's system account with
fallback_reason org_host_busy, counted under the org host's lock like the system pool."""

from __future__ import annotations

import asyncio
import html
from datetime import timedelta

import httpx

from tests.bookings.helpers import (
    book,
    booking_body,
    connect_org,
    fresh_zoom_user,
    future,
    get_booking,
    new_org_with_session,
    post_booking,
    reservation_row,
    rfc3339,
    settled,
    zoom_meetings_of,
)
from tests.helpers import key_of
from tests.pages.helpers import http_sign_in


async def _connected(api, emulator, name: str = "Acme Research"):
    org_id, headers, session_id = await new_org_with_session(api, name)
    email = await fresh_zoom_user(emulator)
    await connect_org(api, emulator, org_id, headers, email)
    return org_id, headers, session_id, email


async def _set_capacity(api, org_id: str, headers: dict, body) -> object:
    return await api.http.patch(f"/v1/orgs/{org_id}/integrations/zoom", headers=headers, json=body)


async def test_an_overlap_past_the_org_users_capacity_runs_on_the_system_account(api, emulator, idi_worker, system_host):
    org_id, headers, session_id, email = await _connected(api, emulator)
    status = (await api.http.get(f"/v1/orgs/{org_id}/integrations/zoom", headers=headers)).json()
    assert (status["concurrent_meetings"], status["concurrent_meetings_source"]) == (1, "default")
    start = future(hours=30)
    async with idi_worker(f"{system_host}:2"):
        first = await settled(api, org_id, headers, (await book(api, org_id, headers, session_id, start, 60))["id"])
        second = await settled(api, org_id, headers, (await book(
            api, org_id, headers, session_id, start + timedelta(minutes=30), 60))["id"])
        after = await settled(api, org_id, headers, (await book(
            api, org_id, headers, session_id, start + timedelta(minutes=60), 30))["id"])
    assert first["meeting"]["host_kind"] == "org" and first["meeting"]["host_email"] == email
    assert second["status"] == "scheduled"
    assert (second["meeting"]["host_kind"], second["meeting"]["fallback_reason"]) == ("system", "org_host_busy")
    assert second["meeting"]["host_email"] == system_host
    [at_zoom] = await zoom_meetings_of(emulator, second["id"])
    assert at_zoom["host_email"] == system_host
    assert (await reservation_row(api.services, second["id"])).fallback_reason == "org_host_busy"
    # [start, end) windows: back to back is no overlap, so the org's user hosts it.
    assert after["meeting"]["host_kind"] == "org"
    # The booking card says it in plain words.
    async with httpx.AsyncClient(base_url=api.url, timeout=30) as browser:
        await http_sign_in(browser, key_of(headers))
        card = " ".join(html.unescape((await browser.get(f"/bookings/{second['id']}/card")).text).split())
    assert "Converge's Zoom account, because your organization's Zoom user is already hosting" in card
    assert "The interview still runs as planned" in card


async def test_capacity_two_lets_the_org_user_host_two_at_once(api, emulator, idi_worker, system_host):
    org_id, headers, session_id, _ = await _connected(api, emulator)
    r = await _set_capacity(api, org_id, headers, {"concurrent_meetings": 2})
    assert r.status_code == 200, r.text
    assert (r.json()["concurrent_meetings"], r.json()["concurrent_meetings_source"]) == (2, "org")
    start = future(hours=34)
    async with idi_worker(f"{system_host}:2"):
        kinds = []
        for i in range(3):
            b = await book(api, org_id, headers, session_id, start + timedelta(minutes=10 * i), 60)
            b = await settled(api, org_id, headers, b["id"])
            kinds.append((b["meeting"]["host_kind"], b["meeting"]["fallback_reason"]))
    assert kinds == [("org", None), ("org", None), ("system", "org_host_busy")]


async def test_bad_capacity_input_is_refused_and_changes_nothing(api, emulator):
    spec = (await api.http.get("/openapi.json")).json()
    patch = spec["paths"]["/v1/orgs/{org}/integrations/zoom"]["patch"]
    assert "requestBody" in patch and "addition" in patch["summary"]
    org_id, headers, _, email = await _connected(api, emulator)
    for body in ({"concurrent_meetings": 0}, {"concurrent_meetings": 3}, {"concurrent_meetings": "2"},
                 {"concurrent_meetings": True}, {"concurrent_meetings": 1.5}, {},
                 {"concurrent_meetings": 2, "extra": 1}, [2]):
        r = await _set_capacity(api, org_id, headers, body)
        assert r.status_code == 400, (body, r.text)
        assert r.json()["error"]["code"] == "invalid_request"
        if isinstance(body, dict) and "concurrent_meetings" in body and body["concurrent_meetings"] in (0, 3):
            assert "concurrent_meetings" in r.json()["error"]["message"]
    r = await api.http.patch(f"/v1/orgs/{org_id}/integrations/zoom", headers=headers, content=b"concurrent_meetings=2")
    assert r.status_code == 415
    status = (await api.http.get(f"/v1/orgs/{org_id}/integrations/zoom", headers=headers)).json()
    assert (status["concurrent_meetings"], status["concurrent_meetings_source"]) == (1, "default")

    # An org without a connection has no user to set it on.
    other_id, other_headers, _ = await new_org_with_session(api, "Initech")
    r = await _set_capacity(api, other_id, other_headers, {"concurrent_meetings": 2})
    assert (r.status_code, r.json()["error"]["code"]) == (404, "zoom_not_connected")
    # Nor may it set this org's: another org's key is a 404 and changes nothing.
    r = await _set_capacity(api, org_id, other_headers, {"concurrent_meetings": 2})
    assert r.status_code == 404, r.text
    status = (await api.http.get(f"/v1/orgs/{org_id}/integrations/zoom", headers=headers)).json()
    assert status["concurrent_meetings"] == 1

    # The org's own number survives a reconnect of the same Zoom user.
    assert (await _set_capacity(api, org_id, headers, {"concurrent_meetings": 2})).status_code == 200
    await connect_org(api, emulator, org_id, headers, email)
    status = (await api.http.get(f"/v1/orgs/{org_id}/integrations/zoom", headers=headers)).json()
    assert (status["concurrent_meetings"], status["concurrent_meetings_source"]) == (2, "org")
    # Another Zoom user starts again from its default.
    await connect_org(api, emulator, org_id, headers, await fresh_zoom_user(emulator))
    status = (await api.http.get(f"/v1/orgs/{org_id}/integrations/zoom", headers=headers)).json()
    assert (status["concurrent_meetings"], status["concurrent_meetings_source"]) == (1, "default")


async def test_a_reschedule_into_a_busy_time_is_refused_and_keeps_the_old_time(api, emulator, idi_worker, system_host):
    org_id, headers, session_id, _ = await _connected(api, emulator)
    start = future(hours=38)
    later = start + timedelta(hours=3)
    async with idi_worker(f"{system_host}:2"):
        moving = await settled(api, org_id, headers, (await book(api, org_id, headers, session_id, start))["id"])
        blocker = await settled(api, org_id, headers, (await book(api, org_id, headers, session_id, later))["id"])
        assert moving["meeting"]["host_kind"] == blocker["meeting"]["host_kind"] == "org"
        r = await api.http.patch(f"/v1/orgs/{org_id}/bookings/{moving['id']}", headers=headers,
                                 json={"start_time": rfc3339(later + timedelta(minutes=30))})
        assert r.status_code == 409, r.text
        assert r.json()["error"]["code"] == "org_host_busy"
        assert "keeps its old time" in r.json()["error"]["message"]
        kept = await get_booking(api, org_id, headers, moving["id"])
        [at_zoom] = await zoom_meetings_of(emulator, moving["id"])
        # A free time still works, on the same (org) host.
        r = await api.http.patch(f"/v1/orgs/{org_id}/bookings/{moving['id']}", headers=headers,
                                 json={"start_time": rfc3339(later + timedelta(hours=1))})
        assert r.status_code == 200, r.text
    assert kept["start_time"] == moving["start_time"]
    assert at_zoom["start_time"] == rfc3339(start)
    assert r.json()["meeting"]["host_kind"] == "org"
    held = await reservation_row(api.services, moving["id"])
    assert held.start_time == later + timedelta(hours=1)


async def test_ten_bookings_at_once_put_exactly_one_on_an_org_user_of_capacity_one(api, emulator, idi_worker, system_host):
    org_id, headers, session_id, email = await _connected(api, emulator)
    start = future(hours=42)
    async with idi_worker(f"{system_host}:10"):
        answers = await asyncio.gather(*[
            post_booking(api, org_id, headers, session_id,
                         booking_body(start + timedelta(minutes=3 * i), 60, name=f"P{i}"))
            for i in range(10)
        ])
        assert [r.status_code for r in answers] == [202] * 10
        bookings = [await settled(api, org_id, headers, r.json()["id"]) for r in answers]
    hosts = sorted((b["meeting"]["host_kind"], b["meeting"]["fallback_reason"]) for b in bookings)
    assert hosts == [("org", None)] + [("system", "org_host_busy")] * 9
    on_org = [m for m in await emulator.control.meetings(host=email) if not m["deleted"]]
    assert len(on_org) == 1


async def test_a_second_count_waits_for_the_first_bookings_hold_to_commit(api, emulator):
    """The race itself, step by step: while one booking has counted and held the org user's last
    slot but not committed, a second count of that user waits on the lock, then sees it taken."""
    from sqlalchemy import text

    from activities.host_pool import Slot, hold, org_host_has_room
    from tests.bookings.helpers import stored_booking, until

    org_id, headers, session_id, _ = await _connected(api, emulator)
    async with api.services.db.session() as s:
        conn_id = (await s.exec(text("SELECT id FROM zoom_connections WHERE org_id = :o").bindparams(o=org_id))).scalar_one()
    start = future(hours=46)
    first = await stored_booking(api.services, org_id, session_id, start)
    second = await stored_booking(api.services, org_id, session_id, start + timedelta(minutes=15))
    slot = lambda b: Slot(b.id, org_id, b.start_time, b.start_time + timedelta(hours=1))  # noqa: E731

    async def second_count() -> bool:
        async with api.services.db.session() as s:
            return await org_host_has_room(s, conn_id, 1, slot(second))

    async def waiting_on_lock() -> bool:
        async with api.services.db.session() as s:
            rows = await s.exec(text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND "
                "database = (SELECT oid FROM pg_database WHERE datname = current_database())"))
            return rows.scalar_one() > 0

    async with api.services.db.session() as a:
        assert await org_host_has_room(a, conn_id, 1, slot(first))
        await hold(a, slot(first), host_kind="org", host_key=conn_id, connection_id=conn_id, fallback_reason=None)
        counting = asyncio.create_task(second_count())
        await until(lambda: _done_or(counting, waiting_on_lock), what="the second count to finish or wait")
        assert not counting.done(), "the second count did not wait for the first hold"
        await a.commit()
    assert await counting is False


async def _done_or(task: asyncio.Task, check) -> bool:
    return task.done() or await check()
