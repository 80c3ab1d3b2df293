"""The interview record over the API: a session's bookings paged and filtered by status, the
same as CSV (with formula-looking cells neutralised), bad query values refused with a clear 400,
and the org's time zone setting. Rows are stored directly (no workflow runs)."""

from __future__ import annotations

import csv
import io

from models import Attendee, Booking
from tests.bookings.helpers import future, new_org_with_session, stored_booking


async def _bookings(api, org_id, session_id, statuses):
    made = []
    for n, status in enumerate(statuses):
        b = await stored_booking(api.services, org_id, session_id, future(hours=n + 1))
        async with api.services.db.session() as s:
            row = await s.get(Booking, b.id)
            row.status = status
            if status == "completed":
                row.attendance_status, row.attendance_source, row.interviewee_minutes = "attended", "webhooks", 25
                row.participant_name = "=HYPERLINK(\"http://evil\")"
                s.add(Attendee(booking_id=b.id, org_id=org_id, participant_key="interviewee",
                               role="interviewee", matched_by="email", display_name="Pat Participant",
                               email="pat@example.com", segments=[
                                   {"joined_at": "2030-01-01T10:00:00Z", "left_at": "2030-01-01T10:10:00Z", "source": "webhooks"},
                                   {"joined_at": "2030-01-01T10:12:00Z", "left_at": "2030-01-01T10:27:00Z", "source": "webhooks"}]))
            s.add(row)
            await s.commit()
        made.append(b.id)
    return made


async def test_list_is_paged_filtered_and_exports_csv(api):
    org_id, headers, session_id = await new_org_with_session(api, "Record Research")
    ids = await _bookings(api, org_id, session_id, ["completed", "no_show", "scheduled", "no_show", "in_progress"])
    url = f"/v1/orgs/{org_id}/sessions/{session_id}/bookings"

    seen, token = [], None
    while True:
        r = await api.http.get(url, headers=headers, params={"page_size": 2, **({"page_token": token} if token else {})})
        assert r.status_code == 200, r.text
        page = r.json()
        assert len(page["bookings"]) <= 2
        seen += [b["id"] for b in page["bookings"]]
        token = page["next_page_token"]
        if token is None:
            break
    assert seen == ids  # earliest interview first, each once

    r = await api.http.get(url, headers=headers, params={"status": "no_show,in_progress"})
    assert [b["status"] for b in r.json()["bookings"]] == ["no_show", "no_show", "in_progress"]

    done = (await api.http.get(url, headers=headers, params={"status": "completed"})).json()["bookings"][0]
    assert done["attendance"]["status"] == "attended"
    guest = done["attendance"]["participants"][0]
    assert (guest["role"], guest["minutes"], len(guest["segments"])) == ("interviewee", 25, 2)

    for r in (await api.http.get(url, headers=headers, params={"format": "csv"}),
              await api.http.get(url, headers={**headers, "Accept": "text/csv"})):
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        assert "attachment" in r.headers["content-disposition"]
        rows = list(csv.DictReader(io.StringIO(r.text)))
        assert [row["booking_id"] for row in rows] == ids  # every page
        first = rows[0]
        assert first["participant_name"].startswith("'=")  # never a live formula
        assert (first["attendance"], first["interviewee_joins"], first["interviewee_minutes"]) == ("attended", "2", "25")
        assert first["interviewee_first_joined_at"] == "2030-01-01T10:00:00+00:00"
        assert first["interviewee_last_left_at"] == "2030-01-01T10:27:00+00:00"
    only = await api.http.get(url, headers=headers, params={"format": "csv", "status": "no_show"})
    assert len(list(csv.DictReader(io.StringIO(only.text)))) == 2


async def test_bad_list_queries_get_a_clear_400(api):
    org_id, headers, session_id = await new_org_with_session(api, "Strict Research")
    url = f"/v1/orgs/{org_id}/sessions/{session_id}/bookings"
    for params, code in (({"status": "done"}, "invalid_status"), ({"page_size": "0"}, "invalid_page_size"),
                         ({"page_size": "x"}, "invalid_page_size"), ({"page_size": "201"}, "invalid_page_size"),
                         ({"page_token": "!!"}, "invalid_page_token"), ({"format": "xlsx"}, "invalid_format")):
        r = await api.http.get(url, headers=headers, params=params)
        assert r.status_code == 400, (params, r.text)
        assert r.json()["error"]["code"] == code and r.json()["error"]["message"]


async def test_org_time_zone_defaults_to_utc_and_is_settable(api):
    org_id, headers = await api.new_org("Zone Research")
    r = await api.http.get(f"/v1/orgs/{org_id}", headers=headers)
    assert r.status_code == 200 and r.json()["time_zone"] == "UTC"
    bad = await api.http.patch(f"/v1/orgs/{org_id}", headers=headers, json={"time_zone": "Mars/Olympus"})
    assert bad.status_code == 400 and "IANA" in bad.text
    assert (await api.http.get(f"/v1/orgs/{org_id}", headers=headers)).json()["time_zone"] == "UTC"
    ok = await api.http.patch(f"/v1/orgs/{org_id}", headers=headers, json={"time_zone": "America/New_York"})
    assert ok.status_code == 200 and ok.json()["time_zone"] == "America/New_York"
    other_id, other_headers = await api.new_org("Other Research")
    assert (await api.http.patch(f"/v1/orgs/{org_id}", headers=other_headers,
                                 json={"time_zone": "UTC"})).status_code == 404


async def test_openapi_lists_in_progress_no_show_and_the_csv(api):
    spec = (await api.http.get("/openapi.json")).json()
    op = spec["paths"]["/v1/orgs/{org}/sessions/{session}/bookings"]["get"]
    assert {"status", "page_size", "page_token", "format"} <= {p["name"] for p in op["parameters"]}
    assert "text/csv" in op["responses"]["200"]["content"]
    status = spec["components"]["schemas"]["BookingOut"]["properties"]["status"]["description"]
    assert "in_progress" in status and "no_show" in status
    assert "/v1/orgs/{org}" in spec["paths"] and "patch" in spec["paths"]["/v1/orgs/{org}"]


async def test_openapi_describes_the_interviewees_own_join_link(api):
    spec = (await api.http.get("/openapi.json")).json()
    meeting = spec["components"]["schemas"]["MeetingOut"]["properties"]
    assert {"join_url", "interviewee_join_url", "registration_status", "registration_reason"} <= set(meeting)
    assert "registered" in meeting["registration_status"]["description"]
    assert "host_not_licensed" in meeting["registration_reason"]["description"]
