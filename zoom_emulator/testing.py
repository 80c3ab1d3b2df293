"""Helpers for tests: run the emulator and drive it.

    from zoom_emulator.testing import running_emulator

    async with running_emulator(webhook_url=receiver_url) as emu:
        emu.oauth_base_url, emu.api_base_url          # point the service here
        location = await emu.control.authorize(authorize_url, "alex@acme.test")
        await emu.control.start_meeting(meeting_id)
        ...

`running_emulator` serves the app in this event loop on 127.0.0.1:<free port>;
`running_emulator_process` runs `python -m zoom_emulator` as a child process instead.
Both yield a `RunningEmulator`. Test defaults differ from the CLI in two ways: no webhook URL
(nothing is sent until you pass `webhook_url=` or call `set_webhook`) and `time_factor=0.001`
(Zoom's 5/20/60-minute retries take 0.3/1.2/3.6 s).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from aiohttp import web

from .app import create_app
from .state import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_REDIRECT_URI, \
    S2S_ACCOUNT_ID, S2S_CLIENT_ID, S2S_CLIENT_SECRET

TEST_DEFAULTS: dict[str, Any] = {"webhook_url": None, "time_factor": 0.001}


class ControlClient:
    """A thin httpx client for the /_emulator control API (and two OAuth shortcuts).

    Methods raise `httpx.HTTPStatusError` when the emulator refuses (e.g. a 409 for a host who
    is already in a meeting); the response body says why.
    """

    def __init__(self, base_url: str):
        self.base_url = base_url.rstrip("/")
        # The emulator speaks plain HTTP; skipping the TLS context saves ~0.1 s per client.
        self.http = httpx.AsyncClient(base_url=self.base_url, timeout=60, verify=False)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def _call(self, method: str, path: str, *, json: Any = None,
                    params: dict[str, Any] | None = None) -> Any:
        response = await self.http.request(method, f"/_emulator{path}", json=json, params=params)
        response.raise_for_status()
        return response.json()

    @staticmethod
    def _wait(wait: bool) -> dict[str, str]:
        return {"wait": "true"} if wait else {}

    # state and switches
    async def reset(self) -> None:
        """Back to the seed and the start-up options; faults, logs and deliveries cleared."""
        await self._call("POST", "/reset")

    async def config(self, **switches: Any) -> dict[str, Any]:
        """Change config switches (see state.Config); returns the whole config."""
        if not switches:
            return await self._call("GET", "/config")
        return await self._call("PATCH", "/config", json=switches)

    async def advance_clock(self, seconds: float) -> dict[str, Any]:
        """Move the emulator's clock forward (tokens, codes, daily caps expire)."""
        return await self._call("POST", "/clock", json={"advance": seconds})

    # accounts, users, apps
    async def accounts(self) -> list[dict[str, Any]]:
        """Every account with its users (id, email, type, concurrency...)."""
        return await self._call("GET", "/accounts")

    async def create_account(self, account_id: str, *, plan: str = "pro",
                             name: str | None = None) -> dict[str, Any]:
        return await self._call("POST", "/accounts",
                                json={"id": account_id, "plan": plan, "name": name or account_id})

    async def create_user(self, email: str, *, account_id: str, type: int = 2,
                          first_name: str | None = None, last_name: str | None = None,
                          timezone: str = "UTC") -> dict[str, Any]:
        body = {"email": email, "account_id": account_id, "type": type, "timezone": timezone}
        body.update({k: v for k, v in (("first_name", first_name), ("last_name", last_name)) if v})
        return await self._call("POST", "/users", json=body)

    async def update_user(self, user: str, **changes: Any) -> dict[str, Any]:
        """E.g. `update_user("alex@acme.test", type=1)`: the licence was taken away."""
        return await self._call("PATCH", f"/users/{user}", json=changes)

    async def recording_settings(self, user: str, **recording: Any) -> dict[str, Any]:
        """E.g. `recording_settings("alex@acme.test", cloud_recording=False)`: an admin switched
        cloud recording off in Zoom's web portal."""
        return await self._call("PATCH", f"/users/{user}/settings", json={"recording": recording})

    async def register_client(self, client_id: str, client_secret: str, *, kind: str = "user",
                              scopes: list[str] | None = None,
                              redirect_uris: list[str] | None = None,
                              account_id: str | None = None, name: str | None = None,
                              managed: str | None = None) -> dict:
        """`managed`: "user" (General app) or "admin"; by default what the scopes imply."""
        return await self._call("POST", "/clients", json={
            "client_id": client_id, "client_secret": client_secret, "kind": kind,
            "scopes": scopes or [], "redirect_uris": redirect_uris or [],
            "account_id": account_id, "name": name or client_id, "managed": managed})

    async def client(self, client_id: str = DEFAULT_CLIENT_ID) -> dict:
        """The OAuth app as registered: scopes, kind, managed ("user" or "admin")."""
        return await self._call("GET", f"/clients/{client_id}")

    async def add_redirect_uri(self, uri: str, client_id: str = DEFAULT_CLIENT_ID) -> dict:
        return await self._call("POST", f"/clients/{client_id}/redirect_uris", json={"uri": uri})

    # webhooks
    async def set_webhook(self, url: str | None, secret: str | None = None,
                          **options: Any) -> dict[str, Any]:
        """Endpoint, secret and options (events, per_file_recording_events, duplicate_events)."""
        body: dict[str, Any] = {"url": url, **options}
        if secret is not None:
            body["secret"] = secret
        return await self._call("PUT", "/webhook", json=body)

    async def validate_webhook(self) -> dict[str, Any]:
        """Send endpoint.url_validation now; returns {"passed", "status", "reason", ...}."""
        return await self._call("POST", "/webhook/validate")

    async def deliveries(self, event: str | None = None, *, wait: bool = False) -> list[dict]:
        """The delivery log (every attempt with status, latency, error)."""
        params = {"event": event} if event else {}
        return (await self._call("GET", "/deliveries", params={**params, **self._wait(wait)})
                )["deliveries"]

    async def settle(self, timeout: float = 30) -> bool:
        """Wait until no delivery is pending or waiting to retry; False on timeout."""
        return (await self._call("GET", "/deliveries",
                                 params={"wait": "true", "timeout": timeout}))["settled"]

    # a meeting's life
    # people in a meeting (zoom_emulator/participants.py)
    async def join(self, meeting_id: int | str, name: str | None = None, *, email: str | None = None,
                   host: bool = False, at: str | None = None, registrant_id: str | None = None,
                   join_url: str | None = None, wait: bool = True) -> dict[str, Any]:
        """Someone joins the running meeting (the host with host=True); returns its participant_id.
        `join_url` is the link they used (a registrant's own link names them)."""
        body = {k: v for k, v in (("name", name), ("email", email), ("at", at),
                                  ("registrant_id", registrant_id), ("join_url", join_url))
                if v is not None}
        body["host"] = host
        return await self._call("POST", f"/meetings/{meeting_id}/participants", json=body,
                                params=self._wait(wait))

    async def leave(self, meeting_id: int | str, participant_id: str, *, at: str | None = None,
                    wait: bool = True) -> dict[str, Any]:
        return await self._call("POST", f"/meetings/{meeting_id}/participants/{participant_id}/leave",
                                json={"at": at} if at else {}, params=self._wait(wait))

    async def meetings(self, host: str | None = None) -> list[dict[str, Any]]:
        """Every meeting (deleted too) with its instances and files."""
        return await self._call("GET", "/meetings", params={"host": host} if host else None)

    async def start_meeting(self, meeting_id: int, *, wait: bool = False) -> dict[str, Any]:
        return await self._call("POST", f"/meetings/{meeting_id}/start", params=self._wait(wait))

    async def end_meeting(self, meeting_id: int, *, wait: bool = False) -> dict[str, Any]:
        return await self._call("POST", f"/meetings/{meeting_id}/end", params=self._wait(wait))

    async def complete_recording(self, meeting_id: int, files: list | None = None, *,
                                 uuid: str | None = None, wait: bool = False,
                                 participant_audio: bool = False) -> dict[str, Any]:
        """Finish the cloud recording of the last ended instance. `files`: file types or
        {"file_type", "size", "recording_type"} dicts; default MP4, M4A, CHAT, TIMELINE.
        `participant_audio`: add one audio file per participant (participant_audio_files).
        Returns {"uuid", "download_token", "files": [{"file_key", "size", ...}], ...}."""
        body: dict[str, Any] = {"files": files} if files else {}
        if participant_audio:
            body["participant_audio"] = True
        if uuid:
            body["uuid"] = uuid
        return await self._call("POST", f"/meetings/{meeting_id}/recording", json=body,
                                params=self._wait(wait))

    async def complete_transcript(self, meeting_id: int, *, size: int | None = None,
                                  uuid: str | None = None, wait: bool = False) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if size is not None:
            body["size"] = size
        if uuid:
            body["uuid"] = uuid
        return await self._call("POST", f"/meetings/{meeting_id}/transcript", json=body,
                                params=self._wait(wait))

    async def deauthorize(self, user: str, *, client_id: str = DEFAULT_CLIENT_ID,
                          user_data_retention: bool = False, wait: bool = False) -> dict:
        """The user uninstalls the app: its tokens die and app_deauthorized is sent."""
        return await self._call("POST", "/deauthorize", params=self._wait(wait), json={
            "user": user, "client_id": client_id, "user_data_retention": user_data_retention})

    # faults and logs
    async def add_fault(self, path: str, **rule: Any) -> dict[str, Any]:
        """Add a fault rule (see faults.py), e.g. `add_fault("/oauth/token",
        action="commit_then_drop", match={"grant_type": "refresh_token"}, count=1)`."""
        return await self._call("POST", "/faults", json={"path": path, **rule})

    async def faults(self) -> list[dict[str, Any]]:
        """The fault rules with how often each matched (`seen`) and fired (`fired`)."""
        return await self._call("GET", "/faults")

    async def remove_fault(self, fault_id: int) -> None:
        await self._call("DELETE", f"/faults/{fault_id}")

    async def clear_faults(self) -> None:
        await self._call("DELETE", "/faults")

    async def stats(self) -> dict[str, Any]:
        """Counters: token_requests by grant_type, meeting_create_requests, meetings_created..."""
        return await self._call("GET", "/stats")

    async def requests(self) -> list[dict[str, Any]]:
        """The request log (method, path, route, status, outcome; never tokens)."""
        return await self._call("GET", "/requests")

    # OAuth shortcuts (these use the emulator-only auto-consent path)
    async def authorize(self, authorize_url: str, email: str, *, allow: bool = True) -> str:
        """Answer the consent page for `email` (Allow or Deny); returns the redirect Location.

        `authorize_url` is the URL the service sends a browser to; its host is replaced by this
        emulator's. Raises AssertionError if the emulator did not redirect (e.g. a 400 page for
        an unregistered redirect_uri)."""
        parts = urlsplit(authorize_url)
        params = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        params.update(login_hint=email, auto="allow" if allow else "deny")
        response = await self.http.get("/oauth/authorize", params=params)
        assert response.status_code == 302, f"no redirect: {response.status_code} {response.text}"
        return response.headers["Location"]

    async def user_token(self, email: str, *, client_id: str = DEFAULT_CLIENT_ID,
                         client_secret: str = DEFAULT_CLIENT_SECRET,
                         redirect_uri: str = DEFAULT_REDIRECT_URI) -> dict[str, Any]:
        """Authorize `email` and exchange the code; returns the token response JSON."""
        query = urlencode({"response_type": "code", "client_id": client_id,
                           "redirect_uri": redirect_uri})
        location = await self.authorize(f"/oauth/authorize?{query}", email)
        code = parse_qs(urlsplit(location).query)["code"][0]
        response = await self.http.post("/oauth/token", auth=(client_id, client_secret), data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri})
        response.raise_for_status()
        return response.json()

    async def s2s_token(self, *, account_id: str = S2S_ACCOUNT_ID, client_id: str = S2S_CLIENT_ID,
                        client_secret: str = S2S_CLIENT_SECRET) -> dict[str, Any]:
        """A Server-to-Server token for the system account; returns the token response JSON."""
        response = await self.http.post("/oauth/token", auth=(client_id, client_secret), data={
            "grant_type": "account_credentials", "account_id": account_id})
        response.raise_for_status()
        return response.json()


