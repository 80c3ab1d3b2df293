"""Bad input is a clear 4xx with the error shape and changes nothing; never a 5xx.

Each example from the abuse run, against the real API on its port, then a property-based run
(hypothesis) over the booking, session, reschedule and webhook inputs.
"""

from __future__ import annotations

import asyncio
import json
import time
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from sqlmodel import func, select

from api.recordings import content_disposition
from models import Booking, IdiSession, RecordingFile, WebhookEvent
from tests.bookings.helpers import book, booking_body, future, new_org_with_session
from tests.webhooks.helpers import HOOK, compact, headers_for, new_meeting_id, new_uuid, recording_event
from zoom.webhooks import RecordingFile as ZoomFile


def assert_error_shape(r, status: int | None = None, code: str | None = None) -> dict:
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    if status is not None:
        assert r.status_code == status, r.text
    error = r.json()["error"]
    assert isinstance(error["code"], str) and isinstance(error["message"], str) and error["message"]
    if code is not None:
        assert error["code"] == code, error
    return error


async def count(services, model) -> int:
    async with services.db.session() as s:
        return (await s.exec(select(func.count()).select_from(model))).one()


def raw_json(body) -> bytes:
    """JSON as an attacker writes it: NUL and lone surrogates as \\u escapes (valid JSON text)."""
    return json.dumps(body, ensure_ascii=True).encode()


@pytest.fixture
async def org(api):
    org_id, headers, session_id = await new_org_with_session(api, "Abuse Run Ltd")
    return org_id, headers, session_id


async def post_booking_raw(api, org, raw: bytes, extra: dict | None = None):
    org_id, headers, session_id = org
    return await api.http.post(f"/v1/orgs/{org_id}/sessions/{session_id}/bookings", content=raw,
                               headers={**headers, "Content-Type": "application/json", **(extra or {})})


@pytest.mark.parametrize("field,value", [
    ("participant_name", "Pat\u0000Doe"), ("participant_name", "Pat\ud800"),
    ("participant_email", "pat\u0000@example.com"), ("participant_email", "pat\udfff@example.com"),
    ("participant_name", "Pat\nDoe"),
])
async def test_nul_lone_surrogates_and_control_characters_name_the_field(api, org, field, value):
    before = await count(api.services, Booking)
    body = booking_body(future()) | {field: value}
    r = await post_booking_raw(api, org, raw_json(body))
    error = assert_error_shape(r, 400, "invalid_text")
    assert field in error["message"]
    assert await count(api.services, Booking) == before


@pytest.mark.parametrize("text,code,status", [
    ("2026-12-01T15:00:00\u0000Z", "invalid_text", 400),          # NUL inside: the generic rule
    ("2027-W10-1T10:00:00Z", "invalid_start_time", 400),          # ISO week date
    ("2027-060T10:00:00Z", "invalid_start_time", 400),            # ordinal date
    ("9999-12-31T10:00:00Z", "start_time_too_far", 422),          # overflowed the workflow
    ("2027-01-01T10:00:00+99:00", "invalid_start_time", 400),
])
async def test_start_times_are_rfc3339_within_a_year(api, org, text, code, status):
    before = await count(api.services, Booking)
    r = await post_booking_raw(api, org, raw_json(booking_body(future()) | {"start_time": text}))
    assert_error_shape(r, status, code)
    assert await count(api.services, Booking) == before


async def test_deeply_nested_and_huge_number_bodies_are_400(api, org):
    before = await count(api.services, Booking)
    deep = b"[" * 100_000 + b"]" * 100_000
    assert_error_shape(await post_booking_raw(api, org, deep), 400, "invalid_json")
    nested = b'{"participant_name":' + b'{"a":' * 50 + b"1" + b"}" * 50 + b"}"
    assert_error_shape(await post_booking_raw(api, org, nested), 400, "invalid_json")
    huge = b'{"participant_name":"P","participant_email":"p@example.com","start_time":"x","duration_minutes":' + b"9" * 5000 + b"}"
    assert_error_shape(await post_booking_raw(api, org, huge), 400, "invalid_json")
    assert_error_shape(await post_booking_raw(api, org, b'{"duration_minutes": NaN}'), 400, "invalid_json")
    assert_error_shape(await post_booking_raw(api, org, b"\xff\xfe{}"), 400, "invalid_json")
    assert await count(api.services, Booking) == before


