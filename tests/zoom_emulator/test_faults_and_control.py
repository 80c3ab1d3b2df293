"""Fault injection, counters and logs, control API odds and ends, the subprocess and the CLI."""

from __future__ import annotations

import ast
import os
import pathlib
import sys
import time

import httpx
import pytest

from zoom_emulator.testing import running_emulator_process

from tests.zoom_emulator.helpers import REDIRECT, create_meeting, s2s_headers

HOST = "host1@system.converge.test"
CREATE = f"/v2/users/{HOST}/meetings"
PACKAGE = pathlib.Path(__file__).resolve().parents[2] / "zoom_emulator"


async def test_respond_rule_fires_count_times(http, emu):
    headers = await s2s_headers(emu)
    await emu.control.add_fault("/v2/users/*/meetings", method="POST", status=502, count=2,
                                body={"code": 502, "message": "Bad Gateway"})
    codes = [(await http.post(CREATE, headers=headers, json={})).status_code for _ in range(3)]
    assert codes == [502, 502, 201]
    (rule,) = await emu.control.faults()
    assert rule["fired"] == 2 and rule["seen"] == 3
    stats = await emu.control.stats()
    assert stats["meeting_create_requests"] == 3 and stats["meetings_created"] == 1
    await emu.control.remove_fault(rule["id"])
    assert await emu.control.faults() == []


async def test_respond_rule_with_a_non_json_body(http, emu):
    headers = await s2s_headers(emu)
    await emu.control.add_fault("/v2/users/*", status=502, body="<html>Bad Gateway</html>",
                                count=1)
    r = await http.get(f"/v2/users/{HOST}", headers=headers)
    assert r.status_code == 502 and r.text == "<html>Bad Gateway</html>"
    assert r.headers["content-type"].startswith("text/html")


async def test_skip_probability_and_method_filters(http, emu):
    headers = await s2s_headers(emu)
    await emu.control.add_fault("/v2/users/*/meetings", method="POST", status=500, skip=1,
                                count=1)
    assert (await http.post(CREATE, headers=headers, json={})).status_code == 201
    assert (await http.get(CREATE, headers=headers)).status_code == 200  # other method
    assert (await http.post(CREATE, headers=headers, json={})).status_code == 500
    await emu.control.clear_faults()
    await emu.control.add_fault("/v2/users/*", method="GET", status=500, probability=0.5)
    codes = [(await http.get(f"/v2/users/{HOST}", headers=headers)).status_code
             for _ in range(40)]
    assert 5 < codes.count(500) < 35 and codes.count(200) + codes.count(500) == 40


async def test_latency_rule(http, emu):
    headers = await s2s_headers(emu)
    await emu.control.add_fault("/v2/users/*", action="delay", latency_ms=300, count=1)
    t0 = time.monotonic()
    assert (await http.get(f"/v2/users/{HOST}", headers=headers)).status_code == 200
    assert time.monotonic() - t0 >= 0.3


async def test_create_commit_then_drop_makes_exactly_one_meeting(http, emu):
    headers = await s2s_headers(emu)
    await emu.control.add_fault(CREATE, method="POST", action="commit_then_drop", count=1)
    with pytest.raises(httpx.TransportError):
        await http.post(CREATE, headers=headers, json={"agenda": "booking:42"})
    meetings = await emu.control.meetings(HOST)
    assert [m["agenda"] for m in meetings] == ["booking:42"]
    stats = await emu.control.stats()
    assert stats["meeting_create_requests"] == 1 and stats["meetings_created"] == 1
    # a caller can find it by the marker it put in the agenda
    listed = (await http.get(CREATE, headers=headers)).json()["meetings"]
    assert [m["id"] for m in listed if m["agenda"] == "booking:42"] == [meetings[0]["id"]]


async def test_drop_does_nothing(http, emu):
    headers = await s2s_headers(emu)
    await emu.control.add_fault(CREATE, method="POST", action="drop", count=1)
    with pytest.raises(httpx.TransportError):
        await http.post(CREATE, headers=headers, json={})
    assert await emu.control.meetings() == []
    (entry,) = [e for e in await emu.control.requests() if e["method"] == "POST"
                and e["path"] == CREATE]
    assert entry["outcome"] == "dropped" and entry["fault"] == 1


