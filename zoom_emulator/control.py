"""The control API under /_emulator: NOT part of Zoom.

Tests and people use it to do what happens on Zoom's side without an API: create accounts and
users, run a meeting (start, end), let the cloud recording and the transcript finish, uninstall
the app, inject faults, move the clock, flip switches, and read what the emulator saw (delivery
log, request log, counters). Routes are listed in README.md.

Errors here use a plain `{"code": "<snake_case>", "message"}` shape, except where the brief asks
for Zoom's wording (a host already in a meeting).

Trigger routes (start, end, recording, transcript, deauthorize) return as soon as their webhooks
are queued; add `?wait=true` to return only after those deliveries finished retrying.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from . import files, participants, webhooks
from .faults import FaultRule
from .registrants import join_url as registrant_link
from .oauth import scope_is_granular
from .httputil import base_url, emulator, json_response
from .state import (DEFAULT_CLIENT_ID, DEFAULT_RECORDING_SETTINGS, USER_BASIC, USER_NO_MEETINGS,
                    Instance, Meeting, OAuthClient, World, iso)

DEFAULT_RECORDING_FILES = ["MP4", "M4A", "CHAT", "TIMELINE"]


class ControlError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@web.middleware
async def control_errors(request: web.Request, handler):
    try:
        return await handler(request)
    except ControlError as exc:
        return json_response({"code": exc.code, "message": exc.message}, status=exc.status)
    except ValueError as exc:
        if not request.path.startswith("/_emulator"):
            raise
        return json_response({"code": "invalid", "message": str(exc)}, status=400)


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        body = await request.json()
    except ValueError:
        raise ControlError(400, "invalid_json", "the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise ControlError(400, "invalid_json", "the body must be a JSON object")
    return body


def _flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "").lower() in ("1", "true", "yes")


async def _answer(request: web.Request, body: dict[str, Any],
                  deliveries: list[webhooks.Delivery], status: int = 200) -> web.Response:
    """Reply, after the deliveries settled when ?wait=true."""
    if _flag(request, "wait"):
        timeout = float(request.query.get("timeout", 30))
        body["settled"] = await emulator(request).webhooks.settle(timeout, only=deliveries)
    body["deliveries"] = [d.as_dict() for d in deliveries]
    return json_response(body, status=status)


# --- state and config --------------------------------------------------------------------------


async def reset(request: web.Request) -> web.Response:
    emulator(request).reset()
    return json_response({"status": "reset"})


async def get_config(request: web.Request) -> web.Response:
    return json_response(emulator(request).world.config.as_dict())


async def patch_config(request: web.Request) -> web.Response:
    world = emulator(request).world
    body = await _body(request)
    world.config.update(body)
    if "default_app" in body:
        world.apply_default_app()
    return json_response(world.config.as_dict())


async def clock(request: web.Request) -> web.Response:
    """{"advance": seconds} moves the clock forward; {"offset": seconds} sets the offset.

    Passing a 72-hour mark re-validates the webhook endpoint, as Zoom does."""
    em = emulator(request)
    world = em.world
    body = await _body(request)
    if "offset" in body:
        world.config.update({"clock_offset": body["offset"]})
    if "advance" in body:
        world.config.update({"clock_offset": world.config.clock_offset + float(body["advance"])})
    revalidated = await em.webhooks.revalidate_if_due()
    return json_response({"now": iso(world.now()), "clock_offset": world.config.clock_offset,
                          "revalidation": revalidated})


# --- accounts, users, apps ---------------------------------------------------------------------


def _user_view(world: World, user) -> dict[str, Any]:
    return {"id": user.id, "email": user.email, "first_name": user.first_name,
            "last_name": user.last_name, "display_name": user.display_name, "type": user.type,
            "account_id": user.account_id, "timezone": user.timezone,
            "concurrency": world.concurrency(user)}


async def list_accounts(request: web.Request) -> web.Response:
    world = emulator(request).world
    return json_response([
        {"id": a.id, "name": a.name, "plan": a.plan,
         "users": [_user_view(world, u) for u in world.users.values() if u.account_id == a.id]}
        for a in world.accounts.values()
    ])


async def create_account(request: web.Request) -> web.Response:
    world = emulator(request).world
    body = await _body(request)
    account_id = body.get("id") or f"emu-account-{len(world.accounts) + 1}"
    if account_id in world.accounts:
        raise ControlError(409, "exists", f"account {account_id} already exists")
    account = world.add_account(account_id, body.get("name", account_id), body.get("plan", "pro"))
    return json_response({"id": account.id, "name": account.name, "plan": account.plan}, 201)


async def create_user(request: web.Request) -> web.Response:
    world = emulator(request).world
    body = await _body(request)
    email = body.get("email")
    if not email or "@" not in email:
        raise ControlError(400, "invalid", "email is required")
    local = email.split("@")[0]
    user = world.add_user(email, body.get("account_id", ""), body.get("first_name", local.title()),
                          body.get("last_name", "User"), body.get("type", 2),
                          body.get("timezone", "UTC"))
    return json_response(_user_view(world, user), 201)


async def update_user(request: web.Request) -> web.Response:
    """Change a user, e.g. {"type": 1} when a licence is taken away."""
    world = emulator(request).world
    user = world.find_user(request.match_info["user"])
    if user is None:
        raise ControlError(404, "not_found", "no such user")
    body = await _body(request)
    if "type" in body:
        if body["type"] not in (1, 2, 4):
            raise ControlError(400, "invalid", "type must be 1, 2 or 4")
        user.type = body["type"]
    for name in ("first_name", "last_name", "timezone"):
        if name in body:
            setattr(user, name, str(body[name]))
    return json_response(_user_view(world, user))


async def update_user_settings(request: web.Request) -> web.Response:
    """Switch a user's recording settings as an admin would in Zoom's web portal, e.g.
    {"recording": {"cloud_recording": false}} or {"recording": {"recording_audio_transcript": false}}.
    Zoom then makes no cloud recording (or no transcript) of that host's meetings."""
    world = emulator(request).world
    user = world.find_user(request.match_info["user"])
    if user is None:
        raise ControlError(404, "not_found", "no such user")
    body = await _body(request)
    changes = body.get("recording")
    if set(body) - {"recording"} or not isinstance(changes, dict):
        raise ControlError(400, "invalid", 'the body is {"recording": {setting: value, ...}}')
    for name, value in changes.items():
        if name not in DEFAULT_RECORDING_SETTINGS:
            raise ControlError(400, "invalid", f"unknown recording setting {name!r}; known: "
                                               f"{sorted(DEFAULT_RECORDING_SETTINGS)}")
        if name == "auto_recording":
            if value not in ("local", "cloud", "none"):
                raise ControlError(400, "invalid", "auto_recording must be local, cloud or none")
        elif not isinstance(value, bool):
            raise ControlError(400, "invalid", f"{name} must be true or false")
    user.recording.update(changes)
    return json_response({"user_id": user.id, "recording": dict(user.recording)})


