"""What an org should know the moment it connects Zoom, before an interview goes wrong.

Peers found these out after the fact: an unrecorded interview under a Basic host, a meeting that
could not be created for an unlicensed user, a scope the admin never approved, a connection that
died because the same Zoom user was connected somewhere else (peer lessons B2, C9). Each warning is
`{"code", "message"}`; the message says what it means and what to do.
"""

from __future__ import annotations

BASIC_HOST = "basic_host"
CANNOT_HOST = "cannot_host"
MISSING_SCOPES = "missing_scopes"
ZOOM_USER_CONNECTED_ELSEWHERE = "zoom_user_connected_elsewhere"

USER_TYPE_BASIC = 1
USER_TYPES_WITHOUT_MEETINGS = (4, 99)  # 4: "Unassigned without Meetings Basic", 99: None

# What the service needs, by the classic admin scope the Converge app requests, and the grants
# that cover it. Classic scopes without ":admin" and granular scopes act on the authorizing user,
# which is the host of every meeting the connection creates, so they are enough too. A granular
# scope also counts with its ":admin" suffix.
REQUIRED_SCOPES: dict[str, tuple[str, tuple[tuple[str, ...], ...]]] = {
    "meeting:write:admin": ("create, reschedule and cancel meetings", (
        ("meeting:write:admin",), ("meeting:write",),
        ("meeting:write:meeting", "meeting:update:meeting", "meeting:delete:meeting"),
    )),
    "user:read:admin": ("read the host's Zoom profile and licence", (
        ("user:read:admin",), ("user:read",), ("user:read:user",),
    )),
    "recording:read:admin": ("fetch cloud recordings and transcripts", (
        ("recording:read:admin",), ("recording:read",),
        ("cloud_recording:read:list_recording_files",),
    )),
}


def _has(granted: set[str], scope: str) -> bool:
    return scope in granted or f"{scope}:admin" in granted


def missing_scopes(granted: list[str] | str) -> list[str]:
    """The required scopes (by their classic admin name) that no granted scope covers."""
    have = set(granted.split() if isinstance(granted, str) else granted)
    return [
        name for name, (_, alternatives) in REQUIRED_SCOPES.items()
        if not any(all(_has(have, s) for s in option) for option in alternatives)
    ]


def connect_warnings(user_type: int, granted_scopes: list[str] | str) -> list[dict[str, str]]:
    """Warnings about the Zoom user and grant, found at connect time."""
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
    missing = missing_scopes(granted_scopes)
    if missing:
        needs = "; ".join(f"{name} (to {REQUIRED_SCOPES[name][0]})" for name in missing)
        warnings.append({
            "code": MISSING_SCOPES,
            "message": (
                f"Zoom did not grant permissions Converge needs: {needs}. Ask your Zoom admin to "
                "approve the Converge app with all the permissions it requests, then reconnect "
                "Zoom here."
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
