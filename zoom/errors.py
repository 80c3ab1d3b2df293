"""Zoom failures, sorted by what the caller has to do about them.

Callers never look at HTTP statuses or Zoom codes: they catch one of these classes.
- `ZoomTransientError`: try again later (5xx, network, per-second 429, bodies that are not ours).
- `ZoomTokenRejected`: drop the cached access token and get another one.
- `ZoomGrantDead`: the refresh token (or authorization code) will never work again; the
  connection needs the user to reconnect. Retrying only gets the app flagged (docs/zoom.md#dead-refresh-tokens).
- `ZoomClientAuthError`: our own app credentials are wrong; nothing a user can fix.
- `ZoomDailyLimit`: this host is done for the day; `.retry_at` says when it may try again.
- the rest are permanent answers about the request (no licence, no such user/meeting/recording,
  scope, validation).

Error messages carry Zoom's message and code but never a token: Zoom does not echo tokens, and
the token-endpoint helpers scrub any value they were told about, so messages are safe to log.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Iterable

import httpx

_MAX_MESSAGE = 300
_DAILY_CAP_MESSAGE = re.compile(
    r"maximum of \d+ meetings can be created/updated for a single user in one day", re.I
)
# Token-endpoint codes (docs/zoom.md#error-codes): the grant, code or refresh token is unusable for good.
_DEAD_GRANT_CODES = {4711, 4733, 4734, 4735, 4737, 4738, 4740, 4741}
_CLIENT_AUTH_CODES = {4702, 4704, 4717}
# Above this, a numeric rate-limit reset header is an epoch timestamp, not a number of seconds.
_EPOCH_THRESHOLD = 10**9


class ZoomError(Exception):
    """Base class: `.status` is the HTTP status (None for network failures), `.code` Zoom's
    numeric code or the OAuth `error` string, `.message` Zoom's text (no tokens)."""

    def __init__(
        self, message: str, *, status: int | None = None, code: int | str | None = None
    ) -> None:
        self.message = message
        self.status = status
        self.code = code
        super().__init__(message)

    def __str__(self) -> str:
        details = []
        if self.status is not None:
            details.append(f"HTTP {self.status}")
        if self.code is not None:
            details.append(f"code {self.code}")
        return f"{self.message} ({', '.join(details)})" if details else self.message


class ZoomTransientError(ZoomError):
    """Worth retrying later; `.retry_after_seconds` when Zoom said how long to wait."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: int | str | None = None,
        retry_after_seconds: float | None = None,
    ) -> None:
        super().__init__(message, status=status, code=code)
        self.retry_after_seconds = retry_after_seconds


class ZoomRefreshOutcomeUnknown(ZoomTransientError):
    """A refresh request reached Zoom but its answer was lost (read timeout, dropped connection,
    5xx or a garbled 200). Zoom may already have rotated the refresh token, so the token manager
    tries the old refresh token once and, on `ZoomGrantDead`, marks the connection expired with
    reason `refresh_response_lost` instead of retrying forever."""


class ZoomTokenRejected(ZoomError):
    """The API refused the access token (HTTP 401 / code 124): invalid, expired or revoked."""


class ZoomGrantDead(ZoomError):
    """The token endpoint refused the refresh token or authorization code for good
    (`invalid_grant`, "Invalid Token!", 4733-4741 style codes)."""


class ZoomClientAuthError(ZoomError):
    """The token endpoint refused our client id/secret (`invalid_client`): a configuration error."""


class ZoomDailyLimit(ZoomError):
    """The per-user daily create/update cap (or a daily rate limit) is used up until `.retry_at`."""

    def __init__(
        self,
        message: str,
        *,
        retry_at: datetime,
        status: int | None = None,
        code: int | str | None = None,
    ) -> None:
        super().__init__(message, status=status, code=code)
        self.retry_at = retry_at


class ZoomHostingNotAllowed(ZoomError):
    """Code 3161: the user may not host or schedule meetings (no meetings licence/entitlement)."""


class ZoomUserNotFound(ZoomError):
    """Code 1001: no such user in the account (or not visible to this token)."""


class ZoomMeetingNotFound(ZoomError):
    """Code 3001 / HTTP 404 on a meeting: it does not exist (deleted, expired, or a wrongly
    encoded UUID)."""


class ZoomRecordingNotFound(ZoomError):
    """Code 3301: the meeting exists but has no cloud recording (yet, or any more). Not an error
    for a poller waiting on Zoom's processing."""


