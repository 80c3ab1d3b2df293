"""The Zoom REST calls the service makes (users, meetings, recordings).

The client owns no token: it asks `get_token` for one per call and tells `on_token_rejected` when
Zoom refuses it, so the token manager (with its lock and store) stays the single place that decides
about refreshing. A refused token is retried exactly once with a fresh one; more would hammer Zoom
with a token that is dead for some other reason.

Nothing else is retried here: a create may have succeeded even when its answer was lost, so retry
policy belongs to the caller (a Temporal activity) that can reconcile before trying again.
"""

from __future__ import annotations

import json
from typing import Any, AsyncIterator, Awaitable, Callable
from urllib.parse import quote

import httpx

from metrics import ZOOM_API_ERRORS
from zoom.errors import (
    ZoomError,
    ZoomMeetingNotFound,
    ZoomTokenRejected,
    ZoomTransientError,
    classify_api_error,
)
from zoom.ids import encode_meeting_ref

MAX_DOWNLOAD_TOKEN_TTL = 604800  # seconds (7 days), Zoom's upper bound for `ttl`


def _user_ref(user_id_or_email: str) -> str:
    # "@" stays readable; "/" and everything else that could change the path is encoded.
    if not user_id_or_email:
        raise ValueError("a user id, email or 'me' is required")
    return quote(user_id_or_email, safe="@")