async def test_stats_count_token_requests_by_grant_and_logs_hold_no_tokens(http, emu):
    tokens = await emu.control.user_token("alex@acme.test")
    await http.post("/oauth/token", auth=("emu-client-id", "emu-client-secret"),
                    data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    await emu.control.s2s_token()
    await emu.control.s2s_token()
    stats = await emu.control.stats()
    assert stats["token_requests"] == {"authorization_code": 1, "refresh_token": 1,
                                       "account_credentials": 2}
    log = str(await emu.control.requests())
    assert tokens["refresh_token"] not in log and tokens["access_token"] not in log


async def test_reset_restores_the_seed(http, emu):
    await emu.control.create_account("emu-new", plan="business")
    await emu.control.create_user("new@new.test", account_id="emu-new")
    await emu.control.config(daily_limit=1)
    await emu.control.add_fault("/oauth/token", status=500)
    await emu.control.reset()
    accounts = await emu.control.accounts()
    assert [a["id"] for a in accounts] == ["emu-system-account", "emu-acme", "emu-globex"]
    assert (await emu.control.config())["daily_limit"] == 100
    assert (await emu.control.s2s_token())["access_token"]


async def test_seed_names(emu):
    accounts = {a["id"]: a for a in await emu.control.accounts()}
    assert accounts["emu-system-account"]["plan"] == "business"
    assert accounts["emu-acme"]["plan"] == "pro" and accounts["emu-globex"]["plan"] == "business"
    users = {u["email"]: u for a in accounts.values() for u in a["users"]}
    assert {e: (u["display_name"], u["type"]) for e, u in users.items()} == {
        "host1@system.converge.test": ("Converge Host 1", 2),
        "host2@system.converge.test": ("Converge Host 2", 2),
        "alex@acme.test": ("Alex Rivera", 2),
        "basil@acme.test": ("Basil Basic", 1),
        "nora@acme.test": ("Nora Nolicense", 4),
        "gina@globex.test": ("Gina Globex", 2),
    }
    assert (await emu.control.set_webhook(None))["secret"] == "emu-webhook-secret"


async def test_new_users_accounts_and_licence_changes(http, emu):
    await emu.control.create_account("emu-initech", plan="pro")
    user = await emu.control.create_user("pat@initech.test", account_id="emu-initech",
                                         first_name="Pat", last_name="Q")
    assert user["display_name"] == "Pat Q" and user["concurrency"] == 1
    token = await emu.control.user_token("pat@initech.test")
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    assert (await http.get("/v2/users/me", headers=headers)).json()["account_id"] == "emu-initech"
    await emu.control.update_user("pat@initech.test", type=4)
    r = await http.post("/v2/users/me/meetings", headers=headers, json={})
    assert r.json()["code"] == 3161
    with pytest.raises(httpx.HTTPStatusError) as err:
        await emu.control.create_user("pat@initech.test", account_id="emu-initech")
    assert err.value.response.status_code == 400


async def test_control_refuses_unknown_switches_and_bad_rules(emu):
    for call in (emu.control.config(no_such_switch=1), emu.control.config(daily_limit="many"),
                 emu.control.config(daily_limit_style="500"),
                 emu.control.add_fault("/x", action="explode"),
                 emu.control.add_fault("/x", colour="red")):
        with pytest.raises(httpx.HTTPStatusError) as err:
            await call
        assert err.value.response.status_code == 400


async def test_start_and_join_links_answer(http, emu):
    m = await create_meeting(http, await s2s_headers(emu), HOST)
    assert (await http.get(m["start_url"])).status_code == 200
    assert (await http.get(m["join_url"])).status_code == 200


async def test_running_as_a_subprocess():
    async with running_emulator_process(token_ttl=600, daily_limit=7,
                                        redirect_uris=["http://localhost:3000/cb"]) as emu:
        assert emu.process is not None and emu.process.returncode is None
        token = await emu.control.s2s_token()
        assert token["expires_in"] == 599
        assert (await emu.control.config())["daily_limit"] == 7
        location = await emu.control.authorize(
            "/oauth/authorize?response_type=code&client_id=emu-client-id"
            "&redirect_uri=http%3A%2F%2Flocalhost%3A3000%2Fcb", "alex@acme.test")
        assert location.startswith("http://localhost:3000/cb?code=")
        async with httpx.AsyncClient(base_url=emu.api_base_url + "/", verify=False) as api:
            r = await api.post(f"users/{HOST}/meetings", json={},
                               headers={"Authorization": f"Bearer {token['access_token']}"})
            assert r.status_code == 201
        proc = emu.process
    assert proc.returncode is not None


def test_cli_flags():
    from zoom_emulator.__main__ import options_from, parse_args

    options = options_from(parse_args([
        "--port", "0", "--webhook-url", "", "--redirect-uri", "http://a/cb", "--redirect-uri",
        "http://b/cb", "--time-factor", "0.5", "--token-ttl", "60", "--set", "daily_limit=3",
        "--set", "uuid_style=plain"]))
    assert options["webhook_url"] is None and options["redirect_uris"] == ["http://a/cb",
                                                                           "http://b/cb"]
    assert (options["time_factor"], options["token_ttl"], options["daily_limit"],
            options["uuid_style"]) == (0.5, 60, 3, "plain")
    defaults = options_from(parse_args([]))
    assert defaults["webhook_url"] == "http://127.0.0.1:8000/v1/zoom/webhooks"
    assert defaults["webhook_secret"] == "emu-webhook-secret"


def test_the_emulator_imports_nothing_from_the_service():
    """It must talk to the service over HTTP only: no imports of api/, models/, zoom/, ..."""
    allowed = set(sys.stdlib_module_names) | {"aiohttp", "httpx", "yarl", "multidict"}
    for path in PACKAGE.glob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name.split(".")[0] in allowed, f"{path.name} imports {name}"


def test_nothing_outside_tests_imports_the_emulator():
    """The service may run `python -m zoom_emulator`, but must not import it (tests and the
    benchmarks, which drive the emulator as a test fixture, may)."""
    root = PACKAGE.parent
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith((".", "__")) and d != "node_modules"
                   and not (folder == str(root) and d in ("tests", "bench", "zoom_emulator"))]
        for name in names:
            if not name.endswith(".py"):
                continue
            path = pathlib.Path(folder, name)
            try:
                tree = ast.parse(path.read_text(), str(path))
            except (SyntaxError, UnicodeDecodeError):
                continue  # someone else's file mid-edit; not this test's business
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    found = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom):
                    found = [node.module or ""]
                else:
                    continue
                assert not any(n.split(".")[0] == "zoom_emulator" for n in found), str(path)


async def test_consent_flow_with_a_new_redirect_uri_via_control(http, emu):
    await emu.control.add_redirect_uri("http://127.0.0.1:9999/cb")
    token = await emu.control.user_token("gina@globex.test", redirect_uri="http://127.0.0.1:9999/cb")
    assert token["refresh_token"]
    assert REDIRECT != "http://127.0.0.1:9999/cb"
