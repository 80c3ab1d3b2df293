"""REST /v2: users, meetings, errors, scopes, daily cap and QPS limits."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from tests.zoom_emulator.helpers import REDIRECT, bearer, create_meeting, s2s_headers, user_headers


async def test_users_me_for_a_user_token(http, emu):
    r = await http.get("/v2/users/me", headers=await user_headers(emu, "alex@acme.test"))
    assert r.status_code == 200
    me = r.json()
    assert me["email"] == "alex@acme.test" and me["type"] == 2
    assert (me["first_name"], me["last_name"], me["display_name"]) == ("Alex", "Rivera",
                                                                       "Alex Rivera")
    assert me["account_id"] == "emu-acme" and len(me["id"]) == 22
    basil = (await http.get("/v2/users/me", headers=await user_headers(emu, "basil@acme.test"))).json()
    nora = (await http.get("/v2/users/me", headers=await user_headers(emu, "nora@acme.test"))).json()
    assert (basil["type"], nora["type"]) == (1, 4)


async def test_user_tokens_act_only_on_their_own_user(http, emu):
    headers = await user_headers(emu, "alex@acme.test")
    me = (await http.get("/v2/users/me", headers=headers)).json()
    for ref in (me["id"], "alex@acme.test", "ALEX@acme.test"):
        assert (await http.get(f"/v2/users/{ref}", headers=headers)).status_code == 200
    r = await http.get("/v2/users/basil@acme.test", headers=headers)
    assert r.status_code == 404
    assert r.json() == {"code": 1001, "message": "User does not exist: basil@acme.test."}
    r = await http.post("/v2/users/basil@acme.test/meetings", headers=headers, json={})
    assert r.status_code == 404 and r.json()["code"] == 1001


async def test_s2s_tokens_act_on_users_of_their_account_only(http, emu):
    headers = await s2s_headers(emu)
    host1 = (await http.get("/v2/users/host1@system.converge.test", headers=headers)).json()
    assert host1["display_name"] == "Converge Host 1" and host1["type"] == 2
    assert (await http.get(f"/v2/users/{host1['id']}", headers=headers)).status_code == 200
    r = await http.get("/v2/users/alex@acme.test", headers=headers)
    assert r.status_code == 404 and r.json()["code"] == 1001
    # 'me' with S2S: refused by default, the account owner by switch (UNVERIFIED at Zoom)
    assert (await http.get("/v2/users/me", headers=headers)).json()["code"] == 1001
    await emu.control.config(s2s_me="owner")
    assert (await http.get("/v2/users/me", headers=headers)).json()["email"] == host1["email"]


async def test_create_meeting_returns_zoom_shaped_meeting(http, emu):
    headers = await user_headers(emu, "alex@acme.test")
    r = await http.post("/v2/users/me/meetings", headers=headers, json={
        "topic": "Interview", "type": 2, "start_time": "2030-05-01T09:00:00Z", "duration": 45,
        "timezone": "America/New_York", "agenda": "marker:abc",
        "settings": {"auto_recording": "cloud", "waiting_room": True}})
    assert r.status_code == 201
    m = r.json()
    assert isinstance(m["id"], int) and m["id"] > 2**32
    assert len(m["uuid"]) == 24 and m["uuid"].endswith("==")
    assert m["host_email"] == "alex@acme.test" and m["host_id"]
    assert (m["topic"], m["type"], m["duration"], m["timezone"], m["agenda"]) == (
        "Interview", 2, 45, "America/New_York", "marker:abc")
    assert m["start_time"] == "2030-05-01T09:00:00Z"
    assert m["settings"]["auto_recording"] == "cloud" and m["settings"]["waiting_room"] is True
    assert "zak=" in m["start_url"] and m["join_url"].startswith(f"{emu.base_url}/j/{m['id']}")
    assert m["password"] and m["status"] == "waiting"
    assert r.headers["Content-Location"].endswith(f"/v2/meetings/{m['id']}")
    got = (await http.get(f"/v2/meetings/{m['id']}", headers=headers)).json()
    assert got["uuid"] == m["uuid"] and got["start_url"] != m["start_url"]  # fresh each time
    # local time without Z is read in the meeting's timezone
    local = await create_meeting(http, headers, start_time="2030-01-15T09:00:00",
                                 timezone="America/New_York")
    assert local["start_time"] == "2030-01-15T14:00:00Z"


async def test_uuids_hit_the_double_encoding_rule_deterministically(http, emu):
    headers = await s2s_headers(emu)
    uuids = [(await create_meeting(http, headers, "host1@system.converge.test"))["uuid"]
             for _ in range(3)]
    assert not uuids[0].startswith("/") and "//" not in uuids[0]
    assert uuids[1].startswith("/")
    assert "//" in uuids[2]
    await emu.control.config(uuid_style="leading_slash")
    assert (await create_meeting(http, headers, "host1@system.converge.test"))["uuid"][0] == "/"


async def test_cloud_recording_is_dropped_for_basic_hosts(http, emu):
    headers = await user_headers(emu, "basil@acme.test")
    m = await create_meeting(http, headers, settings={"auto_recording": "cloud"})
    assert m["settings"]["auto_recording"] == "none"
    await emu.control.config(basic_cloud_recording="reject")
    r = await http.post("/v2/users/me/meetings", headers=headers,
                        json={"settings": {"auto_recording": "cloud"}})
    assert r.status_code == 400 and r.json()["code"] == 300


async def test_users_without_a_meetings_licence_cannot_create(http, emu):
    r = await http.post("/v2/users/me/meetings", json={"topic": "x"},
                        headers=await user_headers(emu, "nora@acme.test"))
    assert r.status_code == 400
    assert r.json() == {"code": 3161, "message": "Meeting hosting and scheduling capabilities "
                                                 "are not allowed for your user account."}


async def test_validation_errors(http, emu):
    headers = await user_headers(emu, "alex@acme.test")
    r = await http.post("/v2/users/me/meetings", headers=headers, json={
        "topic": "x" * 201, "type": 5, "start_time": "soon", "agenda": "a" * 2001,
        "password": "has space", "settings": {"auto_recording": "tape"}})
    assert r.status_code == 400
    body = r.json()
    assert body["code"] == 300 and body["message"] == "Validation Failed."
    assert {e["field"] for e in body["errors"]} == {
        "topic", "type", "start_time", "agenda", "password", "settings.auto_recording"}
    bad = await http.post("/v2/users/me/meetings", headers=headers, content=b"{not json",
                          )
    assert bad.status_code == 400 and bad.json()["code"] == 300
    assert (await emu.control.stats())["meetings_created"] == 0


async def test_update_and_delete(http, emu):
    headers = await user_headers(emu, "alex@acme.test")
    m = await create_meeting(http, headers)
    r = await http.patch(f"/v2/meetings/{m['id']}", headers=headers, json={
        "topic": "Moved", "start_time": "2030-02-02T12:00:00Z", "duration": 90,
        "settings": {"waiting_room": True}})
    assert r.status_code == 204 and r.content == b""
    got = (await http.get(f"/v2/meetings/{m['id']}", headers=headers)).json()
    assert (got["topic"], got["start_time"], got["duration"]) == ("Moved", "2030-02-02T12:00:00Z", 90)
    assert got["settings"]["waiting_room"] is True and got["settings"]["audio"] == "voip"
    assert (await http.delete(f"/v2/meetings/{m['id']}", headers=headers)).status_code == 204
    gone = await http.get(f"/v2/meetings/{m['id']}", headers=headers)
    assert gone.status_code == 404
    assert gone.json() == {"code": 3001, "message": f"Meeting does not exist: {m['id']}."}
    assert (await http.delete(f"/v2/meetings/{m['id']}", headers=headers)).status_code == 404
    assert (await http.patch(f"/v2/meetings/{m['id']}", headers=headers, json={})).status_code == 404


async def test_meetings_of_others_are_invisible(http, emu):
    alex = await user_headers(emu, "alex@acme.test")
    m = await create_meeting(http, alex)
    for headers in (await user_headers(emu, "gina@globex.test"), await s2s_headers(emu)):
        r = await http.get(f"/v2/meetings/{m['id']}", headers=headers)
        assert r.status_code == 404 and r.json()["code"] == 3001
    # S2S sees every meeting of its own account
    s2s = await s2s_headers(emu)
    sm = await create_meeting(http, s2s, "host2@system.converge.test")
    assert (await http.get(f"/v2/meetings/{sm['id']}", headers=s2s)).status_code == 200


async def test_list_meetings_pages_and_includes_agenda(http, emu):
    headers = await user_headers(emu, "alex@acme.test")
    made = [await create_meeting(http, headers, agenda=f"booking:{i}",
                                 start_time=f"2030-01-0{i + 1}T10:00:00Z") for i in range(5)]
    await create_meeting(http, headers, agenda="past", start_time="2001-01-01T10:00:00Z")
    seen, token, pages = [], "", 0
    while True:
        r = await http.get("/v2/users/me/meetings", headers=headers,
                           params={"type": "upcoming", "page_size": 2, "next_page_token": token})
        body = r.json()
        assert body["total_records"] == 5 and body["page_size"] == 2
        seen += body["meetings"]
        pages += 1
        token = body["next_page_token"]
        if not token:
            break
    assert pages == 3
    assert [m["agenda"] for m in seen] == [f"booking:{i}" for i in range(5)]
    assert {m["id"] for m in seen} == {m["id"] for m in made}
    assert set(seen[0]) >= {"uuid", "id", "host_id", "topic", "type", "start_time", "duration",
                            "timezone", "agenda", "created_at", "join_url"}
    scheduled = (await http.get("/v2/users/me/meetings", headers=headers,
                                params={"type": "scheduled", "page_size": 300})).json()
    assert scheduled["total_records"] == 6


async def test_missing_scope_is_refused_with_4700(http, emu):
    await emu.control.register_client("narrow", "narrow-secret", scopes=["user:read"],
                                      redirect_uris=[REDIRECT])
    token = await emu.control.user_token("alex@acme.test", client_id="narrow",
                                         client_secret="narrow-secret")
    headers = bearer(token["access_token"])
    assert (await http.get("/v2/users/me", headers=headers)).status_code == 200
    r = await http.post("/v2/users/me/meetings", headers=headers, json={})
    assert r.status_code == 401
    body = r.json()
    assert body["code"] == 4700
    assert body["message"].startswith("Invalid access token, does not contain scopes:[")
    assert "meeting:write" in body["message"]


async def test_missing_or_unknown_token_is_124(http):
    for headers in ({}, bearer("nonsense"), {"Authorization": "Basic abc"}):
        r = await http.get("/v2/users/me", headers=headers)
        assert r.status_code == 401
        assert r.json() == {"code": 124, "message": "Invalid access token."}


async def test_daily_create_update_cap_answers_429_with_a_retry_after_date(http, emu):
    await emu.control.config(daily_limit=3)
    headers = await user_headers(emu, "alex@acme.test")
    m = await create_meeting(http, headers)
    await create_meeting(http, headers)
    assert (await http.patch(f"/v2/meetings/{m['id']}", headers=headers,
                             json={"topic": "t"})).status_code == 204  # updates count too
    r = await http.post("/v2/users/me/meetings", headers=headers, json={})
    assert r.status_code == 429
    assert r.headers["X-RateLimit-Type"] == "Daily-limit"
    assert r.headers["X-RateLimit-Category"] == "Medium"
    assert r.headers["X-RateLimit-Limit"] == "3" and r.headers["X-RateLimit-Remaining"] == "0"
    now = datetime.fromisoformat((await emu.control.advance_clock(0))["now"])
    midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), timezone.utc)
    assert r.headers["Retry-After"] == midnight.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert r.json()["code"] == 429
    upd = await http.patch(f"/v2/meetings/{m['id']}", headers=headers, json={"topic": "u"})
    assert upd.status_code == 429 and upd.headers["X-RateLimit-Category"] == "Light"
    # another host is not affected; the cap resets at 00:00 UTC
    assert (await http.post("/v2/users/me/meetings", json={},
                            headers=await user_headers(emu, "gina@globex.test"))).status_code == 201
    await emu.control.advance_clock((midnight - now).total_seconds() + 1)
    headers = await user_headers(emu, "alex@acme.test")
    assert (await http.post("/v2/users/me/meetings", headers=headers, json={})).status_code == 201


async def test_daily_cap_older_shape_by_switch(http, emu):
    await emu.control.config(daily_limit=1, daily_limit_style="300")
    headers = await user_headers(emu, "alex@acme.test")
    await create_meeting(http, headers)
    r = await http.post("/v2/users/me/meetings", headers=headers, json={})
    assert r.status_code == 400
    assert r.json() == {"code": 300, "message": "A maximum of 1 meetings can be created/updated "
                                                "for a single user in one day."}


async def test_per_second_429_from_a_fault_rule(http, emu):
    headers = await s2s_headers(emu)
    await emu.control.add_fault("/v2/users/*/meetings", method="POST", action="qps", count=1)
    r = await http.post("/v2/users/host1@system.converge.test/meetings", headers=headers, json={})
    assert r.status_code == 429
    assert r.headers["X-RateLimit-Type"] == "QPS" and r.headers["X-RateLimit-Remaining"] == "0"
    assert r.headers["X-RateLimit-Category"] == "Medium"
    assert r.json()["code"] == 429
    ok = await http.post("/v2/users/host1@system.converge.test/meetings", headers=headers, json={})
    assert ok.status_code == 201
