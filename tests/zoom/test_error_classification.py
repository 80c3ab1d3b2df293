"""Classification of Zoom error responses (docs/zoom.md#error-codes, #rate-limits-and-the-daily-cap): pure functions over a response."""

from __future__ import annotations

from datetime import datetime, timezone

import httpx
import pytest

from zoom.errors import (
    ZoomBadRequest,
    ZoomClientAuthError,
    ZoomDailyLimit,
    ZoomGrantDead,
    ZoomHostingNotAllowed,
    ZoomMeetingNotFound,
    ZoomMissingScope,
    ZoomRecordingNotFound,
    ZoomTokenRejected,
    ZoomTransientError,
    ZoomUserNotFound,
    classify_api_error,
    classify_token_error,
    next_utc_midnight,
)

NOW = datetime(2024, 3, 13, 15, 30, tzinfo=timezone.utc)
API = "https://api.zoom.us/v2"


def _response(
    status: int,
    body: object = None,
    *,
    text: str | None = None,
    headers: dict[str, str] | None = None,
    url: str = f"{API}/users/me/meetings",
) -> httpx.Response:
    kwargs: dict = {"headers": headers or {}, "request": httpx.Request("GET", url)}
    if text is not None:
        kwargs["text"] = text
    elif body is not None:
        kwargs["json"] = body
    return httpx.Response(status, **kwargs)


@pytest.mark.parametrize(
    "status, body, expected",
    [
        (401, {"code": 124, "message": "Invalid access token."}, ZoomTokenRejected),
        (401, {"code": 124, "message": "Access token is expired."}, ZoomTokenRejected),
        (401, None, ZoomTokenRejected),
        (400, {"code": 3161, "message": "Meeting hosting and scheduling capabilities are not allowed for your user account."}, ZoomHostingNotAllowed),
        (404, {"code": 1001, "message": "User does not exist: nobody@acme.test."}, ZoomUserNotFound),
        (404, {"code": 3001, "message": "Meeting does not exist: 123."}, ZoomMeetingNotFound),
        (404, {"code": 3301, "message": "This recording does not exist."}, ZoomRecordingNotFound),
        (400, {"code": 4700, "message": "Invalid access token, does not contain scopes."}, ZoomMissingScope),
        (401, {"code": 4700, "message": "Invalid access token, does not contain scopes."}, ZoomMissingScope),
        (403, {"code": 3001, "message": "not permitted access to the targeted resource"}, ZoomBadRequest),
        (409, {"code": 3000, "message": "Cannot access meeting info."}, ZoomBadRequest),
        (500, {"code": 500, "message": "Internal error"}, ZoomTransientError),
        (503, None, ZoomTransientError),
    ],
)
def test_api_classes(status: int, body: object, expected: type) -> None:
    error = classify_api_error(_response(status, body), now=NOW)
    assert type(error) is expected
    assert error.status == status


def test_validation_errors_are_kept() -> None:
    body = {
        "code": 300,
        "message": "Validation Failed.",
        "errors": [{"field": "start_time", "message": "Invalid field."}, "junk"],
    }
    error = classify_api_error(_response(400, body), now=NOW)
    assert isinstance(error, ZoomBadRequest)
    assert error.code == 300
    assert error.errors == [{"field": "start_time", "message": "Invalid field."}]


def test_404_without_code_on_meeting_path_is_meeting_not_found() -> None:
    response = _response(404, text="", url=f"{API}/meetings/123")
    assert isinstance(classify_api_error(response, now=NOW), ZoomMeetingNotFound)
    response = _response(404, text="", url=f"{API}/users/x")
    assert type(classify_api_error(response, now=NOW)) is ZoomBadRequest


@pytest.mark.parametrize(
    "text, content_type",
    [
        ("<html><body>Bad Gateway</body></html>", "text/html"),
        ("<?xml version='1.0'?><error><code>500</code></error>", "application/xml"),
        ("", "text/plain"),
        ("[1, 2]", "application/json"),
    ],
)
def test_odd_5xx_bodies_are_transient(text: str, content_type: str) -> None:
    response = _response(502, text=text, headers={"content-type": content_type})
    error = classify_api_error(response, now=NOW)
    assert type(error) is ZoomTransientError
    assert "Bad Gateway" not in str(error)  # unparsed bodies are described, not echoed


def test_odd_4xx_body_still_classified_by_status() -> None:
    error = classify_api_error(_response(401, text="<xml/>"), now=NOW)
    assert isinstance(error, ZoomTokenRejected)


def test_per_second_429_is_transient_with_wait() -> None:
    response = _response(
        429,
        {"code": 429, "message": "You have reached the maximum per-second rate limit for this API. Try again later."},
        headers={"X-RateLimit-Type": "QPS", "X-RateLimit-Category": "Medium", "X-RateLimit-Reset": "2"},
    )
    error = classify_api_error(response, now=NOW)
    assert type(error) is ZoomTransientError
    assert error.retry_after_seconds == 2


