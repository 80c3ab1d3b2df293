"""Ending a connection: the org disconnects, or the Zoom user removes the app (signed webhook).

Both destroy the tokens and keep every meeting and recording (docs/promises.md#7-disconnecting-deletes-no-history); a webhook with a bad
or missing signature changes nothing (docs/promises.md#5-webhooks-are-signed-answered-fast-and-applied-once, first half).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import timedelta

import httpx
from sqlmodel import select

from models import Booking, IdiSession, Meeting, RecordingFile, utcnow
from tests.helpers import start_api
from tests.connections.helpers import (
    WEBHOOK_SECRET,
    connect,
    deauthorized,
    fresh_zoom_user,
    row_of,
    signed,
    tokens_of,
    works,
)
from zoom.webhooks import sign
from connections.disconnect import handle_app_deauthorized

async def add_history(services, org_id: str, connection_id: str) -> tuple[str, str]:
    """A past interview under the org's Zoom: session, booking, meeting, one stored recording."""
    now = utcnow()
    async with services.db.session() as s:
        session = IdiSession(org_id=org_id, title="Past interviews")
        booking = Booking(org_id=org_id, session_id=session.id, participant_name="P", status="completed",
                          participant_email="p@example.test", start_time=now - timedelta(days=1),
                          duration_minutes=30)
        meeting = Meeting(booking_id=booking.id, org_id=org_id, zoom_meeting_id="81234567890",
                          host_kind="org", connection_id=connection_id, start_time=booking.start_time,
                          duration_minutes=30)
        recording = RecordingFile(meeting_id=meeting.id, booking_id=booking.id, org_id=org_id,
                                  zoom_file_id="file-1", file_type="MP4", status="stored", size_bytes=10)
        for row in (session, booking, meeting, recording):
            s.add(row)
            await s.flush()
        await s.commit()
    return meeting.id, recording.id


async def history_of(services, meeting_id: str, recording_id: str):
    async with services.db.session() as s:
        meeting = (await s.exec(select(Meeting).where(Meeting.id == meeting_id))).first()
        recording = (await s.exec(select(RecordingFile).where(RecordingFile.id == recording_id))).first()
    return meeting, recording


async def test_disconnect_revokes_destroys_tokens_and_keeps_meetings(api, emulator):
    org_id, headers = await api.new_org("Leaving Ltd")
    row = await connect(api, emulator, org_id, headers, "gina@globex.test")
    access, refresh = tokens_of(api.services, row)
    meeting_id, recording_id = await add_history(api.services, org_id, row.id)
    revokes = (await emulator.control.stats())["routes"].get("POST /oauth/revoke", 0)

    r = await api.http.delete(f"/v1/orgs/{org_id}/integrations/zoom", headers=headers)

    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["status"], body["zoom_revoke"]) == ("disconnected", "revoked")
    assert (await emulator.control.stats())["routes"]["POST /oauth/revoke"] == revokes + 1
    assert not await works(emulator, access)
    stored = await row_of(api.services, org_id)
    assert stored.access_token_enc is None and stored.refresh_token_enc is None
    assert stored.status == "disconnected" and stored.disconnected_at is not None
    meeting, recording = await history_of(api.services, meeting_id, recording_id)
    assert meeting.connection_id == row.id and recording.status == "stored"
    status = (await api.http.get(f"/v1/orgs/{org_id}/integrations/zoom", headers=headers)).json()
    assert status["status"] == "disconnected"

    again = await api.http.delete(f"/v1/orgs/{org_id}/integrations/zoom", headers=headers)
    assert again.status_code == 404 and again.json()["error"]["code"] == "zoom_not_connected"

    back = await connect(api, emulator, org_id, headers, "gina@globex.test")
    assert back.id == row.id and back.status == "active" and back.disconnected_at is None
    assert (await history_of(api.services, meeting_id, recording_id))[0].connection_id == row.id


async def test_a_failed_revoke_still_disconnects_and_says_so(api, emulator):
    org_id, headers = await api.new_org("Revoke Trouble Ltd")
    await connect(api, emulator, org_id, headers, "gina@globex.test")
    await emulator.control.add_fault("/oauth/revoke", status=503, count=5)

    r = await api.http.delete(f"/v1/orgs/{org_id}/integrations/zoom", headers=headers)

    assert r.status_code == 200, r.text
    assert r.json()["zoom_revoke"] == "failed" and "Added Apps" in r.json()["message"]
    stored = await row_of(api.services, org_id)
    assert stored.status == "disconnected" and stored.access_token_enc is None and stored.refresh_token_enc is None


async def test_disconnect_without_a_connection_is_404(api):
    org_id, headers = await api.new_org("Nothing To Drop Ltd")
    r = await api.http.delete(f"/v1/orgs/{org_id}/integrations/zoom", headers=headers)
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "zoom_not_connected" and "nothing was changed" in r.json()["error"]["message"]


