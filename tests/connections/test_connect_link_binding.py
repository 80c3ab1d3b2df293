"""A connect link completes only for the org that started it, after it confirmed the Zoom user.

The attack: org B starts a connect and sends its authorize URL to a Zoom user of org A. Whoever
clicks Allow used to be connected to org B. Now the callback needs a browser signed in to org B,
shows the Zoom user and the org, and stores only on Confirm.
"""

from __future__ import annotations

from urllib.parse import parse_qs, unquote, urlsplit

from connections.connect import state_key
from tests.connections.helpers import connect, fresh_zoom_user, row_of, start
from tests.helpers import OrgBrowser, _hidden, callback_path, key_of


async def test_a_link_completed_in_another_orgs_browser_stores_nothing_and_dies(api, emulator):
    victim_org, victim_headers = await api.new_org("Victim Org")
    victim_row = await connect(api, emulator, victim_org, victim_headers, await fresh_zoom_user(emulator))
    attacker_org, attacker_headers = await api.new_org("Attacker Org")
    url = await start(api, attacker_org, attacker_headers)
    # The victim's Zoom user clicks Allow, in a browser signed in to the victim's own org.
    location = await emulator.control.authorize(url, victim_row.zoom_email)
    victim = await OrgBrowser(api.url).sign_in(key_of(victim_headers))
    try:
        r = await victim.http.get(callback_path(location))
    finally:
        await victim.close()

    assert r.status_code == 403 and "another organization" in r.text, r.text
    assert await row_of(api.services, attacker_org) is None
    after = await row_of(api.services, victim_org)
    assert (after.status, after.token_version) == ("active", victim_row.token_version)
    state = parse_qs(urlsplit(location).query)["state"][0]
    assert await api.services.redis.exists(state_key(state)) == 0  # dead for the attacker too
    attacker = await OrgBrowser(api.url).sign_in(key_of(attacker_headers))
    try:
        assert (await attacker.http.get(callback_path(location))).status_code == 400
    finally:
        await attacker.close()
    assert await row_of(api.services, attacker_org) is None


async def test_signed_out_the_callback_asks_the_starting_org_to_sign_in_then_confirm(api, emulator):
    org_id, headers = await api.new_org("Signs In Late Ltd")
    email = await fresh_zoom_user(emulator)
    location = await emulator.control.authorize(await start(api, org_id, headers), email)
    browser = OrgBrowser(api.url)
    try:
        r = await browser.http.get(callback_path(location))
        assert r.status_code == 401 and "Signs In Late Ltd" in r.text, r.text
        assert await row_of(api.services, org_id) is None
        signin = r.text.split('id="connect-signin-link" href="')[1].split('"')[0]
        next_ = unquote(parse_qs(urlsplit(signin.replace("&amp;", "&")).query)["next"][0])
        assert next_ == callback_path(location)
        page = await browser.http.get("/signin")
        signed = await browser.http.post("/signin", data={
            "csrf_token": _hidden(page.text, "csrf_token"), "api_key": key_of(headers), "next": next_})
        assert signed.status_code == 303 and signed.headers["Location"] == next_
        confirm = await browser.http.get(next_)
        assert confirm.status_code == 200, confirm.text
        assert email in confirm.text and "Signs In Late Ltd" in confirm.text
        assert await row_of(api.services, org_id) is None  # shown, not stored
        done = await browser.http.post("/settings/integrations/zoom/confirm", data={
            "csrf_token": _hidden(confirm.text, "csrf_token"),
            "pending": _hidden(confirm.text, "pending"), "decision": "confirm"})
        assert done.status_code == 303, done.text
    finally:
        await browser.close()
    row = await row_of(api.services, org_id)
    assert row.status == "active" and row.zoom_email == email


async def test_cancel_stores_nothing_and_ends_the_grant(api, emulator):
    org_id, headers = await api.new_org("Changed Mind Ltd")
    location = await emulator.control.authorize(await start(api, org_id, headers),
                                                await fresh_zoom_user(emulator))
    browser = await OrgBrowser(api.url).sign_in(key_of(headers))
    try:
        page = await browser.http.get(callback_path(location))
        fields = {"csrf_token": _hidden(page.text, "csrf_token"), "pending": _hidden(page.text, "pending")}
        r = await browser.http.post("/settings/integrations/zoom/confirm", data={**fields, "decision": "cancel"})
        assert r.status_code == 303
        again = await browser.http.post("/settings/integrations/zoom/confirm", data={**fields, "decision": "confirm"})
        assert again.status_code == 400 and "expired" in again.text
    finally:
        await browser.close()
    assert await row_of(api.services, org_id) is None


async def test_a_confirmation_cannot_be_used_by_another_orgs_session(api, emulator):
    org_id, headers = await api.new_org("Owner Ltd")
    other_org, other_headers = await api.new_org("Snooper Ltd")
    location = await emulator.control.authorize(await start(api, org_id, headers),
                                                await fresh_zoom_user(emulator))
    owner = await OrgBrowser(api.url).sign_in(key_of(headers))
    snooper = await OrgBrowser(api.url).sign_in(key_of(other_headers))
    try:
        pending = _hidden((await owner.http.get(callback_path(location))).text, "pending")
        own_csrf = _hidden((await snooper.http.get("/settings/integrations")).text, "csrf_token")
        r = await snooper.http.post("/settings/integrations/zoom/confirm", data={
            "csrf_token": own_csrf, "pending": pending, "decision": "confirm"})
        assert r.status_code == 403, r.text
    finally:
        await owner.close()
        await snooper.close()
    assert await row_of(api.services, org_id) is None
    assert await row_of(api.services, other_org) is None


async def test_a_system_host_cannot_be_connected_to_an_org(api, emulator):
    org_id, headers = await api.new_org("Wants The System Host Ltd")
    system_host = api.services.settings.system_hosts[0].email
    location = await emulator.control.authorize(await start(api, org_id, headers), system_host)
    browser = await OrgBrowser(api.url).sign_in(key_of(headers))
    try:
        r = await browser.http.get(callback_path(location))
    finally:
        await browser.close()
    assert r.status_code == 400 and "own Zoom hosts" in r.text, r.text
    assert await row_of(api.services, org_id) is None