def _client_view(c: OAuthClient) -> dict[str, Any]:
    return {"client_id": c.client_id, "name": c.name, "kind": c.kind, "scopes": list(c.scopes),
            "redirect_uris": c.redirect_uris, "account_id": c.account_id, "managed": c.managed}


async def create_client(request: web.Request) -> web.Response:
    world = emulator(request).world
    body = await _body(request)
    scopes = body.get("scopes", [])
    if isinstance(scopes, str):
        scopes = scopes.split()
    kind = body.get("kind", "user")
    if kind not in ("user", "s2s"):
        raise ControlError(400, "invalid", "kind must be user or s2s")
    if kind == "s2s" and body.get("account_id") not in world.accounts:
        raise ControlError(400, "invalid", "an s2s client needs an existing account_id")
    if not body.get("client_id") or not body.get("client_secret"):
        raise ControlError(400, "invalid", "client_id and client_secret are required")
    admin_scopes = [s for s in scopes if s.endswith(":admin")]
    # An older (classic) app with admin scopes was account-level; anything else defaults to the
    # user-managed General app a customer creates today (docs/zoom.md#scopes).
    granular = any(scope_is_granular(s) for s in scopes)
    managed = body.get("managed") or ("admin" if kind == "s2s" or (admin_scopes and not granular)
                                      else "user")
    if managed not in ("user", "admin"):
        raise ControlError(400, "invalid", "managed must be user or admin")
    if managed == "user" and admin_scopes:
        raise ControlError(400, "invalid", "a user-managed app can request user-level scopes "
                                           f"only; admin scopes need an admin-managed app: "
                                           f"{', '.join(admin_scopes)}")
    client = world.add_client(OAuthClient(
        body["client_id"], body["client_secret"], body.get("name", body["client_id"]), kind,
        tuple(scopes), list(body.get("redirect_uris", [])), body.get("account_id"), managed))
    return json_response(_client_view(client), 201)