class ZoomApi:
    """Zoom REST API v2 for one token source (an org's OAuth user or the S2S system account)."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        api_base: str,
        get_token: Callable[[], Awaitable[str]],
        on_token_rejected: Callable[[], Awaitable[None]] | None = None,
    ):
        self._http = http
        self._api_base = api_base.rstrip("/")
        self._get_token = get_token
        self._on_token_rejected = on_token_rejected

    def __repr__(self) -> str:
        return f"ZoomApi(api_base={self._api_base!r})"

    # --- users ------------------------------------------------------------------------------

    async def get_me(self) -> dict[str, Any]:
        """The authorizing user (user-level OAuth apps must say `me` rather than an id)."""
        return await self.get_user("me")

    async def get_user(self, user_id_or_email: str) -> dict[str, Any]:
        return await self._json("GET", f"/users/{_user_ref(user_id_or_email)}")

    async def get_user_settings(self, user_id_or_email: str = "me") -> dict[str, Any]:
        """The user's settings; the service reads the `recording` section
        (docs/zoom.md#recording-settings)."""
        return await self._json("GET", f"/users/{_user_ref(user_id_or_email)}/settings")

    # --- meetings ---------------------------------------------------------------------------

    async def create_meeting(self, user_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Create a meeting hosted by `user_id` (`me` for user-level apps); Zoom answers 201.

        A `ZoomTransientError` does not prove nothing was created (the answer may have been lost
        after Zoom created it): reconcile with `list_meetings` before creating again.
        """
        return await self._json("POST", f"/users/{_user_ref(user_id)}/meetings", json_body=body)

    async def get_meeting(self, meeting_id: int | str) -> dict[str, Any]:
        """A meeting by numeric id or instance UUID; includes a fresh `start_url` (a secret)."""
        return await self._json("GET", f"/meetings/{encode_meeting_ref(meeting_id)}")

    async def update_meeting(self, meeting_id: int | str, body: dict[str, Any]) -> None:
        """PATCH a meeting (204, no body: call `get_meeting` for the new values)."""
        await self._request("PATCH", f"/meetings/{encode_meeting_ref(meeting_id)}", json_body=body)

    async def delete_meeting(self, meeting_id: int | str) -> None:
        """Delete a meeting. A meeting that is already gone counts as deleted: a retried cancel
        whose first attempt succeeded must not fail, and the end state is the one asked for."""
        try:
            await self._request("DELETE", f"/meetings/{encode_meeting_ref(meeting_id)}")
        except ZoomMeetingNotFound:
            return

    async def add_meeting_registrant(self, meeting_id: int | str, body: dict[str, Any]) -> dict[str, Any]:
        """Register someone on a meeting; Zoom answers 201 with their `registrant_id` and their
        own `join_url` (docs/zoom.md#meeting-registrants). The meeting must take registrations
        (`settings.approval_type` 0 or 1) and its host must be licensed."""
        return await self._json("POST", f"/meetings/{encode_meeting_ref(meeting_id)}/registrants",
                                json_body=body)

    async def list_meetings(
        self, user_id: str, type: str = "upcoming", *, page_size: int = 300
    ) -> AsyncIterator[dict[str, Any]]:
        """Every meeting of a user, following `next_page_token` across pages."""
        seen_tokens: set[str] = set()
        page_token = ""
        while True:
            params: dict[str, Any] = {"type": type, "page_size": page_size}
            if page_token:
                params["next_page_token"] = page_token
            page = await self._json("GET", f"/users/{_user_ref(user_id)}/meetings", params=params)
            for meeting in page.get("meetings") or []:
                yield meeting
            page_token = page.get("next_page_token") or ""
            # A repeated token would loop forever; treat it as the end rather than trust it.
            if not page_token or page_token in seen_tokens:
                return
            seen_tokens.add(page_token)

    # --- recordings -------------------------------------------------------------------------

    async def get_recordings(
        self,
        meeting_id_or_uuid: int | str,
        *,
        download_access_token: bool = True,
        ttl: int | None = None,
    ) -> dict[str, Any]:
        """Recording files of a meeting instance (pass the UUID: a numeric id means the latest
        instance). With `download_access_token`, Zoom adds a fresh token for the downloads,
        replacing the webhook's `download_token` once that has expired; `ttl` is its lifetime in
        seconds (0-604800)."""
        params: dict[str, Any] = {}
        if download_access_token:
            params["include_fields"] = "download_access_token"
            if ttl is not None:
                if not 0 <= ttl <= MAX_DOWNLOAD_TOKEN_TTL:
                    raise ValueError(f"ttl must be between 0 and {MAX_DOWNLOAD_TOKEN_TTL} seconds")
                params["ttl"] = ttl
        ref = encode_meeting_ref(meeting_id_or_uuid)
        return await self._json("GET", f"/meetings/{ref}/recordings", params=params)

    # --- participants -----------------------------------------------------------------------

    async def past_meeting_participants(self, meeting_uuid: str, *, page_size: int = 300) -> list[dict[str, Any]]:
        """Everyone who was in an ended meeting instance, one entry per join (a rejoin is a new
        entry), all pages (docs/attendance.md#what-zoom-reports). Pass the instance UUID."""
        ref = encode_meeting_ref(meeting_uuid)
        entries: list[dict[str, Any]] = []
        token, seen = "", set()
        while True:
            params: dict[str, Any] = {"page_size": page_size}
            if token:
                params["next_page_token"] = token
            page = await self._json("GET", f"/past_meetings/{ref}/participants", params=params)
            entries.extend(p for p in page.get("participants") or [] if isinstance(p, dict))
            token = page.get("next_page_token") or ""
            if not token or token in seen:
                return entries
            seen.add(token)

    # --- transport --------------------------------------------------------------------------

    async def _json(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json_body: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        response = await self._request(method, path, params=params, json_body=json_body)
        try:
            data = json.loads(response.content)
        except (ValueError, UnicodeDecodeError):
            data = None
        if not isinstance(data, dict):
            raise ZoomTransientError(
                f"Zoom API {method} answered {response.status_code} without a JSON object",
                status=response.status_code,
            )
        return data

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json_body: dict[str, Any] | None = None,
    ) -> httpx.Response:
        token = await self._get_token()
        response = await self._send(method, path, token, params, json_body)
        if not response.is_success:
            error = _counted(classify_api_error(response))
            if not isinstance(error, ZoomTokenRejected):
                raise error
            if self._on_token_rejected is not None:
                await self._on_token_rejected()
            fresh = await self._get_token()
            if self._on_token_rejected is None and fresh == token:
                raise error  # nobody could replace the token: a retry would fail the same way
            response = await self._send(method, path, fresh, params, json_body)
            if not response.is_success:
                raise _counted(classify_api_error(response))
        return response

    async def _send(
        self,
        method: str,
        path: str,
        token: str,
        params: dict[str, Any] | None,
        json_body: dict[str, Any] | None,
    ) -> httpx.Response:
        try:
            return await self._http.request(
                method,
                f"{self._api_base}{path}",
                params=params,
                json=json_body,
                headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            )
        except httpx.TransportError as exc:
            ZOOM_API_ERRORS.labels("transport", type(exc).__name__).inc()
            # The path names which call failed; the exception text could carry the full URL.
            raise ZoomTransientError(
                f"Zoom API {method} {path.split('?')[0]}: {type(exc).__name__}"
            ) from None


def _counted(error: ZoomError) -> ZoomError:
    """Count Zoom's error answer by status and code (converge_zoom_api_errors_total)."""
    ZOOM_API_ERRORS.labels(str(error.status), "none" if error.code is None else str(error.code)).inc()
    return error