def test_429_reset_as_epoch_or_retry_after_seconds() -> None:
    epoch = str(int(NOW.timestamp()) + 5)
    error = classify_api_error(_response(429, {}, headers={"X-RateLimit-Reset": epoch}), now=NOW)
    assert error.retry_after_seconds == 5
    error = classify_api_error(_response(429, {}, headers={"Retry-After": "7"}), now=NOW)
    assert error.retry_after_seconds == 7
    error = classify_api_error(_response(429, {"code": 429, "message": "Too many concurrent requests"}), now=NOW)
    assert type(error) is ZoomTransientError and error.retry_after_seconds is None


def test_daily_limit_429_uses_iso_retry_after() -> None:
    response = _response(
        429,
        {"code": 429, "message": "You have reached the maximum daily rate limit for this API."},
        headers={"X-RateLimit-Type": "Daily-limit", "Retry-After": "2024-03-14T00:00:00Z"},
    )
    error = classify_api_error(response, now=NOW)
    assert isinstance(error, ZoomDailyLimit)
    assert error.retry_at == datetime(2024, 3, 14, tzinfo=timezone.utc)


def test_daily_limit_429_without_usable_retry_after_waits_for_midnight() -> None:
    response = _response(429, {}, headers={"X-RateLimit-Type": "Daily-limit", "Retry-After": "soon"})
    error = classify_api_error(response, now=NOW)
    assert isinstance(error, ZoomDailyLimit)
    assert error.retry_at == datetime(2024, 3, 14, tzinfo=timezone.utc)


def test_daily_cap_as_code_300() -> None:
    body = {"code": 300, "message": "A maximum of 100 meetings can be created/updated for a single user in one day."}
    error = classify_api_error(_response(400, body), now=NOW)
    assert isinstance(error, ZoomDailyLimit)
    assert error.retry_at == datetime(2024, 3, 14, tzinfo=timezone.utc)


def test_next_utc_midnight() -> None:
    assert next_utc_midnight(datetime(2024, 12, 31, 23, 59, tzinfo=timezone.utc)) == datetime(
        2025, 1, 1, tzinfo=timezone.utc
    )
    assert next_utc_midnight(datetime(2024, 3, 13, tzinfo=timezone.utc)) == datetime(
        2024, 3, 14, tzinfo=timezone.utc
    )


@pytest.mark.parametrize(
    "status, body, expected",
    [
        (400, {"reason": "Invalid Token!", "error": "invalid_grant"}, ZoomGrantDead),
        (400, {"reason": "Invalid Token!", "error": "invalid_request"}, ZoomGrantDead),
        (401, {"reason": "Invalid Token!", "error": "invalid_grant"}, ZoomGrantDead),
        (400, {"code": 4741, "message": "Token has been revoked"}, ZoomGrantDead),
        (400, {"code": 4735, "message": "Token owner no longer exists"}, ZoomGrantDead),
        (400, {"code": "4737", "message": "Authorization not found"}, ZoomGrantDead),
        (400, {"code": 4733, "message": "Code expired"}, ZoomGrantDead),
        (401, {"reason": "Invalid client_id or client_secret", "error": "invalid_client"}, ZoomClientAuthError),
        (401, None, ZoomClientAuthError),
        (400, {"code": 4702, "message": "Invalid client"}, ZoomClientAuthError),
        (400, {"reason": "unsupported grant type", "error": "unsupported_grant_type"}, ZoomBadRequest),
        (400, {"reason": "Invalid request", "error": "invalid_request"}, ZoomBadRequest),
        (500, {"error": "server_error"}, ZoomTransientError),
        (502, None, ZoomTransientError),
    ],
)
def test_token_classes(status: int, body: object, expected: type) -> None:
    response = _response(status, body, url="https://zoom.us/oauth/token")
    assert type(classify_token_error(response, now=NOW)) is expected


def test_token_error_text_and_redaction() -> None:
    secret = "refresh-token-value-123"
    response = _response(
        400,
        {"reason": f"Invalid Token! {secret}", "error": "invalid_grant"},
        url="https://zoom.us/oauth/token",
    )
    error = classify_token_error(response, redact=[secret], now=NOW)
    assert secret not in str(error)
    assert "invalid_grant" in str(error)
    assert error.code == "invalid_grant"
    assert error.status == 400


def test_token_xml_body_is_described_not_echoed() -> None:
    response = _response(
        500, text="<error>secret-ish</error>", headers={"content-type": "text/xml"},
        url="https://zoom.us/oauth/token",
    )
    error = classify_token_error(response, now=NOW)
    assert isinstance(error, ZoomTransientError)
    assert "secret-ish" not in str(error) and "text/xml" in str(error)


def test_a_servers_retry_after_is_honoured_within_bounds() -> None:
    from datetime import timedelta

    from zoom.errors import MAX_RETRY_AFTER, honoured_retry_after

    assert honoured_retry_after(None) is None  # the retry policy's backoff decides
    assert honoured_retry_after(2) == timedelta(seconds=2)
    assert honoured_retry_after(0) == timedelta(seconds=1)
    assert honoured_retry_after(86_400) == MAX_RETRY_AFTER
