"""The loop every background sweep of the API runs: one pass, then a pause, for ever.

A pass that fails is logged and tried again after the pause; only cancellation (the process
stopping) ends the loop. Used by the inbox sweeper, the booking reconciler and the orphaned
meeting sweep, which differ only in what one pass does.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable

log = logging.getLogger("periodic")


async def every(seconds: float, one_pass: Callable[[], Awaitable[object]], what: str) -> None:
    while True:
        try:
            await one_pass()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s failed; trying again in %.0f s", what, seconds)
        await asyncio.sleep(seconds)