async def test_non_utf8_authorization_on_org_and_admin_routes_is_4xx(api, org):
    org_id, _, _ = org
    for path, method in ((f"/v1/orgs/{org_id}/integrations/zoom", "GET"), ("/v1/orgs", "POST")):
        r = await api.http.request(method, path, headers={"Authorization": b"Bearer cvg_\xff\xfe"})
        assert_error_shape(r, 400, "invalid_header")


async def raw_http(url: str, request: bytes) -> tuple[int, bytes]:
    """Send bytes an HTTP client library would refuse to send; (status, body)."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    writer.write(request)
    await writer.drain()
    data = await reader.read()
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), body


async def test_an_idempotency_key_with_a_control_character_gets_the_error_shape(api, org):
    org_id, headers, session_id = org
    before = await count(api.services, Booking)
    body = json.dumps(booking_body(future())).encode()
    request = (f"POST /v1/orgs/{org_id}/sessions/{session_id}/bookings HTTP/1.1\r\n"
               f"Host: x\r\nAuthorization: {headers['Authorization']}\r\nContent-Type: application/json\r\n"
               f"Idempotency-Key: abc\x01def\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body
    status, answer = await raw_http(api.url, request)
    assert status == 400 and json.loads(answer)["error"]["code"], answer
    tabbed = await post_booking_raw(api, org, body, {"Idempotency-Key": "abc\tdef"})
    assert_error_shape(tabbed, 400)
    assert await count(api.services, Booking) == before


async def test_webhook_bad_headers_and_signed_bad_bodies_are_4xx_and_store_nothing(api):
    before = await count(api.services, WebhookEvent)
    good = compact(recording_event(new_meeting_id(), new_uuid()))
    ok = headers_for(good)
    for name, value in (("x-zm-signature", b"v0=\xff\xfe"), ("x-zm-request-timestamp", b"17\xff")):
        r = await api.http.post(HOOK, content=good, headers={**ok, name: value})
        assert_error_shape(r)
    r = await api.http.post(HOOK, content=good, headers={**ok, "x-zm-request-timestamp": "9" * 5000})
    assert_error_shape(r, 401, "invalid_signature")
    uuid_nul = recording_event(new_meeting_id(), new_uuid())
    uuid_nul["payload"]["object"]["uuid"] = "abc\u0000def"
    uuid_surrogate = recording_event(new_meeting_id(), new_uuid())
    uuid_surrogate["payload"]["object"]["uuid"] = "abc\udc80"
    for raw in (b'{"event": "meeting.started", "payload": {', b"[" * 50_000, raw_json(uuid_nul),
                raw_json(uuid_surrogate), b'{"event":"meeting.started","payload":{"object":{"id":"1","uuid":"u","duration":' + b"9" * 30 + b"}}}"):
        r = await api.http.post(HOOK, content=raw, headers=headers_for(raw))
        assert_error_shape(r, 400, "invalid_payload")
    assert await count(api.services, WebhookEvent) == before


def test_file_type_and_extension_are_sanitised_at_intake_and_quoted_on_output():
    f = ZoomFile.model_validate({"file_type": 'MP4"; x=1', "file_extension": 'mp4"\r\nSet-Cookie: a=b'})
    assert (f.file_type, f.file_extension) == ("MP4x1", "mp4SetCookieab")
    old = RecordingFile(id="f1", meeting_id="m", booking_id="b1", org_id="o", zoom_file_id="z",
                        file_type='MP4"\r\nX: y', file_extension="mp4")
    header = content_disposition(old)
    assert "\r" not in header and "\n" not in header and header.count('"') == 2
    assert header.startswith('attachment; filename="b1-mp4___x__y-f1.mp4"')


# --- the property: whatever comes in, no 5xx, and a refusal changes nothing -----------------

NASTY = st.characters(exclude_categories=())  # lone surrogates, NUL, controls included
texts = st.one_of(st.text(NASTY, max_size=30), st.sampled_from([
    "Pat Doe", "pat@example.com", "2027-01-01T10:00:00Z", "9999-12-31T23:59:59Z", "", " ",
    "2026-W50-1T10:00:00Z", "\u0000", "\ud800"]))
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), texts)
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(texts, inner, max_size=4)), max_leaves=12)


def shaped(fields: list[str]):
    """Objects with the route's own fields (each with a nasty or plausible value), maybe more."""
    return st.fixed_dictionaries({}, optional={f: values for f in fields}).flatmap(
        lambda d: st.dictionaries(texts, values, max_size=2).map(lambda extra: {**extra, **d}))


