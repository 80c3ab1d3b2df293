"""Re-driving a failed booking (admin API): it starts again under its same workflow id and ends
`scheduled` with one Zoom meeting; a booking that is not failed is refused and left alone."""

from __future__ import annotations

from tests.bookings.helpers import book, new_org_with_session, settled, zoom_meetings_of


async def test_a_failed_booking_is_redriven_to_scheduled_with_one_meeting(api, idi_worker, system_host, emulator):
    org_id, headers, session_id = await new_org_with_session(api)
    async with idi_worker(""):  # no system hosts: an unconnected org's booking fails at once
        booking = await settled(api, org_id, headers, (await book(api, org_id, headers, session_id))["id"])
    assert (booking["status"], booking["status_reason"]) == ("failed", "system_host_missing")
    admin = {"Authorization": f"Bearer {api.services.settings.admin_api_key}"}
    path = f"/v1/admin/bookings/{booking['id']}/redrive"

    assert (await api.http.post(path, headers=headers)).status_code == 401  # an org key is not admin
    async with idi_worker(f"{system_host}:2"):
        r = await api.http.post(path, headers=admin)
        assert r.status_code == 202, r.text
        assert r.json()["workflow_id"] == booking["workflow_id"]
        again = await settled(api, org_id, headers, booking["id"])
    assert again["status"] == "scheduled"
    assert len(await zoom_meetings_of(emulator, booking["id"])) == 1

    r = await api.http.post(path, headers=admin)  # scheduled now: never a second run
    assert r.status_code == 409 and r.json()["error"]["code"] == "booking_not_redrivable"
    assert (await api.http.post("/v1/admin/bookings/nope/redrive", headers=admin)).status_code == 404
