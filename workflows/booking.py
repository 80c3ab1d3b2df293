"""IdiBookingWorkflow: one interview booking, from choosing its Zoom host to the meeting and after.

The run reads like the process: choose the host, create the meeting (exactly once; the activity
makes that true whatever retries happen), mark the booking scheduled, then `_after_scheduled()`
waits for Zoom to say the meeting ended. Reschedule and cancel arrive as updates, so the caller
gets the outcome (or the reason it was refused) in its own response; webhook events arrive as the
`zoom_event` signal.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from workflows.booking_activities import (
        create_booking_meeting,
        delete_booking_meeting,
        record_booking_status,
        register_interviewee,
        reschedule_booking_meeting,
        resolve_booking_host,
    )
    from workflows.attendance_activities import record_attendance, settle_attendance
    from workflows.retries import DB_RETRY, LIVENESS
    from workflows.recordings import RecordingSteps
    from workflows.contract import BOOKING_ID, BOOKING_STATUS, HOST_KIND, ORG_ID, ZOOM_MEETING_ID
    from workflows.booking_types import (
        MEETING_NOT_HELD_AFTER,
        PARTICIPANT_EVENTS,
        REGISTER_ATTEMPTS,
        AttendanceInput,
        AttendanceSummary,
        BookingHost,
        BookingInput,
        BookingState,
        BookingStatus,
        BookingStatusChange,
        CreateMeetingInput,
        DeleteMeetingInput,
        Failure,
        MeetingRef,
        RescheduleMeetingInput,
        RescheduleRequest,
        ResolveHostInput,
        SettleAttendanceInput,
        ZoomEventSignal,
    )


# Zoom hiccups (429 per second, 5xx, timeouts) are retried with backoff until the interview is
# close; permanent answers come back as non-retryable ApplicationErrors and end the loop at once.
ZOOM_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
)
# A database down this long is an outage for ops, not something to wait out forever: the run then
# fails (visible in the UI; ops may re-drive it) instead of retrying unnoticed.
STATUS_WRITE_TIMEOUT = timedelta(hours=1)
# A booking's history must stay far below Temporal's limits: each reschedule adds about eight
# events, so a booking takes at most this many (a refused update leaves no trace in history).
MAX_RESCHEDULES = 50

# A person waits on a reschedule: a few tries, then they hear why.
RESCHEDULE_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=4)
# Choosing the host may wait for the org's token refresh: up to the token manager's lock wait
# (30 s) plus two token calls (15 s each). Cut off sooner, the activity is cancelled mid-refresh.
# A dead worker is noticed by the missing heartbeat (LIVENESS), not by this.
RESOLVE_HOST_TIMEOUT = timedelta(seconds=90)
MIN_SCHEDULING_WINDOW = timedelta(minutes=15)
# Zoom's participants list after the meeting: a few tries; without it the webhooks decide.
ATTENDANCE_RETRY = RetryPolicy(initial_interval=timedelta(seconds=2), maximum_attempts=5)


class BookingFailed(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason, self.message = reason, message


def _cause(err: ActivityError) -> ApplicationError | None:
    return err.cause if isinstance(err.cause, ApplicationError) else None


@workflow.defn
class IdiBookingWorkflow:
    @workflow.init
    def __init__(self, booking: BookingInput) -> None:
        self._booking = booking
        self._start = booking.start_time
        self._duration = booking.duration_minutes
        self._status = BookingStatus.SCHEDULING
        self._recorded: tuple[str, str | None] = (self._status, None)  # as the database has it
        self._reason: str | None = None
        self._message: str | None = None
        self._host: BookingHost | None = None
        self._meeting: MeetingRef | None = None
        self._events: dict[str, ZoomEventSignal] = {}
        # After the meeting: recording, transcript and downloads (workflows/recordings.py).
        self._recordings = RecordingSteps(booking.booking_id, self._events, self._recording_status)
        self._ended = False
        self._started = False  # Zoom said meeting.started
        # Attendance (docs/attendance.md#how-the-booking-uses-it): participant events are folded into the
        # record in Postgres by an activity; the workflow keeps only their ids and the outcome.
        self._attendance_taken: set[str] = set()
        self._attendance_lock = asyncio.Lock()
        self._attendance: AttendanceSummary | None = None
        self._finishing = False
        self._cancel_requested = False
        # What became of an accepted cancel (BookingState.cancel), and why it was refused.
        self._cancel_decision: str | None = None
        self._cancel_refusal: str | None = None
        self._create_stopped = False  # a create was stopped by a cancel: it may have made a meeting
        self._schedule_version = 0
        # Reschedule and cancel both touch the Zoom meeting; one at a time.
        self._meeting_lock = asyncio.Lock()

    # --- the process ----------------------------------------------------------------------------

    @workflow.run
    async def run(self, booking: BookingInput) -> BookingState:
        self._tag_search_attributes()
        attendance = asyncio.create_task(self._follow_attendance())
        try:
            return await self._run()
        finally:
            self._finishing = True
            await attendance

    async def _run(self) -> BookingState:
        try:
            self._meeting = await self._schedule_meeting()
        except BookingFailed as failed:
            await self._set_status(BookingStatus.FAILED, failed.reason, failed.message)
            return await self._finish()
        if self._meeting is None or self._cancel_requested:
            await self._cancel()
            return await self._finish()
        if workflow.patched("interviewee-registration"):  # runs started before it skip it
            await self._register_interviewee()
            if self._cancel_requested and workflow.patched("cancel-stops-registration"):
                await self._cancel()  # cancelled while registering: never `scheduled`
                return await self._finish()
        await self._set_status(BookingStatus.SCHEDULED)
        await self._after_scheduled()
        return await self._finish()

    async def _schedule_meeting(self) -> MeetingRef | None:
        """Choose a host and create the meeting there; None when cancelled first."""
        skip_org_reason: str | None = None
        while not self._cancel_requested:
            self._host = await self._resolve_host(skip_org_reason)
            try:
                meeting = await self._create_meeting()
            except ActivityError as err:
                cause = _cause(err)
                kind = cause.type if cause else None
                if kind == Failure.ORG_HOST_UNAVAILABLE and skip_org_reason is None:
                    # Zoom said no meeting exists there and the org's user cannot host: the
                    # system account takes over, and the reason is kept on the meeting.
                    skip_org_reason = str(cause.details[0]) if cause.details else "org_host_unavailable"
                    continue
                if kind == Failure.DAILY_LIMIT:
                    await self._wait_for_daily_limit(cause)
                    continue
                if cause is not None and kind in Failure.ENDS_BOOKING:
                    raise BookingFailed(kind, cause.message) from None
                raise BookingFailed(
                    Failure.ZOOM_UNAVAILABLE,
                    "Zoom did not accept the meeting before the interview was due "
                    f"({err.cause or err}). Check https://status.zoom.us and book the interview again.",
                ) from None
            if meeting is None:
                return None  # cancelled while the create was under way
            workflow.upsert_search_attributes([ZOOM_MEETING_ID.value_set(meeting.zoom_meeting_id)])
            return meeting
        return None

    async def _register_interviewee(self) -> None:
        """Give the interviewee a join link of their own (activities/booking_registrants.py).
        Only ids go in and a yes/no comes out; without it the plain join link serves."""
        register = workflow.start_activity(
            register_interviewee, self._meeting,
            start_to_close_timeout=timedelta(seconds=45),
            heartbeat_timeout=LIVENESS,
            retry_policy=RetryPolicy(initial_interval=timedelta(seconds=2),
                                     maximum_attempts=REGISTER_ATTEMPTS),
            summary="register the interviewee",
        )
        # A cancel does not wait out Zoom's retries here: the registration is stopped, and the
        # meeting it belongs to is deleted next.
        if workflow.patched("cancel-stops-registration"):
            await workflow.wait_condition(lambda: register.done() or self._cancel_requested)
            if not register.done():
                register.cancel()
        try:
            await register
        except ActivityError:
            workflow.logger.warning("interviewee not registered; the plain join link serves")

    async def _create_meeting(self) -> MeetingRef | None:
        """The create, unless a cancel comes first. Its retries may run until the interview (Zoom
        down for days), and the person cancelling should not wait for that: the create is stopped
        and None returned, and `_cancel` then deletes whatever the stopped create made."""
        create = workflow.start_activity(
            create_booking_meeting,
            CreateMeetingInput(booking_id=self._booking.booking_id, host=self._host),
            start_to_close_timeout=timedelta(minutes=1),
            heartbeat_timeout=LIVENESS,
            schedule_to_close_timeout=self._until_start(),
            retry_policy=ZOOM_RETRY,
            # The cancel looks at Zoom only once the stopped create has finished talking to it.
            cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            summary=f"create meeting on {self._host.label}",
        )
        await workflow.wait_condition(lambda: create.done() or self._cancel_requested)
        if create.done():
            return await create
        self._create_stopped = True
        create.cancel()
        try:
            return await create  # it may have made and saved the meeting just before
        except ActivityError:
            return None

    async def _resolve_host(self, skip_org_reason: str | None) -> BookingHost:
        try:
            host = await workflow.execute_activity(
                resolve_booking_host,
                ResolveHostInput(
                    booking_id=self._booking.booking_id,
                    org_id=self._booking.org_id,
                    start_time=self._start,
                    duration_minutes=self._duration,
                    skip_org_reason=skip_org_reason,
                ),
                start_to_close_timeout=RESOLVE_HOST_TIMEOUT,
                heartbeat_timeout=LIVENESS,
                schedule_to_close_timeout=self._until_start(),
                retry_policy=ZOOM_RETRY,
                summary=f"choose the Zoom host for {self._booking.org_name}",
            )
        except ActivityError as err:
            cause = _cause(err)
            if cause is not None and cause.type in Failure.ENDS_BOOKING:
                raise BookingFailed(cause.type, cause.message) from None
            raise BookingFailed(
                Failure.ZOOM_UNAVAILABLE,
                f"No Zoom host could be chosen before the interview was due ({err.cause or err}). "
                "Book the interview again.",
            ) from None
        workflow.upsert_search_attributes([HOST_KIND.value_set(host.kind)])
        return host

    async def _wait_for_daily_limit(self, cause: ApplicationError) -> None:
        """Zoom's per-host daily cap: wait for the reset (a durable timer) if that is still
        before the interview; otherwise the booking cannot be made on this host."""
        retry_at = datetime.fromisoformat(str(cause.details[0])) if cause.details else None
        if retry_at is None or retry_at >= self._start:
            when = f" until {_utc(retry_at)}" if retry_at else ""
            raise BookingFailed(
                Failure.DAILY_LIMIT,
                f"Zoom's daily limit of meeting creations for this host is used up{when}, which is "
                "not before the interview starts. Book a later time, or connect your own Zoom "
                "account (or another Zoom user) to host it.",
            )
        await self._set_status(
            BookingStatus.SCHEDULING,
            "waiting_for_zoom_daily_limit",
            f"Zoom's daily limit of meeting creations for this host is used up; Converge creates "
            f"the meeting automatically at {_utc(retry_at)}, before the interview starts.",
        )
        try:
            await workflow.wait_condition(
                lambda: self._cancel_requested,
                # At least a minute: a reset time already past must not spin the loop.
                timeout=max(retry_at - workflow.now(), timedelta(minutes=1)),
                timeout_summary="Zoom daily limit resets",
            )
        except asyncio.TimeoutError:
            pass

    async def _after_scheduled(self) -> None:
        """The meeting exists. Wait until Zoom says it ended, the booking is cancelled, or a day
        past its scheduled end (then it was never held). Reschedules move that deadline. Once it
        ended, the recording steps take over; a recording event also proves it ended (events come
        in any order), and so does a recording Zoom holds when meeting.ended never came."""
        while True:
            version = self._schedule_version
            deadline = self._start + timedelta(minutes=self._duration) + MEETING_NOT_HELD_AFTER
            remaining = deadline - workflow.now()
            timed_out = remaining <= timedelta(0)
            if not timed_out:
                try:
                    await workflow.wait_condition(
                        lambda: self._ended
                        or self._recordings.has_recording()
                        or self._cancel_requested
                        or self._schedule_version != version
                        or (self._started and self._status == BookingStatus.SCHEDULED),
                        timeout=remaining,
                        timeout_summary="meeting ended, or never held",
                    )
                except asyncio.TimeoutError:
                    timed_out = True
            if self._cancel_requested and self._meeting_took_place():
                # A cancel accepted in the same workflow task as Zoom's meeting.started or
                # meeting.ended: the interview happened, so it wins and the cancel hears why.
                self._refuse_cancel()
            if self._ended or self._recordings.has_recording():
                await self._after_meeting()
                return
            if self._cancel_requested:
                await self._cancel()
                return
            if self._started and self._status == BookingStatus.SCHEDULED:
                await self._set_status(BookingStatus.IN_PROGRESS)
                continue
            if timed_out:
                if await self._recordings.found_at_zoom():
                    await self._after_meeting()
                    return
                await self._set_status(
                    BookingStatus.NO_RECORDING,
                    "meeting_not_held",
                    "Zoom never reported this meeting as ended, "
                    f"{_hours(MEETING_NOT_HELD_AFTER)} after its scheduled end; it was not held, "
                    "so there is no recording. Book a new interview if it is still needed.",
                )
                return

    async def _after_meeting(self) -> None:
        """The meeting ended: settle who attended, then store the recordings. Without the
        interviewee (or the host) the booking is a no-show, and whatever Zoom recorded is still
        stored beside it."""
        await self._set_status(BookingStatus.ENDED)
        summary = await self._settle_attendance()
        if summary.known and not summary.interviewee_joined:
            await self._set_status(
                BookingStatus.NO_SHOW, "interviewee_no_show",
                "The interviewee did not join the meeting"
                + (" (the host did)." if summary.host_joined else ", and neither did the host.")
                + " Book a new interview to talk to them; any recording Zoom made is kept here.")
        elif summary.known and not summary.host_joined:
            await self._set_status(
                BookingStatus.NO_SHOW, "host_no_show",
                f"The interviewee joined for {summary.interviewee_minutes} min, but the host never "
                "joined the meeting. Any recording Zoom made is kept here.")
        await self._recordings.run()

    async def _settle_attendance(self) -> AttendanceSummary:
        async with self._attendance_lock:
            self._attendance_taken |= self._participant_event_ids()
            try:
                self._attendance = await workflow.execute_activity(
                    settle_attendance,
                    SettleAttendanceInput(booking_id=self._booking.booking_id,
                                          zoom_meeting_uuid=self._meeting_uuid()),
                    start_to_close_timeout=timedelta(minutes=1),
                    heartbeat_timeout=LIVENESS,
                    retry_policy=ATTENDANCE_RETRY,
                    summary="settle who attended",
                )
            except ActivityError:
                # Zoom and the database would not say: claim nothing rather than a no-show.
                self._attendance = AttendanceSummary(known=False)
        return self._attendance

    async def _follow_attendance(self) -> None:
        """For the whole run: fold each batch of participant events into the record, so the
        panel shows who is in the meeting while it runs (and late events after it)."""
        while True:
            await workflow.wait_condition(
                lambda: self._finishing or bool(self._participant_event_ids() - self._attendance_taken))
            new = self._participant_event_ids() - self._attendance_taken
            if not new:
                return
            async with self._attendance_lock:
                self._attendance_taken |= new
                try:
                    await workflow.execute_activity(
                        record_attendance,
                        AttendanceInput(booking_id=self._booking.booking_id),
                        start_to_close_timeout=timedelta(minutes=1),
                        heartbeat_timeout=LIVENESS,
                        schedule_to_close_timeout=timedelta(hours=1),
                        retry_policy=DB_RETRY,
                        summary=f"note {len(new)} participant event(s)",
                    )
                except ActivityError:
                    pass  # the record is rebuilt from the inbox at the next event or the settle

    def _participant_event_ids(self) -> set[str]:
        return {e.event_id for e in self._events.values() if e.event_type in PARTICIPANT_EVENTS}

    def _meeting_uuid(self) -> str | None:
        for e in reversed(list(self._events.values())):
            if e.event_type in ("meeting.ended", "meeting.started") and e.zoom_meeting_uuid:
                return e.zoom_meeting_uuid
        return None

    def _meeting_took_place(self) -> bool:
        return self._started or self._ended or self._recordings.has_recording()

    def _took_place_message(self) -> str:
        if self._ended or self._recordings.has_recording():
            return "The interview already ended (Zoom reported the meeting ended); there is nothing to cancel."
        return "The interview is live (Zoom reported the meeting started); it can no longer be cancelled."

    def _refuse_cancel(self) -> None:
        self._cancel_requested = False
        self._cancel_decision, self._cancel_refusal = "refused", self._took_place_message()

    async def _cancel(self) -> None:
        self._cancel_decision = "cancelling"
        async with self._meeting_lock:
            reason, message = "cancelled_by_request", "Cancelled on request."
            if self._meeting is not None or self._create_stopped:
                meeting_id = self._meeting.zoom_meeting_id if self._meeting else None
                try:
                    await workflow.execute_activity(
                        delete_booking_meeting,
                        DeleteMeetingInput(booking_id=self._booking.booking_id),
                        start_to_close_timeout=timedelta(minutes=1),
                        heartbeat_timeout=LIVENESS,
                        schedule_to_close_timeout=timedelta(days=1),
                        retry_policy=ZOOM_RETRY,
                        summary=f"delete meeting {meeting_id}" if meeting_id
                        else "delete any meeting the stopped create made",
                    )
                    if meeting_id:
                        message = "Cancelled on request; the Zoom meeting was deleted."
                except ActivityError as err:
                    cause = _cause(err)
                    reason = "zoom_meeting_not_deleted"
                    which = (f"meeting {meeting_id}" if meeting_id
                             else "this interview's meeting, if Zoom made one,")
                    message = (
                        "Cancelled, but the Zoom meeting could not be deleted "
                        f"({cause.message if cause else err.cause or err}). Delete {which} "
                        "in Zoom so nobody joins it."
                    )
            await self._set_status(BookingStatus.CANCELLED, reason, message)

    async def _finish(self) -> BookingState:
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._state()

    # --- messages -------------------------------------------------------------------------------

    @workflow.signal
    def zoom_event(self, event: ZoomEventSignal) -> None:
        """A webhook event for this booking's meeting; Zoom redelivers, so the first copy wins."""
        if event.event_id in self._events:
            return
        self._events[event.event_id] = event
        if event.event_type == "meeting.ended":
            self._ended = True
        elif event.event_type == "meeting.started":
            self._started = True

    @workflow.query
    def state(self) -> BookingState:
        return self._state()

    @workflow.update
    async def wait_scheduled(self) -> BookingState:
        """For the booking API (update-with-start): the state once scheduling has settled
        (meeting made, failed, cancelled, or waiting for Zoom's daily limit)."""
        # Waits for the recorded status, so the caller reads the same in the database.
        await workflow.wait_condition(
            lambda: self._recorded[0] != BookingStatus.SCHEDULING or self._recorded[1] is not None
        )
        return self._state()

    @workflow.update
    async def reschedule(self, request: RescheduleRequest) -> BookingState:
        """Move the meeting (same Zoom meeting, same host). Refused with a reason when the host is
        full at the new time or Zoom says no; the old time then stays as it was."""
        async with self._meeting_lock:
            self._check_reschedulable()
            if request.start_time == self._start and request.duration_minutes == self._duration:
                return self._state()
            try:
                await workflow.execute_activity(
                    reschedule_booking_meeting,
                    RescheduleMeetingInput(
                        booking_id=self._booking.booking_id,
                        start_time=request.start_time,
                        duration_minutes=request.duration_minutes,
                    ),
                    start_to_close_timeout=timedelta(seconds=30),
                    heartbeat_timeout=LIVENESS,
                    retry_policy=RESCHEDULE_RETRY,
                    summary=f"move meeting to {_utc(request.start_time)} for "
                    f"{request.duration_minutes} min",
                )
            except ActivityError as err:
                cause = _cause(err)
                raise ApplicationError(
                    cause.message if cause else f"Zoom did not take the new time ({err.cause or err}); try again.",
                    type=cause.type if cause and cause.type else Failure.ZOOM_UNAVAILABLE,
                    non_retryable=True,
                ) from None
            self._start, self._duration = request.start_time, request.duration_minutes
            self._schedule_version += 1
        return self._state()

    @reschedule.validator
    def _validate_reschedule(self, request: RescheduleRequest) -> None:
        self._check_reschedulable()
        if self._schedule_version >= MAX_RESCHEDULES:
            raise ApplicationError(
                f"This booking was already moved {MAX_RESCHEDULES} times, the most one booking "
                "can be; cancel it and book the interview again.",
                type=Failure.TOO_MANY_RESCHEDULES,
                non_retryable=True,
            )
        if request.start_time <= workflow.now():
            raise ApplicationError(
                "The new start_time is in the past; choose a time in the future.",
                type=Failure.NOT_RESCHEDULABLE,
                non_retryable=True,
            )

    def _check_reschedulable(self) -> None:
        if self._cancel_requested or self._status != BookingStatus.SCHEDULED:
            raise ApplicationError(
                f"The booking is {self._status}"
                f"{' (being cancelled)' if self._cancel_requested else ''}; only a scheduled "
                "booking can be rescheduled"
                + (" - try again once its meeting is created." if self._status == BookingStatus.SCHEDULING else "."),
                type=Failure.NOT_RESCHEDULABLE,
                non_retryable=True,
            )

    @workflow.update
    async def cancel(self) -> BookingState:
        """Cancel the booking: the Zoom meeting is deleted, the booking kept as cancelled.

        Always a definite answer: the cancelled state, or a refusal with its reason. A cancel
        that arrives with meeting.started or meeting.ended in one workflow task is refused by
        the run (`_after_scheduled`): the interview took place."""
        self._cancel_requested = True
        await workflow.wait_condition(
            lambda: self._cancel_decision == "refused" or self._recorded[0] in BookingStatus.FINAL)
        if self._cancel_decision == "refused" and self._recorded[0] != BookingStatus.CANCELLED:
            raise self._not_cancellable(self._cancel_refusal)
        return self._state()

    @cancel.validator
    def _validate_cancel(self) -> None:
        if self._status not in (BookingStatus.SCHEDULING, BookingStatus.SCHEDULED, BookingStatus.CANCELLED):
            raise self._not_cancellable(
                f"The booking is {self._status}; only a booking that has not taken place can be cancelled.")
        if self._status != BookingStatus.CANCELLED and self._meeting_took_place():
            # Zoom's event is here but the run has not moved the status yet.
            raise self._not_cancellable(self._took_place_message())

    @staticmethod
    def _not_cancellable(message: str) -> ApplicationError:
        return ApplicationError(message, type=Failure.NOT_CANCELLABLE, non_retryable=True)

    # --- helpers --------------------------------------------------------------------------------

    async def _set_status(self, status: str, reason: str | None = None, message: str | None = None) -> None:
        self._status, self._reason, self._message = status, reason, message
        workflow.upsert_search_attributes([BOOKING_STATUS.value_set(status)])
        await workflow.execute_activity(
            record_booking_status,
            BookingStatusChange(
                booking_id=self._booking.booking_id, status=status, reason=reason, message=message
            ),
            start_to_close_timeout=timedelta(seconds=30),
            heartbeat_timeout=LIVENESS,
            schedule_to_close_timeout=STATUS_WRITE_TIMEOUT,
            retry_policy=DB_RETRY,
            summary=f"booking {status}" + (f" ({reason})" if reason else ""),
        )
        self._recorded = (status, reason)

    async def _recording_status(self, status: str, reason: str | None = None, message: str | None = None) -> None:
        """The recording steps' statuses, except over a no-show: that stays the booking's
        outcome, and each file shows its own state beside it."""
        if self._status == BookingStatus.NO_SHOW:
            return
        await self._set_status(status, reason, message)

    def _tag_search_attributes(self) -> None:
        """The API sets these at start; a run started some other way (ops) gets them here."""
        current = workflow.info().typed_search_attributes
        updates = [BOOKING_STATUS.value_set(self._status)] if current.get(BOOKING_STATUS) is None else []
        if current.get(ORG_ID) is None:
            updates.append(ORG_ID.value_set(self._booking.org_id))
        if current.get(BOOKING_ID) is None:
            updates.append(BOOKING_ID.value_set(self._booking.booking_id))
        if updates:
            workflow.upsert_search_attributes(updates)

    def _until_start(self) -> timedelta:
        return max(self._start - workflow.now(), MIN_SCHEDULING_WINDOW)

    def _state(self) -> BookingState:
        return BookingState(
            booking_id=self._booking.booking_id,
            status=self._status,
            status_reason=self._reason,
            status_message=self._message,
            zoom_meeting_id=self._meeting.zoom_meeting_id if self._meeting else None,
            host_kind=self._host.kind if self._host else None,
            start_time=self._start,
            duration_minutes=self._duration,
            events=list(self._events.values()),
            cancel=self._cancel_decision,
        )


def _utc(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _hours(delta: timedelta) -> str:
    return f"{int(delta.total_seconds() // 3600)} hours"