@dataclass
class RunningEmulator:
    """A running emulator: where to reach it and how to drive it."""

    base_url: str
    control: ControlClient
    app: web.Application | None = None  # in-process only
    process: asyncio.subprocess.Process | None = None  # subprocess only

    @property
    def oauth_base_url(self) -> str:
        return self.base_url

    @property
    def api_base_url(self) -> str:
        return f"{self.base_url}/v2"


@asynccontextmanager
async def running_emulator(**options: Any) -> AsyncIterator[RunningEmulator]:
    """Serve the emulator in this event loop on 127.0.0.1 and a free port.

    `options` are `create_app` options (webhook_url, webhook_secret, redirect_uris, any
    config switch such as token_ttl=2 or daily_limit=3), over the test defaults above."""
    app = create_app(**{**TEST_DEFAULTS, **options})
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    emu = RunningEmulator(f"http://{host}:{port}", ControlClient(f"http://{host}:{port}"), app=app)
    try:
        yield emu
    finally:
        await emu.control.aclose()
        await runner.cleanup()


def _cli_args(options: dict[str, Any]) -> list[str]:
    args = ["--webhook-url", options.pop("webhook_url") or ""]
    flags = {"webhook_secret": "--webhook-secret", "time_factor": "--time-factor",
             "token_ttl": "--token-ttl", "public_base_url": "--public-base-url"}
    for name, flag in flags.items():
        value = options.pop(name, None)
        if value is not None:
            args += [flag, str(value)]
    for uri in options.pop("redirect_uris", ()):
        args += ["--redirect-uri", uri]
    for name, value in options.items():
        args += ["--set", f"{name}={json.dumps(value)}"]
    return args


@asynccontextmanager
async def running_emulator_process(**options: Any) -> AsyncIterator[RunningEmulator]:
    """Run `python -m zoom_emulator --port 0` as a child process (same options as above).

    For tests that need the emulator in another process (e.g. to kill it). Stopped with
    SIGTERM on exit."""
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ,
           "PYTHONPATH": os.pathsep.join(filter(None, [package_parent,
                                                       os.environ.get("PYTHONPATH")]))}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "zoom_emulator", "--host", "127.0.0.1", "--port", "0",
        *_cli_args({**TEST_DEFAULTS, **options}),
        stdout=asyncio.subprocess.PIPE, env=env)
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), timeout=20)).decode()
        if "listening on " not in line:
            raise RuntimeError(f"zoom emulator did not start: {line!r}")
        base = line.rsplit("listening on ", 1)[1].strip()
        emu = RunningEmulator(base, ControlClient(base), process=proc)
        try:
            yield emu
        finally:
            await emu.control.aclose()
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), timeout=10)
            except asyncio.TimeoutError:
                proc.kill()
                await proc.wait()
