"""Which grants count as the scopes the service needs (classic or granular), and the messages."""

from __future__ import annotations

from connections.warnings import connect_warnings, missing_scopes

ADMIN = ["meeting:write:admin", "user:read:admin", "recording:read:admin"]
GRANULAR = ["meeting:write:meeting:admin", "meeting:update:meeting:admin", "meeting:delete:meeting:admin",
            "user:read:user:admin", "cloud_recording:read:list_recording_files:admin"]


def test_the_requested_classic_or_granular_scopes_are_enough():
    assert missing_scopes(ADMIN) == []
    assert missing_scopes(" ".join(ADMIN)) == []
    assert missing_scopes(GRANULAR) == []
    assert missing_scopes([s.removesuffix(":admin") for s in GRANULAR]) == []
    assert connect_warnings(2, ADMIN) == []


def test_each_missing_scope_is_named_with_what_it_is_for():
    assert missing_scopes(["user:read:admin"]) == ["meeting:write:admin", "recording:read:admin"]
    # Granular: creating is not enough, the service also reschedules and cancels.
    assert missing_scopes(["meeting:write:meeting", "user:read:user",
                           "cloud_recording:read:list_recording_files"]) == ["meeting:write:admin"]
    [warning] = connect_warnings(2, ["meeting:write:admin", "user:read:admin"])
    assert warning["code"] == "missing_scopes"
    assert "recording:read:admin (to fetch cloud recordings and transcripts)" in warning["message"]
    assert "reconnect" in warning["message"]


def test_host_type_warnings():
    assert [w["code"] for w in connect_warnings(1, ADMIN)] == ["basic_host"]
    assert [w["code"] for w in connect_warnings(4, ADMIN)] == ["cannot_host"]
    assert [w["code"] for w in connect_warnings(1, [])] == ["basic_host", "missing_scopes"]
