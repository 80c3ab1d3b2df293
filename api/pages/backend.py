"""How the pages act: as an API client of this same server, with the signed-in org's key.

Every read and change a page makes goes through the JSON API's own handlers, over the loopback
address the request came in on. So a booking made in the browser is validated, stored, started
and refused exactly as one made with curl, the error messages are the API's, and nothing here
repeats the other modules' rules. The cost is one local HTTP hop per call, which a person clicking
a page never notices.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import httpx
from aiohttp import web

from api.context import SERVICES
from api.pages.session import PageSession

# The booking POST may wait up to ~3 s for Zoom (update-with-start); leave room around it.
TIMEOUT = httpx.Timeout(30.0, connect=5.0)


class ApiFailed(Exception):
    """The API refused or failed; `message` is its own words (what happened, what to do)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


class SignedOut(Exception):
    """The API no longer accepts the session's key (e.g. the org's key was replaced)."""


def _own_base_url(request: web.Request) -> str:
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    if isinstance(sockname, tuple) and len(sockname) >= 2:
        host, port = sockname[0], sockname[1]
        if ipaddress.ip_address(host).is_unspecified:
            host = "127.0.0.1"
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    return f"http://127.0.0.1:{request.app['ctx'].settings.port}"


class Backend:
    """The JSON API, as the session's org. Paths are relative to `/v1/orgs/{org}`."""

    def __init__(self, request: web.Request, session: PageSession) -> None:
        self._http: httpx.AsyncClient = request.app[SERVICES].http
        self._base = f"{_own_base_url(request)}/v1/orgs/{session.org_id}"
        from api.rate_limits import PAGES_HEADER, pages_marker

        # Counted per org by the API's rate limits, not against this loopback address.
        self._auth = {"Authorization": f"Bearer {session.api_key}",
                      PAGES_HEADER: pages_marker(request.app[SERVICES].settings)}

    async def call(self, method: str, path: str, *, json: Any = None,
                   headers: dict[str, str] | None = None, ok: tuple[int, ...] = (),
                   raw: bool = False) -> Any:
        """The JSON answer (the response itself with `raw`, e.g. for CSV); None for a status
        listed in `ok` (e.g. 404 for "not there yet")."""
        response = await self._http.request(
            method, self._base + path, json=json, headers={**self._auth, **(headers or {})},
            timeout=TIMEOUT, follow_redirects=False)
        if response.status_code == 401:
            raise SignedOut()
        if response.status_code in ok:
            return None
        if response.status_code >= 400:
            try:
                error = response.json()["error"]
                code, message = error["code"], error["message"]
            except (ValueError, KeyError, TypeError):
                code, message = "http_error", f"The server answered {response.status_code}."
            raise ApiFailed(response.status_code, code, message)
        if raw:
            return response
        return response.json() if response.content else None

    async def get(self, path: str, **kw: Any) -> Any:
        return await self.call("GET", path, **kw)

    async def post(self, path: str, json: Any = None, **kw: Any) -> Any:
        return await self.call("POST", path, json=json, **kw)

    async def patch(self, path: str, json: Any = None, **kw: Any) -> Any:
        return await self.call("PATCH", path, json=json, **kw)

    async def delete(self, path: str, **kw: Any) -> Any:
        return await self.call("DELETE", path, **kw)
