"""The booking's Zoom meeting: created exactly once, moved in place, deleted on cancel.

Zoom has no idempotency key for creating a meeting, and an answer can be lost after Zoom made the
meeting (a dropped connection, a worker killed mid-call). So a create is always, in this order:
1. the database: a meetings row for the booking (unique booking_id) means it is done;
2. Zoom: the host's meetings, looking for the booking reference we put in every agenda;
3. only then create, and save the answer at once.
The host's reservation carries `create_sent_at` while a create is in flight, so a connection that
dies at that moment fails the booking instead of making a second meeting elsewhere.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta, timezone
from typing import Awaitable, TypeVar

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.booking_hosts import fallback_reason
from activities.host_pool import Slot, capacity_of, has_room, org_host_has_room
from activities.liveness import heartbeating
from connections.meeting_host import MeetingHostChanged, check_meeting_host, meeting_api
from connections.orphaned_meetings import delete_orphan, record_orphan
from models import Booking, IdiSession, Meeting, ZoomConnection, utcnow
from metrics import MEETING_CREATES
from models import HostReservation
from connections.tokens import ConnectionUnavailable
from workflows.booking_types import (
    BookingHost,
    CreateMeetingInput,
    DeleteMeetingInput,
    Failure,
    MeetingRef,
    RescheduleMeetingInput,
)
from zoom.client import ZoomApi
from zoom.errors import (
    ZoomBadRequest,
    ZoomClientAuthError,
    ZoomDailyLimit,
    ZoomError,
    ZoomHostingNotAllowed,
    ZoomMeetingNotFound,
    ZoomMissingScope,
    ZoomTransientError,
    ZoomUserNotFound,
    honoured_retry_after,
)
from zoom.ids import meeting_id_str
from connections.connect import _display_name as display_name

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services import Services

log = logging.getLogger("booking.meetings")
T = TypeVar("T")

BOOKING_MARK = "converge-booking:"
# A Zoom refusal we cannot place (say, a token still rejected after a fresh one) gets this many
# attempts, then ends the call: retrying it until the interview starts would hide it from ops.
REFUSAL_ATTEMPTS = 3


def booking_reference(booking_id: str) -> str:
    """What the agenda carries so a meeting can be traced back to its booking at Zoom."""
    return f"{BOOKING_MARK}{booking_id}"


def zoom_time(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def meeting_body(booking: Booking, session: IdiSession) -> dict:
    """An IDI on Zoom: cloud-recorded (the recording is the point), waiting room on so the
    moderator admits the participant, times in UTC."""
    return {
        "topic": f"{session.title} – {booking.participant_name}"[:200],
        "type": 2,
        "start_time": zoom_time(booking.start_time),
        "duration": booking.duration_minutes,
        "timezone": "UTC",
        "agenda": f"Converge in-depth interview. Booking reference: {booking_reference(booking.id)}",
        "settings": {
            "auto_recording": "cloud",
            "waiting_room": True,
            "join_before_host": False,
            "host_video": True,
            "participant_video": True,
        },
    }


def _permanent(kind: str, message: str, *details: object) -> ApplicationError:
    return ApplicationError(message, *details, type=kind, non_retryable=True)


class BookingMeetingActivities:
    def __init__(self, services: Services) -> None:
        self._services = services

    # --- create -----------------------------------------------------------------------------

    @activity.defn(name="create_booking_meeting")
    async def create_booking_meeting(self, inp: CreateMeetingInput) -> MeetingRef:
        existing = await self._meeting(inp.booking_id)
        if existing is not None:
            return _ref(existing)  # an earlier attempt's, already counted
        try:
            ref, outcome = await self._create(inp)
        except ZoomTransientError:
            MEETING_CREATES.labels(inp.host.kind, "zoom_unavailable").inc()
            raise
        except ApplicationError as exc:  # its type is a Failure kind or a Zoom error class name
            MEETING_CREATES.labels(inp.host.kind, exc.type or "failed").inc()
            raise
        MEETING_CREATES.labels(inp.host.kind, outcome).inc()
        return ref

    async def _create(self, inp: CreateMeetingInput) -> tuple[MeetingRef, str]:
        booking, session, reservation = await self._booking(inp.booking_id)
        host = inp.host
        async with heartbeating():
            api, user_ref, host_email, host_name = await self._host_api(host)
            try:
                # Only a create sent before (its answer lost, its worker killed) can have left a
                # meeting there: a first attempt spends none of the host's rate limit on a list.
                found = (await self._find_at_zoom(api, user_ref, booking, session)
                         if _create_maybe_sent(reservation) else None)
            except ConnectionUnavailable as exc:
                raise self._org_unavailable(
                    host, _reason(exc),
                    maybe_created=reservation is not None and reservation.create_sent_at is not None,
                ) from None
            except ZoomTransientError:
                raise
            except ZoomError as exc:  # a definite answer: no such user, missing scope, ...
                raise await self._refused(host, exc, api) from None
            if found is not None:
                log.info("booking %s: found its meeting at Zoom, saving it", booking.id)
                return await self._save(booking, host, found, host_email, host_name, api), "found"

            await self._create_sent(booking.id, True)
            try:
                created = await _see_through(api.create_meeting(user_ref, meeting_body(booking, session)))
            except ZoomTransientError as exc:
                # Zoom may have made it anyway; the next attempt looks before it creates again.
                raise ApplicationError(
                    f"Zoom did not answer the create ({exc}); will look for it and retry",
                    type="ZoomTransientError",
                    next_retry_delay=honoured_retry_after(exc.retry_after_seconds),
                ) from None
            except ConnectionUnavailable as exc:
                # Raised before a request reached Zoom (no token, or a 124 then no fresh token).
                await self._create_sent(booking.id, False)
                raise self._org_unavailable(host, _reason(exc), maybe_created=False) from None
            except ZoomError as exc:
                await self._create_sent(booking.id, False)
                raise await self._refused(host, exc, api) from None
            return await self._save(booking, host, created, host_email, host_name, api), "created"

    async def _host_api(self, host: BookingHost) -> tuple[ZoomApi, str, str, str]:
        """The Zoom client for the host, the user reference to create under, its email and name."""
        tokens = self._services.tokens
        if host.kind == "org":
            async with self._services.db.session() as s:
                conn = await s.get(ZoomConnection, host.connection_id)
            return tokens.org_api(host.connection_id), "me", conn.zoom_email, conn.zoom_user_name
        api = tokens.system_api()
        try:
            profile = await api.get_user(host.system_host)
        except ZoomUserNotFound:
            raise _permanent(
                Failure.SYSTEM_HOST_MISSING,
                f"The system host {host.system_host} does not exist in Converge's Zoom account. "
                "Converge support must fix ZOOM_SYSTEM_HOSTS; book again once it is fixed.",
            ) from None
        except ConnectionUnavailable as exc:
            raise _permanent(Failure.SYSTEM_HOST_MISSING,
                             f"Converge's system Zoom account is not usable ({exc.reason}).") from None
        except ZoomTransientError:
            raise
        except ZoomError as exc:  # the S2S app's credentials or scopes, or a token still refused
            raise await self._refused(host, exc) from None
        return api, host.system_host, host.system_host, display_name(profile) or "Converge"

    async def _find_at_zoom(self, api: ZoomApi, user_ref: str, booking: Booking,
                            session: IdiSession) -> dict | None:
        """A meeting on the host whose agenda carries this booking's reference."""
        mark = booking_reference(booking.id)
        topic = meeting_body(booking, session)["topic"]
        async for item in api.list_meetings(user_ref, type="scheduled"):
            if "agenda" in item:
                if mark in (item.get("agenda") or ""):
                    return item
            elif item.get("topic") == topic:
                # Some list answers leave the agenda out: read the candidate in full.
                full = await api.get_meeting(item["id"])
                if mark in (full.get("agenda") or ""):
                    return full
        return None

    async def _save(self, booking: Booking, host: BookingHost, zm: dict, host_email: str,
                    host_name: str, api: ZoomApi) -> MeetingRef:
        row = Meeting(
            booking_id=booking.id,
            org_id=booking.org_id,
            zoom_meeting_id=meeting_id_str(zm["id"]),
            zoom_uuid=zm.get("uuid"),
            host_kind=host.kind,
            host_user_id=zm.get("host_id"),
            host_email=host_email,
            host_name=host_name,
            connection_id=host.connection_id,
            fallback_reason=host.fallback_reason,
            join_url=zm.get("join_url") or "",
            start_time=booking.start_time,
            duration_minutes=booking.duration_minutes,
        )
        try:
            async with self._services.db.session() as s:
                s.add(row)
                await s.exec(_clear_create_sent(booking.id))
                await s.commit()
        except IntegrityError:
            # Another attempt (a worker presumed dead but still running) saved first.
            saved = await self._meeting(booking.id)
            if saved is None:
                raise
            if saved.zoom_meeting_id != row.zoom_meeting_id:
                log.warning("booking %s: deleting duplicate Zoom meeting %s (kept %s)",
                            booking.id, row.zoom_meeting_id, saved.zoom_meeting_id)
                # Noted first: if the delete fails (or this worker dies), the sweep deletes it.
                await record_orphan(self._services, row)
                try:
                    await delete_orphan(self._services, row)
                except (ZoomError, ConnectionUnavailable, MeetingHostChanged) as exc:
                    log.warning("booking %s: duplicate Zoom meeting %s left for the orphan sweep (%s)",
                                booking.id, row.zoom_meeting_id, exc)
            return _ref(saved)
        log.info("booking %s: meeting %s saved (%s host)", booking.id, row.zoom_meeting_id, host.kind)
        return _ref(row)

    def _org_unavailable(self, host: BookingHost, reason: str, *, maybe_created: bool) -> ApplicationError:
        if host.kind != "org":
            return _permanent(Failure.SYSTEM_HOST_MISSING,
                              f"Converge's system Zoom account is not usable ({reason}).")
        if maybe_created:
            return _permanent(
                Failure.ORG_CONNECTION_LOST,
                f"Your Zoom connection stopped working ({reason}) while the meeting was being "
                "created on your Zoom account, so Converge cannot tell whether Zoom made it and "
                "will not make a second one elsewhere. Reconnect Zoom under Integrations, check "
                "your Zoom meetings for this interview, and book it again if it is not there.",
            )
        return _permanent(Failure.ORG_HOST_UNAVAILABLE,
                          f"The organization's Zoom connection is unavailable ({reason}).", reason)

    async def _user_gone(self, host: BookingHost, api: ZoomApi | None) -> ApplicationError:
        if host.kind == "org":
            # The connected Zoom user was deleted or left the account: nothing can be hosted
            # there until the org reconnects (docs/zoom.md#error-codes, code 1001). Only the grant Zoom
            # answered about expires, not a reconnect made a moment ago.
            await self._services.tokens.mark_expired(
                host.connection_id, "zoom_user_not_found",
                expected_version=getattr(api, "token_version", None))
            return _permanent(Failure.ORG_HOST_UNAVAILABLE,
                              "The connected Zoom user no longer exists (Zoom code 1001).",
                              "zoom_user_not_found")
        return _permanent(Failure.SYSTEM_HOST_MISSING,
                          f"The system host {host.system_host} no longer exists in Converge's "
                          "Zoom account; Converge support must fix ZOOM_SYSTEM_HOSTS.")

    async def _refused(self, host: BookingHost, exc: ZoomError,
                       api: ZoomApi | None = None) -> ApplicationError:
        """A definite "no" from Zoom on the create: nothing was made."""
        who = "The connected Zoom user" if host.kind == "org" else f"Converge's system host {host.system_host}"
        if isinstance(exc, ZoomHostingNotAllowed):
            fix = ("Assign a licence to that user in Zoom (User Management → Users), or connect a "
                   "licensed Zoom user, then book the interview again."
                   if host.kind == "org" else "Converge support must restore the host's licence.")
            return _permanent(Failure.LICENSE_UNAVAILABLE,
                              f"{who} has no Zoom licence to host meetings (Zoom code 3161), so "
                              f"the meeting cannot be created until licence capacity is restored. {fix}")
        if isinstance(exc, ZoomDailyLimit):
            return _permanent(Failure.DAILY_LIMIT,
                              f"{who} reached Zoom's daily limit of meeting creations and updates; "
                              f"it resets at {zoom_time(exc.retry_at)}.",
                              exc.retry_at.astimezone(timezone.utc).isoformat())
        if isinstance(exc, ZoomUserNotFound):
            return await self._user_gone(host, api)
        misconfigured = _configuration_refused(exc, host.kind)
        if misconfigured is not None:
            return misconfigured
        if isinstance(exc, (ZoomBadRequest, ZoomMeetingNotFound)):
            return _permanent(Failure.ZOOM_REJECTED,
                              f"Zoom refused to create the meeting: {exc}. Book again; contact "
                              "Converge support if it keeps happening.")
        # Anything else (e.g. a token still refused after a refresh): a few tries with backoff.
        return _retry_a_few_times(exc, "create the meeting",
                                  "Book the interview again; contact Converge support if it keeps happening.")

    # --- reschedule -------------------------------------------------------------------------

    @activity.defn(name="reschedule_booking_meeting")
    async def reschedule_booking_meeting(self, inp: RescheduleMeetingInput) -> MeetingRef:
        meeting = await self._meeting(inp.booking_id)
        if meeting is None:
            raise _permanent(Failure.NOT_RESCHEDULABLE,
                             "The booking has no Zoom meeting yet; try again once it is scheduled.")
        end = inp.start_time + timedelta(minutes=inp.duration_minutes)
        api = await self._api_of(meeting)
        # The slot moves first, in a short transaction (for a system host: checked and moved under
        # its lock, so no other booking takes the new time meanwhile). Zoom is asked only after
        # that commits: a slow PATCH must not hold the lock every system-host booking queues on.
        # If Zoom does not take the new time, the old window is given back.
        old = await self._move_reservation(meeting, inp.start_time, end)
        try:
            async with heartbeating():
                await self._patch_time(api, meeting, inp)
        except BaseException:
            await asyncio.shield(self._restore_reservation(inp.booking_id, old, (inp.start_time, end)))
            raise
        now = utcnow()
        async with self._services.db.session() as s:
            await s.exec(update(Meeting).where(Meeting.booking_id == inp.booking_id)
                         .values(start_time=inp.start_time, duration_minutes=inp.duration_minutes))
            await s.exec(update(Booking).where(Booking.id == inp.booking_id)
                         .values(start_time=inp.start_time, duration_minutes=inp.duration_minutes,
                                 updated_at=now))
            await s.commit()
        return _ref(meeting)

    async def _move_reservation(self, meeting: Meeting, start: datetime,
                                end: datetime) -> tuple[datetime, datetime] | None:
        """Move the booking's reserved window; returns the old one (None: nothing reserved)."""
        async with self._services.db.session() as s:
            if meeting.host_kind == "system":
                host = capacity_of(self._services.settings.system_hosts, meeting.host_email)
                if not await has_room(s, host, Slot(meeting.booking_id, meeting.org_id, start, end)):
                    raise _permanent(
                        Failure.SYSTEM_HOSTS_FULL,
                        f"The system Zoom host of this meeting ({meeting.host_email}) is fully "
                        f"booked at the new time (capacity {host.capacity}); the meeting keeps its "
                        "old time. Pick another time, or cancel and book again.",
                    )
            elif meeting.connection_id is not None:
                # The org's user, counted like a new booking (docs/zoom.md#concurrency). The meeting
                # stays where it is: moving it to the system account would change its join link.
                conn = await s.get(ZoomConnection, meeting.connection_id)
                capacity = conn.concurrent_meetings if conn is not None else 1
                if not await org_host_has_room(s, meeting.connection_id, capacity,
                                               Slot(meeting.booking_id, meeting.org_id, start, end)):
                    raise _permanent(
                        Failure.ORG_HOST_BUSY,
                        f"Your organization's Zoom user already hosts {capacity} interview"
                        f"{'s' if capacity != 1 else ''} at the new time, as many as it can run at "
                        "once (Integrations > concurrent meetings); the meeting keeps its old time. "
                        "Pick another time, or cancel and book again: a new booking at that time "
                        "runs on Converge's Zoom account.",
                    )
            held = (await s.exec(
                select(HostReservation).where(HostReservation.booking_id == meeting.booking_id)
            )).first()
            if held is None:
                return None
            old = (held.start_time, held.end_time)
            await s.exec(update(HostReservation).where(HostReservation.id == held.id)
                         .values(start_time=start, end_time=end, updated_at=utcnow()))
            await s.commit()
        return old

    async def _restore_reservation(self, booking_id: str, old: tuple[datetime, datetime] | None,
                                   moved_to: tuple[datetime, datetime]) -> None:
        """Zoom kept the old time: so does the reservation (unless something moved it since)."""
        if old is None:
            return
        async with self._services.db.session() as s:
            await s.exec(update(HostReservation)
                         .where(HostReservation.booking_id == booking_id,
                                HostReservation.start_time == moved_to[0],
                                HostReservation.end_time == moved_to[1])
                         .values(start_time=old[0], end_time=old[1], updated_at=utcnow()))
            await s.commit()

    async def _patch_time(self, api: ZoomApi, meeting: Meeting, inp: RescheduleMeetingInput) -> None:
        try:
            await api.update_meeting(meeting.zoom_meeting_id, {
                "start_time": zoom_time(inp.start_time),
                "duration": inp.duration_minutes,
                "timezone": "UTC",
            })
        except ConnectionUnavailable as exc:
            raise _permanent(
                Failure.ORG_CONNECTION_LOST,
                f"The meeting is hosted on your Zoom account, and the Zoom connection is "
                f"{exc.reason}. Reconnect Zoom under Integrations, then reschedule again; the "
                "meeting keeps its old time.",
            ) from None
        except ZoomMeetingNotFound:
            await self._check_host(meeting)  # "gone" for another user's token means nothing
            raise _permanent(Failure.MEETING_GONE,
                             f"Zoom meeting {meeting.zoom_meeting_id} no longer exists (deleted in "
                             "Zoom?). Cancel this booking and book the interview again.") from None
        except ZoomDailyLimit as exc:
            raise _permanent(Failure.DAILY_LIMIT,
                             f"The meeting's host reached Zoom's daily limit of meeting creations "
                             f"and updates; try again after {zoom_time(exc.retry_at)}. The "
                             "meeting keeps its old time.") from None
        except (ZoomBadRequest, ZoomMissingScope, ZoomHostingNotAllowed, ZoomClientAuthError) as exc:
            raise _permanent(Failure.ZOOM_REJECTED,
                             f"Zoom refused the new time: {exc}. The meeting keeps its old time.") from None

    # --- delete -----------------------------------------------------------------------------

    @activity.defn(name="delete_booking_meeting")
    async def delete_booking_meeting(self, inp: DeleteMeetingInput) -> None:
        meeting = await self._meeting(inp.booking_id)
        try:
            async with heartbeating():
                if meeting is None:
                    await self._delete_unsaved(inp.booking_id)
                elif meeting.status != "deleted":
                    # A meeting already gone at Zoom counts as deleted (ZoomApi.delete_meeting),
                    # unless the org reconnected as another user meanwhile: then "gone" was
                    # about that user's meetings, and this one may still be there.
                    await (await self._api_of(meeting)).delete_meeting(meeting.zoom_meeting_id)
                    await self._check_host(meeting)
        except ConnectionUnavailable as exc:
            raise _permanent(Failure.ORG_CONNECTION_LOST,
                             f"your Zoom connection is {exc.reason}") from None
        except ZoomTransientError:
            raise
        except ZoomError as exc:
            raise (_configuration_refused(exc, meeting.host_kind if meeting else "system")
                   or _retry_a_few_times(exc, "delete the meeting")) from None
        async with self._services.db.session() as s:
            await s.exec(update(Meeting).where(Meeting.booking_id == inp.booking_id).values(status="deleted"))
            await s.exec(update(HostReservation).where(HostReservation.booking_id == inp.booking_id)
                         .values(status="released", create_sent_at=None, updated_at=utcnow()))
            await s.commit()

    async def _delete_unsaved(self, booking_id: str) -> None:
        """No meeting was saved, but a create may have reached Zoom (a cancel stopped it, or its
        answer was lost): find it on the host by the agenda's booking reference and delete it.
        The cancel stops the create first and waits for its request to end, so whatever Zoom made
        is visible here."""
        booking, session, reservation = await self._booking(booking_id)
        if reservation is None or reservation.create_sent_at is None:
            return
        system = reservation.host_kind == "system"
        host = BookingHost(kind=reservation.host_kind, connection_id=reservation.connection_id,
                           system_host=reservation.host_key if system else None, label="")
        api, user_ref, _, _ = await self._host_api(host)
        try:
            found = await self._find_at_zoom(api, user_ref, booking, session)
            if found is not None:
                log.info("booking %s: deleting Zoom meeting %s made by a create that was stopped",
                         booking_id, found.get("id"))
                await api.delete_meeting(found["id"])
        except (ZoomTransientError, ConnectionUnavailable):
            raise
        except ZoomError as exc:
            raise (_configuration_refused(exc, host.kind)
                   or _retry_a_few_times(exc, "delete the meeting")) from None

    # --- helpers ----------------------------------------------------------------------------

    async def _api_of(self, meeting: Meeting) -> ZoomApi:
        """The client of the meeting's host; ORG_CONNECTION_LOST when the org is now connected as
        another Zoom user (meeting_host.py)."""
        try:
            return await meeting_api(self._services, meeting)
        except MeetingHostChanged as exc:
            raise _permanent(Failure.ORG_CONNECTION_LOST, str(exc)) from None

    async def _check_host(self, meeting: Meeting) -> None:
        try:
            await check_meeting_host(self._services, meeting)
        except MeetingHostChanged as exc:
            raise _permanent(Failure.ORG_CONNECTION_LOST, str(exc)) from None

    async def _meeting(self, booking_id: str) -> Meeting | None:
        async with self._services.db.session() as s:
            return (await s.exec(select(Meeting).where(Meeting.booking_id == booking_id))).first()

    async def _booking(self, booking_id: str) -> tuple[Booking, IdiSession, HostReservation]:
        async with self._services.db.session() as s:
            booking = await s.get(Booking, booking_id)
            session = await s.get(IdiSession, booking.session_id)
            reservation = (await s.exec(
                select(HostReservation).where(HostReservation.booking_id == booking_id)
            )).first()
        return booking, session, reservation

    async def _create_sent(self, booking_id: str, sent: bool) -> None:
        async with self._services.db.session() as s:
            if sent:
                await s.exec(update(HostReservation).where(HostReservation.booking_id == booking_id)
                             .values(create_sent_at=utcnow()))
            else:
                await s.exec(_clear_create_sent(booking_id))
            await s.commit()


