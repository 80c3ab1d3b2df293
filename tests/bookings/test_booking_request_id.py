"""The API request that made a booking is named in its workflow's memo (the access log's id)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from tests.bookings.helpers import new_org_with_session


async def test_the_request_id_reaches_the_booking_workflow_memo(api, idi_worker):
    org_id, headers, session_id = await new_org_with_session(api, "Memo Ltd")
    start = (datetime.now(timezone.utc) + timedelta(days=3)).replace(microsecond=0)
    r = await api.http.post(f"/v1/orgs/{org_id}/sessions/{session_id}/bookings", headers={
        **headers, "X-Request-Id": "req-memo-0001"}, json={
        "participant_name": "Pat Doe", "participant_email": "pat@example.com",
        "start_time": start.isoformat().replace("+00:00", "Z"), "duration_minutes": 30})
    assert r.status_code == 202, r.text
    handle = api.services._temporal.get_workflow_handle(r.json()["workflow_id"])
    memo = await (await handle.describe()).memo()
    assert memo == {"request_id": "req-memo-0001"}
