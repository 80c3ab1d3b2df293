"""Every activity of the IDI booking workflow (names match workflows/booking_activities.py)."""

from __future__ import annotations

from activities.booking_hosts import BookingHostActivities
from activities.booking_meetings import BookingMeetingActivities
from activities.booking_status import BookingStatusActivities


def booking_activities(services) -> list:
    hosts = BookingHostActivities(services)
    meetings = BookingMeetingActivities(services)
    status = BookingStatusActivities(services)
    return [
        hosts.resolve_booking_host,
        meetings.create_booking_meeting,
        meetings.reschedule_booking_meeting,
        meetings.delete_booking_meeting,
        status.record_booking_status,
    ]
