"""Meeting registrants over HTTP (docs/zoom.md#meeting-registrants): registration must be on, a
Basic host cannot take it, the scope is checked, each registrant gets a link of their own, the
same email never makes a second registrant, and a join through the link carries the registrant id
in the webhook and in the past-meeting participants list."""

from __future__ import annotations

from urllib.parse import quote

import httpx

from tests.zoom_emulator.helpers import bearer, create_meeting, s2s_headers
from zoom_emulator.state import DEFAULT_REDIRECT_URI

HOST = "host1@system.converge.test"


async def _register(http, headers, meeting_id, email="riley@example.com", **extra):
    return await http.post(f"/v2/meetings/{meeting_id}/registrants", headers=headers,
                           json={"email": email, "first_name": "Riley", "last_name": "Chen",
                                 "auto_approve": True, **extra})


async def test_registration_needs_it_switched_on_and_gives_each_their_own_link(emu, http):
    s2s = await s2s_headers(emu)
    m = await create_meeting(http, s2s, HOST)
    off = await _register(http, s2s, m["id"])
    assert off.status_code == 400 and off.json()["code"] == 3000
    patched = await http.patch(f"/v2/meetings/{m['id']}", headers=s2s,
                               json={"settings": {"approval_type": 0}})
    assert patched.status_code == 204
    first = await _register(http, s2s, m["id"])
    other = await _register(http, s2s, m["id"], email="sam@example.com")
    assert first.status_code == other.status_code == 201
    a, b = first.json(), other.json()
    assert a["id"] == m["id"] and a["registrant_id"] and a["registrant_id"] != b["registrant_id"]
    assert a["join_url"] != b["join_url"] != m["join_url"]
    again = await _register(http, s2s, m["id"], email="RILEY@example.com")
    assert again.status_code == 201 and again.json()["registrant_id"] == a["registrant_id"]
    await emu.control.config(registrant_duplicate="error")
    refused = await _register(http, s2s, m["id"])
    assert refused.status_code == 400 and refused.json()["code"] == 3027
    [seen] = [x for x in await emu.control.meetings() if x["id"] == m["id"]]
    assert [r["email"] for r in seen["registrants"]] == ["riley@example.com", "sam@example.com"]
    bad = await _register(http, s2s, m["id"], email="not-an-address")
    assert bad.status_code == 400 and bad.json()["code"] == 300


async def test_a_basic_host_cannot_take_registrants(emu, http):
    s2s = await s2s_headers(emu)
    await emu.control.create_user("basic-reg@system.converge.test", account_id="emu-system-account", type=1)
    m = await create_meeting(http, s2s, "basic-reg@system.converge.test", settings={"approval_type": 0})
    assert m["settings"]["approval_type"] == 2  # quietly kept off (UNVERIFIED; switch below)
    r = await _register(http, s2s, m["id"])
    assert r.status_code == 400 and r.json()["code"] == 200 and "Paid" in r.json()["message"]
    await emu.control.config(basic_registration="reject")
    refused = await http.patch(f"/v2/meetings/{m['id']}", headers=s2s, json={"settings": {"approval_type": 0}})
    assert refused.status_code == 400 and refused.json()["code"] == 200


async def test_the_registrant_scope_is_checked(emu, http):
    await emu.control.register_client("no-reg", "no-reg-secret",
                                      scopes=["meeting:write:meeting", "meeting:update:meeting"],
                                      redirect_uris=[DEFAULT_REDIRECT_URI])
    token = await emu.control.user_token("alex@acme.test", client_id="no-reg", client_secret="no-reg-secret")
    headers = bearer(token["access_token"])
    m = await create_meeting(http, headers, settings={"approval_type": 0})
    r = await _register(http, headers, m["id"])
    assert r.status_code == 401 and r.json()["code"] == 4700
    assert r.json()["message"].endswith("[meeting:write:registrant:admin, meeting:write:registrant].")
    granted = bearer((await emu.control.user_token("alex@acme.test"))["access_token"])
    assert (await _register(http, granted, m["id"])).status_code == 201


async def test_a_join_through_the_own_link_names_the_registrant(hooked, receiver):
    async with httpx.AsyncClient(base_url=hooked.base_url) as http:
        s2s = await s2s_headers(hooked)
        m = await create_meeting(http, s2s, HOST, settings={"approval_type": 0})
        reg = (await _register(http, s2s, m["id"])).json()
        started = await hooked.control.start_meeting(m["id"])
        await hooked.control.join(m["id"], "Phone 2", join_url=reg["join_url"])
        await hooked.control.join(m["id"], "Walk-in", email="walk@example.com", join_url=m["join_url"])
        await hooked.control.end_meeting(m["id"], wait=True)
        ref = quote(quote(started["uuid"], safe=""), safe="")
        listed = (await http.get(f"/v2/past_meetings/{ref}/participants", headers=s2s)).json()
    joined = [e["payload"]["object"]["participant"] for e in receiver.events("meeting.participant_joined")]
    assert [p.get("registrant_id") for p in joined] == [reg["registrant_id"], None]
    assert [e["registrant_id"] for e in listed["participants"]] == [reg["registrant_id"], ""]
