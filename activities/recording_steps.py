"""Every activity of a booking's recording steps (names match workflows/recording_activities.py)."""

from __future__ import annotations

from activities.recording_download import RecordingDownloadActivities
from activities.recordings import RecordingActivities
from workflows.recording_types import RecordingTimings


def recording_activities(services, timings: RecordingTimings | None = None) -> list:
    """`timings` override how long bookings wait for Zoom (tests use seconds, not hours)."""
    files = RecordingActivities(services, timings)
    downloads = RecordingDownloadActivities(services)
    return [
        files.plan_recording,
        files.register_recording_files,
        files.poll_recording_files,
        files.record_recording_file_failure,
        downloads.download_recording_file,
    ]
