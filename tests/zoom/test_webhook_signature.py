"""Webhook signature verification matrix and the URL-validation answer (docs/zoom.md#webhook-signatures, #url-validation)."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from zoom.webhooks import sign, url_validation_response, verify_signature

SECRET = "current-secret-token"
PREVIOUS = "previous-secret-token"
NOW = 1_710_300_000.0
WINDOW = 90 * 60
EVENT = {
    "event": "meeting.ended",
    "event_ts": 1710299990123,
    "payload": {"account_id": "acc", "object": {"id": "93123456789", "uuid": "u==", "topic": "Ünï"}},
}
# What Zoom sends: compact JSON, non-ASCII as UTF-8.
RAW = json.dumps(EVENT, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _ts(offset: float = 0) -> str:
    return str(int(NOW + offset))


def _verify(
    timestamp: str | None,
    signature: str | None,
    raw: bytes = RAW,
    secrets: list[str] | None = None,
) -> bool:
    return verify_signature(
        [SECRET, PREVIOUS] if secrets is None else secrets,
        timestamp,
        signature,
        raw,
        now=NOW,
        max_age_seconds=WINDOW,
    )


def test_sign_matches_zoom_recipe() -> None:
    ts = _ts()
    expected = hmac.new(SECRET.encode(), b"v0:" + ts.encode() + b":" + RAW, hashlib.sha256)
    assert sign(SECRET, ts, RAW) == "v0=" + expected.hexdigest()


@pytest.mark.parametrize(
    "case, timestamp, signature, raw, secrets, expected",
    [
        ("good", _ts(), sign(SECRET, _ts(), RAW), RAW, None, True),
        ("good, a minute old", _ts(-60), sign(SECRET, _ts(-60), RAW), RAW, None, True),
        ("good, at the edge of the window", _ts(-WINDOW), sign(SECRET, _ts(-WINDOW), RAW), RAW, None, True),
        ("good, small clock skew", _ts(30), sign(SECRET, _ts(30), RAW), RAW, None, True),
        ("previous secret during rotation", _ts(), sign(PREVIOUS, _ts(), RAW), RAW, None, True),
        ("previous secret no longer configured", _ts(), sign(PREVIOUS, _ts(), RAW), RAW, [SECRET], False),
        ("unknown secret", _ts(), sign("other", _ts(), RAW), RAW, None, False),
        ("no secrets configured", _ts(), sign(SECRET, _ts(), RAW), RAW, [], False),
        ("empty secret is never used", _ts(), sign("", _ts(), RAW), RAW, [""], False),
        ("bad hex", _ts(), "v0=" + "0" * 64, RAW, None, False),
        ("wrong version prefix", _ts(), sign(SECRET, _ts(), RAW).replace("v0=", "v1="), RAW, None, False),
        ("bare hex without prefix", _ts(), sign(SECRET, _ts(), RAW)[3:], RAW, None, False),
        ("stale timestamp", _ts(-WINDOW - 1), sign(SECRET, _ts(-WINDOW - 1), RAW), RAW, None, False),
        ("future timestamp", _ts(3600), sign(SECRET, _ts(3600), RAW), RAW, None, False),
        ("timestamp swapped after signing", _ts(-10), sign(SECRET, _ts(), RAW), RAW, None, False),
        ("tampered body", _ts(), sign(SECRET, _ts(), RAW), RAW.replace(b"93123456789", b"93123456780"), None, False),
        ("trailing newline added", _ts(), sign(SECRET, _ts(), RAW), RAW + b"\n", None, False),
        (
            "re-serialised JSON with spaces",
            _ts(),
            sign(SECRET, _ts(), RAW),
            json.dumps(EVENT).encode(),  # default separators add spaces and escape non-ASCII
            None,
            False,
        ),
        ("missing signature header", _ts(), None, RAW, None, False),
        ("missing timestamp header", None, sign(SECRET, _ts(), RAW), RAW, None, False),
        ("empty headers", "", "", RAW, None, False),
        ("non-numeric timestamp", "yesterday", sign(SECRET, "yesterday", RAW), RAW, None, False),
        ("negative timestamp", "-1", sign(SECRET, "-1", RAW), RAW, None, False),
        ("non-ASCII signature", _ts(), "v0=ü", RAW, None, False),
    ],
)
def test_signature_matrix(
    case: str,
    timestamp: str | None,
    signature: str | None,
    raw: bytes,
    secrets: list[str] | None,
    expected: bool,
) -> None:
    assert _verify(timestamp, signature, raw, secrets) is expected, case


def test_millisecond_timestamps_are_accepted() -> None:
    # Zoom's unit is unverified (seconds in every fixture seen); milliseconds must not break us.
    ts_ms = str(int(NOW * 1000) - 5000)
    assert _verify(ts_ms, sign(SECRET, ts_ms, RAW))
    stale_ms = str(int((NOW - WINDOW - 10) * 1000))
    assert not _verify(stale_ms, sign(SECRET, stale_ms, RAW))


def test_header_whitespace_is_tolerated() -> None:
    ts = _ts()
    assert _verify(f" {ts} ", f" {sign(SECRET, ts, RAW)} ")


def test_url_validation_response() -> None:
    plain = "qgg8vlvZRS6UYooatFL8Aw"
    answer = url_validation_response(SECRET, plain)
    assert answer == {
        "plainToken": plain,
        "encryptedToken": hmac.new(SECRET.encode(), plain.encode(), hashlib.sha256).hexdigest(),
    }
    assert len(answer["encryptedToken"]) == 64
    assert url_validation_response(PREVIOUS, plain)["encryptedToken"] != answer["encryptedToken"]