bodies = lambda fields: st.one_of(shaped(fields).map(raw_json), values.map(raw_json), st.binary(max_size=64))
PROPERTY = settings(max_examples=60, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture
async def target(api):
    """An org, a session and one booking (no worker runs, so it stays `scheduling`)."""
    org_id, headers, session_id = await new_org_with_session(api, "Property Run Ltd")
    booking = await book(api, org_id, headers, session_id, future(hours=40))
    yield org_id, headers, session_id, booking
    await api.services._temporal.get_workflow_handle(booking["workflow_id"]).terminate("test over")


async def _tidy(api, r) -> None:
    if r.status_code == 202:  # an accepted booking: no worker may pick it up later
        await api.services._temporal.get_workflow_handle(r.json()["workflow_id"]).terminate("test over")


def _checked(r) -> None:
    assert r.status_code < 500, (r.status_code, r.text)
    if r.status_code >= 400:
        assert_error_shape(r)


@PROPERTY
@given(raw=bodies(["participant_name", "participant_email", "start_time", "duration_minutes"]),
       key=st.one_of(st.none(), st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=8)))
async def test_property_booking_inputs(api, target, raw, key):
    org_id, headers, session_id, _ = target
    before = await count(api.services, Booking)
    extra = {"Idempotency-Key": key} if key else {}
    r = await post_booking_raw(api, (org_id, headers, session_id), raw, extra)
    _checked(r)
    if r.status_code >= 400:
        assert await count(api.services, Booking) == before
    await _tidy(api, r)


@PROPERTY
@given(raw=bodies(["title", "kind", "meeting_provider"]))
async def test_property_session_inputs(api, target, raw):
    org_id, headers, _, _ = target
    before = await count(api.services, IdiSession)
    r = await api.http.post(f"/v1/orgs/{org_id}/sessions", content=raw,
                            headers={**headers, "Content-Type": "application/json"})
    _checked(r)
    if r.status_code >= 400:
        assert await count(api.services, IdiSession) == before


@PROPERTY
@given(raw=bodies(["start_time", "duration_minutes"]))
async def test_property_reschedule_inputs(api, target, raw):
    org_id, headers, _, booking = target
    async with api.services.db.session() as s:
        row = await s.get(Booking, booking["id"])
        before = (row.start_time, row.duration_minutes, row.status)
    r = await api.http.patch(f"/v1/orgs/{org_id}/bookings/{booking['id']}", content=raw,
                             headers={**headers, "Content-Type": "application/json"})
    _checked(r)
    async with api.services.db.session() as s:
        row = await s.get(Booking, booking["id"])
        assert (row.start_time, row.duration_minutes, row.status) == before


@PROPERTY
@given(body=st.one_of(
    shaped(["event", "event_ts", "payload"]),
    st.builds(lambda ev, obj: {"event": ev, "event_ts": int(time.time() * 1000),
                               "payload": {"account_id": "a", "object": obj}},
              st.sampled_from(["meeting.started", "meeting.ended", "recording.completed",
                               "meeting.participant_joined", "app_deauthorized"]),
              shaped(["id", "uuid", "host_id", "topic", "start_time", "duration", "recording_files"]))))
async def test_property_signed_webhooks(api, body):
    raw = raw_json(body)
    before = await count(api.services, WebhookEvent)
    r = await api.http.post(HOOK, content=raw, headers=headers_for(raw))
    _checked(r)
    if r.status_code >= 400:
        assert await count(api.services, WebhookEvent) == before


def test_the_text_check_refuses_exactly_control_characters_and_lone_surrogates():
    """The regex scan in api/input_guard.py stands for "category Cc or a surrogate": checked
    against unicodedata over every code point, so a faster check cannot let one through."""
    import unicodedata

    from api.input_guard import _problem

    for code in range(0x110000):
        ch = chr(code)
        refused = 0xD800 <= code <= 0xDFFF or unicodedata.category(ch) == "Cc"
        assert bool(_problem(f"a{ch}b", allowed=set())) == refused, hex(code)
    assert _problem("line one\nline two\ttab", allowed={"\t", "\n", "\r"}) is None