async def test_removing_the_app_in_zoom_revokes_through_the_signed_webhook(api, emulator):
    org_id, headers = await api.new_org("Uninstalled Ltd")
    email = await fresh_zoom_user(emulator)
    row = await connect(api, emulator, org_id, headers, email)
    meeting_id, recording_id = await add_history(api.services, org_id, row.id)
    await emulator.control.set_webhook(f"{api.url}/v1/zoom/webhooks", WEBHOOK_SECRET)
    try:
        sent = await emulator.control.deauthorize(email, wait=True)
    finally:
        await emulator.control.set_webhook(None)

    assert sent["settled"] and [a["status"] for a in sent["deliveries"][0]["attempts"]] == [200]
    stored = await row_of(api.services, org_id)
    assert (stored.status, stored.status_reason) == ("revoked", "app_deauthorized")
    assert stored.access_token_enc is None and stored.refresh_token_enc is None
    meeting, recording = await history_of(api.services, meeting_id, recording_id)
    assert meeting is not None and recording is not None
    status = (await api.http.get(f"/v1/orgs/{org_id}/integrations/zoom", headers=headers)).json()
    assert (status["status"], status["status_reason"]) == ("revoked", "app_deauthorized")
    # The same event again, or one for another app, changes nothing.
    assert await handle_app_deauthorized(api.services, deauthorized(stored)["payload"]) == 0
    other_app = {**deauthorized(stored)["payload"], "client_id": "someone-elses-app"}
    assert await handle_app_deauthorized(api.services, other_app) == 0


async def test_a_badly_signed_webhook_is_refused_and_changes_nothing(api, emulator):
    org_id, headers = await api.new_org("Forged Uninstall Ltd")
    row = await connect(api, emulator, org_id, headers, "gina@globex.test")
    raw, good = signed(deauthorized(row))
    _, stale = signed(deauthorized(row), timestamp=int(time.time()) - 3 * 3600)
    attempts = [
        {**good, "x-zm-signature": sign("wrong-secret", good["x-zm-request-timestamp"], raw)},
        {"Content-Type": "application/json"},  # no signature at all
        {**good, "x-zm-signature": "v0=" + "0" * 64},
        stale,  # correctly signed, but three hours old
    ]

    answers = [await api.http.post("/v1/zoom/webhooks", content=raw, headers=h) for h in attempts]
    tampered = await api.http.post("/v1/zoom/webhooks", content=raw.replace(b"emu-client-id", b"emu-client-iX"),
                                   headers=good)

    for r in answers + [tampered]:
        assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_signature"
    stored = await row_of(api.services, org_id)
    assert stored.status == "active" and stored.token_version == row.token_version


async def test_url_validation_other_events_and_the_previous_secret(api, emulator):
    settings = api.services.settings.model_copy(update={"zoom_webhook_secret_token": "new-secret",
                                                       "zoom_webhook_secret_token_previous": WEBHOOK_SECRET})
    rotated = type(api.services)(**{**api.services.__dict__, "settings": settings})
    runner, url = await start_api(rotated)
    org_id, headers = await api.new_org("Rotation Ltd")
    row = await connect(api, emulator, org_id, headers, await fresh_zoom_user(emulator))
    try:
        async with httpx.AsyncClient(base_url=url) as c:
            raw, h = signed({"event": "endpoint.url_validation", "payload": {"plainToken": "abc"}}, "new-secret")
            validation = await c.post("/v1/zoom/webhooks", content=raw, headers=h)
            raw, h = signed({"event": "meeting.sharing_started", "payload": {"object": {}}}, "new-secret")
            other = await c.post("/v1/zoom/webhooks", content=raw, headers=h)
            raw, h = signed(deauthorized(row), WEBHOOK_SECRET)  # still signed with the old secret
            old_secret = await c.post("/v1/zoom/webhooks", content=raw, headers=h)
            ts = str(int(time.time()))
            garbage = await c.post("/v1/zoom/webhooks", content=b"{not json", headers={
                "x-zm-request-timestamp": ts, "x-zm-signature": sign("new-secret", ts, b"{not json")})
    finally:
        await runner.cleanup()

    assert validation.status_code == 200
    expected = hmac.new(b"new-secret", b"abc", hashlib.sha256).hexdigest()
    assert validation.json() == {"plainToken": "abc", "encryptedToken": expected}
    assert other.status_code == 200 and other.json() == {"status": "ignored"}
    assert old_secret.status_code == 200 and old_secret.json()["connections_revoked"] == 1
    assert garbage.status_code == 400 and garbage.json()["error"]["code"] == "invalid_payload"
    assert (await row_of(api.services, org_id)).status == "revoked"
