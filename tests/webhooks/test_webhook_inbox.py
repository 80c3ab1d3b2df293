"""Promise 5 (docs/promises.md#5-webhooks-are-signed-answered-fast-and-applied-once), second half: a valid webhook is stored once, answered within Zoom's 3 s whatever
Temporal is doing, and reaches its booking's workflow - duplicates once, any order, meeting ids as
strings or numbers - or waits in the inbox until it can. The booking's workflow is played by a
SignalRecorder under the booking's workflow id on the real Temporal dev server."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from datetime import datetime, timezone

import httpx
import pytest
from sqlalchemy import update
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from models import WebhookEvent
from tests.helpers import start_api
from tests.webhooks.helpers import (
    booked_meeting,
    compact,
    headers_for,
    inbox_rows,
    meeting_event,
    new_meeting_id,
    new_uuid,
    post_signed,
    recorder,
    recording_event,
    rows_once,
    seen,
)
from tests.webhooks.tcp_proxy import TcpProxy
from token_cipher import DecryptionError
from api.webhooks.sweeper import InboxSweeper

ZOOM_TIMEOUT = httpx.Timeout(3.0)  # Zoom gives up on an answer after 3 s, and so does this client


async def test_a_recording_event_is_stored_without_secrets_and_signalled_with_ids_only(api, temporal_env):
    m = await booked_meeting(api.services)
    uuid = new_uuid()
    async with recorder(temporal_env.client, m.booking_id) as wf:
        r = await post_signed(api.http, recording_event(m.zoom_meeting_id, uuid, ("MP4", "TRANSCRIPT")))
        [signal] = await seen(wf, 1)
    assert r.status_code == 200 and r.json()["route_status"] == "pending", r.text  # signalled after the answer
    [row] = await rows_once(api.services, m.zoom_meeting_id, lambda rows: rows[0].route_status != "pending")
    assert (row.booking_id, row.route_status, row.event_type) == (m.booking_id, "routed", "recording.completed")
    stored = str(row.payload)
    for secret in ("dl-token-secret-123", "meeting-passcode-42", "play-passcode-42"):
        assert secret not in stored
    cipher = api.services.cipher
    assert cipher.decrypt(row.download_token_enc, table="webhook_events", row_id=row.id,
                          field="download_token_enc") == "dl-token-secret-123"
    with pytest.raises(DecryptionError):  # bound to its row: useless anywhere else
        cipher.decrypt(row.download_token_enc, table="webhook_events", row_id="another-row",
                       field="download_token_enc")
    assert (signal.event_id, signal.event_type, signal.zoom_meeting_uuid) == (row.id, "recording.completed", uuid)
    assert sorted(signal.file_ids) == sorted(f"{k}-{uuid[:8]}" for k in ("mp4", "transcript"))
    assert "dl-token-secret-123" not in signal.model_dump_json()


async def test_duplicates_have_no_second_effect_and_any_order_is_fine(api, temporal_env):
    m = await booked_meeting(api.services)
    uuid = new_uuid()
    recording = compact(recording_event(m.zoom_meeting_id, uuid))
    ended = meeting_event("meeting.ended", m.zoom_meeting_id, uuid)
    async with recorder(temporal_env.client, m.booking_id) as wf:
        first = await api.http.post("/v1/zoom/webhooks", content=recording, headers=headers_for(recording))
        # Zoom's retry of the same event, signed again a minute later.
        again = await api.http.post("/v1/zoom/webhooks", content=recording,
                                    headers=headers_for(recording, timestamp=int(time.time()) + 60))
        started = await post_signed(api.http, meeting_event("meeting.started", m.zoom_meeting_id, uuid))
        ended_1 = await post_signed(api.http, ended)
        ended["event_ts"] += 5000  # a redelivery whose envelope differs: still the same event
        ended_2 = await post_signed(api.http, ended)
        signals = await seen(wf, 3)
        await asyncio.sleep(0.3)
        assert len(await wf.query("seen")) == 3  # nothing more came
    assert [r.status_code for r in (first, again, started, ended_1, ended_2)] == [200] * 5
    assert (first.json()["status"], again.json()["status"], ended_2.json()["status"]) == \
        ("stored", "duplicate", "duplicate")
    assert again.json()["event_id"] == first.json()["event_id"]
    assert [s.event_type for s in signals] == ["recording.completed", "meeting.started", "meeting.ended"]
    rows = await rows_once(api.services, m.zoom_meeting_id,
                           lambda rows: "pending" not in {r.route_status for r in rows})
    assert len(rows) == 3 and {r.route_status for r in rows} == {"routed"}


async def test_string_and_number_meeting_ids_route_to_the_same_booking(api, temporal_env):
    m = await booked_meeting(api.services)
    uuid = new_uuid()
    async with recorder(temporal_env.client, m.booking_id) as wf:
        ended = meeting_event("meeting.ended", m.zoom_meeting_id, uuid)
        ended["payload"]["object"]["id"] = f" 0{m.zoom_meeting_id}"  # a string, padded
        await post_signed(api.http, ended)
        await post_signed(api.http, recording_event(m.zoom_meeting_id, uuid))  # a number
        signals = await seen(wf, 2)
    assert {s.event_type for s in signals} == {"meeting.ended", "recording.completed"}
    assert {r.booking_id for r in await inbox_rows(api.services, m.zoom_meeting_id)} == {m.booking_id}


async def test_an_event_for_a_meeting_this_service_did_not_make_is_kept_unrouted(api):
    mid = new_meeting_id()
    r = await post_signed(api.http, recording_event(mid, new_uuid()))
    assert r.status_code == 200 and r.json()["route_status"] == "unrouted"
    [row] = await inbox_rows(api.services, mid)
    assert row.booking_id is None and row.route_status == "unrouted"


async def test_a_webhook_for_a_meeting_created_a_moment_ago_reaches_it(api, temporal_env):
    """Right after the meeting's row is saved, and also when the event beat the row to the
    database: then it waits unrouted and the sweeper matches it once the meeting exists."""
    m = await booked_meeting(api.services)
    early_mid = new_meeting_id()
    async with recorder(temporal_env.client, m.booking_id) as wf:
        r = await post_signed(api.http, meeting_event("meeting.started", m.zoom_meeting_id, new_uuid()))
        assert r.json()["route_status"] == "pending"  # the booking is found; the signal follows
        await seen(wf, 1)
    early = await post_signed(api.http, meeting_event("meeting.started", early_mid, new_uuid()))
    assert early.json()["route_status"] == "unrouted"
    late = await booked_meeting(api.services, early_mid)  # the meeting's row lands after its event
    async with recorder(temporal_env.client, late.booking_id) as wf:
        await InboxSweeper(api.services).sweep_once()
        [signal] = await seen(wf, 1)
    [row] = await inbox_rows(api.services, early_mid)
    assert (row.booking_id, row.route_status, signal.event_id) == (late.booking_id, "routed", row.id)


async def test_an_event_for_a_finished_booking_is_closed_not_an_error(api):
    m = await booked_meeting(api.services)  # no workflow runs under its id
    r = await post_signed(api.http, recording_event(m.zoom_meeting_id, new_uuid()))
    assert r.status_code == 200 and r.json()["route_status"] == "pending"
    [row] = await rows_once(api.services, m.zoom_meeting_id, lambda rows: rows[0].route_status != "pending")
    assert row.route_status == "closed" and row.last_error is None


@pytest.mark.parametrize("failure", ["down", "hang"])
async def test_temporal_unavailable_nothing_is_lost_and_the_sweeper_delivers_later(api, services, temporal_env, failure):
    """Temporal refuses connections (down) or takes them and never answers (hang) while Zoom's
    webhooks arrive: each is answered within 3 s and kept pending; once Temporal is back the
    sweeper delivers them, in the order they came."""
    proxy = await TcpProxy(temporal_env.client.service_client.config.target_host).start()
    client = await Client.connect(proxy.address, namespace=temporal_env.client.namespace,
                                  data_converter=pydantic_data_converter)
    svc = dataclasses.replace(services, _temporal=client, _temporal_lock=asyncio.Lock(), _tokens=None)
    runner, url = await start_api(svc)
    m = await booked_meeting(services)
    uuid = new_uuid()
    sweeper = InboxSweeper(svc, max_backoff=0.2)
    try:
        async with recorder(temporal_env.client, m.booking_id) as wf:
            getattr(proxy, failure)()
            async with httpx.AsyncClient(base_url=url, timeout=ZOOM_TIMEOUT) as zoom:
                answers = [await post_signed(zoom, meeting_event("meeting.ended", m.zoom_meeting_id, uuid)),
                           await post_signed(zoom, recording_event(m.zoom_meeting_id, uuid))]
            assert [a.json()["route_status"] for a in answers] == ["pending", "pending"]
            rows = await rows_once(services, m.zoom_meeting_id, lambda rows: all(r.attempts for r in rows))
            assert [(r.route_status, r.attempts) for r in rows] == [("pending", 1), ("pending", 1)]
            assert all(r.last_error for r in rows)
            await asyncio.sleep(0.3)
            assert await sweeper.sweep_once() == 0  # still unavailable: nothing delivered, nothing lost
            assert await wf.query("seen") == []

            proxy.up()
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 30
            while {r.route_status for r in await inbox_rows(services, m.zoom_meeting_id)} != {"routed"}:
                assert loop.time() < deadline, "the sweeper never delivered"
                await asyncio.sleep(0.25)
                await sweeper.sweep_once()
            signals = await seen(wf, 2)
    finally:
        await runner.cleanup()
        await proxy.close()
    assert [s.event_type for s in signals] == ["meeting.ended", "recording.completed"]
    rows = await inbox_rows(services, m.zoom_meeting_id)
    assert {r.route_status for r in rows} == {"routed"} and all(r.attempts >= 2 for r in rows)


async def test_the_sweeper_processes_a_pending_app_deauthorized(api, emulator):
    from tests.connections.helpers import connect, fresh_zoom_user, row_of

    org_id, headers = await api.new_org("Sweeper Deauth Ltd")
    row = await connect(api, emulator, org_id, headers, await fresh_zoom_user(emulator))
    body = {"event": "app_deauthorized", "payload": {
        "account_id": row.zoom_account_id, "user_id": row.zoom_user_id, "client_id": "emu-client-id",
        "deauthorization_time": datetime.now(timezone.utc).isoformat(), "signature": "x", "event_ts": 1}}
    r = await post_signed(api.http, body)
    assert r.json() == {"status": "processed", "connections_revoked": 1}
    # As if the API had died between storing and processing: the row is pending again.
    async with api.services.db.session() as s:
        await s.exec(update(WebhookEvent).where(WebhookEvent.event_type == "app_deauthorized",
                                                 WebhookEvent.dedupe_key.contains(row.zoom_user_id))
                     .values(route_status="pending", next_attempt_at=None))
        await s.commit()
    assert await InboxSweeper(api.services).sweep_once() >= 1
    again = await post_signed(api.http, body)  # Zoom's retry: stored once, handled idempotently
    assert again.json() == {"status": "processed", "connections_revoked": 0}
    assert (await row_of(api.services, org_id)).status == "revoked"


async def test_an_event_is_acknowledged_before_it_is_signalled_and_still_delivered(api, temporal_env):
    """Zoom's answer waits only for the inbox commit: with the app's delivery held back, the
    webhook is answered, its row is pending and the workflow has nothing; let go, the signal
    arrives and the row is marked routed."""
    from api.webhooks.intake import DELIVERY

    runner, url = await start_api(api.services)
    delivery = runner.app[DELIVERY]
    gate = asyncio.Event()
    deliver_batch = delivery.deliver_batch

    async def held(items):
        await gate.wait()
        await deliver_batch(items)

    delivery.deliver_batch = held
    m = await booked_meeting(api.services)
    try:
        async with recorder(temporal_env.client, m.booking_id) as wf:
            async with httpx.AsyncClient(base_url=url, timeout=ZOOM_TIMEOUT) as zoom:
                r = await post_signed(zoom, recording_event(m.zoom_meeting_id, new_uuid()))
            assert r.status_code == 200 and r.json()["status"] == "stored", r.text
            [row] = await inbox_rows(api.services, m.zoom_meeting_id)
            assert (row.route_status, row.attempts, row.booking_id) == ("pending", 0, m.booking_id)
            assert await wf.query("seen") == []  # answered, not yet signalled

            gate.set()
            [signal] = await seen(wf, 1)
            await delivery.join()
        [row] = await inbox_rows(api.services, m.zoom_meeting_id)
        assert (row.route_status, row.attempts, signal.event_id) == ("routed", 1, row.id)
    finally:
        gate.set()
        await runner.cleanup()


async def test_events_that_wait_together_are_signalled_and_marked_in_batches(api, temporal_env):
    """Events stored while the delivery is busy go out together: every one reaches the workflow
    once, in the order they came, and every row is marked routed, in fewer marking rounds than
    there are events."""
    from api.webhooks.intake import DELIVERY

    runner, url = await start_api(api.services)
    delivery = runner.app[DELIVERY]
    gate = asyncio.Event()
    deliver_batch, batches = delivery.deliver_batch, []

    async def held(items):
        batches.append(len(items))
        await gate.wait()
        await deliver_batch(items)

    delivery.deliver_batch = held
    m = await booked_meeting(api.services)
    count = 2 * delivery.workers + 4
    try:
        async with recorder(temporal_env.client, m.booking_id) as wf:
            async with httpx.AsyncClient(base_url=url, timeout=ZOOM_TIMEOUT) as zoom:
                answers = [await post_signed(zoom, recording_event(m.zoom_meeting_id, new_uuid()))
                           for _ in range(count)]
            assert [a.json()["status"] for a in answers] == ["stored"] * count
            gate.set()
            signals = await seen(wf, count)
            await delivery.join()
        rows = await inbox_rows(api.services, m.zoom_meeting_id)
        assert [s.event_id for s in signals] == [r.id for r in rows]  # in the order they came
        assert {(r.route_status, r.attempts) for r in rows} == {("routed", 1)}
        assert sum(batches) == count and len(batches) < count, batches
    finally:
        gate.set()
        await runner.cleanup()
