"""Zoom OAuth: the user-managed app (authorize URL, code exchange, refresh, revoke) and the
Server-to-Server app of Converge's system account.

These are thin protocol calls with no caching, locking or storage: a refresh token may be sent to
Zoom at most once, so deciding *when* to refresh belongs to the token manager, which holds the lock.
What this module guarantees is the classification of every failure (see `zoom.errors`), and that
token values travel only in form bodies (never URLs, which end up in logs) and never show up in a
repr, str or error message.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

import httpx
from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError, field_validator

from zoom.errors import (
    ZoomError,
    ZoomRefreshOutcomeUnknown,
    ZoomTransientError,
    classify_token_error,
)

_SECRET_FORM_FIELDS = {"code", "code_verifier", "refresh_token", "token"}
# Exceptions raised before any byte of the request left this process: Zoom cannot have acted.
_NOT_SENT = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.UnsupportedProtocol,
)


@dataclass(frozen=True)
class PkcePair:
    """A PKCE verifier (kept server-side with the state) and its S256 challenge (sent to Zoom)."""

    verifier: str = field(repr=False)
    challenge: str


def new_pkce_pair() -> PkcePair:
    """A fresh S256 pair; the verifier is 86 characters from the RFC 7636 unreserved set."""
    verifier = secrets.token_urlsafe(64)
    return PkcePair(verifier=verifier, challenge=pkce_challenge(verifier))


def pkce_challenge(verifier: str) -> str:
    """The S256 challenge of a verifier: unpadded base64url of its SHA-256."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def authorize_url(
    oauth_base: str, client_id: str, redirect_uri: str, state: str, code_challenge: str
) -> str:
    """Where to send the user to authorize the app. No `scope`: Zoom takes scopes from the app's
    Marketplace configuration."""
    query = urlencode(
        {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "state": state,
            "code_challenge": code_challenge,
            "code_challenge_method": "S256",
        },
        quote_via=quote,
    )
    return f"{oauth_base.rstrip('/')}/oauth/authorize?{query}"


