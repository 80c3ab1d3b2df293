"""The emulator's apps are the app types Zoom creates: granular user-managed by default, classic
on a switch; it refuses what Zoom refuses (docs/zoom.md#scopes)."""

from __future__ import annotations

import httpx
import pytest

from tests.zoom_emulator.helpers import REDIRECT, bearer


async def test_default_app_is_a_granular_user_managed_app(http, emu):
    client = await emu.control.client()
    assert client["managed"] == "user"
    assert not [s for s in client["scopes"] if s.endswith(":admin")]
    token = await emu.control.user_token("alex@acme.test")
    assert "meeting:read:list_meetings" in token["scope"].split()
    assert "meeting:write" not in token["scope"].split()


async def test_classic_switch_keeps_an_older_app_with_admin_scopes(http, emu):
    await emu.control.config(default_app="classic")
    token = await emu.control.user_token("alex@acme.test")
    assert token["scope"].split() == ["meeting:write:admin", "user:read:admin",
                                      "recording:read:admin"]
    await emu.control.config(default_app="granular")
    token = await emu.control.user_token("alex@acme.test")
    assert "meeting:write:admin" not in token["scope"]


async def test_a_user_managed_app_cannot_have_admin_scopes(http, emu):
    with pytest.raises(httpx.HTTPStatusError) as refused:
        await emu.control.register_client("mixed", "s", scopes=["meeting:write:meeting:admin"],
                                          redirect_uris=[REDIRECT], managed="user")
    assert refused.value.response.status_code == 400
    assert "user-level scopes only" in refused.value.response.json()["message"]
    with pytest.raises(httpx.HTTPStatusError):  # granular admin scopes imply nothing: refused too
        await emu.control.register_client("mixed2", "s", scopes=["user:read:user:admin"],
                                          redirect_uris=[REDIRECT])
    admin = await emu.control.register_client("adm", "s", scopes=["user:read:user:admin"],
                                              redirect_uris=[REDIRECT], managed="admin")
    assert admin["managed"] == "admin"


async def test_4700_names_the_accepted_scopes_in_the_apps_vocabulary(http, emu):
    await emu.control.register_client("narrow", "narrow-secret",
                                      scopes=["user:read:user", "meeting:write:meeting"],
                                      redirect_uris=[REDIRECT])
    token = await emu.control.user_token("alex@acme.test", client_id="narrow",
                                         client_secret="narrow-secret")
    headers = bearer(token["access_token"])
    r = await http.get("/v2/users/me/meetings", headers=headers)
    assert r.status_code == 401 and r.json()["code"] == 4700
    assert r.json()["message"] == ("Invalid access token, does not contain scopes:"
                                   "[meeting:read:list_meetings:admin, meeting:read:list_meetings].")
    # creating is not reading: a granular app needs meeting:read:meeting for GET /meetings/{id}
    created = await http.post("/v2/users/me/meetings", headers=headers, json={"topic": "t"})
    assert created.status_code == 201
    r = await http.get(f"/v2/meetings/{created.json()['id']}", headers=headers)
    assert r.status_code == 401
    assert "meeting:read:meeting" in r.json()["message"]
    assert "meeting:write" not in r.json()["message"].replace("meeting:write:meeting", "")


async def test_one_users_token_cannot_act_on_another_user(http, emu):
    token = await emu.control.user_token("alex@acme.test")
    headers = bearer(token["access_token"])
    for path in ("/v2/users/basil@acme.test", "/v2/users/basil@acme.test/meetings"):
        r = await http.get(path, headers=headers)
        assert r.status_code == 404 and r.json()["code"] == 1001
