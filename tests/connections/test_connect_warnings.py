"""Which grants cover every Zoom call the service makes (classic or granular), and the messages."""

from __future__ import annotations

from connections.warnings import (connect_warnings, missing_scopes, recording_warnings,
                                  with_recording_warnings)
from zoom.scopes import GRANULAR_SCOPES, NEEDS

ADMIN = ["meeting:write:admin", "user:read:admin", "recording:read:admin"]
CLASSIC_USER = ["meeting:write", "user:read", "recording:read"]
GRANULAR = ["meeting:write:meeting", "meeting:read:meeting", "meeting:update:meeting",
            "meeting:delete:meeting", "meeting:read:list_meetings", "user:read:user",
            "user:read:settings", "cloud_recording:read:list_recording_files",
            "meeting:read:list_past_participants", "meeting:write:registrant"]


def test_every_client_call_has_a_scope_in_both_vocabularies():
    import inspect

    import zoom.client
    calls = {n.call for n in NEEDS}
    public = {name for name, f in vars(zoom.client.ZoomApi).items()
              if not name.startswith("_") and (inspect.iscoroutinefunction(f) or inspect.isasyncgenfunction(f))}
    # every REST call the client makes is in the table (get_user shares get_me's scope)
    assert public - {"get_user"} == calls
    assert set(GRANULAR_SCOPES) == set(GRANULAR)


def test_the_requested_classic_or_granular_scopes_are_enough():
    assert missing_scopes(ADMIN) == []
    assert missing_scopes(" ".join(ADMIN)) == []
    assert missing_scopes(CLASSIC_USER) == []
    assert missing_scopes(GRANULAR) == []
    assert missing_scopes([f"{s}:admin" for s in GRANULAR]) == []
    assert connect_warnings(2, " ".join(GRANULAR)) == []


def test_granular_grant_without_reading_or_listing_meetings_is_caught():
    # The old check passed this grant; Zoom then answers 4700 on GET /meetings/{id} and on the
    # host's meeting list used by the lost-create recovery.
    narrow = [s for s in GRANULAR if s not in ("meeting:read:meeting", "meeting:read:list_meetings")]
    assert missing_scopes(narrow) == ["meeting:read:meeting", "meeting:read:list_meetings"]
    [warning] = connect_warnings(2, narrow)
    assert warning["code"] == "missing_scopes"
    assert "meeting:read:meeting (to check a meeting's state)" in warning["message"]
    assert "meeting:write" not in warning["message"].replace("meeting:write:meeting", "")


def test_a_grant_without_the_registrant_scope_is_told_so():
    # Without it every booking falls back to the plain join link (docs/zoom.md#meeting-registrants).
    narrow = [s for s in GRANULAR if s != "meeting:write:registrant"]
    assert missing_scopes(narrow) == ["meeting:write:registrant"]
    assert "meeting:write:registrant (to give each interviewee a join link of their own)" in \
        connect_warnings(2, narrow)[0]["message"]
    assert missing_scopes(["meeting:write", "user:read", "recording:read"]) == []


def test_missing_scopes_are_named_in_the_apps_own_vocabulary():
    assert missing_scopes(["user:read:admin"]) == ["meeting:write:admin", "recording:read:admin"]
    assert missing_scopes(["user:read"]) == ["meeting:write", "recording:read"]
    [warning] = connect_warnings(2, ["meeting:write:admin", "user:read:admin"])
    assert "recording:read:admin (to fetch cloud recordings and transcripts)" in warning["message"]
    assert "cloud_recording" not in warning["message"]
    assert "reconnect" in warning["message"]
    assert missing_scopes(["user:read:user"])[0] == "meeting:write:meeting"
    assert missing_scopes("") == list(GRANULAR_SCOPES)


def test_host_type_warnings():
    assert [w["code"] for w in connect_warnings(1, ADMIN)] == ["basic_host"]
    assert [w["code"] for w in connect_warnings(4, ADMIN)] == ["cannot_host"]
    assert [w["code"] for w in connect_warnings(1, [])] == ["basic_host", "missing_scopes"]


def test_recording_settings_switched_off_are_warned_about_with_the_zoom_menu():
    off = {"recording": {"cloud_recording": False, "recording_audio_transcript": False}}
    [cloud] = recording_warnings(2, off)
    assert cloud["code"] == "cloud_recording_disabled"
    assert "Settings > Recording" in cloud["message"] and "Cloud recording" in cloud["message"]
    [transcript] = recording_warnings(2, {"recording": {"cloud_recording": True,
                                                        "recording_audio_transcript": False}})
    assert transcript["code"] == "transcription_disabled"
    assert "Create audio transcript" in transcript["message"]
    # the older spelling of the switch (docs/zoom.md#recording-settings, UNVERIFIED)
    assert [w["code"] for w in recording_warnings(2, {"recording": {"audio_transcript": False}})] \
        == ["transcription_disabled"]
    # on, unknown, or a Basic user (basic_host says it already): nothing
    assert recording_warnings(2, {"recording": {"cloud_recording": True,
                                                "recording_audio_transcript": True}}) == []
    assert recording_warnings(2, {"recording": {}}) == [] and recording_warnings(2, None) == []
    assert recording_warnings(1, off) == []
    assert [w["code"] for w in connect_warnings(2, " ".join(GRANULAR), off)] == ["cloud_recording_disabled"]


def test_a_fresh_read_replaces_only_the_recording_warnings():
    kept = {"code": "missing_scopes", "message": "m"}
    old = [kept, {"code": "transcription_disabled", "message": "t"}]
    assert with_recording_warnings(old, []) == [kept]
    new = [{"code": "cloud_recording_disabled", "message": "c"}]
    assert with_recording_warnings(old, new) == [kept, *new]