def _create_maybe_sent(reservation: HostReservation | None) -> bool:
    """Whether a create may have reached Zoom for this booking (no reservation: cannot tell)."""
    return reservation is None or reservation.create_sent_at is not None


async def _see_through(call: Awaitable[T]) -> T:
    """Let a request Zoom may act on finish before a cancel takes effect.

    Cancelling mid-request only stops us listening: Zoom may still make the meeting. Waiting for
    the answer (bounded by the HTTP client's timeout) means that once this activity reports
    itself cancelled, whatever Zoom made is there for the cancel's lookup to find and delete."""
    task = asyncio.ensure_future(call)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        await asyncio.wait([task])
        if not task.cancelled():
            task.exception()  # read, so asyncio does not report it as never retrieved
        raise


def _configuration_refused(exc: ZoomError, host_kind: str) -> ApplicationError | None:
    """Answers no retry can change: Converge's Zoom app credentials or permissions are wrong.
    Someone has to fix them; retrying until the interview starts would only hide that."""
    if isinstance(exc, ZoomClientAuthError):
        settings = ("ZOOM_CLIENT_ID / ZOOM_CLIENT_SECRET" if host_kind == "org" else
                    "ZOOM_S2S_ACCOUNT_ID / ZOOM_S2S_CLIENT_ID / ZOOM_S2S_CLIENT_SECRET")
        return _permanent(Failure.ZOOM_REJECTED,
                          f"Zoom refused Converge's app credentials ({exc}). Converge support must "
                          f"fix {settings}; book the interview again once that is done.")
    if isinstance(exc, ZoomMissingScope):
        if host_kind == "org":
            return _permanent(Failure.ZOOM_REJECTED,
                              "Zoom says Converge lacks a permission to create meetings for this "
                              "user (missing scope). Reconnect Zoom under Integrations and approve "
                              "every permission, then book again.")
        return _permanent(Failure.ZOOM_REJECTED,
                          f"Converge's system Zoom app lacks a permission ({exc}). Converge support "
                          "must add the missing scope to the Server-to-Server app; book the "
                          "interview again once that is done.")
    return None


def _retry_a_few_times(exc: ZoomError, what: str, advice: str = "") -> ApplicationError:
    """A refusal we cannot place: worth a few more tries (Temporal's backoff), then it stops."""
    if activity.info().attempt < REFUSAL_ATTEMPTS:
        return ApplicationError(f"Zoom did not {what}: {exc}", type=type(exc).__name__)
    return _permanent(Failure.ZOOM_REJECTED,
                      f"Zoom kept refusing to {what} ({exc}), {REFUSAL_ATTEMPTS} attempts in a row."
                      + (f" {advice}" if advice else ""))


def _clear_create_sent(booking_id: str):
    return update(HostReservation).where(HostReservation.booking_id == booking_id).values(create_sent_at=None)


def _reason(exc: ConnectionUnavailable) -> str:
    return fallback_reason(exc.reason, getattr(exc, "detail", None))


def _ref(meeting: Meeting) -> MeetingRef:
    return MeetingRef(booking_id=meeting.booking_id, zoom_meeting_id=meeting.zoom_meeting_id,
                      host_kind=meeting.host_kind)
