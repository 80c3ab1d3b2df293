"""The service's Prometheus metrics, in one place (prometheus_client's default registry).

Every process exports its own registry: the API at `GET /metrics`, the worker through
`serve_worker_metrics` (port `WORKER_METRICS_PORT`, default 9464). The token keep-alive sweep runs in
the worker, so its metrics are scraped there.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

from prometheus_client import Counter, Gauge, Histogram, start_http_server

from settings import ConfigError

TOKEN_REFRESH = Counter(
    "zoom_token_refresh",
    "Refresh attempts by the token keep-alive sweep, by outcome "
    "(refreshed, not_due, expired, transient_failure, not_active, error).",
    ["outcome"],
)
TOKEN_SWEEP_SECONDS = Histogram(
    "zoom_token_refresh_sweep_seconds",
    "Wall time of one whole keep-alive sweep, across its continue-as-new runs.",
    buckets=(0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
)
CONNECTIONS = Gauge(
    "zoom_connections",
    "Zoom connections by status, counted at the end of each keep-alive sweep.",
    ["status"],
)
# Statuses the gauge always reports, so a status that drops to zero shows 0 rather than vanishing.
CONNECTION_STATUSES = ("active", "expired", "revoked", "disconnected")

DEFAULT_WORKER_METRICS_PORT = 9464

log = logging.getLogger(__name__)


def worker_metrics_port(environ: Mapping[str, str] = os.environ) -> int | None:
    """`WORKER_METRICS_PORT` (default 9464); `0` turns the worker's metrics endpoint off."""
    raw = (environ.get("WORKER_METRICS_PORT") or "").strip()
    if not raw:
        return DEFAULT_WORKER_METRICS_PORT
    try:
        port = int(raw)
    except ValueError:
        raise ConfigError(f"WORKER_METRICS_PORT must be a port number, got {raw!r}") from None
    if not 0 <= port <= 65535:
        raise ConfigError(f"WORKER_METRICS_PORT must be 0-65535, got {port}")
    return port or None


def serve_worker_metrics(port: int | None, addr: str = "0.0.0.0"):
    """Serve the default registry on `port` from a daemon thread; returns the server (its
    `shutdown()` stops it), or None when turned off or the port is taken.

    A busy port is logged, not fatal: a worker that cannot export metrics must still keep tokens
    alive and run bookings.
    """
    if port is None:
        return None
    try:
        server, _thread = start_http_server(port, addr=addr)
    except OSError as exc:
        log.warning("worker metrics not served: port %s unavailable (%s); set WORKER_METRICS_PORT",
                    port, exc)
        return None
    log.info("worker metrics at http://%s:%s/metrics", addr, port)
    return server

# Served by the API: reads of a booking still `scheduling` past SCHEDULING_DELAYED_AFTER
# (api/booking_views.py); a rising rate means bookings are stuck (alert on it).
BOOKINGS_SCHEDULING_DELAYED = Counter(
    "converge_bookings_scheduling_delayed_total",
    "Reads of a booking still scheduling after the delay threshold (no worker, Temporal or Zoom)",
)

# --- Served by the API -------------------------------------------------------------------------
WEBHOOKS = Counter(
    "converge_webhooks_total",
    "Zoom webhooks answered, by event type and outcome (stored, duplicate, ignored, processed, "
    "url_validation, invalid_signature, invalid_payload)",
    ["event_type", "outcome"],
)
# Set from the database at each scrape of the API's /metrics (api/health.py).
INBOX_PENDING = Gauge("converge_inbox_pending", "Webhook inbox rows waiting to reach their workflow")
INBOX_OLDEST_PENDING_SECONDS = Gauge(
    "converge_inbox_oldest_pending_seconds", "Age of the oldest pending webhook inbox row (0: none)")
BOOKINGS = Gauge("converge_bookings", "Bookings by status", ["status"])
ORG_FALLBACKS = Gauge("converge_meetings_by_host", "Meetings by host kind and fallback reason",
                      ["host_kind", "fallback_reason"])