class TokenSet(BaseModel):
    """A token-endpoint answer. Token values are `SecretStr`: read them with
    `.get_secret_value()`; repr, str and JSON dumps show only asterisks."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    access_token: SecretStr
    # None for S2S tokens. After a refresh, the old refresh token is dead: store this one first.
    refresh_token: SecretStr | None = None
    expires_in: int
    scope: list[str] = []
    api_url: str | None = None
    token_type: str = "bearer"

    @field_validator("scope", mode="before")
    @classmethod
    def _split_scope(cls, value: Any) -> Any:
        if value is None:
            return []
        if isinstance(value, str):
            return value.split()
        return value

    def expires_at(self, now: datetime) -> datetime:
        """Absolute expiry, counted from when the response arrived (`now`)."""
        return now + timedelta(seconds=self.expires_in)


def _token_set_from(response: httpx.Response) -> TokenSet:
    try:
        return TokenSet.model_validate(json.loads(response.content))
    except (ValueError, UnicodeDecodeError, ValidationError):
        # Not even the field names: a partial body may still carry a token.
        raise ValueError("token response is not the expected JSON") from None


class _TokenEndpoint:
    """Shared transport for the token and revoke endpoints: Basic client auth, form bodies."""

    def __init__(
        self, http: httpx.AsyncClient, oauth_base: str, client_id: str, client_secret: str
    ):
        self._http = http
        self._oauth_base = oauth_base.rstrip("/")
        self._client_id = client_id
        self._client_secret = client_secret

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"{name}(oauth_base={self._oauth_base!r}, client_id={self._client_id!r})"

    async def _post(
        self, path: str, form: dict[str, str], *, lost_answer_is_unknown: bool
    ) -> httpx.Response:
        """POST a form; raise the classified error for anything but a 2xx.

        With `lost_answer_is_unknown`, failures after the request was sent (read timeout, dropped
        connection, 5xx) raise `ZoomRefreshOutcomeUnknown`: Zoom may have acted on it already.
        """
        # Only the secret values: redacting e.g. "refresh_token" would garble Zoom's message.
        redact = [v for k, v in form.items() if k in _SECRET_FORM_FIELDS] + [self._client_secret]
        try:
            response = await self._http.post(
                f"{self._oauth_base}{path}",
                data=form,
                auth=httpx.BasicAuth(self._client_id, self._client_secret),
                headers={"Accept": "application/json"},
            )
        except _NOT_SENT as exc:
            raise ZoomTransientError(f"Zoom {path} unreachable: {type(exc).__name__}") from None
        except httpx.TransportError as exc:
            error_type = ZoomRefreshOutcomeUnknown if lost_answer_is_unknown else ZoomTransientError
            raise error_type(
                f"Zoom {path}: request sent but no answer ({type(exc).__name__})"
            ) from None
        if response.is_success:
            return response
        error = classify_token_error(response, redact=redact)
        if lost_answer_is_unknown and response.status_code >= 500:
            # A gateway error can come after the backend rotated the token.
            raise ZoomRefreshOutcomeUnknown(error.message, status=error.status, code=error.code)
        raise error

    async def _token(
        self, form: dict[str, str], *, lost_answer_is_unknown: bool = False
    ) -> TokenSet:
        response = await self._post(
            "/oauth/token", form, lost_answer_is_unknown=lost_answer_is_unknown
        )
        try:
            return _token_set_from(response)
        except ValueError as exc:
            error_type = ZoomRefreshOutcomeUnknown if lost_answer_is_unknown else ZoomTransientError
            raise error_type(f"Zoom /oauth/token: {exc}", status=response.status_code) from None


class ZoomOAuth(_TokenEndpoint):
    """Token calls of Converge's user-managed ("General") OAuth app."""

    async def exchange_code(
        self, code: str, redirect_uri: str, code_verifier: str | None = None
    ) -> TokenSet:
        """Trade an authorization code for tokens. Codes are single use and live 5 minutes, so a
        retry after a lost answer ends in `ZoomGrantDead`: send the user through connect again."""
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
        if code_verifier:
            form["code_verifier"] = code_verifier
        return await self._token(form)

    async def refresh(self, refresh_token: str) -> TokenSet:
        """Rotate a refresh token. Raises `ZoomGrantDead` when it will never work again and
        `ZoomRefreshOutcomeUnknown` when Zoom may have rotated it but the answer was lost."""
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        return await self._token(form, lost_answer_is_unknown=True)

    async def revoke(self, token: str) -> None:
        """Revoke an access token (and with it the grant). A `ZoomGrantDead` here means the token
        was already dead, which a disconnect can treat as done."""
        response = await self._post(
            "/oauth/revoke", {"token": token}, lost_answer_is_unknown=False
        )
        try:
            body = json.loads(response.content or b"{}")
        except (ValueError, UnicodeDecodeError):
            body = {}
        status = body.get("status") if isinstance(body, dict) else None
        if status not in (None, "success"):
            raise ZoomError(
                f"Zoom /oauth/revoke answered status {str(status)[:50]!r}",
                status=response.status_code,
            )


class ZoomS2S(_TokenEndpoint):
    """Token calls of the Server-to-Server app of Converge's own (system) Zoom account."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        oauth_base: str,
        account_id: str,
        client_id: str,
        client_secret: str,
    ):
        super().__init__(http, oauth_base, client_id, client_secret)
        self._account_id = account_id

    async def fetch_token(self) -> TokenSet:
        """A new account token (1 hour, no refresh token). Cache it per account: a burst of
        fetches has invalidated earlier tokens at times (docs/zoom.md#server-to-server-oauth)."""
        return await self._token(
            {"grant_type": "account_credentials", "account_id": self._account_id}
        )
