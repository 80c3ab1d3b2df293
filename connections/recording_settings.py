"""The connected Zoom user's recording settings, read at connect and at each look at the status page.

Cloud recording and audio transcripts can be switched off for the user, its group or the whole
account, and then Zoom simply sends nothing after the interview (docs/zoom.md#recording-settings).
Zoom's `GET /users/me/settings` says so in advance; what it says becomes the connection's
`cloud_recording_disabled` / `transcription_disabled` warnings, which bookings on that host show
at once (api/booking_views.py). Settings change in Zoom without telling us, so the status page
reads them again every time; a read that fails keeps what was known.
"""

from __future__ import annotations

import logging

from sqlmodel import select

from connections.tokens import ConnectionUnavailable
from connections.warnings import recording_warnings, with_recording_warnings
from models import ZoomConnection
from zoom import scopes
from zoom.client import ZoomApi
from zoom.errors import ZoomError

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services import Services

log = logging.getLogger("zoom_recording_settings")

_NEED = next(n for n in scopes.NEEDS if n.call == "get_user_settings")
# The switches the warnings read; nothing else of the user's settings is kept.
_KEPT = ("cloud_recording", "recording_audio_transcript", "audio_transcript", "record_audio_file",
         "auto_recording")


async def read(api: ZoomApi, granted: list[str] | str) -> dict | None:
    """The user's recording switches as `{"recording": {...}}`, or None when unknown: the grant
    lacks the scope (the `missing_scopes` warning names it) or Zoom did not answer."""
    if not scopes.covers(scopes.parse(granted), _NEED):
        return None
    try:
        settings = await api.get_user_settings("me")
    except (ZoomError, ConnectionUnavailable) as exc:
        log.info("zoom user settings not read: %s", type(exc).__name__)
        return None
    recording = settings.get("recording")
    if not isinstance(recording, dict):
        return None
    return {"recording": {k: recording[k] for k in _KEPT if k in recording}}


async def refresh_warnings(services: Services, connection_id: str) -> None:
    """Read the connection's user's recording settings now and replace its recording warnings."""
    async with services.db.session() as s:
        row = await s.get(ZoomConnection, connection_id)
    if row is None or row.status != "active":
        return
    settings = await read(services.tokens.org_api(row.id), row.scopes)
    if settings is None:
        return
    found = recording_warnings(row.zoom_user_type, settings)
    async with services.db.session() as s:
        current = (await s.exec(
            select(ZoomConnection).where(ZoomConnection.id == connection_id).with_for_update()
        )).first()
        # A reconnect (maybe as another Zoom user) while we asked: its own connect read counts.
        if current is None or current.connected_at != row.connected_at or current.status != "active":
            return
        warnings = with_recording_warnings(current.warnings, found)
        if warnings != current.warnings:
            current.warnings = warnings
            s.add(current)
            await s.commit()
