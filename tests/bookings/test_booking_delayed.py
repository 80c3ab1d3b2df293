"""A booking still `scheduling` long after it was made says so (API and card), counts in a metric
and logs a line for ops, instead of "Creating the Zoom meeting…" for ever."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from metrics import API_REGISTRY as REGISTRY

from api.booking_views import SCHEDULING_DELAYED, SCHEDULING_DELAYED_AFTER
from models import Booking
from tests.bookings.helpers import new_org_with_session


def delayed_reads() -> float:
    return REGISTRY.get_sample_value("converge_bookings_scheduling_delayed_total") or 0.0


async def _booking(api, org_id: str, session_id: str, age: timedelta) -> str:
    now = datetime.now(timezone.utc)
    row = Booking(org_id=org_id, session_id=session_id, participant_name="Pat Doe",
                  participant_email="pat@example.com", start_time=now + timedelta(days=2),
                  duration_minutes=30, created_at=now - age, updated_at=now - age)
    async with api.services.db.session() as s:
        s.add(row)
        await s.commit()
    return row.id


async def test_a_booking_stuck_in_scheduling_says_it_is_delayed(api, caplog):
    org_id, headers, session_id = await new_org_with_session(api, "Stuck Ltd")
    fresh = await _booking(api, org_id, session_id, timedelta(seconds=5))
    stuck = await _booking(api, org_id, session_id, SCHEDULING_DELAYED_AFTER + timedelta(seconds=30))

    r = await api.http.get(f"/v1/orgs/{org_id}/bookings/{fresh}", headers=headers)
    assert r.status_code == 200 and r.json()["status_message"] is None

    before = delayed_reads()
    with caplog.at_level("WARNING", logger="api.bookings"):
        r = await api.http.get(f"/v1/orgs/{org_id}/bookings/{stuck}", headers=headers)
    body = r.json()
    assert body["status"] == "scheduling" and body["status_message"] == SCHEDULING_DELAYED
    assert "delayed" in body["status_message"] and "alerted" in body["status_message"]
    assert delayed_reads() == before + 1
    assert any(stuck in rec.getMessage() and "still scheduling" in rec.getMessage()
               for rec in caplog.records)
