"""Meeting id normalisation and UUID path encoding (docs/zoom.md#meeting-ids-and-uuids)."""

from __future__ import annotations

from urllib.parse import unquote

import pytest

from zoom.ids import encode_meeting_ref, is_numeric_meeting_id, meeting_id_str


@pytest.mark.parametrize(
    "value, expected",
    [
        (93123456789, "93123456789"),
        ("93123456789", "93123456789"),
        (" 93123456789 ", "93123456789"),
        ("0093123456789", "93123456789"),
        (2**40, str(2**40)),  # ids exceed 32 bits
        (0, "0"),
    ],
)
def test_meeting_id_str_normalises(value: int | str, expected: str) -> None:
    assert meeting_id_str(value) == expected


def test_string_and_number_ids_agree() -> None:
    assert meeting_id_str("85746065432") == meeting_id_str(85746065432)


@pytest.mark.parametrize(
    "value",
    ["", "abc", "12a", "-5", -5, "1.5", 1.5, True, None, "١٢٣", "BOKXuumlTAGXuqwr3bLyuQ=="],
)
def test_meeting_id_str_rejects(value: object) -> None:
    with pytest.raises(ValueError):
        meeting_id_str(value)  # type: ignore[arg-type]


def test_is_numeric_meeting_id() -> None:
    assert is_numeric_meeting_id(123)
    assert is_numeric_meeting_id("123")
    assert not is_numeric_meeting_id("BOKXuumlTAGXuqwr3bLyuQ==")


@pytest.mark.parametrize(
    "ref, expected",
    [
        (93123456789, "93123456789"),
        ("93123456789", "93123456789"),
        ("BOKXuumlTAGXuqwr3bLyuQ==", "BOKXuumlTAGXuqwr3bLyuQ%3D%3D"),
        ("ab+cd/ef==", "ab%2Bcd%2Fef%3D%3D"),  # a single "/" inside: encoded once
        ("/ajXp112QmuoKj4854875==", "%252FajXp112QmuoKj4854875%253D%253D"),
        ("ab//cd==", "ab%252F%252Fcd%253D%253D"),
    ],
)
def test_encode_meeting_ref(ref: int | str, expected: str) -> None:
    assert encode_meeting_ref(ref) == expected


def test_double_encoding_decodes_back_in_two_steps() -> None:
    uuid = "/gk2//abc+=="
    encoded = encode_meeting_ref(uuid)
    assert "/" not in encoded
    assert unquote(unquote(encoded)) == uuid
    assert unquote(encoded) != uuid


def test_encode_meeting_ref_rejects_empty() -> None:
    with pytest.raises(ValueError):
        encode_meeting_ref("")
