"""Promises 1 and 8 (docs/promises.md) across a reconnect: an org that reconnects as a different Zoom user keeps its
connection row, but its old meetings still belong to the old user. Acting on them with the new
user's token would read Zoom's "not yours" (3001) as "gone": a cancel would say deleted while the
meeting stays open. They are refused with org_connection_lost instead (review #6)."""

from __future__ import annotations

from tests.bookings.helpers import (
    book,
    connect_org,
    fresh_zoom_user,
    future,
    meeting_row,
    new_org_with_session,
    settled,
    zoom_meetings_of,
)


async def test_reconnecting_another_zoom_user_never_rebinds_old_meetings(api, emulator, idi_worker, system_host):
    org_id, headers, session_id = await new_org_with_session(api)
    first = await fresh_zoom_user(emulator, first="Alex", last="Former")
    await connect_org(api, emulator, org_id, headers, first)
    async with idi_worker(f"{system_host}:1"):
        booking = await settled(api, org_id, headers, (await book(api, org_id, headers, session_id, future(hours=50)))["id"])
        assert (booking["meeting"]["host_kind"], booking["meeting"]["host_email"]) == ("org", first)
        path = f"/v1/orgs/{org_id}/bookings/{booking['id']}"

        # The same user connecting again is no change of host: everything still works.
        await connect_org(api, emulator, org_id, headers, first)
        same_user = await api.http.get(f"{path}/start-url", headers=headers)
        assert same_user.status_code == 200, same_user.text

        await connect_org(api, emulator, org_id, headers, await fresh_zoom_user(emulator, first="Sam", last="Newer"))
        start_url = await api.http.get(f"{path}/start-url", headers=headers)
        patch = await api.http.patch(path, headers=headers, json={"duration_minutes": 30})
        cancel = await api.http.post(f"{path}/cancel", headers=headers)

    for refused in (start_url, patch):
        assert refused.status_code == 409, refused.text
        error = refused.json()["error"]
        assert error["code"] == "org_connection_lost"
        assert "no longer connected" in error["message"] and "reconnect that Zoom user" in error["message"]
    cancelled = cancel.json()
    assert cancel.status_code == 200 and cancelled["status"] == "cancelled"
    assert cancelled["status_reason"] == "zoom_meeting_not_deleted"
    assert "no longer connected" in cancelled["status_message"]
    assert booking["meeting"]["zoom_meeting_id"] in cancelled["status_message"]
    # Nothing pretends the meeting is gone: it is still open at Zoom, under its first host.
    [at_zoom] = await zoom_meetings_of(emulator, booking["id"])
    assert not at_zoom["deleted"] and at_zoom["host_email"] == first
    assert (await meeting_row(api.services, booking["id"])).status == "scheduled"
    assert cancelled["duration_minutes"] == booking["duration_minutes"] == at_zoom["duration"]


async def test_recordings_of_old_meetings_are_not_read_with_a_new_users_token(api, emulator, idi_worker, system_host):
    """Asking Zoom for an old meeting's recordings as the newly connected user would read as
    "no recording"; the poll says the host is unavailable instead and asks Zoom nothing."""
    from activities.recordings import RecordingActivities
    from workflows.recording_types import PollInput

    org_id, headers, session_id = await new_org_with_session(api)
    first = await fresh_zoom_user(emulator, first="Rita", last="Former")
    await connect_org(api, emulator, org_id, headers, first)
    async with idi_worker(f"{system_host}:1"):
        booking = await settled(api, org_id, headers, (await book(api, org_id, headers, session_id, future(hours=52)))["id"])
    assert booking["meeting"]["host_email"] == first
    activities = RecordingActivities(api.services)
    same_user = await activities.poll_recording_files(PollInput(booking_id=booking["id"]))
    assert same_user.reason == "not_ready"  # the real host is asked; nothing recorded yet

    await connect_org(api, emulator, org_id, headers, await fresh_zoom_user(emulator, first="Sid", last="Newer"))
    meeting_id = booking["meeting"]["zoom_meeting_id"]

    async def recording_asks() -> int:
        return sum(1 for r in await emulator.control.requests()
                   if meeting_id in str(r.get("path")) and "recordings" in str(r.get("path")))

    before = await recording_asks()
    assert before >= 1  # the first poll did reach Zoom, so the count below can move
    other_user = await activities.poll_recording_files(PollInput(booking_id=booking["id"]))
    assert other_user.reason == "host_unavailable: host_changed" and other_user.files == []
    assert await recording_asks() == before
