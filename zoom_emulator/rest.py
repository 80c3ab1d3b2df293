"""Zoom's REST API (`/v2`): users, meetings, meeting recordings.

Copies Zoom's contract and its traps (docs/zoom.md#meetings to #meeting-ids-and-uuids): meeting ids are int64 numbers above
2**32; some uuids start with '/' or contain '//' and then resolve only when double-encoded;
user tokens act only on their own user ('me'), S2S tokens on any user of their account; errors
come as `{"code","message"}` with Zoom's codes; the per-user daily cap on creates and updates
answers 429 with a `Retry-After` *date* (or the older 400/300 shape, by switch); a type-4 user
cannot host (3161); `auto_recording: "cloud"` is dropped for Basic hosts.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from typing import Any
from urllib.parse import unquote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiohttp import web

from . import files, participants, registrants
from .httputil import ZoomError, base_url, emulator, json_body, json_response
from .oauth import accepted_scopes, has_scope, may_act_on, resolve_access_token
from .state import USER_BASIC, USER_NO_MEETINGS, Grant, Meeting, User, World, iso

DEFAULT_SETTINGS = {
    "host_video": False,
    "participant_video": False,
    "join_before_host": False,
    "jbh_time": 0,
    "mute_upon_entry": False,
    "watermark": False,
    "use_pmi": False,
    "approval_type": 2,
    "audio": "voip",
    "auto_recording": "none",
    "waiting_room": False,
    "meeting_authentication": False,
    "alternative_hosts": "",
    "email_notification": True,
    "private_meeting": False,
}


# --- authentication and authorization ----------------------------------------------------------


def authenticate(request: web.Request) -> Grant:
    """The grant behind the request's bearer token; Zoom's 401 code 124 otherwise."""
    if "access_token" in request.query:
        # Since Feb 2023 Zoom refuses tokens in query strings.
        raise ZoomError(401, 124, "Invalid access token, this access token is not supported as "
                                  "query parameter string.")
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    token = value.strip() if scheme.lower() == "bearer" else None
    return resolve_access_token(emulator(request).world, token)


def require_scope(grant: Grant, action: str) -> None:
    if not has_scope(grant, action):
        raise ZoomError(401, 4700, "Invalid access token, does not contain scopes:"
                                   f"[{', '.join(accepted_scopes(grant, action))}].")


def _account_owner(world: World, account_id: str) -> User:
    return next(u for u in world.users.values() if u.account_id == account_id)


def resolve_user(world: World, grant: Grant, ref: str) -> User:
    """`{userId}` in a path: 'me', an id or an email, within what the token may act on."""
    if grant.kind == "user":
        me = world.users.get(grant.user_id or "")
        if me is not None and (ref == "me" or ref == me.id or ref.lower() == me.email):
            return me
        raise ZoomError(404, 1001, f"User does not exist: {ref}.")
    if ref == "me":
        if world.config.s2s_me == "owner":
            return _account_owner(world, grant.account_id)
        raise ZoomError(404, 1001, "User does not exist: me.")
    user = world.find_user(ref)
    if user is None or user.account_id != grant.account_id:
        raise ZoomError(404, 1001, f"User does not exist: {ref}.")
    return user


# --- users -------------------------------------------------------------------------------------


def user_json(world: World, user: User, base: str) -> dict[str, Any]:
    owner = _account_owner(world, user.account_id)
    return {
        "id": user.id,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "display_name": user.display_name,
        "email": user.email,
        "type": user.type,
        "role_name": "Owner" if owner.id == user.id else "Member",
        "pmi": user.pmi,
        "use_pmi": False,
        "personal_meeting_url": f"{base}/j/{user.pmi}",
        "timezone": user.timezone,
        "verified": 1,
        "dept": "",
        "created_at": iso(user.created_at),
        "user_created_at": iso(user.created_at),
        "last_login_time": iso(user.created_at),
        "last_client_version": "6.0.0.0 (emulator)",
        "pic_url": "",
        "language": "en-US",
        "phone_number": "",
        "status": "active",
        "role_id": "0" if owner.id == user.id else "2",
        "account_id": user.account_id,
        "account_number": int(hashlib.sha256(user.account_id.encode()).hexdigest()[:8], 16),
        "cluster": "us05",
        "login_types": [100],
        "group_ids": [],
        "im_group_ids": [],
        "jid": f"{user.id.lower()}@xmpp.zoom.us",
    }


async def get_user(request: web.Request) -> web.Response:
    world = emulator(request).world
    grant = authenticate(request)
    require_scope(grant, "user:read")
    user = resolve_user(world, grant, request.match_info["user_id"])
    return json_response(user_json(world, user, base_url(request)))


def user_settings_json(world: World, user: User) -> dict[str, Any]:
    """Zoom's user settings, the `recording` section only: what the service reads
    (docs/zoom.md#recording-settings)."""
    recording = dict(user.recording)
    field = world.config.transcript_setting_field
    if field != "recording_audio_transcript":
        recording[field] = recording.pop("recording_audio_transcript")
    return {"recording": recording}


async def get_user_settings(request: web.Request) -> web.Response:
    world = emulator(request).world
    grant = authenticate(request)
    require_scope(grant, "user:settings")
    user = resolve_user(world, grant, request.match_info["user_id"])
    return json_response(user_settings_json(world, user))


# --- meetings ----------------------------------------------------------------------------------


def _numeric_password(password: str) -> str:
    return str(int(hashlib.sha256(password.encode()).hexdigest(), 16) % 1_000_000).zfill(6)


def meeting_json(world: World, m: Meeting, base: str) -> dict[str, Any]:
    host = world.users[m.host_id]
    return {
        "uuid": m.uuid,
        "id": m.id,
        "host_id": m.host_id,
        "host_email": host.email,
        "assistant_id": "",
        "topic": m.topic,
        "type": m.type,
        "status": m.status,
        "start_time": iso(m.start_time),
        "duration": m.duration,
        "timezone": m.timezone,
        "agenda": m.agenda,
        "created_at": iso(m.created_at),
        # start_url embeds the host's ZAK: a secret, fresh on every read (Zoom's expire in 2 h)
        "start_url": f"{base}/s/{m.id}?zak={world.new_secret(32)}",
        "join_url": f"{base}/j/{m.id}?pwd={m.encrypted_password}",
        "password": m.password,
        "h323_password": _numeric_password(m.password),
        "pstn_password": _numeric_password(m.password),
        "encrypted_password": m.encrypted_password,
        "settings": dict(m.settings),
        "pre_schedule": False,
    }


def _parse_start(value: str, tz: str) -> float:
    dt = datetime.fromisoformat(value.strip())
    if dt.tzinfo is None:
        # no 'Z': local time in the meeting's timezone (Zoom's rule)
        try:
            dt = dt.replace(tzinfo=ZoneInfo(tz))
        except (ZoneInfoNotFoundError, ValueError):
            dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


def _validate(body: dict[str, Any], tz: str) -> dict[str, Any]:
    """Check a create/update body; return the cleaned fields present, or raise Zoom's 300."""
    errors: list[dict[str, str]] = []
    out: dict[str, Any] = {}

    def bad(name: str, message: str) -> None:
        errors.append({"field": name, "message": message})

    if "topic" in body:
        if not isinstance(body["topic"], str) or len(body["topic"]) > 200:
            bad("topic", "Topic must be a string of at most 200 characters.")
        else:
            out["topic"] = body["topic"]
    if "type" in body:
        if body["type"] not in (1, 2, 3, 8) or isinstance(body["type"], bool):
            bad("type", "Invalid meeting type: must be 1, 2, 3 or 8.")
        else:
            out["type"] = body["type"]
    if "timezone" in body:
        if not isinstance(body["timezone"], str):
            bad("timezone", "Timezone must be a string.")
        else:
            out["timezone"] = tz = body["timezone"] or tz
    if "start_time" in body:
        try:
            out["start_time"] = _parse_start(body["start_time"], tz)
        except (TypeError, ValueError, AttributeError):
            bad("start_time", "Invalid start_time: use yyyy-MM-ddTHH:mm:ssZ.")
    if "duration" in body:
        d = body["duration"]
        if isinstance(d, bool) or not isinstance(d, int) or d < 0:
            bad("duration", "Duration must be a non-negative whole number of minutes.")
        else:
            out["duration"] = d
    if "agenda" in body:
        if not isinstance(body["agenda"], str) or len(body["agenda"]) > 2000:
            bad("agenda", "Agenda must be a string of at most 2000 characters.")
        else:
            out["agenda"] = body["agenda"]
    if "password" in body:
        p = body["password"]
        allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@-_*")
        if not isinstance(p, str) or len(p) > 10 or not set(p) <= allowed:
            bad("password", "Passcode may only contain [a-zA-Z0-9@-_*] and at most 10 characters.")
        else:
            out["password"] = p
    if "settings" in body:
        s = body["settings"]
        if not isinstance(s, dict):
            bad("settings", "Settings must be an object.")
        elif s.get("auto_recording", "none") not in ("local", "cloud", "none"):
            bad("settings.auto_recording", "auto_recording must be local, cloud or none.")
        else:
            out["settings"] = s
    if errors:
        raise ZoomError(400, 300, "Validation Failed.", errors=errors)
    return out


def _apply_settings(world: World, host: User, current: dict, requested: dict) -> dict:
    merged = {**current, **requested}
    if host.type == USER_BASIC and merged.get("auto_recording") == "cloud":
        # Cloud recording needs a licence. Zoom quietly keeps "none" (or refuses, by switch).
        if world.config.basic_cloud_recording == "reject":
            raise ZoomError(400, 300, "Cloud recording is not available for Basic users.")
        merged["auto_recording"] = "none"
    if host.type == USER_BASIC and merged.get("approval_type", 2) != 2:
        # Registration needs a licensed host (docs/zoom.md#meeting-registrants); UNVERIFIED how.
        if world.config.basic_registration == "reject":
            raise ZoomError(400, 200, f"Only available for Paid user: {host.id}")
        merged["approval_type"] = 2
    return merged


def _check_daily(world: World, host: User, category: str) -> str:
    """Refuse when the host used up today's creates+updates; return the day key to charge."""
    used, day = world.count_daily(host.id)
    limit = world.config.daily_limit
    if used >= limit:
        if world.config.daily_limit_style == "300":
            raise ZoomError(400, 300, f"A maximum of {limit} meetings can be created/updated for "
                                      "a single user in one day.")
        raise ZoomError(
            429, 429,
            "You have reached the maximum daily rate limit for this API. Refer to the response "
            "header for details on when you can make another request.",
            headers={
                "X-RateLimit-Type": "Daily-limit",
                "X-RateLimit-Category": category,
                "X-RateLimit-Limit": str(limit),
                "X-RateLimit-Remaining": "0",
                # a date, not seconds: the cap resets at 00:00 UTC
                "Retry-After": world.next_utc_midnight().strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
        )
    return day


def _charge_daily(world: World, host: User, day: str) -> None:
    world.daily_counts[(host.id, day)] = world.daily_counts.get((host.id, day), 0) + 1


async def create_meeting(request: web.Request) -> web.Response:
    em = emulator(request)
    world = em.world
    grant = authenticate(request)
    require_scope(grant, "meeting:create")
    host = resolve_user(world, grant, request.match_info["user_id"])
    if host.type == USER_NO_MEETINGS:
        raise ZoomError(400, 3161, "Meeting hosting and scheduling capabilities are not allowed "
                                   "for your user account.")
    day = _check_daily(world, host, "Medium")
    body = await json_body(request)
    fields = _validate(body, body.get("timezone") or host.timezone)
    now = world.now()
    mtype = fields.get("type", 2)
    password = fields.get("password") or "".join(
        world.rng.choice("abcdefghjkmnpqrstuvwxyz23456789") for _ in range(6))
    meeting = Meeting(
        id=world.new_meeting_id(),
        uuid=world.new_uuid(),
        host_id=host.id,
        topic=fields.get("topic") or f"{host.display_name}'s Zoom Meeting",
        type=mtype,
        start_time=fields.get("start_time", now) if mtype != 1 else now,
        duration=fields.get("duration", 60),
        timezone=fields.get("timezone") or host.timezone,
        agenda=fields.get("agenda", ""),
        password=password,
        encrypted_password=world.new_secret(24),
        settings=_apply_settings(world, host, DEFAULT_SETTINGS, fields.get("settings", {})),
        created_at=now,
    )
    world.meetings[meeting.id] = meeting
    _charge_daily(world, host, day)
    em.stats.bump("meetings_created")
    base = base_url(request)
    return json_response(meeting_json(world, meeting, base), status=201,
                         headers={"Content-Location": f"{base}/v2/meetings/{meeting.id}"})


def _find_meeting(world: World, grant: Grant, ref: str) -> Meeting:
    meeting = world.meetings.get(int(ref)) if ref.isdigit() else None
    if meeting is None or meeting.deleted or not may_act_on(grant, world.users[meeting.host_id]):
        raise ZoomError(404, 3001, f"Meeting does not exist: {ref}.")
    return meeting


async def get_meeting(request: web.Request) -> web.Response:
    world = emulator(request).world
    grant = authenticate(request)
    require_scope(grant, "meeting:read")
    meeting = _find_meeting(world, grant, request.match_info["meeting_id"])
    return json_response(meeting_json(world, meeting, base_url(request)))


async def update_meeting(request: web.Request) -> web.Response:
    em = emulator(request)
    world = em.world
    grant = authenticate(request)
    require_scope(grant, "meeting:update")
    meeting = _find_meeting(world, grant, request.match_info["meeting_id"])
    host = world.users[meeting.host_id]
    day = _check_daily(world, host, "Light")
    body = await json_body(request)
    fields = _validate(body, body.get("timezone") or meeting.timezone)
    settings = _apply_settings(world, host, meeting.settings, fields.pop("settings", {}))
    for name, value in fields.items():
        setattr(meeting, name, value)
    meeting.settings = settings
    _charge_daily(world, host, day)
    em.stats.bump("meetings_updated")
    return web.Response(status=204)


async def delete_meeting(request: web.Request) -> web.Response:
    em = emulator(request)
    grant = authenticate(request)
    require_scope(grant, "meeting:delete")
    meeting = _find_meeting(em.world, grant, request.match_info["meeting_id"])
    meeting.deleted = True
    meeting.status = "waiting"
    em.stats.bump("meetings_deleted")
    return web.Response(status=204)


async def list_meetings(request: web.Request) -> web.Response:
    world = emulator(request).world
    grant = authenticate(request)
    require_scope(grant, "meeting:list")
    host = resolve_user(world, grant, request.match_info["user_id"])
    kind = request.query.get("type", "scheduled")
    now = world.now()
    chosen = [m for m in world.meetings.values() if m.host_id == host.id and not m.deleted]
    if kind == "upcoming":
        chosen = [m for m in chosen if m.status == "started" or m.start_time + m.duration * 60 >= now]
    elif kind == "live":
        chosen = [m for m in chosen if m.status == "started"]
    elif kind != "scheduled":
        raise ZoomError(400, 300, "Validation Failed.",
                        errors=[{"field": "type", "message": "Invalid field."}])
    chosen.sort(key=lambda m: (m.start_time, m.id))
    try:
        page_size = min(max(int(request.query.get("page_size", 30)), 1), 300)
    except ValueError:
        raise ZoomError(400, 300, "Validation Failed.",
                        errors=[{"field": "page_size", "message": "Invalid field."}]) from None
    token = request.query.get("next_page_token")
    offset = 0
    if token:
        if token not in world.page_tokens:
            raise ZoomError(400, 300, "Invalid next_page_token.")
        offset = world.page_tokens[token]
    page = chosen[offset:offset + page_size]
    next_token = ""
    if offset + page_size < len(chosen):
        next_token = world.new_secret(24)
        world.page_tokens[next_token] = offset + page_size
    base = base_url(request)
    items = [{
        "uuid": m.uuid, "id": m.id, "host_id": m.host_id, "topic": m.topic, "type": m.type,
        "start_time": iso(m.start_time), "duration": m.duration, "timezone": m.timezone,
        "agenda": m.agenda, "created_at": iso(m.created_at),
        "join_url": f"{base}/j/{m.id}?pwd={m.encrypted_password}",
    } for m in page]
    return json_response({"page_size": page_size, "total_records": len(chosen),
                          "next_page_token": next_token, "meetings": items})


# --- recordings --------------------------------------------------------------------------------


def decode_meeting_ref(raw_segment: str) -> str:
    """Decode `{meetingId}` the way Zoom's front end does.

    Zoom decodes a path once before routing, so a uuid that starts with '/' or holds '//' arrives
    mangled unless the caller encoded it twice. We model that: a single-encoded hazardous uuid
    (or one sent raw) is 'not found'; a double-encoded one (any uuid) works.
    """
    if "/" in raw_segment:
        raise ZoomError(404, 3001, f"Meeting does not exist: {unquote(raw_segment).strip('/')}.")
    once = unquote(raw_segment)
    if "%" in once:  # base64 uuids hold no '%', so this was encoded twice
        return unquote(once)
    if once.startswith("/") or "//" in once:
        mangled = "/".join(p for p in once.split("/") if p)
        raise ZoomError(404, 3001, f"Meeting does not exist: {mangled}.")
    return once


async def get_recordings(request: web.Request) -> web.Response:
    world = emulator(request).world
    grant = authenticate(request)
    require_scope(grant, "recording:read")
    raw = request.raw_path.split("?", 1)[0]
    ref = decode_meeting_ref(raw[len("/v2/meetings/"):-len("/recordings")])
    if ref.isdigit():
        meeting = world.meetings.get(int(ref))
        # a numeric id means the latest instance that has a recording
        candidates = [i for i in (meeting.instances if meeting else []) if i.files]
        instance = candidates[-1] if candidates else None
    else:
        instance = world.instances.get(ref)
        meeting = world.meetings.get(instance.meeting_id) if instance else None
    if meeting is None or not may_act_on(grant, world.users[meeting.host_id]):
        raise ZoomError(404, 3001, f"Meeting does not exist: {ref}.")
    if instance is None or not instance.files:
        raise ZoomError(404, 3301, "This recording does not exist.")
    body = files.recording_json(world, meeting, instance, base_url(request))
    if "download_access_token" in request.query.get("include_fields", "").split(","):
        ttl_raw = request.query.get("ttl")
        try:
            ttl = int(ttl_raw) if ttl_raw else world.config.download_access_token_ttl
            if not 0 <= ttl <= 604800:
                raise ValueError
        except ValueError:
            raise ZoomError(400, 300, "Validation Failed.", errors=[
                {"field": "ttl", "message": "ttl must be between 0 and 604800."}]) from None
        body["download_access_token"] = files.grant_download(
            world, instance, "download_access_token",
            ttl or world.config.download_access_token_ttl)
    return json_response(body)


async def not_found(request: web.Request) -> web.Response:
    raise ZoomError(404, 404, "Not Found")


def routes() -> list[web.RouteDef]:
    return [
        web.get("/v2/users/{user_id}", get_user),
        web.get("/v2/users/{user_id}/settings", get_user_settings),
        web.post("/v2/users/{user_id}/meetings", create_meeting),
        web.get("/v2/users/{user_id}/meetings", list_meetings),
        web.get("/v2/meetings/{meeting_id}", get_meeting),
        web.patch("/v2/meetings/{meeting_id}", update_meeting),
        web.delete("/v2/meetings/{meeting_id}", delete_meeting),
        web.get("/v2/meetings/{ref:.*}/recordings", get_recordings),
        *participants.rest_routes(),
        *registrants.rest_routes(),
        web.route("*", "/v2/{tail:.*}", not_found),
    ]
