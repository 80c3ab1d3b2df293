"""What the pages say about statuses and reason codes, in words a researcher can act on.

The API carries codes (`expired`, `refresh_failed`, `not_connected`); people need a sentence and
a next step. Unknown codes are shown as they are rather than hidden, so a new reason is never
silently dropped from the page.
"""

from __future__ import annotations

import re

CONNECTION_STATUS = {
    "active": "Active",
    "expired": "Expired",
    "revoked": "Revoked",
    "disconnected": "Disconnected",
    "not_connected": "Not connected",
}

# Why a connection stopped working (zoom_connections.status_reason).
CONNECTION_REASONS = {
    "refresh_failed": "Zoom stopped accepting Converge's access to this Zoom user when Converge "
                      "renewed it (for example after a password change, or the app was "
                      "re-authorized elsewhere).",
    "refresh_response_lost": "Zoom renewed the access but its answer never reached Converge, so "
                             "the renewed access was lost.",
    "zoom_user_connected_elsewhere": "This Zoom user was connected to another Converge "
                                     "organization, and Zoom keeps only the latest authorization.",
    "zoom_user_not_found": "The connected Zoom user no longer exists in Zoom (deleted, or moved "
                           "out of the Zoom account).",
    "app_deauthorized": "The Converge app was removed from this Zoom account in Zoom's App "
                        "Marketplace.",
}

# Why a meeting is hosted on Converge's account (meetings.fallback_reason).
FALLBACK_REASONS = {
    "not_connected": "your organization has not connected a Zoom account",
    "disconnected": "your organization disconnected its Zoom account",
    "expired": "your organization's Zoom connection has expired",
    "revoked": "the Converge app was removed from your organization's Zoom account",
    "refresh_failed": "Zoom refused to renew your organization's Zoom connection",
    "refresh_response_lost": "your organization's Zoom connection was lost while being renewed",
    "zoom_user_not_found": "your connected Zoom user no longer exists in Zoom",
    "org_host_busy": "your organization's Zoom user is already hosting as many interviews at this "
                     "time as it can run at once. The interview still runs as planned, on "
                     "Converge's account, so no other interview is cut short",
}

BOOKING_STATUS = {
    "scheduling": "Creating the Zoom meeting…",
    "scheduled": "Scheduled",
    "in_progress": "Live now",
    "ended": "Interview ended",
    "processing_recording": "Processing the recording",
    "completed": "Recording ready",
    "no_recording": "No recording",
    "failed": "Failed",
    "cancelled": "Cancelled",
    "no_show": "No-show",
}

# bookings.attendance_status, for the Manage IDI list and the panel.
ATTENDANCE = {
    "attended": "Attended",
    "no_show": "Did not join",
    "host_absent": "Attended, host missing",
}
ROLES = {"host": "Host", "interviewee": "Interviewee", "other": "Also in the meeting"}
# How the interviewee was recognised in Zoom's participant data (strongest first).
MATCHED_BY = {
    "registrant_id": "recognised by their own registration link",
    "host_user_id": "the meeting's Zoom host",
    "email": "recognised by email",
    "display_name": "recognised by display name only (they joined with another email)",
}
SOURCES = {
    "webhooks": "from Zoom's live participant events",
    "zoom_participants_list": "from Zoom's participants report after the meeting (live events were missed)",
    "both": "from Zoom's live events, completed with its participants report",
}

FILE_TYPES = {
    "MP4": "Video",
    "M4A": "Audio",
    "TRANSCRIPT": "Transcript",
    "CHAT": "Chat",
    "CC": "Closed captions",
    "TIMELINE": "Timeline",
}

# Why a recording file was not stored (recording_files.status_reason).
FILE_FAILURES = {
    "recording_file_gone": "Zoom no longer has this file (it was deleted in Zoom before Converge "
                           "could copy it)",
    "size_mismatch": "the copy Zoom sent was not the size Zoom announced, so it was not kept",
    "zoom_html_page": "Zoom sent a web page instead of the file, even with fresh permission",
    "zoom_refused_download_token": "Zoom refused Converge's permission to download it",
    "host_token_unavailable": "Converge could not get access to the host's Zoom account (was Zoom "
                              "disconnected?)",
    "zoom_connection_lost": "the host's Zoom connection stopped working during the download",
    "zoom_unavailable": "Zoom did not answer, however often Converge tried",
    "download_failed": "the download did not finish, however often Converge tried",
}

# The forms' own labels for the JSON fields the API's messages name ("participant_email …"), so
# a refused form speaks of the field the person sees.
BOOKING_FORM_LABELS = {"participant_name": "Interviewee name",
                       "participant_email": "Interviewee email",
                       "start_time": "Start", "duration_minutes": "Duration (minutes)"}
SESSION_FORM_LABELS = {"title": "Title", "kind": "Session type",
                       "meeting_provider": "Meeting provider"}


def as_labelled(message: str, labels: dict[str, str]) -> str:
    """`message` with each API field name replaced by the form's label for it."""
    return re.sub(r"\b(" + "|".join(map(re.escape, labels)) + r")\b",
                  lambda m: labels[m.group(1)], message)


PROCESSING_NOTE = ("Processing — recordings usually appear 5–30 minutes after the call, "
                   "depending on its length.")


# Why the interviewee has no join link of their own (bookings.registration_reason).
REGISTRATION_REASONS = {
    "host_not_licensed": "the host's Zoom plan does not include registration",
    "missing_scope": "the Zoom app lacks the meeting:write:registrant scope",
    "zoom_refused": "Zoom refused the registration",
    "zoom_unavailable": "Zoom did not answer",
    "connection_unavailable": "the Zoom connection is not working",
    "host_changed": "the meeting's host is no longer connected",
}


def connection_status(code: str) -> str:
    return CONNECTION_STATUS.get(code, code)


def connection_reason(code: str | None) -> str | None:
    return None if code is None else CONNECTION_REASONS.get(code, f"Reason: {code}.")


def fallback_reason(code: str | None) -> str:
    return FALLBACK_REASONS.get(code or "", code or "no reason was recorded")


def booking_status(code: str) -> str:
    return BOOKING_STATUS.get(code, code)


def file_type(code: str) -> str:
    return FILE_TYPES.get(code, code.title())


def file_failure(code: str | None) -> str:
    return "" if not code else FILE_FAILURES.get(code, code)


def size(n: int | None) -> str:
    if n is None:
        return ""
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def attendance(code: str | None) -> str:
    return "—" if not code else ATTENDANCE.get(code, code)


FILTERS = {
    "attendance": attendance,
    "role": lambda code: ROLES.get(code, code),
    "matched_by": lambda code: MATCHED_BY.get(code or "", code or ""),
    "attendance_source": lambda code: SOURCES.get(code or "", code or ""),
    "connection_status": connection_status,
    "connection_reason": connection_reason,
    "fallback_reason": fallback_reason,
    "registration_reason": lambda code: REGISTRATION_REASONS.get(code or "", code or "no reason was recorded"),
    "booking_status": booking_status,
    "file_type": file_type,
    "file_failure": file_failure,
    "size": size,
}
