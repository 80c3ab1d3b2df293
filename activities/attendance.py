"""The attendance activities: build a booking's attendance record in Postgres from Zoom's
participant webhooks (read from the inbox) and, once after the meeting, Zoom's past-meeting
participants list when the webhooks left gaps.

The record is rebuilt from every participant event of the booking each time, so events in any
order, or delivered twice, give the same result. Names and emails go from the inbox payload to the
`attendees` table only; what the workflow gets back is flags and minutes (AttendanceSummary).
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import delete
from sqlmodel import col, select
from temporalio import activity

from activities.liveness import beats

import attendance as rules
from activities.recordings import booking_meeting, host_api
from connections.tokens import ConnectionUnavailable
from models import Attendee, Booking, Meeting, WebhookEvent, utcnow
from workflows.booking_types import AttendanceInput, AttendanceSummary, SettleAttendanceInput
from zoom.errors import ZoomError, ZoomTransientError
from zoom.webhooks import PARTICIPANT_EVENTS, ParticipantJoined, WebhookPayloadError, parse_event

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services import Services

log = logging.getLogger("attendance")

ATTENDED, NO_SHOW, HOST_ABSENT = "attended", "no_show", "host_absent"


def _expected(booking: Booking, meeting: Meeting) -> rules.Expected:
    return rules.Expected(host_user_id=meeting.host_user_id or "", host_email=meeting.host_email,
                          interviewee_email=booking.participant_email,
                          interviewee_name=booking.participant_name,
                          registrant_id=booking.zoom_registrant_id or "")


def webhook_sightings(rows: list[WebhookEvent]) -> tuple[list[rules.Sighting], datetime | None]:
    """Sightings from the booking's participant events, and the meeting's end if Zoom said it."""
    seen, ended_at = [], None
    for row in rows:
        try:
            event = parse_event(row.payload)
        except WebhookPayloadError:
            continue
        if row.event_type == "meeting.ended":
            ended_at = event.payload.object.end_time or ended_at
            continue
        p = event.payload.object.participant
        joined = isinstance(event, ParticipantJoined)
        seen.append(rules.Sighting(
            kind="join" if joined else "leave", at=p.join_time if joined else p.leave_time,
            join_time=None if joined else p.join_time, source=rules.WEBHOOKS,
            name=p.user_name or "", email=p.email or "", registrant_id=p.registrant_id or "",
            zoom_user_id=p.participant_user_id or p.id or ""))
    return seen, ended_at


def list_sightings(entries: list[dict]) -> list[rules.Sighting]:
    return [rules.Sighting(
        kind="segment", at=rules.parse_time(e.get("join_time")),
        left_at=rules.parse_time(e.get("leave_time")), source=rules.ZOOM_LIST,
        name=str(e.get("name") or ""), email=str(e.get("user_email") or ""),
        registrant_id=str(e.get("registrant_id") or ""), zoom_user_id=str(e.get("id") or ""))
        for e in entries]


class AttendanceActivities:
    def __init__(self, services: Services) -> None:
        self._services = services

    async def _load(self, booking_id: str):
        async with self._services.db.session() as s:
            booking = await s.get(Booking, booking_id)
            rows = (await s.exec(
                select(WebhookEvent).where(
                    WebhookEvent.booking_id == booking_id,
                    col(WebhookEvent.event_type).in_([*PARTICIPANT_EVENTS, "meeting.ended"]))
                .order_by(WebhookEvent.received_at)
            )).all()
            kept = (await s.exec(select(Attendee).where(Attendee.booking_id == booking_id))).all()
        return booking, list(rows), list(kept)

    async def _save(self, booking: Booking, people: dict[str, rules.Person]) -> None:
        now = utcnow()
        async with self._services.db.session() as s:
            await s.exec(delete(Attendee).where(Attendee.booking_id == booking.id))
            for p in people.values():
                s.add(Attendee(booking_id=booking.id, org_id=booking.org_id, participant_key=p.key,
                               role=p.role, matched_by=p.matched_by, display_name=p.name,
                               email=p.email, segments=p.segments, created_at=now, updated_at=now))
            await s.commit()

    @staticmethod
    def _with_kept_list(sightings: list[rules.Sighting], kept: list[Attendee]) -> list[rules.Sighting]:
        """Segments an earlier look at Zoom's list found stay in the record when it is rebuilt."""
        for a in kept:
            for g in a.segments:
                if g.get("source") in (rules.ZOOM_LIST, "both") and g.get("joined_at"):
                    sightings.append(rules.Sighting(
                        kind="segment", at=rules.parse_time(g["joined_at"]),
                        left_at=rules.parse_time(g.get("left_at")), source=rules.ZOOM_LIST,
                        name=a.display_name, email=a.email,
                        known=(a.participant_key, a.role, a.matched_by)))
        return sightings

    @activity.defn(name="record_attendance")
    @beats
    async def record_attendance(self, inp: AttendanceInput) -> int:
        """While the meeting runs: the record as the webhooks tell it. Returns how many people."""
        booking, rows, kept = await self._load(inp.booking_id)
        meeting = await booking_meeting(self._services, inp.booking_id)
        sightings, ended_at = webhook_sightings(rows)
        people = rules.fold(self._with_kept_list(sightings, kept), _expected(booking, meeting))
        for p in people.values():
            rules.close_open(p, ended_at)  # a late event after the end reopens nobody
        await self._save(booking, people)
        return len(people)

    @activity.defn(name="settle_attendance")
    @beats
    async def settle_attendance(self, inp: SettleAttendanceInput) -> AttendanceSummary:
        """After the meeting: webhooks, plus Zoom's participants list (asked once) when they left
        a gap; then the booking's attendance outcome."""
        booking, rows, kept = await self._load(inp.booking_id)
        meeting = await booking_meeting(self._services, inp.booking_id)
        expected = _expected(booking, meeting)
        sightings, ended_at = webhook_sightings(rows)
        sightings = self._with_kept_list(sightings, kept)
        people = rules.fold(sightings, expected)
        sources = {rules.WEBHOOKS} if any(s.source == rules.WEBHOOKS for s in sightings) else set()
        if kept and any(g.get("source") in (rules.ZOOM_LIST, "both") for a in kept for g in a.segments):
            sources.add(rules.ZOOM_LIST)
        if not rules.complete(people):
            entries = await self._zoom_list(meeting, inp.zoom_meeting_uuid or meeting.zoom_uuid)
            if entries is not None:
                sources.add(rules.ZOOM_LIST)
                people = rules.fold(sightings + list_sightings(entries), expected)
        for p in people.values():
            rules.close_open(p, ended_at or utcnow())
        await self._save(booking, people)
        return await self._conclude(booking, people, sources)

    async def _zoom_list(self, meeting: Meeting, uuid: str | None) -> list[dict] | None:
        """Zoom's participants list of the instance, or None when it cannot be had (that is not a
        no-show: the outcome then rests on the webhooks alone)."""
        if not uuid:
            log.info("booking %s: no meeting instance uuid to ask Zoom's participants list", meeting.booking_id)
            return None
        try:
            api = await host_api(self._services, meeting)
            return await api.past_meeting_participants(uuid)
        except ZoomTransientError:
            raise  # Temporal retries; the workflow goes on without it when retries run out
        except (ConnectionUnavailable, ZoomError) as exc:
            log.info("booking %s: Zoom's participants list not available (%s)", meeting.booking_id,
                     type(exc).__name__)
            return None

    async def _conclude(self, booking: Booking, people: dict[str, rules.Person], sources: set[str]) -> AttendanceSummary:
        if not sources or not people:
            # Nobody at all, by any account: Zoom's data is missing or late, which is not
            # evidence that the interviewee stayed away. Nothing is claimed.
            return AttendanceSummary(known=False, source=next(iter(sources), None))
        host = people.get(rules.HOST)
        guest = people.get(rules.INTERVIEWEE)
        host_joined = bool(host and rules.first_join(host.segments))
        guest_joined = bool(guest and guest.segments)
        guest_minutes = rules.minutes(guest.segments) if guest else 0
        status = NO_SHOW if not guest_joined else (HOST_ABSENT if not host_joined else ATTENDED)
        source = "both" if len(sources) == 2 else next(iter(sources))
        async with self._services.db.session() as s:
            row = await s.get(Booking, booking.id)
            row.attendance_status, row.attendance_source = status, source
            row.host_joined_at = rules.first_join(host.segments) if host else None
            row.interviewee_minutes = guest_minutes if guest_joined else 0
            row.updated_at = utcnow()
            s.add(row)
            await s.commit()
        return AttendanceSummary(known=True, source=source, host_joined=host_joined,
                                 interviewee_joined=guest_joined, interviewee_minutes=guest_minutes,
                                 matched_by=guest.matched_by if guest else None)
