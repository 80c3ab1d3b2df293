"""The attendance rules (attendance.py), without I/O: who is who, rejoins, the same join from two
sources, events in any order, minutes."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import attendance as rules
from workflows.booking_types import PARTICIPANT_EVENTS
from zoom.webhooks import PARTICIPANT_EVENTS as CATALOGUE, IGNORED_EVENTS, dedupe_key, parse_event

T0 = datetime(2030, 1, 1, 10, 0, tzinfo=timezone.utc)
EXPECTED = rules.Expected(host_user_id="HOSTID", host_email="host@converge.test",
                          interviewee_email="Riley@Example.com", interviewee_name="Riley  Chen",
                          registrant_id="REG1")


def m(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


def test_the_strongest_evidence_names_the_interviewee():
    ident = lambda **kw: rules.identify(rules.Sighting(kind="join", at=T0, source="webhooks", **kw), EXPECTED)
    assert ident(registrant_id="REG1", email="other@x.test")[1:] == ("interviewee", "registrant_id")
    assert ident(email="riley@example.com")[1:] == ("interviewee", "email")
    assert ident(name="riley chen", email="home@else.test")[1:] == ("interviewee", "display_name")
    assert ident(zoom_user_id="HOSTID", name="Whoever")[1:] == ("host", "host_user_id")
    assert ident(email="HOST@converge.test")[1:] == ("host", "email")
    assert ident(name="Someone Else")[1] == "other"


def test_rejoins_in_any_order_and_both_sources_make_one_record():
    joins = [
        rules.Sighting(kind="join", at=m(0), source="webhooks", email="riley@example.com"),
        rules.Sighting(kind="leave", at=m(10), join_time=m(0), source="webhooks", email="riley@example.com"),
        rules.Sighting(kind="join", at=m(12), source="webhooks", email="riley@example.com"),
        rules.Sighting(kind="leave", at=m(30), join_time=m(12), source="webhooks", email="riley@example.com"),
    ]
    listed = [rules.Sighting(kind="segment", at=m(0) + timedelta(seconds=20), left_at=m(10),
                             source="zoom_participants_list", name="Riley Chen")]
    for _ in range(5):
        shuffled = joins[:]
        random.shuffle(shuffled)
        guest = rules.fold(shuffled + listed, EXPECTED)["interviewee"]
        assert [(g["joined_at"], g["left_at"]) for g in guest.segments] == [
            ("2030-01-01T10:00:00Z", "2030-01-01T10:10:00Z"), ("2030-01-01T10:12:00Z", "2030-01-01T10:30:00Z")]
        assert guest.segments[0]["source"] == "both" and guest.matched_by == "email"
        assert rules.minutes(guest.segments) == 28


def test_open_segments_and_overlaps():
    person = rules.Person("interviewee", "interviewee", "email", segments=[
        {"joined_at": "2030-01-01T10:00:00Z", "left_at": None, "source": "webhooks"},
        {"joined_at": "2030-01-01T10:05:00Z", "left_at": "2030-01-01T10:08:00Z", "source": "webhooks"}])
    assert rules.minutes(person.segments, now=m(20)) == 20  # overlap counted once
    assert not rules.complete({"interviewee": person})
    rules.close_open(person, m(15))
    assert rules.minutes(person.segments) == 15


def test_participant_events_are_handled_and_deduplicated_per_join():
    assert PARTICIPANT_EVENTS == CATALOGUE and not CATALOGUE & IGNORED_EVENTS
    body = {"event": "meeting.participant_joined", "event_ts": 1, "payload": {"account_id": "a", "object": {
        "id": "81234567890", "uuid": "u1==", "participant": {
            "user_id": "16778240", "user_name": "Riley Chen", "email": "riley@example.com",
            "participant_uuid": "P1", "join_time": "2030-01-01T10:00:00Z"}}}}
    first = parse_event(body)
    again = parse_event({**body, "event_ts": 2})
    rejoin = parse_event({**body, "payload": {**body["payload"], "object": {
        **body["payload"]["object"], "participant": {
            **body["payload"]["object"]["participant"], "join_time": "2030-01-01T10:12:00Z"}}}})
    assert dedupe_key(first) == dedupe_key(again) != dedupe_key(rejoin)
    assert "Riley" not in dedupe_key(first) and "riley@" not in dedupe_key(first)


def test_pages_api_and_workflow_name_the_same_statuses():
    from api.booking_views import BookingOut
    from api.bookings import LIST_STATUSES
    from api.pages.wording import BOOKING_STATUS
    from workflows.booking_types import BookingStatus

    every = {v for k, v in vars(BookingStatus).items() if k.isupper() and isinstance(v, str)}
    assert every == set(BOOKING_STATUS) == set(LIST_STATUSES)
    described = BookingOut.model_fields["status"].description
    assert all(status in described for status in every)
