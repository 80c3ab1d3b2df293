"""Activities: everything that touches Zoom, the database, Redis or the disk.

`build_activities` is the one list the worker registers. Each body is defined once, in the module
named after its step, under the name its stub in workflows/*_activities.py gives it
(tests/workflows/test_activity_names.py checks the two agree).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services import Services
    from workflows.recording_types import RecordingTimings


def build_activities(services: Services, timings: RecordingTimings | None = None) -> list:
    """Every activity, bound to this process's services. `timings` shorten how long bookings wait
    for Zoom's recordings (tests use seconds, not hours)."""
    from activities.attendance import AttendanceActivities
    from activities.booking_hosts import BookingHostActivities
    from activities.booking_meetings import BookingMeetingActivities
    from activities.booking_registrants import BookingRegistrantActivities
    from activities.booking_status import BookingStatusActivities
    from activities.inbox_retention import InboxRetentionActivities
    from activities.recording_download import RecordingDownloadActivities
    from activities.recordings import RecordingActivities
    from activities.token_refresh import TokenRefreshActivities

    hosts = BookingHostActivities(services)
    meetings = BookingMeetingActivities(services)
    status = BookingStatusActivities(services)
    files = RecordingActivities(services, timings)
    downloads = RecordingDownloadActivities(services)
    keepalive = TokenRefreshActivities(services)
    attendance = AttendanceActivities(services)
    return [
        hosts.resolve_booking_host,
        meetings.create_booking_meeting,
        meetings.reschedule_booking_meeting,
        meetings.delete_booking_meeting,
        BookingRegistrantActivities(services).register_interviewee,
        status.record_booking_status,
        attendance.record_attendance,
        attendance.settle_attendance,
        files.plan_recording,
        files.register_recording_files,
        files.poll_recording_files,
        files.record_recording_file_failure,
        downloads.download_recording_file,
        keepalive.refresh_due_connections,
        keepalive.report_token_sweep,
        InboxRetentionActivities(services).delete_old_inbox_events,
    ]
