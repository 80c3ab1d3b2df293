"""Promise 5 (docs/promises.md#5-webhooks-are-signed-answered-fast-and-applied-once), first half, through the real HTTP route: a webhook without a valid signature gets 401
and changes nothing; bad bodies get a clear 4xx and are not stored; the URL-validation challenge is
answered as Zoom checks it. Everything valid is stored, whatever the bytes look like."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import httpx
import pytest

from api.app import MAX_BODY_BYTES
from tests.helpers import start_api
from tests.webhooks.helpers import (
    HOOK,
    SECRET,
    compact,
    headers_for,
    inbox_rows,
    meeting_event,
    new_meeting_id,
    new_uuid,
    post_signed,
    recording_event,
)
from zoom.webhooks import sign


async def test_a_good_signature_is_stored_and_acknowledged(api):
    mid = new_meeting_id()
    r = await post_signed(api.http, meeting_event("meeting.started", mid, new_uuid()))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "stored" and r.json()["route_status"] == "unrouted"
    assert len(await inbox_rows(api.services, mid)) == 1


async def test_every_bad_signature_is_401_and_stores_nothing(api):
    mid = new_meeting_id()
    raw = compact(recording_event(mid, new_uuid()))
    good = headers_for(raw)
    now = int(time.time())
    spaced = json.dumps(json.loads(raw)).encode()  # re-serialised: ", " and ": " separators
    attempts = {
        "wrong secret": (raw, headers_for(raw, secret="not-the-secret")),
        "no signature": (raw, {k: v for k, v in good.items() if k != "x-zm-signature"}),
        "no timestamp": (raw, {k: v for k, v in good.items() if k != "x-zm-request-timestamp"}),
        "no headers": (raw, {"Content-Type": "application/json"}),
        "garbage signature": (raw, {**good, "x-zm-signature": "v0=" + "0" * 64}),
        "signature of another timestamp": (raw, {**good, "x-zm-request-timestamp": str(now - 1)}),
        "stale (3 hours)": (raw, headers_for(raw, timestamp=now - 3 * 3600)),
        "stale (just past the 90-minute window)": (raw, headers_for(raw, timestamp=now - 91 * 60)),
        "from the future (10 minutes)": (raw, headers_for(raw, timestamp=now + 600)),
        "non-numeric timestamp": (raw, headers_for(raw, timestamp="yesterday")),
        "tampered body": (raw.replace(b"1000", b"1001"), good),
        "re-serialised body, original signature": (spaced, good),
    }
    for name, (body, headers) in attempts.items():
        r = await api.http.post(HOOK, content=body, headers=headers)
        assert r.status_code == 401, (name, r.status_code, r.text)
        assert r.json()["error"]["code"] == "invalid_signature", name
    assert await inbox_rows(api.services, mid) == []


async def test_raw_bytes_are_what_is_verified_not_a_reparse(api):
    """Spacing and raw non-ASCII are fine when signed as sent; millisecond timestamps and one near
    the end of the retry window are accepted too."""
    spaced_mid, ms_mid, late_mid = new_meeting_id(), new_meeting_id(), new_meeting_id()
    spaced = json.dumps(meeting_event("meeting.started", spaced_mid, new_uuid()), indent=2,
                        ensure_ascii=False).encode()
    assert "Café".encode() in spaced
    r = await api.http.post(HOOK, content=spaced, headers=headers_for(spaced))
    assert r.status_code == 200, r.text
    ms = compact(meeting_event("meeting.started", ms_mid, new_uuid()))
    r = await api.http.post(HOOK, content=ms, headers=headers_for(ms, timestamp=int(time.time() * 1000)))
    assert r.status_code == 200, r.text
    late = compact(meeting_event("meeting.started", late_mid, new_uuid()))
    r = await api.http.post(HOOK, content=late, headers=headers_for(late, timestamp=int(time.time()) - 85 * 60))
    assert r.status_code == 200, r.text  # Zoom's last retry, +85 minutes, if it is not re-signed
    for mid in (spaced_mid, ms_mid, late_mid):
        assert len(await inbox_rows(api.services, mid)) == 1


async def test_url_validation_and_the_previous_secret_during_rotation(api, services):
    rotated = type(services)(**{**services.__dict__, "settings": services.settings.model_copy(update={
        "zoom_webhook_secret_token": "new-secret", "zoom_webhook_secret_token_previous": SECRET})})
    runner, url = await start_api(rotated)
    mid_old, mid_new = new_meeting_id(), new_meeting_id()
    try:
        async with httpx.AsyncClient(base_url=url) as c:
            challenges = {}
            for secret in ("new-secret", SECRET):
                raw = compact({"event": "endpoint.url_validation", "event_ts": 1,
                               "payload": {"plainToken": f"plain-{secret}"}})
                challenges[secret] = await c.post(HOOK, content=raw, headers=headers_for(raw, secret=secret))
            unsigned = await c.post(HOOK, content=raw, headers={"Content-Type": "application/json"})
            old = await post_signed(c, meeting_event("meeting.started", mid_old, new_uuid()), secret=SECRET)
            new = await post_signed(c, meeting_event("meeting.started", mid_new, new_uuid()), secret="new-secret")
            other = await post_signed(c, meeting_event("meeting.started", new_meeting_id(), new_uuid()),
                                      secret="a-third-secret")
    finally:
        await runner.cleanup()
    for secret, r in challenges.items():
        assert r.status_code == 200
        expected = hmac.new(secret.encode(), f"plain-{secret}".encode(), hashlib.sha256).hexdigest()
        assert r.json() == {"plainToken": f"plain-{secret}", "encryptedToken": expected}
    assert unsigned.status_code == 401  # the challenge is signed too
    assert old.status_code == 200 and new.status_code == 200 and other.status_code == 401
    assert len(await inbox_rows(services, mid_old)) == len(await inbox_rows(services, mid_new)) == 1


async def test_the_emulators_own_validation_passes(api, emulator):
    before = (await emulator.control.http.get("/_emulator/webhook")).json()
    await emulator.control.set_webhook(f"{api.url}{HOOK}", secret=SECRET)
    try:
        result = await emulator.control.validate_webhook()
    finally:
        await emulator.control.set_webhook(before.get("url"))
    assert result["passed"], result


@pytest.mark.parametrize("case", ["not json", "json array", "no event", "unknown event type",
                                  "malformed recording", "form content type", "too large"])
async def test_bad_bodies_get_a_clear_4xx_and_nothing_is_stored(api, case):
    mid = new_meeting_id()
    good = recording_event(mid, new_uuid())
    content_type = "application/json"
    expected = {"not json": (400, "invalid_payload"), "json array": (400, "invalid_payload"),
                "no event": (400, "invalid_payload"), "unknown event type": (422, "unknown_event_type"),
                "malformed recording": (400, "invalid_payload"),
                "form content type": (415, "unsupported_media_type"), "too large": (413, "body_too_large")}
    if case == "not json":
        raw = b"{\"event\": \"recording.completed\", " + str(mid).encode()
    elif case == "json array":
        raw = compact([good])  # type: ignore[arg-type]
    elif case == "no event":
        raw = compact({k: v for k, v in good.items() if k != "event"})
    elif case == "unknown event type":
        raw = compact({**good, "event": "recording.exploded"})
    elif case == "malformed recording":
        raw = compact({**good, "payload": {"account_id": "x", "object": {"id": mid}}})  # no uuid
    elif case == "form content type":
        raw, content_type = compact(good), "application/x-www-form-urlencoded"
    else:
        raw = compact({**good, "padding": "x" * MAX_BODY_BYTES})
    r = await api.http.post(HOOK, content=raw, headers=headers_for(raw, content_type=content_type))
    assert (r.status_code, r.json()["error"]["code"]) == expected[case], r.text
    assert r.json()["error"]["message"]
    assert await inbox_rows(api.services, mid) == []


async def test_a_zoom_event_not_acted_on_is_acknowledged_and_kept_as_ignored(api):
    mid = new_meeting_id()
    body = meeting_event("meeting.started", mid, new_uuid())
    body["event"] = "meeting.sharing_started"
    r = await post_signed(api.http, body)
    assert r.status_code == 200 and r.json() == {"status": "ignored"}
    [row] = await inbox_rows(api.services, mid)
    assert row.route_status == "ignored" and row.booking_id is None


async def test_openapi_documents_the_new_routes(api):
    spec = (await api.http.get("/openapi.json")).json()
    assert "/v1/orgs/{org}/bookings/{booking}/transcript" in spec["paths"]
    assert "/v1/orgs/{org}/bookings/{booking}/recordings/{recording}/content" in spec["paths"]
    hook = spec["paths"][HOOK]["post"]
    assert {"400", "401", "413", "415", "422"} <= set(hook["responses"])


def test_signature_is_hmac_of_v0_timestamp_body():
    """The test helper signs exactly as Zoom's sample does (v0:{ts}:{body})."""
    expected = "v0=" + hmac.new(b"s", b"v0:1700000000:{}", hashlib.sha256).hexdigest()
    assert sign("s", "1700000000", b"{}") == expected
