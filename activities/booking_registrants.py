"""The interviewee's own join link: register them on the booking's meeting once it exists.

A registrant's join link is theirs alone, and every join through it carries their registrant id in
Zoom's participant events and past-participants list, which is the surest way to tell the
interviewee from anyone else in the meeting (docs/zoom.md#meeting-registrants). Registration is a
bonus, never a condition: when Zoom refuses it (a Basic host, registration not allowed, a scope
the app lacks) the booking keeps the meeting's plain join link, registration is switched off again
so that link asks nobody to register, and attendance falls back to email, then display name.

Registering is idempotent: the answer is stored on the booking before the activity returns, and a
retry after a lost answer registers the same email again, which Zoom answers with the existing
registration or refuses (UNVERIFIED which); it never makes a second registrant.
"""

from __future__ import annotations

import logging

from sqlmodel import select
from temporalio import activity

from activities.liveness import beats
from connections.meeting_host import MeetingHostChanged, meeting_api
from connections.tokens import ConnectionUnavailable
from models import Booking, Meeting, utcnow
from workflows.booking_types import REGISTER_ATTEMPTS, MeetingRef, RegistrationResult
from zoom.errors import ZoomError, ZoomMissingScope, ZoomPaidFeature, ZoomTransientError

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services import Services
    from zoom.client import ZoomApi

log = logging.getLogger("booking.registrants")

REGISTERED, NOT_REGISTERED = "registered", "not_registered"
# approval_type 0: registrations are approved at once. The plain join link then shows Zoom's
# registration form instead of refusing (clients that still hand out `join_url` keep working);
# the waiting room still lets only the people the host admits in. Zoom's own mails to the
# registrant are off: Converge tells the interviewee.
REGISTRATION_ON = {"approval_type": 0, "registration_type": 1,
                   "registrants_confirmation_email": False, "registrants_email_notification": False}
REGISTRATION_OFF = {"approval_type": 2}


def registrant_names(full_name: str) -> tuple[str, str]:
    """Zoom wants a first name (at most 64 characters) and takes a last name."""
    first, _, last = " ".join(full_name.split()).partition(" ")
    return (first or full_name or "Interviewee")[:64], last[:64]


def _refusal_reason(exc: ZoomError) -> str:
    if isinstance(exc, ZoomMissingScope):
        return "missing_scope"
    if isinstance(exc, ZoomPaidFeature):
        return "host_not_licensed"
    return "zoom_refused"


class BookingRegistrantActivities:
    def __init__(self, services: Services) -> None:
        self._services = services

    @activity.defn(name="register_interviewee")
    @beats
    async def register_interviewee(self, ref: MeetingRef) -> RegistrationResult:
        async with self._services.db.session() as s:
            booking = await s.get(Booking, ref.booking_id)
            meeting = (await s.exec(select(Meeting).where(Meeting.booking_id == ref.booking_id))).first()
        if booking.registration_status is not None:  # decided by an earlier attempt or run
            return RegistrationResult(registered=booking.registration_status == REGISTERED,
                                      reason=booking.registration_reason)
        if meeting is None or meeting.status == "deleted":
            return await self._record(booking.id, reason="no_meeting")
        api: ZoomApi | None = None
        try:
            api = await meeting_api(self._services, meeting)
            await api.update_meeting(meeting.zoom_meeting_id, {"settings": REGISTRATION_ON})
            first, last = registrant_names(booking.participant_name)
            answer = await api.add_meeting_registrant(meeting.zoom_meeting_id, {
                "email": booking.participant_email, "first_name": first, "last_name": last,
                "auto_approve": True})
        except MeetingHostChanged:
            return await self._record(booking.id, reason="host_changed")
        except ConnectionUnavailable:
            return await self._record(booking.id, reason="connection_unavailable")
        except ZoomTransientError:
            if activity.info().attempt < REGISTER_ATTEMPTS:
                raise  # Temporal retries with backoff
            await self._registration_off(api, meeting)
            return await self._record(booking.id, reason="zoom_unavailable")
        except ZoomError as exc:
            log.info("booking %s: Zoom refused to register the interviewee on meeting %s (code %s)",
                     booking.id, meeting.zoom_meeting_id, exc.code)
            await self._registration_off(api, meeting)
            return await self._record(booking.id, reason=_refusal_reason(exc))
        registrant_id, join_url = str(answer.get("registrant_id") or ""), str(answer.get("join_url") or "")
        if not registrant_id or not join_url:
            await self._registration_off(api, meeting)
            return await self._record(booking.id, reason="zoom_answer_incomplete")
        return await self._record(booking.id, registrant_id=registrant_id, join_url=join_url)

    async def _registration_off(self, api: ZoomApi | None, meeting: Meeting) -> None:
        """So the plain join link does not ask the interviewee to register; if Zoom refuses this
        too the link still works, through Zoom's registration form."""
        if api is None:
            return
        try:
            await api.update_meeting(meeting.zoom_meeting_id, {"settings": REGISTRATION_OFF})
        except (ZoomError, ConnectionUnavailable) as exc:
            log.warning("meeting %s: could not switch registration off again (%s)",
                        meeting.zoom_meeting_id, type(exc).__name__)

    async def _record(self, booking_id: str, *, registrant_id: str | None = None,
                      join_url: str | None = None, reason: str | None = None) -> RegistrationResult:
        async with self._services.db.session() as s:
            booking = await s.get(Booking, booking_id)
            booking.zoom_registrant_id, booking.interviewee_join_url = registrant_id, join_url
            booking.registration_status = REGISTERED if registrant_id else NOT_REGISTERED
            booking.registration_reason = None if registrant_id else reason
            booking.updated_at = utcnow()
            s.add(booking)
            await s.commit()
        return RegistrationResult(registered=bool(registrant_id), reason=None if registrant_id else reason)