class ZoomPaidFeature(ZoomError):
    """Code 200 "Only available for Paid user": the host's licence does not include the feature
    (meeting registration, for one; docs/zoom.md#meeting-registrants)."""


class ZoomMissingScope(ZoomError):
    """Code 4700: the token lacks a scope the call needs; the user must re-authorize."""


class ZoomBadRequest(ZoomError):
    """Any other 4xx: the request as sent will not succeed. `.errors` holds Zoom's per-field
    validation errors (code 300) when it sent them."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: int | str | None = None,
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message, status=status, code=code)
        self.errors = errors or []


def next_utc_midnight(now: datetime) -> datetime:
    """The next 00:00 UTC after `now`, when Zoom resets its per-user daily cap."""
    now = now.astimezone(timezone.utc)
    return datetime(now.year, now.month, now.day, tzinfo=timezone.utc) + timedelta(days=1)


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _parse_body(response: httpx.Response) -> dict[str, Any]:
    """Zoom's JSON error body as a dict; {} for empty, XML, HTML or otherwise odd bodies."""
    try:
        data = json.loads(response.content or b"")
    except (ValueError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _int_code(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value.strip())
    return None


def _clean(text: Any, redact: Iterable[str] = ()) -> str:
    message = str(text) if text is not None else ""
    for secret in redact:
        if secret:
            message = message.replace(secret, "[redacted]")
    message = " ".join(message.split())
    return message[:_MAX_MESSAGE]


def _describe_unparsed(response: httpx.Response) -> str:
    # Never echo a body we could not parse: an HTML or XML page could hold anything.
    content_type = response.headers.get("content-type", "no content type").split(";")[0]
    return f"unexpected {content_type} body ({len(response.content)} bytes)"


def _parse_http_date_or_seconds(value: str | None, now: datetime) -> datetime | None:
    """A Retry-After style header as an absolute time: seconds, epoch seconds or ISO-8601."""
    if not value:
        return None
    value = value.strip()
    try:
        number = float(value)
    except ValueError:
        pass
    else:
        if number >= _EPOCH_THRESHOLD:
            return datetime.fromtimestamp(number, tz=timezone.utc)
        return now + timedelta(seconds=max(number, 0.0))
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        try:
            parsed = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def retry_after_seconds(response: httpx.Response, now: datetime | None = None) -> float | None:
    """How long the server asked us to wait (`Retry-After`, else `X-RateLimit-Reset`), if it said."""
    now = now or _utcnow()
    for header in ("retry-after", "x-ratelimit-reset"):
        at = _parse_http_date_or_seconds(response.headers.get(header), now)
        if at is not None:
            return max((at - now).total_seconds(), 0.0)
    return None


def _request_path(response: httpx.Response) -> str:
    try:
        return response.request.url.path
    except RuntimeError:  # a Response built by hand has no request
        return ""


def _rate_limited(
    response: httpx.Response, code: int | None, message: str, now: datetime
) -> ZoomError:
    status = response.status_code
    limit_type = response.headers.get("x-ratelimit-type", "").strip().lower()
    if limit_type in {"daily-limit", "daily"}:
        retry_at = _parse_http_date_or_seconds(response.headers.get("retry-after"), now)
        return ZoomDailyLimit(
            message or "Zoom daily rate limit reached",
            retry_at=retry_at or next_utc_midnight(now),
            status=status,
            code=code,
        )
    # Per-second ("QPS") and concurrency ("Too many concurrent requests") limits clear quickly.
    return ZoomTransientError(
        message or "Zoom rate limit reached",
        status=status,
        code=code,
        retry_after_seconds=retry_after_seconds(response, now),
    )


def classify_api_error(response: httpx.Response, *, now: datetime | None = None) -> ZoomError:
    """The exception for a failed REST API response (`api.zoom.us/v2`)."""
    now = now or _utcnow()
    status = response.status_code
    body = _parse_body(response)
    code = _int_code(body.get("code"))
    message = _clean(body.get("message")) or _describe_unparsed(response)

    if status == 429:
        return _rate_limited(response, code, message, now)
    if status >= 500 or status < 400:
        # Also a 2xx/3xx we did not expect: not an answer we can act on, so retry later.
        return ZoomTransientError(f"Zoom API: {message}", status=status, code=code)
    if code == 4700:
        return ZoomMissingScope(message, status=status, code=code)
    if status == 401 or code == 124:
        return ZoomTokenRejected(message, status=status, code=code)
    if code == 300 and _DAILY_CAP_MESSAGE.search(message):
        return ZoomDailyLimit(
            message, retry_at=next_utc_midnight(now), status=status, code=code
        )
    if code == 200 and status == 400:
        return ZoomPaidFeature(message, status=status, code=code)
    if code == 3161:
        return ZoomHostingNotAllowed(message, status=status, code=code)
    if code == 1001:
        return ZoomUserNotFound(message, status=status, code=code)
    if code == 3301:
        return ZoomRecordingNotFound(message, status=status, code=code)
    # 3001 with 403 means "not permitted to access" an existing meeting, not "gone".
    if (code == 3001 and status != 403) or (
        status == 404 and code is None and "/meetings/" in _request_path(response)
    ):
        return ZoomMeetingNotFound(message, status=status, code=code)
    errors = body.get("errors")
    return ZoomBadRequest(
        message,
        status=status,
        code=code,
        errors=[e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else None,
    )


def classify_token_error(
    response: httpx.Response, *, redact: Iterable[str] = (), now: datetime | None = None
) -> ZoomError:
    """The exception for a failed OAuth token-endpoint response (`/oauth/token`, `/oauth/revoke`).

    `redact` lists values we sent (refresh token, code, secret) so an error echoing them can't
    leak them into logs.
    """
    now = now or _utcnow()
    redact = list(redact)
    status = response.status_code
    body = _parse_body(response)
    error = body.get("error") if isinstance(body.get("error"), str) else None
    reason_text = body.get("reason") or body.get("error_description") or body.get("message")
    reason = _clean(reason_text, redact)
    numeric = _int_code(body.get("code"))
    code: int | str | None = error or numeric
    message = f"Zoom token endpoint: {error or numeric or 'error'}"
    if reason:
        message += f" ({reason})"
    elif not body:
        message = f"Zoom token endpoint: {_describe_unparsed(response)}"

    if status == 429:
        return _rate_limited(response, numeric, message, now)
    if status >= 500 or status < 400:
        return ZoomTransientError(message, status=status, code=code)
    if error == "invalid_client" or numeric in _CLIENT_AUTH_CODES:
        return ZoomClientAuthError(message, status=status, code=code)
    if (
        error == "invalid_grant"
        or (error == "invalid_request" and reason.strip().lower() == "invalid token!")
        or numeric in _DEAD_GRANT_CODES
    ):
        return ZoomGrantDead(message, status=status, code=code)
    if status == 401 and error is None:
        # A bare 401 from the token endpoint means Basic auth (our client credentials) failed.
        return ZoomClientAuthError(message, status=status, code=code)
    return ZoomBadRequest(message, status=status, code=code)


# A server's own Retry-After is honoured up to this long: a per-second limit or a file server's
# brief overload clears in seconds, and a longer wait is not worth trusting blindly.
MAX_RETRY_AFTER = timedelta(seconds=60)


def honoured_retry_after(seconds: float | None) -> timedelta | None:
    """The delay before the next attempt when the server said how long to wait (for Temporal's
    `next_retry_delay`); None leaves the retry policy's backoff in charge."""
    if seconds is None:
        return None
    return min(timedelta(seconds=max(seconds, 1.0)), MAX_RETRY_AFTER)