async def get_client(request: web.Request) -> web.Response:
    client = emulator(request).world.clients.get(request.match_info["client_id"])
    if client is None:
        raise ControlError(404, "not_found", "no such client")
    return json_response(_client_view(client))


async def add_redirect_uri(request: web.Request) -> web.Response:
    world = emulator(request).world
    client = world.clients.get(request.match_info["client_id"])
    if client is None:
        raise ControlError(404, "not_found", "no such client")
    uri = (await _body(request)).get("uri")
    if not uri:
        raise ControlError(400, "invalid", "uri is required")
    if uri not in client.redirect_uris:
        client.redirect_uris.append(uri)
    return json_response(_client_view(client))


# --- webhook endpoint --------------------------------------------------------------------------


async def get_webhook(request: web.Request) -> web.Response:
    return json_response(emulator(request).world.webhook.as_dict())


async def put_webhook(request: web.Request) -> web.Response:
    """Set url, secret, events, per_file_recording_events, duplicate_events (omitted: kept)."""
    hook = emulator(request).world.webhook
    body = await _body(request)
    allowed = {"url", "secret", "events", "per_file_recording_events", "duplicate_events"}
    if set(body) - allowed:
        raise ControlError(400, "invalid", f"unknown fields {sorted(set(body) - allowed)}")
    for name, value in body.items():
        setattr(hook, name, value)
    return json_response(hook.as_dict())


async def validate_webhook(request: web.Request) -> web.Response:
    return json_response(await emulator(request).webhooks.validate())


# --- a meeting's life --------------------------------------------------------------------------


def _meeting(world: World, ref: str) -> Meeting:
    meeting = world.meetings.get(int(ref)) if ref.isdigit() else None
    if meeting is None:
        raise ControlError(404, "not_found", f"no meeting {ref}")
    return meeting


def _meeting_view(world: World, m: Meeting, base: str) -> dict[str, Any]:
    host = world.users[m.host_id]
    return {
        "id": m.id, "uuid": m.uuid, "host_id": host.id, "host_email": host.email,
        "account_id": host.account_id, "topic": m.topic, "type": m.type, "status": m.status,
        "deleted": m.deleted, "start_time": iso(m.start_time), "duration": m.duration,
        "timezone": m.timezone, "agenda": m.agenda, "settings": m.settings,
        "created_at": iso(m.created_at),
        "instances": [{
            "uuid": i.uuid, "started_at": iso(i.started_at), "ended_at": iso(i.ended_at),
            "recording_done": i.recording_done, "transcript_done": i.transcript_done,
            "files": [_file_view(i, f, base) for f in i.files],
        } for i in m.instances],
        "registrants": [{"registrant_id": r.registrant_id, "email": r.email,
                         "join_url": registrant_link(base, m, r)} for r in m.registrants],
    }


def _file_view(instance: Instance, f, base: str) -> dict[str, Any]:
    return {"file_key": f.key, "file_type": f.file_type, "size": f.size,
            "download_url": f"{base}/rec/download/{f.key}", "instance_uuid": instance.uuid}


