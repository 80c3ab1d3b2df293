"""Parsing realistic Zoom webhook bodies and their dedupe keys (docs/zoom.md#event-payloads)."""

from __future__ import annotations

import json

import pytest

from zoom.webhooks import (
    AppDeauthorized,
    MeetingEnded,
    MeetingStarted,
    OtherEvent,
    RecordingCompleted,
    RecordingTranscriptCompleted,
    UrlValidation,
    WebhookPayloadError,
    dedupe_key,
    parse_event,
)

UUID = "4444AAAiAAAAAiAiAiiAii=="
DOWNLOAD_TOKEN = "abJhbGciOiJIUzUxMiJ9.download-token-secret"


def _meeting_event(event: str, meeting_id: object, **extra: object) -> dict:
    obj = {
        "duration": 30,
        "start_time": "2024-03-13T10:00:00Z",
        "timezone": "Europe/Berlin",
        "topic": "IDI with participant",
        "id": meeting_id,
        "type": 2,
        "uuid": UUID,
        "host_id": "z8yCxjabcdEFGHfp8uQ",
        **extra,
    }
    return {
        "event": event,
        "event_ts": 1710324000123,
        "payload": {"account_id": "AAAAAABBBB", "object": obj},
    }


def _recording_event(event: str = "recording.completed", files: list[dict] | None = None) -> dict:
    if files is None:
        files = [
            {
                "id": "ed6c2f27-2ae7-42f4-b3d0-835b493e4fa8",
                "meeting_id": UUID,
                "recording_start": "2024-03-13T10:00:05Z",
                "recording_end": "2024-03-13T10:30:00Z",
                "file_type": "MP4",
                "file_extension": "MP4",
                "file_size": 246560,
                "play_url": "https://example.com/rec/play/abc",
                "download_url": "https://example.com/rec/download/abc",
                "status": "completed",
                "recording_type": "shared_screen_with_speaker_view",
            },
            {
                "id": "3aa2b4f3-0b44-4b1f-8c4f-5a1c1f22a1b3",
                "meeting_id": UUID,
                "recording_start": "2024-03-13T10:00:05Z",
                "recording_end": "2024-03-13T10:30:00Z",
                "file_type": "M4A",
                "file_extension": "M4A",
                "file_size": 24656,
                "download_url": "https://example.com/rec/download/def",
                "status": "completed",
                "recording_type": "audio_only",
            },
            {
                # CC entries carry no id, status, file_size or recording_type.
                "meeting_id": UUID,
                "recording_start": "2024-03-13T10:00:05Z",
                "recording_end": "2024-03-13T10:30:00Z",
                "file_type": "CC",
                "file_extension": "VTT",
                "download_url": "https://example.com/rec/download/cc",
            },
            {
                "meeting_id": UUID,
                "recording_start": "2024-03-13T10:00:05Z",
                "recording_end": "2024-03-13T10:30:00Z",
                "file_type": "TIMELINE",
                "file_extension": "JSON",
                "download_url": "https://example.com/rec/download/tl",
            },
        ]
    return {
        "event": event,
        "event_ts": 1710327600456,
        "download_token": DOWNLOAD_TOKEN,
        "payload": {
            "account_id": "AAAAAABBBB",
            "object": {
                "id": 93123456789,
                "uuid": UUID,
                "host_id": "z8yCxjabcdEFGHfp8uQ",
                "account_id": "AAAAAABBBB",
                "host_email": "alex@acme.test",
                "topic": "IDI with participant",
                "type": 2,
                "start_time": "2024-03-13T10:00:00Z",
                "timezone": "Europe/Berlin",
                "duration": 30,
                "password": "132456",
                "share_url": "https://example.com/rec/share/xyz",
                "total_size": 271216,
                "recording_count": len(files),
                "recording_play_passcode": "yNYIS408EJygs7rE5vVsJwXIz4-VW7MH",
                "recording_files": files,
                "some_future_field": {"nested": True},
            },
        },
    }


def _raw(body: dict) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


@pytest.mark.parametrize("meeting_id", ["93123456789", 93123456789])
def test_meeting_started_id_string_or_number(meeting_id: object) -> None:
    event = parse_event(_raw(_meeting_event("meeting.started", meeting_id)))
    assert isinstance(event, MeetingStarted)
    assert event.payload.object.id == "93123456789"
    assert event.payload.object.uuid == UUID
    assert event.payload.object.start_time is not None
    assert event.payload.account_id == "AAAAAABBBB"


def test_meeting_ended_has_end_time_and_keeps_unknown_fields() -> None:
    body = _meeting_event("meeting.ended", "93123456789", end_time="2024-03-13T10:31:00Z", new_thing=1)
    event = parse_event(body)
    assert isinstance(event, MeetingEnded)
    assert event.payload.object.end_time is not None
    assert event.payload.object.model_extra == {"new_thing": 1}


def test_meeting_event_tolerates_empty_start_time() -> None:
    event = parse_event(_meeting_event("meeting.started", "1", start_time=""))
    assert event.payload.object.start_time is None


def test_recording_completed() -> None:
    event = parse_event(_raw(_recording_event()))
    assert isinstance(event, RecordingCompleted)
    obj = event.payload.object
    assert obj.id == "93123456789"  # number in this event, string in meeting.* events
    assert [f.file_type for f in obj.recording_files] == ["MP4", "M4A", "CC", "TIMELINE"]
    cc = obj.recording_files[2]
    assert cc.id is None and cc.status is None and cc.file_size is None
    assert cc.stable_ref().startswith("CC@")
    assert obj.recording_files[0].file_size == 246560
    assert event.download_token is not None
    assert event.download_token.get_secret_value() == DOWNLOAD_TOKEN


