"""Zoom answers no retry can change end the booking with a reason ops can act on (review #10):
wrong app credentials, a missing scope, or a refusal that keeps coming back. Before, they were
retried until the interview was due and only then reported as "Zoom unavailable"."""

from __future__ import annotations

import dataclasses
from contextlib import asynccontextmanager

import pytest
from temporalio.exceptions import ApplicationError

from activities.booking_hosts import BookingHostActivities
from activities.booking_meetings import BookingMeetingActivities
from metrics import WORKER_REGISTRY
from workflows.contract import TASK_QUEUE
from workflows.booking_types import CreateMeetingInput, ResolveHostInput

from tests.bookings.helpers import (
    activity_attempt,
    book,
    future,
    new_org_with_session,
    reservation_row,
    services_with_hosts,
    settled,
    stored_booking,
    zoom_meetings_of,
)


@asynccontextmanager
async def _worker(services, temporal_env, hosts_raw: str, **settings):
    """A booking worker whose settings differ from the shared ones (e.g. wrong S2S credentials)."""
    from worker import build_worker

    svc = services_with_hosts(services, hosts_raw)
    changed = svc.settings.model_copy(update=settings)
    changed.__dict__.pop("system_hosts", None)
    svc = dataclasses.replace(svc, settings=changed, _tokens=None)
    async with build_worker(temporal_env.client, svc, task_queue=TASK_QUEUE):
        yield svc


async def test_wrong_system_account_credentials_fail_the_booking_for_ops_to_fix(api, emulator, temporal_env,
                                                                                system_host):
    org_id, headers, session_id = await new_org_with_session(api)
    async with _worker(api.services, temporal_env, f"{system_host}:1", zoom_s2s_client_id="not-our-s2s-app"):
        booking = await settled(api, org_id, headers, (await book(api, org_id, headers, session_id))["id"])
    assert (booking["status"], booking["status_reason"]) == ("failed", "zoom_rejected")
    assert "credentials" in booking["status_message"] and "ZOOM_S2S_CLIENT_ID" in booking["status_message"]
    assert await zoom_meetings_of(emulator, booking["id"]) == []


async def test_a_scope_missing_from_the_system_app_fails_the_booking(api, emulator, idi_worker, system_host):
    org_id, headers, session_id = await new_org_with_session(api)
    await emulator.control.add_fault(f"/v2/users/{system_host}", method="GET", status=400, body={
        "code": 4700, "message": "Invalid access token, does not contain scopes:[user:read:admin]."})
    async with idi_worker(f"{system_host}:1"):
        booking = await settled(api, org_id, headers, (await book(api, org_id, headers, session_id))["id"])
    assert (booking["status"], booking["status_reason"]) == ("failed", "zoom_rejected")
    assert "lacks a permission" in booking["status_message"]
    assert await zoom_meetings_of(emulator, booking["id"]) == []


def _sample(name: str, **labels) -> float:
    return WORKER_REGISTRY.get_sample_value(name, labels) or 0.0


async def _system_host_create(api, system_host):
    """A stored booking on the system account, its host resolved: (create activity, its input)."""
    org_id, _, session_id = await new_org_with_session(api)
    booking = await stored_booking(api.services, org_id, session_id, future(hours=48))
    svc = services_with_hosts(api.services, f"{system_host}:1")
    host = await activity_attempt(1).run(BookingHostActivities(svc).resolve_booking_host, ResolveHostInput(
        booking_id=booking.id, org_id=org_id, start_time=booking.start_time,
        duration_minutes=booking.duration_minutes))
    return BookingMeetingActivities(svc).create_booking_meeting, CreateMeetingInput(booking_id=booking.id, host=host)


async def test_meeting_creates_are_counted_once_by_host_kind_and_outcome(api, system_host):
    create, inp = await _system_host_create(api, system_host)
    before = _sample("converge_meeting_creates_total", host_kind="system", outcome="created")
    first = await activity_attempt(1).run(create, inp)
    again = await activity_attempt(2).run(create, inp)  # a retry after the answer was lost
    assert again == first
    assert _sample("converge_meeting_creates_total", host_kind="system", outcome="created") == before + 1


async def test_a_refusal_that_keeps_coming_back_stops_after_a_few_attempts(api, emulator, system_host):
    """Zoom rejects the token even after a fresh one, on every create: retried twice, then over."""
    create, inp = await _system_host_create(api, system_host)
    refused = _sample("converge_meeting_creates_total", host_kind="system", outcome="zoom_rejected")
    zoom_124 = _sample("converge_zoom_api_errors_total", status="401", code="124")
    await emulator.control.add_fault("/v2/users/*/meetings", method="POST", status=401,
                                     body={"code": 124, "message": "Invalid access token."})

    with pytest.raises(ApplicationError) as early:
        await activity_attempt(1).run(create, inp)
    with pytest.raises(ApplicationError) as late:
        await activity_attempt(3).run(create, inp)
    assert not early.value.non_retryable
    assert late.value.non_retryable and late.value.type == "zoom_rejected"
    assert "3 attempts in a row" in late.value.message and "Book the interview again" in late.value.message
    assert (await reservation_row(api.services, inp.booking_id)).create_sent_at is None  # nothing made
    # Each attempt counts once by its outcome; each of Zoom's 124 answers (two per attempt) by code.
    assert _sample("converge_meeting_creates_total", host_kind="system", outcome="zoom_rejected") == refused + 1
    assert _sample("converge_zoom_api_errors_total", status="401", code="124") == zoom_124 + 4
