"""The one validation layer in front of every route and the webhook: bad input is a 4xx, never a 5xx.

What reaches a handler has passed these rules (the README's security notes list them):
- header values, path segments and query values are valid Unicode (no undecodable bytes, which
  aiohttp hands over as lone surrogates), carry no control character (tab aside, in headers) and
  are bounded (8 KiB a header, 200 characters a path segment, 2,000 a query value);
- a JSON body is strict UTF-8, no NaN/Infinity, nests at most MAX_DEPTH deep, holds at most
  MAX_NODES values, and every string in it (keys too) is valid Unicode without control characters
  other than tab, newline and carriage return (Postgres refuses NUL and lone surrogates; a deep
  body would exhaust the parser's recursion). The error names the field, as JSON path;
- single-line fields (names, emails, titles) refuse even tab and newline (`single_line`);
- date-times are RFC 3339 exactly (`parse_rfc3339`), within the horizon the caller states.
Every refusal is an ApiError, so it carries {"error": {"code", "message"}}.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from aiohttp import web

from api.errors import ApiError

MAX_DEPTH = 32
MAX_INT = 2**53  # what every JSON reader keeps exactly; Postgres BIGINT holds it too
MAX_NODES = 20_000
MAX_HEADER_CHARS = 8192
MAX_PATH_SEGMENT = 200
MAX_QUERY_VALUE = 2000
_MULTILINE_OK = {"\t", "\n", "\r"}

_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:[Zz]|[+-]\d{2}:\d{2})?")


# Unicode category Cc is exactly U+0000-U+001F and U+007F-U+009F; lone surrogates are what
# json.loads lets through from "\ud800"-style escapes. One regex scan finds both: most strings
# have none, and a per-character loop was a quarter of the webhook intake's time (bench/README.md).
_SUSPECT = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def _problem(text: str, *, allowed: set[str]) -> str | None:
    """Why `text` is not clean Unicode, or None."""
    for found in _SUSPECT.finditer(text):
        ch = found.group()
        code = ord(ch)
        if 0xD800 <= code <= 0xDFFF:
            return "is not valid Unicode (undecodable bytes or a lone surrogate)"
        if ch not in allowed:
            return f"contains the control character U+{code:04X}"
    return None


def single_line(value: str, field: str) -> str:
    """`value`, if it is clean text on one line (no control character at all); a 400 otherwise."""
    problem = _problem(value, allowed=set())
    if problem:
        raise ApiError(400, "invalid_text", f"{field} {problem}; send plain text on one line.")
    return value


def parse_rfc3339(text: str, field: str) -> datetime | None:
    """An RFC 3339 date-time (offset optional here, so the caller can say it is missing); None
    when `text` is not one. Stricter than datetime.fromisoformat, which also takes ISO week
    dates, ordinal dates and other forms."""
    if not isinstance(text, str) or not _RFC3339.fullmatch(text):
        return None
    try:
        return datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
    except ValueError:
        return None


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def load_json(raw: bytes, what: str = "The body", code: str | None = None) -> Any:
    """Parse and check a JSON body; ApiError(400) naming the problem and where it is. `code`
    replaces the error codes (the webhook answers every body problem as `invalid_payload`)."""
    try:
        return _load_json(raw, what)
    except ApiError as refused:
        if code is None:
            raise
        raise ApiError(refused.status, code, refused.message) from None


def _load_json(raw: bytes, what: str) -> Any:
    try:
        text = raw.decode("utf-8")
        data = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise ApiError(400, "invalid_json", f"{what} nests deeper than {MAX_DEPTH} levels.") from None
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "invalid_json", f"{what} is not valid JSON in UTF-8.") from None
    check_tree(data, what)
    return data


def check_tree(data: Any, what: str = "The body") -> None:
    """Depth, size and string rules over a parsed JSON value (iterative: no recursion limit)."""
    stack: list[tuple[Any, str, int]] = [(data, "", 0)]
    nodes = 0
    while stack:
        value, path, depth = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            raise ApiError(400, "invalid_json", f"{what} holds more than {MAX_NODES} values.")
        if depth > MAX_DEPTH:
            raise ApiError(400, "invalid_json", f"{what} nests deeper than {MAX_DEPTH} levels.")
        if isinstance(value, str):
            problem = _problem(value, allowed=_MULTILINE_OK)
            if problem:
                raise ApiError(400, "invalid_text", f"{path or 'body'} {problem}.")
        elif isinstance(value, int) and not -MAX_INT <= value <= MAX_INT:
            raise ApiError(400, "invalid_json", f"{path or 'body'} is a number out of range.")
        elif isinstance(value, dict):
            for key, item in value.items():
                problem = _problem(key, allowed=set())
                if problem:
                    raise ApiError(400, "invalid_text", f"a field name in {path or 'body'} {problem}.")
                stack.append((item, f"{path}.{key}" if path else key, depth + 1))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                stack.append((item, f"{path}[{i}]", depth + 1))


@web.middleware
async def input_guard(request: web.Request, handler):
    """Headers, path segments and query values, before any handler reads them."""
    for name, value in request.headers.items():
        if len(value) > MAX_HEADER_CHARS:
            raise ApiError(400, "invalid_header", f"The {name} header is longer than {MAX_HEADER_CHARS} characters.")
        problem = _problem(value, allowed={"\t"})
        if problem:
            raise ApiError(400, "invalid_header", f"The {_printable(name)} header {problem}.")
    for name, value in request.match_info.items():
        if len(value) > MAX_PATH_SEGMENT or _problem(value, allowed=set()):
            raise ApiError(400, "invalid_path",
                           f"The {name} in the path is not a valid id (plain text, at most "
                           f"{MAX_PATH_SEGMENT} characters).")
    for name, value in request.query.items():
        if len(value) > MAX_QUERY_VALUE or _problem(name + value, allowed=set()):
            raise ApiError(400, "invalid_query",
                           f"The query parameter {_printable(name)[:40]} is not plain text of at "
                           f"most {MAX_QUERY_VALUE} characters.")
    return await handler(request)


def _printable(text: str) -> str:
    return "".join(ch if ch.isprintable() and not 0xD800 <= ord(ch) <= 0xDFFF else "?" for ch in text)