async def list_meetings(request: web.Request) -> web.Response:
    """All meetings, deleted ones included; ?host=<email or id> narrows to one host."""
    world = emulator(request).world
    host = request.query.get("host")
    user = world.find_user(host) if host else None
    if host and user is None:
        raise ControlError(404, "not_found", f"no user {host}")
    chosen = [m for m in world.meetings.values() if user is None or m.host_id == user.id]
    return json_response([_meeting_view(world, m, base_url(request)) for m in chosen])


async def start_meeting(request: web.Request) -> web.Response:
    em = emulator(request)
    world = em.world
    meeting = _meeting(world, request.match_info["meeting_id"])
    host = world.users[meeting.host_id]
    if meeting.deleted:
        raise ControlError(404, "not_found", f"meeting {meeting.id} was deleted")
    if host.type == USER_NO_MEETINGS:
        raise ControlError(409, "cannot_host", "This user has no meetings licence and cannot host.")
    if meeting.status == "started":
        raise ControlError(409, "already_started", f"meeting {meeting.id} is already in progress")
    # Past the host's capacity Zoom is not refusing anything: it offers the host to end the
    # running meeting, whose recording stops there (docs/zoom.md#concurrency). The host accepts.
    sent: list = []
    ended: list[dict[str, Any]] = []
    live = sorted(world.live_meetings(host), key=lambda m: m.instances[-1].started_at)
    while live and len(live) >= world.concurrency(host):
        running = live.pop(0)
        old = running.instances[-1]
        old.ended_at = world.now()
        running.status = "waiting"
        sent += em.webhooks.emit(webhooks.meeting_event(world, "meeting.ended", running, old))
        ended.append({"id": running.id, "uuid": old.uuid, "ended_at": iso(old.ended_at)})
    # The first start uses the uuid the meeting was created with; each later one gets a new uuid.
    if meeting.uuid_used:
        meeting.uuid = world.new_uuid()
    meeting.uuid_used = True
    instance = Instance(meeting.uuid, meeting.id, world.now(), share_token=world.new_secret(24),
                        play_passcode=world.new_secret(6))
    meeting.instances.append(instance)
    world.instances[instance.uuid] = instance
    meeting.status = "started"
    sent += em.webhooks.emit(webhooks.meeting_event(world, "meeting.started", meeting, instance))
    return await _answer(request, {"id": meeting.id, "uuid": instance.uuid,
                                   "started_at": iso(instance.started_at),
                                   "ended_running": ended}, sent)


async def end_meeting(request: web.Request) -> web.Response:
    em = emulator(request)
    world = em.world
    meeting = _meeting(world, request.match_info["meeting_id"])
    if meeting.status != "started":
        raise ControlError(409, "not_started", f"meeting {meeting.id} is not in progress")
    instance = meeting.instances[-1]
    instance.ended_at = world.now()
    meeting.status = "waiting"
    sent = participants.leave_everyone(em, meeting, instance, instance.ended_at)
    sent += em.webhooks.emit(webhooks.meeting_event(world, "meeting.ended", meeting, instance))
    return await _answer(request, {"id": meeting.id, "uuid": instance.uuid,
                                   "ended_at": iso(instance.ended_at)}, sent)


def _ended_instance(meeting: Meeting, body: dict[str, Any]) -> Instance:
    ended = [i for i in meeting.instances if i.ended_at is not None]
    if "uuid" in body:
        ended = [i for i in ended if i.uuid == body["uuid"]]
    if not ended:
        raise ControlError(409, "not_ended",
                           f"meeting {meeting.id} has no ended instance to record; end it first")
    return ended[-1]


def _refuse_basic(world: World, meeting: Meeting) -> None:
    host = world.users[meeting.host_id]
    if host.type == USER_BASIC:
        raise ControlError(409, "no_cloud_recording",
                           "The host is a Basic (type 1) user: Zoom makes no cloud recording, so "
                           "there are no files and no recording webhooks.")
    if not host.recording.get("cloud_recording"):
        raise ControlError(409, "cloud_recording_disabled",
                           "Cloud recording is switched off for the host: Zoom makes no cloud "
                           "recording, so there are no files and no recording webhooks.")


