"""What the booking workflow asks of the outside world: activity names and signatures only.

The bodies live in activities/ (they need the database and Zoom, which the workflow sandbox must not
import); they register under these same names, and so do the stand-ins of the workflow tests.
"""

from __future__ import annotations

from temporalio import activity

from workflows.booking_types import (
    BookingHost,
    BookingStatusChange,
    CreateMeetingInput,
    DeleteMeetingInput,
    MeetingRef,
    RegistrationResult,
    RescheduleMeetingInput,
    ResolveHostInput,
)


@activity.defn(name="resolve_booking_host")
async def resolve_booking_host(inp: ResolveHostInput) -> BookingHost:
    """The org's Zoom user when its connection works now, else a free system host (reserved)."""
    raise NotImplementedError


@activity.defn(name="create_booking_meeting")
async def create_booking_meeting(inp: CreateMeetingInput) -> MeetingRef:
    """The booking's one Zoom meeting: found in the database, found at Zoom, or created."""
    raise NotImplementedError


@activity.defn(name="register_interviewee")
async def register_interviewee(ref: MeetingRef) -> RegistrationResult:
    """Register the interviewee on the meeting so their join link is their own (once; a refusal
    is an answer, not an error: the plain join link still works)."""
    raise NotImplementedError


@activity.defn(name="reschedule_booking_meeting")
async def reschedule_booking_meeting(inp: RescheduleMeetingInput) -> MeetingRef:
    """Move the meeting to a new time on the same host (PATCH at Zoom, never recreate)."""
    raise NotImplementedError


@activity.defn(name="delete_booking_meeting")
async def delete_booking_meeting(inp: DeleteMeetingInput) -> None:
    """Delete the meeting at Zoom and give back the host's slot."""
    raise NotImplementedError


@activity.defn(name="record_booking_status")
async def record_booking_status(change: BookingStatusChange) -> None:
    """Write the booking's status where the API reads it; a failed booking frees its host slot."""
    raise NotImplementedError
