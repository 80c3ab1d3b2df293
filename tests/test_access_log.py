"""One access line per request with the request id, echoed in the response and carried into the
booking workflow's memo; no key in the line; a latency sample per route and status."""

from __future__ import annotations

import json

from metrics import API_REGISTRY as REGISTRY

from tests.bookings.helpers import new_org_with_session


def access_lines(caplog) -> list[dict]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == "api.access"]


async def test_each_request_logs_one_line_and_echoes_its_id(api, caplog):
    org_id, headers, _ = await new_org_with_session(api, "Logged Ltd")
    key = headers["Authorization"].split()[1]
    with caplog.at_level("INFO", logger="api.access"):
        r = await api.http.get(f"/v1/orgs/{org_id}/integrations/zoom",
                               headers={**headers, "X-Request-Id": "req-abc12345"})
        missing = await api.http.get(f"/v1/orgs/{org_id}/bookings/nope", headers=headers)
        odd = await api.http.get("/healthz", headers={"X-Request-Id": "bad id with spaces"})
    assert r.headers["X-Request-Id"] == "req-abc12345"
    assert missing.status_code == 404 and len(missing.headers["X-Request-Id"]) == 16
    assert odd.headers["X-Request-Id"] != "bad id with spaces"
    lines = access_lines(caplog)
    mine = [line for line in lines if line["request_id"] == "req-abc12345"]
    assert mine == [{"method": "GET", "route": "/v1/orgs/{org}/integrations/zoom", "status": 200,
                     "ms": mine[0]["ms"], "org_id": org_id, "request_id": "req-abc12345"}]
    assert any(line["status"] == 404 and line["route"] == "/v1/orgs/{org}/bookings/{booking}"
               for line in lines)
    assert key not in caplog.text
    assert REGISTRY.get_sample_value("converge_http_request_seconds_count", {
        "route": "/v1/orgs/{org}/bookings/{booking}", "method": "GET", "status": "404"}) >= 1