def _refuse_untranscribed(world: World, meeting: Meeting) -> None:
    if not world.users[meeting.host_id].recording.get("recording_audio_transcript"):
        raise ControlError(409, "transcription_disabled",
                           "Audio transcription is switched off for the host: Zoom makes no "
                           "transcript and sends no recording.transcript_completed.")


async def complete_recording(request: web.Request) -> web.Response:
    """Body: {"files": ["MP4", {"file_type": "M4A", "size": 1234}, ...], "uuid"?: instance}."""
    em = emulator(request)
    world = em.world
    meeting = _meeting(world, request.match_info["meeting_id"])
    _refuse_basic(world, meeting)
    body = await _body(request)
    instance = _ended_instance(meeting, body)
    if instance.recording_done:
        raise ControlError(409, "already_recorded", f"instance {instance.uuid} already recorded")
    specs = body.get("files") or DEFAULT_RECORDING_FILES
    if not world.users[meeting.host_id].recording.get("recording_audio_transcript"):
        # transcription off: Zoom renders the other files and no transcript
        specs = [f for f in specs
                 if (f if isinstance(f, str) else f.get("file_type")) != "TRANSCRIPT"]
    made = files.add_files(world, instance, specs)
    if world.config.participant_audio or body.get("participant_audio"):
        # One audio file per person who was in the meeting, named the way Zoom names them.
        host = world.users[meeting.host_id]
        joined = list(dict.fromkeys(j.name for j in instance.participants))
        names = body.get("participants") or joined or [host.display_name, "Sam Participant"]
        files.add_participant_audio(world, instance, [f"Audio only - {n}" for n in names])
    instance.recording_done = True
    if any(f.file_type == "TRANSCRIPT" for f in made):
        instance.transcript_done = True
    base = base_url(request)
    batches = [[f] for f in made] if world.webhook.per_file_recording_events else [made]
    sent, tokens = [], []
    for n, batch in enumerate(batches):
        token = files.grant_download(world, instance, "download_token",
                                     world.config.download_token_ttl)
        tokens.append(token)
        sent += em.webhooks.emit(webhooks.recording_event(
            world, "recording.completed", meeting, instance, batch, base, token))
    return await _answer(request, {
        "uuid": instance.uuid, "download_token": tokens[0],
        "files": [_file_view(instance, f, base) for f in made],
        "participant_files": [{**_file_view(instance, f, base), "file_name": f.file_name}
                              for f in instance.participant_files],
        "participant_audio_files": [files.participant_file_json(instance, f, base)
                                    for f in instance.participant_files]}, sent)


async def complete_transcript(request: web.Request) -> web.Response:
    """Body: {"size"?: bytes, "uuid"?: instance}. May come before or after the recording."""
    em = emulator(request)
    world = em.world
    meeting = _meeting(world, request.match_info["meeting_id"])
    _refuse_basic(world, meeting)
    _refuse_untranscribed(world, meeting)
    body = await _body(request)
    instance = _ended_instance(meeting, body)
    if instance.transcript_done:
        raise ControlError(409, "already_transcribed", f"instance {instance.uuid} has a transcript")
    spec = {"file_type": "TRANSCRIPT", **({"size": body["size"]} if "size" in body else {})}
    made = files.add_files(world, instance, [spec])
    instance.transcript_done = True
    token = None
    if world.config.transcript_download_token:
        token = files.grant_download(world, instance, "download_token",
                                     world.config.download_token_ttl)
    base = base_url(request)
    sent = em.webhooks.emit(webhooks.recording_event(
        world, "recording.transcript_completed", meeting, instance, made, base, token))
    return await _answer(request, {"uuid": instance.uuid, "download_token": token,
                                   "files": [_file_view(instance, f, base) for f in made]}, sent)


