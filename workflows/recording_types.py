"""The data the recording steps of a booking pass to their activities and back.

Like workflows/types.py, everything here lands in Temporal history: ids, file types, sizes,
checksums, timings and reason codes. Never a download token or a download URL: activities read
those from the webhook inbox, the recording_files table or Zoom itself.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel

RECORDING_EVENTS = frozenset({"recording.completed", "recording.transcript_completed"})
TRANSCRIPT = "TRANSCRIPT"


class RecordingReason:
    """Booking status_reason values the recording steps write."""

    HOST_CANNOT_CLOUD_RECORD = "host_cannot_cloud_record"
    # The org host's Zoom settings have cloud recording / audio transcripts switched off
    # (docs/zoom.md#recording-settings); same codes as the connection's warnings.
    CLOUD_RECORDING_DISABLED = "cloud_recording_disabled"
    TRANSCRIPTION_DISABLED = "transcription_disabled"
    NO_CLOUD_RECORDING = "no_cloud_recording"
    TRANSCRIPT_NOT_AVAILABLE = "transcript_not_available"
    FILES_NOT_STORED = "recording_files_not_stored"
    DOWNLOAD_FAILED = "recording_download_failed"


class FileFailure:
    """ApplicationError types of the download activity; each becomes the file's status_reason
    once Temporal has given up retrying."""

    GONE = "recording_file_gone"  # Zoom no longer has it (404): not retried
    SIZE_MISMATCH = "size_mismatch"
    HTML_PAGE = "zoom_html_page"  # Zoom answered a web page, even with a fresh token
    TOKEN_REFUSED = "zoom_refused_download_token"
    HOST_UNAVAILABLE = "host_token_unavailable"  # no token could be had (org disconnected, ...)
    CONNECTION_LOST = "zoom_connection_lost"
    ZOOM_UNAVAILABLE = "zoom_unavailable"
    URL_REFUSED = "download_url_refused"  # not one of Zoom's download servers: not retried
    IN_PROGRESS = "download_in_progress"  # another attempt still holds the file
    FAILED = "download_failed"


class RecordingTimings(BaseModel):
    """How long the booking waits for Zoom after the call, and how often it asks Zoom itself.

    Zoom usually reports a recording 5-30 minutes after the call (docs/zoom.md#recordings) but its webhooks
    can be hours late or lost, and a transcript comes in its own later event. The workflow waits
    for the webhook first and only then polls, doubling the interval, so a healthy webhook path
    costs no API calls. The activity that plans the wait returns these, so they sit in history.
    """

    # After meeting.ended: no recording.completed by then -> ask Zoom; then every 2x as long.
    recording_first_poll: timedelta = timedelta(minutes=30)
    # After meeting.ended: still no recording at Zoom -> `no_recording` / no_cloud_recording.
    recording_deadline: timedelta = timedelta(hours=48)
    # After the recording arrived: no transcript event by then -> ask Zoom.
    transcript_first_poll: timedelta = timedelta(minutes=30)
    # After the recording arrived: still no transcript -> complete without it.
    transcript_deadline: timedelta = timedelta(hours=12)
    poll_max_interval: timedelta = timedelta(hours=6)
    # A download attempt that stops heartbeating this long is retried elsewhere (resuming).
    download_heartbeat: timedelta = timedelta(seconds=30)


class RecordingPlanInput(BaseModel):
    booking_id: str


class RecordingPlan(BaseModel):
    """What the workflow needs to know once the meeting ended."""

    booking_id: str
    host_can_cloud_record: bool
    # Why not, in words, when it cannot (e.g. "the Zoom user x is a Basic (free) user").
    host_note: str | None = None
    # The host's Zoom settings as read after the meeting; unknown counts as on.
    cloud_recording_enabled: bool = True
    transcript_enabled: bool = True
    timings: RecordingTimings = RecordingTimings()


class RegisterFilesInput(BaseModel):
    """Record the files a routed inbox event announces (the activity reads its payload)."""

    booking_id: str
    event_id: str


class PollInput(BaseModel):
    """Ask Zoom for the meeting's recording files (instance UUID when known, else the id)."""

    booking_id: str
    zoom_meeting_uuid: str | None = None


class RecordingFileRef(BaseModel):
    """One row of recording_files, as the workflow tracks it."""

    id: str
    zoom_file_id: str
    file_type: str
    file_extension: str = ""
    expected_size: int | None = None
    status: str = "pending"


class PollResult(BaseModel):
    files: list[RecordingFileRef] = []
    # Why nothing was found: not_ready (Zoom has no recording yet), meeting_not_found,
    # host_unavailable (no token for the host's account). None when files were found.
    reason: str | None = None


class DownloadFileInput(BaseModel):
    booking_id: str
    file_id: str
    # The lease on the file is this long; it matches the heartbeat timeout.
    lease_seconds: float = 30.0


class StoredFile(BaseModel):
    file_id: str
    size_bytes: int
    sha256: str


class FileFailed(BaseModel):
    booking_id: str
    file_id: str
    reason: str
    message: str
