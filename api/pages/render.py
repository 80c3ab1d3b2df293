"""HTML responses: Jinja2 templates with autoescaping on, and the headers every page carries.

Everything a page shows that a person or Zoom typed (titles, names, emails, transcript text,
error messages) goes through Jinja's escaping; no template marks anything `|safe`.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from aiohttp import web
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context

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


def _zone(ctx) -> ZoneInfo:
    """The org's time zone (GET /v1/orgs/{org}), which every time on a page is shown in."""
    try:
        return ZoneInfo(ctx.get("tz") or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _local(ctx, value: str | datetime | None) -> datetime | None:
    iso = _when(value)
    return None if not iso else datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(_zone(ctx))


@pass_context
def _when_text(ctx, value: str | datetime | None) -> str:
    """`02 Dec 2026, 10:00 Europe/Berlin`: the date, time and the zone it is in."""
    local = _local(ctx, value)
    return "" if local is None else f"{local:%d %b %Y, %H:%M} {_zone(ctx).key}"


@pass_context
def _clock(ctx, value: str | datetime | None) -> str:
    """`10:02` in the org's zone (the zone is named once beside a list of these)."""
    local = _local(ctx, value)
    return "" if local is None else f"{local:%H:%M}"


@pass_context
def _zone_name(ctx) -> str:
    return _zone(ctx).key


templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
templates.filters.update(wording.FILTERS, iso=_when, when=_when_text, clock=_clock)
templates.globals.update(PROCESSING_NOTE=wording.PROCESSING_NOTE, zone_name=_zone_name)


def html(template: str, status: int = 200, headers: dict[str, str] | None = None,
         **context) -> web.Response:
    context.setdefault("session", None)
    context.setdefault("tz", "UTC")
    context.setdefault("nav", "")
    context.setdefault("flash", None)
    body = templates.get_template(template).render(**context)
    return web.Response(text=body, status=status, content_type="text/html",
                        headers={**PAGE_HEADERS, **(headers or {})})


def see_other(location: str) -> web.Response:
    """303: after a form POST the browser GETs the next page (no resubmit on reload)."""
    return web.Response(status=303, headers={"Location": location, "Cache-Control": "no-store"})
