"""The API's side of a booking's workflow: start it (and maybe wait a moment), call its updates.

A start uses update-with-start: one call starts the workflow (or finds the running one, USE_EXISTING)
and waits until scheduling settles, so a quick Zoom lets the booking response carry the join URL.
The wait is bounded: a slow Zoom or a busy worker only means the client reads the booking again.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from temporalio.client import (
    WithStartWorkflowOperation,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
    WorkflowUpdateStage,
)
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode
from sqlalchemy import update
from sqlmodel import col

from api.access_log import current_request_id
from api.errors import ApiError
from models import Booking, utcnow
from workflows.booking import IdiBookingWorkflow
from workflows.contract import BOOKING_ID, BOOKING_STATUS, ORG_ID, TASK_QUEUE, booking_workflow_id
from workflows.booking_types import BookingInput, BookingStatus, Failure, ZoomEventSignal

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services import Services

log = logging.getLogger("api.bookings")

# How long the booking response waits for the meeting before answering without it.
QUICK_WAIT_SECONDS = 3.0
# How long a reschedule or cancel waits for the workflow's answer.
UPDATE_WAIT_SECONDS = 30.0

# Refusals from the workflow, as HTTP: what the client can do differs, so the status does too.
_UPDATE_STATUS = {
    Failure.SYSTEM_HOSTS_FULL: 409,
    Failure.ORG_HOST_BUSY: 409,
    Failure.NOT_RESCHEDULABLE: 409,
    Failure.TOO_MANY_RESCHEDULES: 409,
    Failure.NOT_CANCELLABLE: 409,
    Failure.ORG_CONNECTION_LOST: 409,
    Failure.MEETING_GONE: 409,
    Failure.DAILY_LIMIT: 429,
    Failure.ZOOM_REJECTED: 422,
}


def _start_options(booking: Booking, org_name: str) -> tuple[BookingInput, dict]:
    inp = BookingInput(booking_id=booking.id, org_id=booking.org_id, org_name=org_name,
                       start_time=booking.start_time, duration_minutes=booking.duration_minutes)
    options = dict(
        id=booking.workflow_id,
        task_queue=TASK_QUEUE,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        # Ops may re-drive a failed booking; a completed one never runs twice.
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
        search_attributes=TypedSearchAttributes([
            SearchAttributePair(ORG_ID, booking.org_id),
            SearchAttributePair(BOOKING_ID, booking.id),
            SearchAttributePair(BOOKING_STATUS, BookingStatus.SCHEDULING),
        ]),
        static_summary=f"IDI booking for {org_name}",
        # The API request that made the booking, to follow it from the access log to this history.
        memo={"request_id": current_request_id.get()} if current_request_id.get() else None,
    )
    return inp, options


async def start_booking(services: Services, booking: Booking, org_name: str, *, quick_wait: float = QUICK_WAIT_SECONDS) -> None:
    """Start the booking's workflow and give it `quick_wait` seconds to make the meeting.

    Raises only when the workflow certainly did not start (Temporal unreachable)."""
    client = await services.temporal()
    inp, options = _start_options(booking, org_name)
    op = WithStartWorkflowOperation(IdiBookingWorkflow.run, inp, **options)
    try:
        async with asyncio.timeout(quick_wait):
            await client.execute_update_with_start_workflow(
                IdiBookingWorkflow.wait_scheduled, start_workflow_operation=op)
        await mark_started(services, booking.id)
        return
    except (TimeoutError, asyncio.TimeoutError, RPCError, WorkflowUpdateFailedError,
            WorkflowUpdateRPCTimeoutOrCancelledError) as exc:
        log.info("booking %s: no quick answer from its workflow (%s)", booking.id, type(exc).__name__)
    if not await _started(op):
        await start_workflow_once(services, booking, org_name)
    await mark_started(services, booking.id)


async def start_workflow_once(services: Services, booking: Booking, org_name: str) -> None:
    """Start the booking's workflow unless it runs or ran: USE_EXISTING joins a running one, and
    ALLOW_DUPLICATE_FAILED_ONLY refuses a completed one, so a start that did happen is never
    repeated (the reconciler relies on that)."""
    client = await services.temporal()
    inp, options = _start_options(booking, org_name)
    try:
        await client.start_workflow(IdiBookingWorkflow.run, inp, **options)
    except WorkflowAlreadyStartedError:
        # It was started, and it has finished already (a booking that failed at once, say): it
        # ran, which is all a start promises.
        log.info("booking %s: its workflow already ran", booking.id)


async def mark_started(services: Services, booking_id: str) -> None:
    """Temporal has the workflow: the reconciler (api/booking_reconciler.py) leaves the row alone.
    Best effort: if this write fails, the reconciler's start joins the running workflow and
    writes it then."""
    try:
        async with services.db.session() as s:
            await s.exec(update(Booking)
                         .where(Booking.id == booking_id, col(Booking.workflow_started_at).is_(None))
                         .values(workflow_started_at=utcnow()))
            await s.commit()
    except Exception as exc:
        log.warning("booking %s: its workflow started, but noting that failed (%s); the "
                    "reconciler will note it", booking_id, exc)


async def _started(op: WithStartWorkflowOperation) -> bool:
    """Whether the update-with-start call got as far as starting the workflow. Its start result
    is settled once the call has ended, either way; reading it also keeps asyncio from reporting
    a stored error as never retrieved."""
    try:
        await asyncio.wait_for(op.workflow_handle(), 1.0)
        return True
    except (Exception, asyncio.CancelledError):
        return False


async def ensure_started(services: Services, booking: Booking, org_name: str) -> None:
    """For an Idempotency-Key replay: start the workflow only if it never started (the first
    request may have died in between). A finished one, even a failed one, is left alone."""
    client = await services.temporal()
    try:
        await client.get_workflow_handle(booking.workflow_id).describe()
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
        await start_workflow_once(services, booking, org_name)
    await mark_started(services, booking.id)


async def call_update(services: Services, booking: Booking, update, *args) -> bool:
    """Run one of the workflow's updates; False when the wait ran out (it continues anyway).

    A refusal becomes an ApiError carrying the workflow's reason and message."""
    client = await services.temporal()
    handle: WorkflowHandle = client.get_workflow_handle(booking.workflow_id)
    try:
        async with asyncio.timeout(UPDATE_WAIT_SECONDS):
            await handle.execute_update(update, *args)
        return True
    except (TimeoutError, asyncio.TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
        return False
    except WorkflowUpdateFailedError as exc:
        raise _refusal(exc) from None
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise WorkflowGone() from None
        raise


async def cancel_booking_workflow(services: Services, booking: Booking) -> bool:
    """The workflow's `cancel` update, with a definite answer: True once cancelled; False when the
    workflow took the cancel and is still deleting the meeting at Zoom (it will end cancelled);
    an ApiError 409 with the workflow's reason when refused (the interview started or ended
    first); 503 `booking_busy` when the workflow neither took nor refused it in time."""
    client = await services.temporal()
    handle: WorkflowHandle = client.get_workflow_handle(booking.workflow_id)
    accepted = None
    try:
        async with asyncio.timeout(UPDATE_WAIT_SECONDS):
            accepted = await handle.start_update(IdiBookingWorkflow.cancel,
                                                 wait_for_stage=WorkflowUpdateStage.ACCEPTED)
            await accepted.result()
        return True
    except (TimeoutError, asyncio.TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
        pass
    except WorkflowUpdateFailedError as exc:
        raise _refusal(exc) from None
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise WorkflowGone() from None
        raise
    if accepted is not None:
        try:
            state = await handle.query(IdiBookingWorkflow.state, rpc_timeout=timedelta(seconds=5))
            if state.cancel == "cancelling":
                return False
        except Exception as exc:  # no worker to answer: as undecided as the update
            log.info("booking %s: no answer to the state query after a cancel (%s)", booking.id, exc)
    raise ApiError(503, "booking_busy",
                   "The booking did not take the cancel in time (its worker may be down), so it is "
                   "not cancelled yet; it may still be applied once the worker is back. Read the "
                   "booking, and send the cancel again if it is not cancelled (a repeat is harmless).")


def _refusal(exc: WorkflowUpdateFailedError) -> ApiError:
    """A refusal from the workflow, carrying its reason and message."""
    cause = exc.cause
    if isinstance(cause, ApplicationError) and cause.type:
        return ApiError(_UPDATE_STATUS.get(cause.type, 502), cause.type, cause.message)
    return ApiError(502, "booking_update_failed",
                    f"The booking could not be changed ({cause or exc}); try again.")


class WorkflowGone(Exception):
    """The booking's workflow has finished: the booking can no longer change."""


def temporal_down(exc: Exception) -> ApiError:
    log.warning("temporal unavailable: %s", exc)
    return ApiError(503, "workflow_service_unavailable",
                    "The booking could not be started because the workflow service is unreachable; "
                    "nothing was booked. Try again in a minute.")


# One try to signal a workflow waits this long for Temporal.
SIGNAL_RPC_TIMEOUT = timedelta(seconds=1)


async def signal_booking(services: Services, booking_id: str, signal: ZoomEventSignal) -> bool:
    """Hand a webhook event (ids only) to the booking's workflow: True when it took it, False when
    the workflow has already finished; raises when Temporal did not answer."""
    client = await services.temporal()
    handle = client.get_workflow_handle(booking_workflow_id(booking_id))
    try:
        await handle.signal(IdiBookingWorkflow.zoom_event, signal,
                            rpc_timeout=SIGNAL_RPC_TIMEOUT)
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


class NotRedrivable(Exception):
    """The booking is not `failed` (or its workflow still runs): there is nothing to re-drive."""


async def redrive_booking(services: Services, booking_id: str) -> Booking:
    """Start a `failed` booking again under its same workflow id.

    A failed booking's workflow completes normally after recording `failed` (its history stays
    readable as a finished business outcome), so the ordinary start's ALLOW_DUPLICATE_FAILED_ONLY
    refuses it. Only this path starts it with ALLOW_DUPLICATE, and only after the row says
    `failed` and Temporal says the run is closed: a scheduled or completed booking never runs
    twice. The row goes back to `scheduling` first, since the new run assumes it starts there."""
    from models import Organization

    async with services.db.session() as s:
        booking = await s.get(Booking, booking_id)
        if booking is None:
            raise LookupError(booking_id)
        if booking.status != BookingStatus.FAILED:
            raise NotRedrivable(f"The booking is {booking.status}; only a failed booking can be re-driven.")
        org = await s.get(Organization, booking.org_id)
        client = await services.temporal()
        try:
            desc = await client.get_workflow_handle(booking.workflow_id).describe()
            if desc.close_time is None:
                raise NotRedrivable("The booking's workflow is still running.")
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
        booking.status, booking.status_reason, booking.status_message = BookingStatus.SCHEDULING, None, None
        # Should this process die before the start below, the reconciler starts it instead.
        booking.workflow_started_at = None
        s.add(booking)
        await s.commit()
        await s.refresh(booking)
    inp, options = _start_options(booking, org.name)
    options["id_reuse_policy"] = WorkflowIDReusePolicy.ALLOW_DUPLICATE
    await client.start_workflow(IdiBookingWorkflow.run, inp, **options)
    await mark_started(services, booking.id)
    log.info("booking %s: re-driven", booking.id)
    return booking
