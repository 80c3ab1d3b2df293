"""What an org should know the moment it connects Zoom, before an interview goes wrong.

Peers found these out after the fact: an unrecorded interview under a Basic host, a meeting that
could not be created for an unlicensed user, a scope the admin never approved, a connection that
died because the same Zoom user was connected somewhere else, cloud recording or audio
transcripts switched off in Zoom so "the transcript never came" (docs/zoom.md#re-authorization-elsewhere,
#user-types-and-cloud-recording, #recording-settings). Each warning is `{"code", "message"}`; the
message says what it means and what to do.
"""

from __future__ import annotations

from zoom import scopes

BASIC_HOST = "basic_host"
CANNOT_HOST = "cannot_host"
MISSING_SCOPES = "missing_scopes"
ZOOM_USER_CONNECTED_ELSEWHERE = "zoom_user_connected_elsewhere"
CLOUD_RECORDING_DISABLED = "cloud_recording_disabled"
TRANSCRIPTION_DISABLED = "transcription_disabled"
# Read again from Zoom at each look at the status page, so replaced as a pair, never appended.
RECORDING_SETTING_CODES = (CLOUD_RECORDING_DISABLED, TRANSCRIPTION_DISABLED)

USER_TYPE_BASIC = 1
USER_TYPES_WITHOUT_MEETINGS = (4, 99)  # 4: "Unassigned without Meetings Basic", 99: None

def missing_scopes(granted: list[str] | str) -> list[str]:
    """The scopes the service calls need and Zoom did not grant, named in the app's vocabulary
    (granular for new apps, classic for older ones; docs/zoom.md#scopes)."""
    return scopes.missing_names(granted)


def recording_warnings(user_type: int, settings: dict | None) -> list[dict[str, str]]:
    """What the user's Zoom settings (GET /users/me/settings) say about recordings to come.

    A setting Zoom did not send says nothing (unknown is not off). A Basic user cannot
    cloud-record whatever its settings say; `basic_host` already tells that."""
    recording = (settings or {}).get("recording")
    if user_type == USER_TYPE_BASIC or not isinstance(recording, dict):
        return []
    transcript = recording.get("recording_audio_transcript", recording.get("audio_transcript"))
    if recording.get("cloud_recording") is False:
        return [{
            "code": CLOUD_RECORDING_DISABLED,
            "message": (
                "Cloud recording is switched off for the connected Zoom user, so Zoom will make "
                "no recording and no transcript of the interviews it hosts. In the Zoom web "
                "portal open Settings > Recording and switch on Cloud recording (if it is greyed "
                "out, a Zoom admin has locked it under Account Management > Account Settings > "
                "Recording). This page checks again each time it is opened."
            ),
        }]
    if transcript is False:
        return [{
            "code": TRANSCRIPTION_DISABLED,
            "message": (
                "Audio transcripts are switched off for the connected Zoom user, so Zoom will "
                "record interviews but make no transcript of them. In the Zoom web portal open "
                "Settings > Recording, and under Cloud recording > Advanced cloud recording "
                "settings tick Create audio transcript and Save (if it is greyed out, a Zoom "
                "admin has locked it under Account Management > Account Settings > Recording). "
                "This page checks again each time it is opened."
            ),
        }]
    return []


def with_recording_warnings(warnings: list[dict], found: list[dict[str, str]]) -> list[dict]:
    """`warnings` with its recording-settings warnings replaced by `found` (others kept in order)."""
    return [w for w in warnings if w.get("code") not in RECORDING_SETTING_CODES] + found


def connect_warnings(user_type: int, granted_scopes: list[str] | str,
                     settings: dict | None = None) -> list[dict[str, str]]:
    """Warnings about the Zoom user, its recording settings and the grant, found at connect time."""
    warnings = []
    if user_type == USER_TYPE_BASIC:
        warnings.append({
            "code": BASIC_HOST,
            "message": (
                "The connected Zoom user has a Basic (free) Zoom licence: Zoom ends its meetings "
                "after 40 minutes and it cannot record to the cloud, so interviews hosted by it "
                "will have no recording or transcript. Assign this user a paid (Licensed) Zoom "
                "seat, or connect a Zoom user who has one, then reconnect Zoom here."
            ),
        })
    elif user_type in USER_TYPES_WITHOUT_MEETINGS:
        warnings.append({
            "code": CANNOT_HOST,
            "message": (
                f"The connected Zoom user has no meetings licence (Zoom user type {user_type}), "
                "so Zoom will refuse to create meetings hosted by it. Give this user a Zoom "
                "Meetings licence, or connect a Zoom user who has one, then reconnect Zoom here."
            ),
        })
    warnings += recording_warnings(user_type, settings)
    missing = missing_scopes(granted_scopes)
    if missing:
        style = scopes.app_style(scopes.parse(granted_scopes))
        purposes: dict[str, list[str]] = {}
        for need in scopes.missing(granted_scopes):
            purposes.setdefault(scopes.name_in(style, need), []).append(need.purpose)
        needs = "; ".join(f"{name} (to {', '.join(p)})" for name, p in purposes.items())
        warnings.append({
            "code": MISSING_SCOPES,
            "message": (
                f"Zoom did not grant permissions Converge needs: {needs}. Add these scopes to "
                "the Converge app in the Zoom App Marketplace (or ask your Zoom admin to approve "
                "them), authorize all the permissions it requests, then reconnect Zoom here."
            ),
        })
    return warnings


def took_over_warning() -> dict[str, str]:
    """For the org that just connected a Zoom user another org had connected."""
    return {
        "code": ZOOM_USER_CONNECTED_ELSEWHERE,
        "message": (
            "This Zoom user was also connected to another Converge organization. Zoom keeps only "
            "the latest authorization, so that organization's connection has stopped working. "
            "If both organizations need Zoom, connect each with its own Zoom user."
        ),
    }


def taken_over_warning() -> dict[str, str]:
    """For the org whose connection died because another org connected the same Zoom user."""
    return {
        "code": ZOOM_USER_CONNECTED_ELSEWHERE,
        "message": (
            "Your Zoom user was connected to another Converge organization, and Zoom keeps only "
            "the latest authorization, so this connection stopped working; new interviews use "
            "Converge's Zoom account. Reconnect Zoom with a Zoom user of your own (reconnecting "
            "the same user would stop the other organization's connection)."
        ),
    }
