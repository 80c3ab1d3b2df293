"""Cloud recording or audio transcripts switched off in Zoom (docs/zoom.md#recording-settings),
end to end over HTTP: the emulator's per-user switches, the connect check, the status API and the
Integrations page reading them again, a booking on that host saying at once what will not come,
and the workflow not waiting out its deadlines for it. Converge's own hosts are never affected."""

from __future__ import annotations

import httpx

from tests.bookings.helpers import (book, connect_org, fresh_zoom_user, future, new_org_with_session,
                                    services_with_hosts, settled)
from tests.connections.helpers import row_of
from tests.pages.helpers import http_sign_in
from tests.recordings.helpers import FAST, FINAL, new_system_host, recording_worker, webhooks_to

# The waits the workflow would otherwise sit out are long enough here to tell the two apart: a
# booking that ends with the settings' reason did not wait for the deadline's.
SLOW = FAST.model_copy(update={"recording_deadline": FAST.recording_deadline * 30,
                               "transcript_deadline": FAST.transcript_deadline * 10})


async def _status(api, org_id: str, headers: dict) -> dict:
    r = await api.http.get(f"/v1/orgs/{org_id}/integrations/zoom", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def _codes(status: dict) -> list[str]:
    return [w["code"] for w in status["warnings"]]


def _key(headers: dict) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


async def test_connecting_a_user_with_cloud_recording_off_warns_with_the_zoom_setting(api, emulator):
    org_id, headers, _ = await new_org_with_session(api, "Recording Off Research")
    email = await fresh_zoom_user(emulator, first="Cora")
    await emulator.control.recording_settings(email, cloud_recording=False)
    await connect_org(api, emulator, org_id, headers, email)
    # read at connect time: stored on the connection before anyone opens the status page
    assert [w["code"] for w in (await row_of(api.services, org_id)).warnings] == ["cloud_recording_disabled"]
    [warning] = (await _status(api, org_id, headers))["warnings"]
    assert warning["code"] == "cloud_recording_disabled"
    assert "Settings > Recording" in warning["message"] and "Cloud recording" in warning["message"]


async def test_status_refresh_reads_the_settings_again_and_a_booking_says_no_transcript_at_once(
        api, emulator, temporal_env):
    org_id, headers, session_id = await new_org_with_session(api, "Transcript Off Research")
    email = await fresh_zoom_user(emulator, first="Tara")
    await connect_org(api, emulator, org_id, headers, email)
    assert _codes(await _status(api, org_id, headers)) == []

    await emulator.control.recording_settings(email, recording_audio_transcript=False)
    status = await _status(api, org_id, headers)
    assert _codes(status) == ["transcription_disabled"]
    assert "Create audio transcript" in status["warnings"][0]["message"]
    async with httpx.AsyncClient(base_url=api.url) as browser:
        await http_sign_in(browser, _key(headers))
        page = await browser.get("/settings/integrations")
        assert 'data-code="transcription_disabled"' in page.text

        async with recording_worker(temporal_env.client, api.services, timings=SLOW):
            booking = await settled(api, org_id, headers,
                                    (await book(api, org_id, headers, session_id, start=future(hours=2)))["id"])
        assert (booking["status"], booking["meeting"]["host_kind"]) == ("scheduled", "org"), booking
        assert booking["recording_notice"]["code"] == "transcription_disabled"
        assert booking["status_message"].startswith("No transcript will come for this interview")
        card = await browser.get(f"/bookings/{booking['id']}/card")
        assert 'class="banner warn recording-notice" data-code="transcription_disabled"' in card.text

        # switched back on in Zoom: the next look at the status page clears both
        await emulator.control.recording_settings(email, recording_audio_transcript=True)
        assert _codes(await _status(api, org_id, headers)) == []
        again = (await api.http.get(f"/v1/orgs/{org_id}/bookings/{booking['id']}", headers=headers)).json()
        assert again["recording_notice"] is None and again["status_message"] is None
        assert "recording-notice" not in (await browser.get(f"/bookings/{booking['id']}/card")).text


async def test_a_failed_read_keeps_what_was_known(api, emulator):
    org_id, headers, _ = await new_org_with_session(api, "Flaky Settings Research")
    email = await fresh_zoom_user(emulator, first="Fay")
    await connect_org(api, emulator, org_id, headers, email)
    await emulator.control.recording_settings(email, recording_audio_transcript=False)
    assert _codes(await _status(api, org_id, headers)) == ["transcription_disabled"]
    await emulator.control.recording_settings(email, recording_audio_transcript=True)
    try:
        await emulator.control.add_fault("/v2/users/*/settings", action="respond", status=503)
        status = await _status(api, org_id, headers)
        assert (status["status"], _codes(status)) == ("active", ["transcription_disabled"])
    finally:
        await emulator.control.clear_faults()
    assert _codes(await _status(api, org_id, headers)) == []


async def test_a_host_without_transcripts_completes_without_waiting_for_one(api, emulator, temporal_env):
    org_id, headers, session_id = await new_org_with_session(api, "No Transcript Host Research")
    email = await fresh_zoom_user(emulator, first="Nico")
    await emulator.control.recording_settings(email, recording_audio_transcript=False)
    await connect_org(api, emulator, org_id, headers, email)
    async with webhooks_to(emulator, api.url), recording_worker(temporal_env.client, api.services, timings=SLOW):
        booking = await settled(api, org_id, headers,
                                (await book(api, org_id, headers, session_id, start=future(hours=1)))["id"])
        meeting_id = int(booking["meeting"]["zoom_meeting_id"])
        await emulator.control.start_meeting(meeting_id)
        await emulator.control.end_meeting(meeting_id)
        await emulator.control.complete_recording(meeting_id, ["MP4", "M4A"])
        booking = await settled(api, org_id, headers, booking["id"], until=lambda b: b["status"] in FINAL,
                                timeout=90)
    assert (booking["status"], booking["status_reason"]) == ("completed", "transcription_disabled"), booking
    assert "Create audio transcript" in booking["status_message"]
    assert {r["file_type"]: r["status"] for r in booking["recordings"]} == {"MP4": "stored", "M4A": "stored"}
    assert booking["recording_notice"] is None  # the booking is done: its own status says it


async def test_a_host_without_cloud_recording_ends_no_recording_at_once(api, emulator, temporal_env):
    org_id, headers, session_id = await new_org_with_session(api, "No Cloud Host Research")
    email = await fresh_zoom_user(emulator, first="Odin")
    await connect_org(api, emulator, org_id, headers, email)
    await emulator.control.recording_settings(email, cloud_recording=False)  # after connect
    async with webhooks_to(emulator, api.url), recording_worker(temporal_env.client, api.services, timings=SLOW):
        booking = await settled(api, org_id, headers,
                                (await book(api, org_id, headers, session_id, start=future(hours=1)))["id"])
        meeting_id = int(booking["meeting"]["zoom_meeting_id"])
        await emulator.control.start_meeting(meeting_id)
        await emulator.control.end_meeting(meeting_id)
        booking = await settled(api, org_id, headers, booking["id"], until=lambda b: b["status"] in FINAL,
                                timeout=90)
    assert (booking["status"], booking["status_reason"]) == ("no_recording", "cloud_recording_disabled"), booking
    assert "Settings > Recording > Cloud recording" in booking["status_message"]


async def test_a_booking_on_converge_s_account_is_unaffected(api, emulator, temporal_env):
    host = await new_system_host(emulator)
    await emulator.control.recording_settings(host, recording_audio_transcript=False)
    org_id, headers, session_id = await new_org_with_session(api, "System Host Research")
    async with recording_worker(temporal_env.client, services_with_hosts(api.services, f"{host}:1")):
        booking = await settled(api, org_id, headers,
                                (await book(api, org_id, headers, session_id, start=future(hours=1)))["id"])
    assert (booking["status"], booking["meeting"]["host_kind"]) == ("scheduled", "system"), booking
    assert booking["recording_notice"] is None and booking["status_message"] is None