async def deauthorize(request: web.Request) -> web.Response:
    """The user uninstalls the app: tokens die, app_deauthorized goes out.
    Body: {"user": email or id, "client_id"?, "user_data_retention"?: bool}."""
    em = emulator(request)
    world = em.world
    body = await _body(request)
    user = world.find_user(str(body.get("user", "")))
    if user is None:
        raise ControlError(404, "not_found", f"no user {body.get('user')!r}")
    client = world.clients.get(body.get("client_id", DEFAULT_CLIENT_ID))
    if client is None:
        raise ControlError(404, "not_found", "no such client")
    grants = world.grants_of(client.client_id, user.id)
    for grant in grants:
        world.kill_grant(grant)
    sent = em.webhooks.emit_deauthorized(user, client, bool(body.get("user_data_retention")))
    return await _answer(request, {"user_id": user.id, "had_authorization": bool(grants)}, sent)


# --- faults and logs ---------------------------------------------------------------------------


async def list_faults(request: web.Request) -> web.Response:
    return json_response([r.as_dict() for r in emulator(request).faults.rules])


async def add_fault(request: web.Request) -> web.Response:
    rule = emulator(request).faults.add(FaultRule.from_json(await _body(request)))
    return json_response(rule.as_dict(), 201)


async def clear_faults(request: web.Request) -> web.Response:
    emulator(request).faults.clear()
    return json_response({"status": "cleared"})


async def delete_fault(request: web.Request) -> web.Response:
    if not emulator(request).faults.remove(int(request.match_info["fault_id"])):
        raise ControlError(404, "not_found", "no such fault rule")
    return json_response({"status": "deleted"})


async def deliveries(request: web.Request) -> web.Response:
    """The delivery log; ?event= filters, ?wait=true first waits for pending deliveries."""
    em = emulator(request)
    settled = True
    if _flag(request, "wait"):
        settled = await em.webhooks.settle(float(request.query.get("timeout", 30)))
    event = request.query.get("event")
    items = [d.as_dict() for d in em.webhooks.deliveries if event in (None, d.event)]
    return json_response({"settled": settled, "deliveries": items})


async def stats(request: web.Request) -> web.Response:
    return json_response(emulator(request).stats.as_dict())


async def requests_log(request: web.Request) -> web.Response:
    return json_response(list(emulator(request).stats.log))


def routes() -> list[web.RouteDef]:
    p = "/_emulator"
    return [
        web.post(f"{p}/reset", reset),
        web.get(f"{p}/config", get_config),
        web.patch(f"{p}/config", patch_config),
        web.post(f"{p}/clock", clock),
        web.get(f"{p}/accounts", list_accounts),
        web.post(f"{p}/accounts", create_account),
        web.post(f"{p}/users", create_user),
        web.patch(f"{p}/users/{{user}}", update_user),
        web.patch(f"{p}/users/{{user}}/settings", update_user_settings),
        web.post(f"{p}/clients", create_client),
        web.get(f"{p}/clients/{{client_id}}", get_client),
        web.post(f"{p}/clients/{{client_id}}/redirect_uris", add_redirect_uri),
        web.get(f"{p}/webhook", get_webhook),
        web.put(f"{p}/webhook", put_webhook),
        web.post(f"{p}/webhook/validate", validate_webhook),
        web.get(f"{p}/meetings", list_meetings),
        web.post(f"{p}/meetings/{{meeting_id}}/start", start_meeting),
        web.post(f"{p}/meetings/{{meeting_id}}/end", end_meeting),
        web.post(f"{p}/meetings/{{meeting_id}}/recording", complete_recording),
        web.post(f"{p}/meetings/{{meeting_id}}/transcript", complete_transcript),
        *participants.control_routes(p),
        web.post(f"{p}/deauthorize", deauthorize),
        web.get(f"{p}/faults", list_faults),
        web.post(f"{p}/faults", add_fault),
        web.delete(f"{p}/faults", clear_faults),
        web.delete(f"{p}/faults/{{fault_id}}", delete_fault),
        web.get(f"{p}/deliveries", deliveries),
        web.get(f"{p}/stats", stats),
        web.get(f"{p}/requests", requests_log),
    ]
