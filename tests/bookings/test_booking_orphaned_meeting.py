"""Issue 16 item 3b: a losing create attempt whose clean-up delete fails leaves no second meeting.

Two attempts of one booking's create run at once (a worker presumed dead still running), both
reach Zoom, one saves; the other must delete its meeting, and the emulator fails that delete
once. The unwanted meeting is recorded (orphaned_meetings) and a later sweep deletes it: Zoom
ends with exactly the one meeting the booking holds.
"""

from __future__ import annotations

import asyncio

from temporalio.exceptions import ApplicationError

from activities.booking_hosts import BookingHostActivities
from activities.booking_meetings import BookingMeetingActivities
from connections.orphaned_meetings import OrphanSweeper, open_orphans
from tests.bookings.helpers import (
    activity_attempt,
    future,
    meeting_row,
    new_org_with_session,
    services_with_hosts,
    stored_booking,
    zoom_meetings_of,
)
from workflows.booking_types import CreateMeetingInput, ResolveHostInput
from zoom.errors import ZoomError


async def _create_as_temporal_would(activities, inp):
    """The create activity, retried on a retryable failure as its retry policy would."""
    for attempt in range(1, 4):
        try:
            return await activity_attempt(attempt).run(activities.create_booking_meeting, inp)
        except (ZoomError, ApplicationError) as exc:
            if getattr(exc, "non_retryable", False) or attempt == 3:
                raise


async def test_a_duplicate_whose_delete_fails_is_recorded_and_swept(api, emulator, system_host):
    svc = services_with_hosts(api.services, f"{system_host}:2")
    org_id, _, session_id = await new_org_with_session(api)
    booking = await stored_booking(svc, org_id, session_id, future(hours=40))
    host = await activity_attempt(1).run(BookingHostActivities(svc).resolve_booking_host, ResolveHostInput(
        booking_id=booking.id, org_id=org_id, start_time=booking.start_time, duration_minutes=60))
    # Both creates are at Zoom together; the loser's clean-up delete is answered 500 once.
    await emulator.control.add_fault("/v2/users/*/meetings", method="POST", action="delay",
                                     latency_ms=1000, count=2)
    await emulator.control.add_fault("/v2/meetings/*", method="DELETE", action="respond", status=500, count=1)
    meetings = BookingMeetingActivities(svc)
    inp = CreateMeetingInput(booking_id=booking.id, host=host)
    first, second = await asyncio.gather(_create_as_temporal_would(meetings, inp),
                                         _create_as_temporal_would(meetings, inp))
    saved = await meeting_row(svc, booking.id)
    assert first.zoom_meeting_id == second.zoom_meeting_id == saved.zoom_meeting_id
    [orphan] = await open_orphans(svc, booking.id)
    assert orphan.zoom_meeting_id != saved.zoom_meeting_id and orphan.last_error is None
    assert len([m for m in await zoom_meetings_of(emulator, booking.id) if not m["deleted"]]) == 2

    assert await OrphanSweeper(svc).sweep_once() == 1
    assert await open_orphans(svc, booking.id) == []
    live = [str(m["id"]) for m in await zoom_meetings_of(emulator, booking.id) if not m["deleted"]]
    assert live == [saved.zoom_meeting_id]
