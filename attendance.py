"""Who was in a booking's meeting and when: the pure rules, shared by the activities that build the
record and the API that shows it (no I/O here).

Zoom reports attendance two ways (docs/attendance.md#what-zoom-reports): `meeting.participant_joined` /
`meeting.participant_left` webhooks while the meeting runs, and the past-meeting participants list
afterwards (one entry per join, with join and leave time). Both become `Sighting`s; folding them
gives each person a list of segments (joined_at, left_at). A person who drops out and rejoins has
several segments; the same join reported by both sources is one segment.

Who is who: the host is the meeting's Zoom user (user id, else email). The interviewee is found by
the strongest evidence there is: the registrant id of their own join link, then their email, then
their display name; `matched_by` says which, so a researcher knows how sure the match is.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

HOST, INTERVIEWEE, OTHER = "host", "interviewee", "other"
WEBHOOKS, ZOOM_LIST = "webhooks", "zoom_participants_list"
# Two reports of one join (webhook and list) differ by clock rounding at most.
SAME_JOIN = timedelta(seconds=90)


@dataclass
class Sighting:
    """One join (with its leave when known) or one leave, from either source."""

    kind: str  # join, leave, or segment (the list: both times)
    at: datetime | None  # join time (join, segment) or leave time (leave)
    source: str
    name: str = ""
    email: str = ""
    registrant_id: str = ""
    zoom_user_id: str = ""
    left_at: datetime | None = None  # segment only
    join_time: datetime | None = None  # leave: the join it ends, when Zoom says
    # A segment already in the record keeps who it was matched to: (key, role, matched_by).
    known: tuple[str, str, str | None] | None = None


@dataclass
class Expected:
    """What we know of the two people who should be there (from Postgres, never history)."""

    host_user_id: str = ""
    host_email: str = ""
    interviewee_email: str = ""
    interviewee_name: str = ""
    registrant_id: str = ""


@dataclass
class Person:
    key: str
    role: str
    matched_by: str | None
    name: str = ""
    email: str = ""
    segments: list[dict] = field(default_factory=list)


def _norm(text: str) -> str:
    folded = unicodedata.normalize("NFKC", text or "").casefold()
    return " ".join(folded.split())


def identify(s: Sighting, expected: Expected) -> tuple[str, str, str | None]:
    """(key, role, matched_by) of a sighting."""
    if s.known is not None:
        return s.known
    if expected.host_user_id and s.zoom_user_id and s.zoom_user_id == expected.host_user_id:
        return HOST, HOST, "host_user_id"
    if expected.host_email and s.email and _norm(s.email) == _norm(expected.host_email):
        return HOST, HOST, "email"
    if expected.registrant_id and s.registrant_id and s.registrant_id == expected.registrant_id:
        return INTERVIEWEE, INTERVIEWEE, "registrant_id"
    if expected.interviewee_email and s.email and _norm(s.email) == _norm(expected.interviewee_email):
        return INTERVIEWEE, INTERVIEWEE, "email"
    if expected.interviewee_name and s.name and _norm(s.name) == _norm(expected.interviewee_name):
        return INTERVIEWEE, INTERVIEWEE, "display_name"
    ident = s.registrant_id or s.zoom_user_id or _norm(s.email) or _norm(s.name) or "unknown"
    return f"other:{ident}", OTHER, None


_STRENGTH = {"registrant_id": 3, "host_user_id": 3, "email": 2, "display_name": 1, None: 0}


def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def parse_time(value: str | datetime | None) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def fold(sightings: list[Sighting], expected: Expected) -> dict[str, Person]:
    """Everyone seen, by key, with their segments in time order."""
    people: dict[str, Person] = {}
    ordered = sorted(sightings, key=lambda s: (s.at or datetime.min.replace(tzinfo=timezone.utc),
                                                s.kind != "join"))
    for s in ordered:
        key, role, matched_by = identify(s, expected)
        person = people.setdefault(key, Person(key, role, matched_by))
        if _STRENGTH[matched_by] > _STRENGTH[person.matched_by]:
            person.matched_by = matched_by
        person.name = person.name or s.name
        person.email = person.email or s.email
        if s.kind in ("join", "segment"):
            _add_join(person, s.at, s.left_at, s.source)
        elif s.kind == "leave":
            _add_leave(person, s)
    for person in people.values():
        person.segments.sort(key=lambda g: g["joined_at"] or "")
    return people


def _add_join(person: Person, joined: datetime | None, left: datetime | None, source: str) -> None:
    for seg in person.segments:
        seg_join = parse_time(seg["joined_at"])
        if joined and seg_join and abs(seg_join - joined) <= SAME_JOIN:
            if seg["left_at"] is None and left is not None:
                seg["left_at"] = _iso(left)
            if seg["source"] != source:
                seg["source"] = "both"
            return
    person.segments.append({"joined_at": _iso(joined), "left_at": _iso(left), "source": source})


def _add_leave(person: Person, s: Sighting) -> None:
    if s.join_time is not None:
        for seg in person.segments:
            seg_join = parse_time(seg["joined_at"])
            if seg_join and abs(seg_join - s.join_time) <= SAME_JOIN:
                seg["left_at"] = seg["left_at"] or _iso(s.at)  # the other source may have it
                return
    for seg in person.segments:  # this leave is already known (the list reported it)
        seg_left = parse_time(seg["left_at"])
        if seg_left and s.at and abs(seg_left - s.at) <= SAME_JOIN:
            return
    open_ones = [g for g in person.segments if g["left_at"] is None]
    if open_ones:
        open_ones[-1]["left_at"] = _iso(s.at)
        return
    # A leave whose join we never heard of: the join time Zoom gave, else unknown.
    person.segments.append({"joined_at": _iso(s.join_time), "left_at": _iso(s.at), "source": s.source})


def close_open(person: Person, ended_at: datetime | None) -> None:
    """Everyone left when the meeting ended, even if Zoom's leave event never came."""
    if ended_at is None:
        return
    for seg in person.segments:
        if seg["left_at"] is None:
            seg["left_at"] = _iso(ended_at)


def minutes(segments: list[dict], now: datetime | None = None) -> int:
    """Minutes in the meeting, overlapping segments counted once; an open one counts until now."""
    spans = []
    for seg in segments:
        joined = parse_time(seg.get("joined_at"))
        left = parse_time(seg.get("left_at")) or now
        if joined and left and left > joined:
            spans.append((joined, left))
    total, end = timedelta(0), None
    for start, stop in sorted(spans):
        if end is not None and start < end:
            start = end
        if stop > start:
            total += stop - start
            end = stop if end is None or stop > end else end
    return int(round(total.total_seconds() / 60))


def first_join(segments: list[dict]) -> datetime | None:
    times = [parse_time(g["joined_at"]) for g in segments if g.get("joined_at")]
    return min(times) if times else None


def complete(people: dict[str, Person]) -> bool:
    """Both people seen, and every stretch has its end: nothing for Zoom's list to add."""
    if HOST not in people or INTERVIEWEE not in people:
        return False
    return all(g["left_at"] and g["joined_at"] for p in people.values() for g in p.segments)
