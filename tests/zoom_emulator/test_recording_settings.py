"""User recording settings (docs/zoom.md#recording-settings): GET /v2/users/{userId}/settings, its
scope, the per-user switch, and what Zoom then makes (no files, no transcript)."""

from __future__ import annotations

import httpx
import pytest

from tests.zoom_emulator.helpers import REDIRECT, bearer, create_meeting, user_headers


async def _ended_meeting(http, emu, email: str) -> int:
    m = await create_meeting(http, await user_headers(emu, email))
    await emu.control.start_meeting(m["id"])
    await emu.control.end_meeting(m["id"])
    return m["id"]


async def test_settings_are_served_per_user_and_switched_per_user(http, emu):
    alex, gina = await user_headers(emu, "alex@acme.test"), await user_headers(emu, "gina@globex.test")
    recording = (await http.get("/v2/users/me/settings", headers=alex)).json()["recording"]
    assert recording["cloud_recording"] is True and recording["recording_audio_transcript"] is True
    assert recording["auto_recording"] in ("local", "cloud", "none")

    await emu.control.recording_settings("alex@acme.test", cloud_recording=False)
    assert (await http.get("/v2/users/me/settings", headers=alex)).json()["recording"]["cloud_recording"] is False
    assert (await http.get("/v2/users/me/settings", headers=gina)).json()["recording"]["cloud_recording"] is True
    # a user token reads its own user's settings only
    r = await http.get("/v2/users/gina@globex.test/settings", headers=alex)
    assert r.status_code == 404 and r.json()["code"] == 1001

    await emu.control.config(transcript_setting_field="audio_transcript")  # UNVERIFIED spelling
    recording = (await http.get("/v2/users/me/settings", headers=gina)).json()["recording"]
    assert recording["audio_transcript"] is True and "recording_audio_transcript" not in recording


async def test_reading_settings_needs_a_settings_scope(http, emu):
    await emu.control.register_client("nosettings", "s", scopes=["user:read:user", "meeting:write:meeting"],
                                      redirect_uris=[REDIRECT])
    token = (await emu.control.user_token("alex@acme.test", client_id="nosettings",
                                          client_secret="s"))["access_token"]
    r = await http.get("/v2/users/me/settings", headers=bearer(token))
    assert r.status_code == 401 and r.json()["code"] == 4700
    assert "user:read:settings" in r.json()["message"]


async def test_bad_switches_are_refused_and_change_nothing(http, emu):
    for body in ({"recording": {"cloud_recording": "no"}}, {"recording": {"nonsense": True}},
                 {"recording": []}, {"other": {}}):
        r = await emu.control.http.patch("/_emulator/users/alex@acme.test/settings", json=body)
        assert r.status_code == 400, body
    r = await emu.control.http.patch("/_emulator/users/nobody@x.test/settings",
                                     json={"recording": {"cloud_recording": False}})
    assert r.status_code == 404
    headers = await user_headers(emu, "alex@acme.test")
    assert (await http.get("/v2/users/me/settings", headers=headers)).json()["recording"]["cloud_recording"] is True


async def test_zoom_makes_no_recording_or_no_transcript_while_switched_off(http, emu):
    await emu.control.recording_settings("alex@acme.test", cloud_recording=False)
    meeting_id = await _ended_meeting(http, emu, "alex@acme.test")
    with pytest.raises(httpx.HTTPStatusError) as refused:
        await emu.control.complete_recording(meeting_id, ["MP4"])
    assert refused.value.response.json()["code"] == "cloud_recording_disabled"

    await emu.control.recording_settings("alex@acme.test", cloud_recording=True,
                                         recording_audio_transcript=False)
    result = await emu.control.complete_recording(meeting_id, ["MP4", "TRANSCRIPT"])
    assert [f["file_type"] for f in result["files"]] == ["MP4"]
    with pytest.raises(httpx.HTTPStatusError) as refused:
        await emu.control.complete_transcript(meeting_id)
    assert refused.value.response.json()["code"] == "transcription_disabled"
