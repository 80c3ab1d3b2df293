"""Meeting registration: each registrant gets a join link of their own, and joins through it carry
their registrant id (docs/zoom.md#meeting-registrants).

REST, as Zoom documents it:
  POST /v2/meetings/{meetingId}/registrants  {"email", "first_name", "last_name"?, "auto_approve"?}
      -> 201 {"id": meeting id, "registrant_id", "join_url", "topic", "start_time", "occurrences"}
      Scope: granular `meeting:write:registrant`, classic `meeting:write`.
      Refused when the host is not licensed (400, code 200 "Only available for Paid user") and
      when the meeting does not take registrations (`settings.approval_type` 2: 400, code 3000;
      the code is UNVERIFIED, the message is what integrators quote).
      The same email again: UNVERIFIED. `registrant_duplicate` "existing" (default) answers 201
      with the registration already made; "error" refuses (400, code 3027). Never a second one.

Control: a join with {"join_url": <a registrant's link>} (POST /_emulator/meetings/{id}/participants)
is that registrant joining; `registrant_id` in the payload and the participants list then names them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aiohttp import web

from .httputil import ZoomError, base_url, emulator, json_body, json_response
from .state import USER_BASIC, Meeting, World, iso

NO_REGISTRATION = 2  # approval_type: 0 automatic, 1 manual, 2 no registration


@dataclass
class Registrant:
    registrant_id: str
    email: str
    first_name: str
    last_name: str
    token: str  # the `tk` of their personal join link
    status: str = "approved"


def join_url(base: str, meeting: Meeting, r: Registrant) -> str:
    return f"{base}/w/{meeting.id}?tk={r.token}&pwd={meeting.encrypted_password}"


def by_link(meeting: Meeting, url: str) -> Registrant | None:
    """The registrant whose personal link this is (None for the meeting's plain link)."""
    token = (parse_qs(urlsplit(url).query).get("tk") or [""])[0]
    return next((r for r in meeting.registrants if token and r.token == token), None)


def _body_field(body: dict, name: str, limit: int, required: bool) -> str:
    value = body.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise ZoomError(400, 300, "Validation Failed.",
                        errors=[{"field": name, "message": f"{name} is required (at most {limit} characters)."}])
    return value.strip()


def _answer(base: str, meeting: Meeting, r: Registrant) -> dict[str, Any]:
    return {"id": meeting.id, "registrant_id": r.registrant_id, "join_url": join_url(base, meeting, r),
            "topic": meeting.topic, "start_time": iso(meeting.start_time),
            "occurrences": []}


async def add_registrant(request: web.Request) -> web.Response:
    from .rest import _find_meeting, authenticate, require_scope

    em = emulator(request)
    world = em.world
    grant = authenticate(request)
    require_scope(grant, "meeting:registrant")
    meeting = _find_meeting(world, grant, request.match_info["meeting_id"])
    host = world.users[meeting.host_id]
    if host.type == USER_BASIC:
        raise ZoomError(400, 200, f"Only available for Paid user: {host.id}")
    if meeting.settings.get("approval_type", NO_REGISTRATION) == NO_REGISTRATION:
        raise ZoomError(400, 3000, "Registration has not been enabled for this meeting")
    body = await json_body(request)
    email = _body_field(body, "email", 128, True)
    if "@" not in email:
        raise ZoomError(400, 300, "Validation Failed.",
                        errors=[{"field": "email", "message": "Invalid email."}])
    first = _body_field(body, "first_name", 64, True)
    last = _body_field(body, "last_name", 64, False)
    base = base_url(request)
    same = next((r for r in meeting.registrants if r.email.lower() == email.lower()), None)
    if same is not None:
        if world.config.registrant_duplicate == "error":
            raise ZoomError(400, 3027, "Registrant already exists for this meeting.")
        return json_response(_answer(base, meeting, same), status=201)
    r = Registrant(registrant_id=world.new_secret(12), email=email, first_name=first,
                   last_name=last, token=world.new_secret(32))
    meeting.registrants.append(r)
    em.stats.bump("registrants_added")
    return json_response(_answer(base, meeting, r), status=201)


def rest_routes() -> list[web.RouteDef]:
    return [web.post("/v2/meetings/{meeting_id}/registrants", add_registrant)]
