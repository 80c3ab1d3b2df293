"""What the booking workflow asks about attendance: activity names and signatures only.

The bodies live in activities/attendance.py (they read the inbox and Zoom); the time-skipping
tests register stand-ins under the same names.
"""

from __future__ import annotations

from temporalio import activity

from workflows.booking_types import AttendanceInput, AttendanceSummary, SettleAttendanceInput


@activity.defn(name="record_attendance")
async def record_attendance(inp: AttendanceInput) -> int:
    """Rebuild the booking's attendance record from its participant webhooks; how many people."""
    raise NotImplementedError


@activity.defn(name="settle_attendance")
async def settle_attendance(inp: SettleAttendanceInput) -> AttendanceSummary:
    """After the meeting: complete the record (Zoom's participants list once, if needed) and
    say who attended, without names."""
    raise NotImplementedError
