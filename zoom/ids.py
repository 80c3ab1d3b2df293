"""Meeting ids and UUIDs as Zoom expects them in paths, and as we compare them.

Zoom sends the numeric meeting id as a JSON number in REST responses and `recording.completed`,
but as a string in `meeting.started`/`meeting.ended`; ids also exceed 32 bits. One canonical
decimal string keeps lookups and dedupe keys from splitting one meeting into two.
"""

from __future__ import annotations

import re
from urllib.parse import quote

_DECIMAL = re.compile(r"[0-9]+")


def meeting_id_str(value: int | str) -> str:
    """The canonical decimal string of a numeric meeting id (`93123456789`, `"093123456789 "`)."""
    # bool is an int subclass; True is never a meeting id.
    if isinstance(value, bool):
        raise ValueError("a meeting id cannot be a boolean")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"a meeting id cannot be negative: {value}")
        return str(value)
    if isinstance(value, str):
        text = value.strip()
        # ASCII digits only: str.isdigit() also accepts e.g. Arabic-Indic digits.
        if _DECIMAL.fullmatch(text):
            return str(int(text))
        raise ValueError(f"not a numeric meeting id: {value!r}")
    raise ValueError(f"a meeting id must be an int or a string, got {type(value).__name__}")


def is_numeric_meeting_id(value: int | str) -> bool:
    """True for a numeric meeting id (int or decimal string), False for an instance UUID."""
    try:
        meeting_id_str(value)
    except ValueError:
        return False
    return True


def encode_meeting_ref(id_or_uuid: int | str) -> str:
    """A meeting id or instance UUID, ready to put into a URL path segment.

    UUIDs are base64-like and may hold `/`, `+` and `=`, so they are always percent-encoded.
    Zoom's rule on top: a UUID that starts with `/` or contains `//` must be encoded twice
    (their router decodes once before routing); anything else would 404 with code 3001.
    """
    if is_numeric_meeting_id(id_or_uuid):
        return meeting_id_str(id_or_uuid)
    if not isinstance(id_or_uuid, str) or not id_or_uuid:
        raise ValueError("a meeting UUID must be a non-empty string")
    once = quote(id_or_uuid, safe="")
    if id_or_uuid.startswith("/") or "//" in id_or_uuid:
        return quote(once, safe="")
    return once
