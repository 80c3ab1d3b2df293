"""HTML responses: Jinja2 templates with autoescaping on, and the headers every page carries.

Everything a page shows that a person or Zoom typed (titles, names, emails, transcript text,
error messages) goes through Jinja's escaping; no template marks anything `|safe`.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from aiohttp import web
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from api.pages import wording

HERE = Path(__file__).resolve().parent

# Pages show an org's data: never cached, never framed, scripts and styles only from here.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "media-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def _when(value: str | datetime | None) -> str:
    """ISO time for a <time> element (the browser shows it in local time; UTC without JS)."""
    if value is None:
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _when_text(value: str | datetime | None) -> str:
    iso = _when(value)
    return "" if not iso else datetime.fromisoformat(iso.replace("Z", "+00:00")).strftime(
        "%d %b %Y, %H:%M UTC")


templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
templates.filters.update(wording.FILTERS, iso=_when, when=_when_text)
templates.globals.update(PROCESSING_NOTE=wording.PROCESSING_NOTE)


def html(template: str, status: int = 200, headers: dict[str, str] | None = None,
         **context) -> web.Response:
    context.setdefault("session", None)
    context.setdefault("nav", "")
    context.setdefault("flash", None)
    body = templates.get_template(template).render(**context)
    return web.Response(text=body, status=status, content_type="text/html",
                        headers={**PAGE_HEADERS, **(headers or {})})


def see_other(location: str) -> web.Response:
    """303: after a form POST the browser GETs the next page (no resubmit on reload)."""
    return web.Response(status=303, headers={"Location": location, "Cache-Control": "no-store"})