def test_download_token_never_shows_in_repr_or_dump() -> None:
    event = parse_event(_recording_event())
    assert DOWNLOAD_TOKEN not in repr(event)
    assert DOWNLOAD_TOKEN not in str(event)
    assert DOWNLOAD_TOKEN not in event.model_dump_json()


def test_transcript_completed_without_download_token() -> None:
    body = _recording_event(
        "recording.transcript_completed",
        files=[
            {
                "id": "tr-1",
                "meeting_id": UUID,
                "file_type": "TRANSCRIPT",
                "file_extension": "VTT",
                "file_size": 1200,
                "download_url": "https://example.com/rec/download/tr",
                "status": "completed",
                "recording_type": "audio_transcript",
            }
        ],
    )
    del body["download_token"]
    event = parse_event(body)
    assert isinstance(event, RecordingTranscriptCompleted)
    assert event.download_token is None
    assert event.payload.object.recording_files[0].file_type == "TRANSCRIPT"


def test_in_progress_file_with_empty_type_parses() -> None:
    event = parse_event(_recording_event(files=[{"id": "x", "file_type": "", "status": "processing"}]))
    assert event.payload.object.recording_files[0].file_type == ""


def test_app_deauthorized_shape() -> None:
    body = {
        "event": "app_deauthorized",
        "payload": {
            "account_id": "EabCDEFghiLHMA",
            "user_id": "z9jkdsfsdfjhdkfjQ",
            "signature": "827edc3452044f0bc86bdd5684afb7d1e6becfa1a767f24df1b287853cf73000",
            "deauthorization_time": "2019-06-17T13:52:28.632Z",
            "client_id": "ADZ9k9bTWmGUoUbECUKU_a",
            "event_ts": 1560779548632,
            "user_data_retention": False,
        },
    }
    event = parse_event(_raw(body))
    assert isinstance(event, AppDeauthorized)
    assert event.event_ts is None
    assert event.payload.event_ts == 1560779548632
    assert event.payload.user_id == "z9jkdsfsdfjhdkfjQ"
    assert event.payload.user_data_retention is False


def test_url_validation() -> None:
    event = parse_event(
        b'{"event":"endpoint.url_validation","payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"},"event_ts":1654503849680}'
    )
    assert isinstance(event, UrlValidation)
    assert event.payload.plain_token == "qgg8vlvZRS6UYooatFL8Aw"
    assert dedupe_key(event) is None


def test_unknown_event_is_kept() -> None:
    body = {"event": "meeting.sharing_started", "event_ts": 1, "payload": {"object": {"id": 5}}}
    event = parse_event(body)
    assert isinstance(event, OtherEvent)
    assert event.payload == {"object": {"id": 5}}
    assert dedupe_key(event) == dedupe_key(parse_event(json.dumps(body, indent=2)))


@pytest.mark.parametrize(
    "raw",
    [b"", b"not json", b"[1,2]", b'{"payload":{}}', b'{"event":"meeting.started","payload":{}}',
     b'{"event":"meeting.started","payload":{"object":{"id":"abc","uuid":"u"}}}'],
)
def test_malformed_bodies_raise(raw: bytes) -> None:
    with pytest.raises(WebhookPayloadError):
        parse_event(raw)


def test_malformed_error_does_not_echo_values() -> None:
    body = _recording_event()
    body["payload"]["object"]["recording_files"] = "nope " + DOWNLOAD_TOKEN
    with pytest.raises(WebhookPayloadError) as info:
        parse_event(body)
    assert DOWNLOAD_TOKEN not in str(info.value)


# --- dedupe keys --------------------------------------------------------------------------------


def test_meeting_dedupe_key_ignores_delivery_details() -> None:
    first = _meeting_event("meeting.ended", "93123456789")
    retry = _meeting_event("meeting.ended", 93123456789)
    retry["event_ts"] += 300_000  # a retry may carry another timestamp
    assert dedupe_key(parse_event(first)) == dedupe_key(parse_event(retry)) == f"meeting.ended:{UUID}"
    assert dedupe_key(parse_event(_meeting_event("meeting.started", "1"))) != dedupe_key(
        parse_event(first)
    )


def test_recording_dedupe_key_is_stable_across_file_order() -> None:
    first = _recording_event()
    retry = _recording_event()
    retry["payload"]["object"]["recording_files"].reverse()
    retry["event_ts"] += 1
    retry["download_token"] = "another-token"
    assert dedupe_key(parse_event(first)) == dedupe_key(parse_event(retry))
    assert dedupe_key(parse_event(first)).startswith(f"recording.completed:{UUID}:")


def test_recording_dedupe_key_changes_with_the_file_set() -> None:
    full = _recording_event()
    partial = _recording_event(files=_recording_event()["payload"]["object"]["recording_files"][:1])
    assert dedupe_key(parse_event(full)) != dedupe_key(parse_event(partial))
    transcript = _recording_event("recording.transcript_completed")
    assert dedupe_key(parse_event(full)) != dedupe_key(parse_event(transcript))


def test_deauth_dedupe_key() -> None:
    body = {
        "event": "app_deauthorized",
        "payload": {"account_id": "a", "user_id": "u1", "deauthorization_time": "2019-06-17T13:52:28.632Z"},
    }
    assert dedupe_key(parse_event(body)) == "app_deauthorized:u1:2019-06-17T13:52:28.632Z"
