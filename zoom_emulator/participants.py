"""Who is in a meeting: participant joins and leaves, their webhooks, and the past-meeting
participants list.

Control (tests and demos play the people):
  POST /_emulator/meetings/{id}/participants        {"name", "email"?, "host"?: bool,
                                                     "registrant_id"?, "join_url"?, "at"?: RFC 3339}
      `join_url` is the link the person used: a registrant's own link (zoom_emulator/registrants.py)
      makes the join carry their registrant_id; the meeting's plain link carries none.
      -> {"participant_id", ...}; the meeting must be in progress. Sends
         meeting.participant_joined unless the `participant_webhooks` switch is off (missed events).
  POST /_emulator/meetings/{id}/participants/{participant_id}/leave   {"at"?}
      -> meeting.participant_left. Ending the meeting makes everyone still in it leave first.
  A no-show is simply an interviewee who never joins.

REST, as Zoom documents it (Rivet's ListPastMeetingParticipants; docs/attendance.md#what-zoom-reports in the
service): GET /v2/past_meetings/{meetingUUID}/participants?page_size=&next_page_token= lists one
entry per join (id, user_id, name, user_email, join_time, leave_time, duration in seconds,
registrant_id, failover, status) of an ENDED instance; 404/3001 for an unknown or running one.
Payload fields follow Rivet's MeetingParticipantJoinedEvent / LeftEvent: `participant.id` is the
Zoom user id (empty for a guest), `user_id` a per-join id, `participant_uuid` the same across a
person's rejoins.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .httputil import ZoomError, emulator, json_response
from .state import Instance, Meeting, World, iso

if TYPE_CHECKING:
    from .app import Emulator


@dataclass
class Join:
    participant_id: str  # per-join id (Zoom's participant `user_id`)
    participant_uuid: str  # stable for one person in one meeting
    zoom_user_id: str  # the Zoom user's id when signed in (the host), else ""
    name: str
    email: str
    registrant_id: str
    join_time: float
    leave_time: float | None = None
    leave_reason: str = ""


def _person_uuid(instance: Instance, name: str, email: str) -> str:
    for j in instance.participants:
        if (email and j.email == email) or (not email and j.name == name):
            return j.participant_uuid
    return secrets.token_hex(8).upper()


def participant_event(world: World, name: str, meeting: Meeting, instance: Instance, j: Join) -> dict:
    host = world.users[meeting.host_id]
    participant: dict[str, Any] = {
        "id": j.zoom_user_id, "user_id": j.participant_id, "participant_uuid": j.participant_uuid,
        "user_name": j.name, "email": j.email, "join_time": iso(j.join_time),
    }
    if j.zoom_user_id:
        participant["participant_user_id"] = j.zoom_user_id
    if j.registrant_id:
        participant["registrant_id"] = j.registrant_id
    if name == "meeting.participant_left":
        participant["leave_time"] = iso(j.leave_time)
        participant["leave_reason"] = j.leave_reason or "left the meeting"
    obj = {"id": str(meeting.id), "uuid": instance.uuid, "host_id": host.id, "topic": meeting.topic,
           "type": meeting.type, "start_time": iso(instance.started_at), "timezone": meeting.timezone,
           "duration": meeting.duration, "participant": participant}
    from .webhooks import _envelope  # one envelope shape for every meeting event

    return _envelope(name, host.account_id, obj)


def _emit(em: "Emulator", name: str, meeting: Meeting, instance: Instance, j: Join) -> list:
    if not em.world.config.participant_webhooks:
        return []
    return em.webhooks.emit(participant_event(em.world, name, meeting, instance, j))


def leave_everyone(em: "Emulator", meeting: Meeting, instance: Instance, at: float) -> list:
    """The meeting ends: whoever is still in it leaves now (each with its webhook)."""
    sent = []
    for j in instance.participants:
        if j.leave_time is None:
            j.leave_time, j.leave_reason = at, "the meeting ended"
            sent += _emit(em, "meeting.participant_left", meeting, instance, j)
    return sent


def _at(body: dict, world: World) -> float:
    raw = body.get("at")
    if raw is None:
        return world.now()
    try:
        return datetime.fromisoformat(str(raw).replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise web.HTTPBadRequest(text="'at' must be an RFC 3339 time") from None


# --- control ------------------------------------------------------------------------------------


async def join(request: web.Request) -> web.Response:
    from .control import ControlError, _answer, _body, _meeting

    em = emulator(request)
    meeting = _meeting(em.world, request.match_info["meeting_id"])
    if meeting.status != "started":
        raise ControlError(409, "not_started", f"meeting {meeting.id} is not in progress")
    body = await _body(request)
    instance = meeting.instances[-1]
    host = em.world.users[meeting.host_id]
    as_host = bool(body.get("host"))
    name = str(body.get("name") or (host.display_name if as_host else "Guest"))
    email = str(body.get("email") or (host.email if as_host else ""))
    registrant_id = str(body.get("registrant_id") or "")
    if body.get("join_url"):
        from .registrants import by_link

        r = by_link(meeting, str(body["join_url"]))
        registrant_id = r.registrant_id if r else registrant_id
    j = Join(participant_id=str(16_000_000 + len(instance.participants) + 1),
             participant_uuid=_person_uuid(instance, name, email),
             zoom_user_id=host.id if as_host else "", name=name, email=email,
             registrant_id=registrant_id, join_time=_at(body, em.world))
    instance.participants.append(j)
    sent = _emit(em, "meeting.participant_joined", meeting, instance, j)
    return await _answer(request, {"participant_id": j.participant_id,
                                   "participant_uuid": j.participant_uuid,
                                   "join_time": iso(j.join_time)}, sent)


async def leave(request: web.Request) -> web.Response:
    from .control import ControlError, _answer, _body, _meeting

    em = emulator(request)
    meeting = _meeting(em.world, request.match_info["meeting_id"])
    body = await _body(request)
    pid = request.match_info["participant_id"]
    for instance in reversed(meeting.instances):
        for j in instance.participants:
            if j.participant_id == pid:
                if j.leave_time is not None:
                    raise ControlError(409, "already_left", f"participant {pid} already left")
                j.leave_time = _at(body, em.world)
                sent = _emit(em, "meeting.participant_left", meeting, instance, j)
                return await _answer(request, {"participant_id": pid, "leave_time": iso(j.leave_time)}, sent)
    raise ControlError(404, "not_found", f"no participant {pid} in meeting {meeting.id}")


# --- REST ---------------------------------------------------------------------------------------


def entry_json(meeting: Meeting, j: Join) -> dict[str, Any]:
    left = j.leave_time if j.leave_time is not None else j.join_time
    return {"id": j.zoom_user_id or j.participant_uuid, "user_id": j.participant_id, "name": j.name,
            "user_email": j.email, "join_time": iso(j.join_time), "leave_time": iso(left),
            "duration": int(max(left - j.join_time, 0)), "registrant_id": j.registrant_id,
            "failover": False, "status": "in_meeting"}


async def past_meeting_participants(request: web.Request) -> web.Response:
    from .oauth import may_act_on
    from .rest import authenticate, decode_meeting_ref, require_scope

    world = emulator(request).world
    grant = authenticate(request)
    require_scope(grant, "meeting:participants")
    raw = request.raw_path.split("?", 1)[0]
    ref = decode_meeting_ref(raw[len("/v2/past_meetings/"):-len("/participants")])
    instance = world.instances.get(ref)
    meeting = world.meetings.get(instance.meeting_id) if instance else None
    if meeting is None or instance.ended_at is None or not may_act_on(grant, world.users[meeting.host_id]):
        raise ZoomError(404, 3001, f"Meeting does not exist: {ref}.")
    try:
        size = min(max(int(request.query.get("page_size", 30)), 1), 300)
        start = int(request.query.get("next_page_token") or 0)
    except ValueError:
        raise ZoomError(400, 300, "Invalid next_page_token or page_size.") from None
    entries = [entry_json(meeting, j) for j in instance.participants]
    page = entries[start:start + size]
    token = str(start + size) if start + size < len(entries) else ""
    return json_response({"page_count": (len(entries) + size - 1) // size if entries else 0,
                          "page_size": size, "total_records": len(entries),
                          "next_page_token": token, "participants": page})


def control_routes(prefix: str) -> list[web.RouteDef]:
    return [
        web.post(f"{prefix}/meetings/{{meeting_id}}/participants", join),
        web.post(f"{prefix}/meetings/{{meeting_id}}/participants/{{participant_id}}/leave", leave),
    ]


def rest_routes() -> list[web.RouteDef]:
    return [web.get("/v2/past_meetings/{ref:.*}/participants", past_meeting_participants)]
