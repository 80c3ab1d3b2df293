"""The service's Prometheus metrics, in one place, each registered with the process that updates it.

Two registries, so a scrape never shows a metric its process cannot move (an API answering
`zoom_token_refresh_total` with no samples would look like "no refreshes" on a dashboard):
- `API_REGISTRY`, served by the API at `GET /metrics`: HTTP requests, webhook intake, the inbox and
  bookings read from the database at scrape time, reads of delayed bookings.
- `WORKER_REGISTRY`, served by the worker through `serve_worker_metrics` (port
  `WORKER_METRICS_PORT`, default 9464): the token keep-alive sweep, meeting creates, recording
  downloads.
Zoom API errors happen in both (the API calls Zoom when an org connects), so that counter is in
both and each process reports its own. deploy/prometheus-alerts.yml and deploy/grafana-dashboard.json
name these metrics with the `job` that scrapes them; tests/test_deploy_monitoring.py keeps them true.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    start_http_server,
)

from settings import ConfigError

API_REGISTRY = CollectorRegistry(auto_describe=True)
WORKER_REGISTRY = CollectorRegistry(auto_describe=True)
BOTH = (API_REGISTRY, WORKER_REGISTRY)
for _registry in BOTH:  # process_* and python_* for each process, as the default registry had
    for _collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
        _registry.register(_collector)


def _in(*registries: CollectorRegistry):
    """Register a metric (built with registry=None) with each of `registries`."""

    def register(metric):
        for registry in registries:
            registry.register(metric)
        return metric

    return register


_worker, _api, _both = _in(WORKER_REGISTRY), _in(API_REGISTRY), _in(*BOTH)

# --- Served by the worker ----------------------------------------------------------------------
TOKEN_REFRESH = _worker(Counter(
    "zoom_token_refresh",
    "Refresh attempts by the token keep-alive sweep, by outcome "
    "(refreshed, not_due, expired, transient_failure, not_active, error).",
    ["outcome"], registry=None,
))
TOKEN_SWEEP_SECONDS = _worker(Histogram(
    "zoom_token_refresh_sweep_seconds",
    "Wall time of one whole keep-alive sweep, across its continue-as-new runs.",
    buckets=(0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600), registry=None,
))
CONNECTIONS = _worker(Gauge(
    "zoom_connections",
    "Zoom connections by status, counted at the end of each keep-alive sweep.",
    ["status"], registry=None,
))
# Statuses the gauge always reports, so a status that drops to zero shows 0 rather than vanishing.
CONNECTION_STATUSES = ("active", "expired", "revoked", "disconnected")

MEETING_CREATES = _worker(Counter(
    "converge_meeting_creates",
    "Booking meeting creates by host kind and outcome (created; found: an earlier create's meeting "
    "found at Zoom; zoom_unavailable: retried; refused: Zoom said no; host_unavailable)",
    ["host_kind", "outcome"], registry=None,
))
DOWNLOADED_BYTES = _worker(Counter(
    "converge_recording_download_bytes", "Recording bytes written from Zoom to the store",
    registry=None,
))
DOWNLOADS = _worker(Counter(
    "converge_recording_downloads",
    "Recording file download attempts by outcome (stored, or the failure reason the file gets)",
    ["outcome"], registry=None,
))
DOWNLOAD_SECONDS = _worker(Histogram(
    "converge_recording_download_seconds", "Wall time of one download attempt that stored its file",
    buckets=(0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600), registry=None,
))

# --- Served by both (each process counts its own calls) -----------------------------------------
ZOOM_API_ERRORS = _both(Counter(
    "converge_zoom_api_errors",
    "Zoom REST answers that were errors, by HTTP status and Zoom's code ('none' when the body had "
    "no code; status 'transport' when no answer came)",
    ["status", "code"], registry=None,
))

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
    """Serve the worker's registry on `port` from a daemon thread; returns the server (its
    `shutdown()` stops it), or None when turned off or the port is taken.

    A busy port is logged, not fatal: a worker that cannot export metrics must still keep tokens
    alive and run bookings.
    """
    if port is None:
        return None
    try:
        server, _thread = start_http_server(port, addr=addr, registry=WORKER_REGISTRY)
    except OSError as exc:
        log.warning("worker metrics not served: port %s unavailable (%s); set WORKER_METRICS_PORT",
                    port, exc)
        return None
    log.info("worker metrics at http://%s:%s/metrics", addr, port)
    return server

# --- Served by the API -------------------------------------------------------------------------
# Reads of a booking still `scheduling` past SCHEDULING_DELAYED_AFTER
# (api/booking_views.py); a rising rate means bookings are stuck (alert on it).
BOOKINGS_SCHEDULING_DELAYED = _api(Counter(
    "converge_bookings_scheduling_delayed_total",
    "Reads of a booking still scheduling after the delay threshold (no worker, Temporal or Zoom)",
    registry=None,
))
WEBHOOKS = _api(Counter(
    "converge_webhooks_total",
    "Zoom webhooks answered, by event type and outcome (stored, duplicate, ignored, processed, "
    "url_validation, invalid_signature, invalid_payload)",
    ["event_type", "outcome"], registry=None,
))
# Set from the database at each scrape of the API's /metrics (api/health.py).
INBOX_PENDING = _api(Gauge("converge_inbox_pending", "Webhook inbox rows waiting to reach their workflow",
                           registry=None))
INBOX_OLDEST_PENDING_SECONDS = _api(Gauge(
    "converge_inbox_oldest_pending_seconds", "Age of the oldest pending webhook inbox row (0: none)",
    registry=None))
BOOKINGS = _api(Gauge("converge_bookings", "Bookings by status", ["status"], registry=None))
ORG_FALLBACKS = _api(Gauge("converge_meetings_by_host", "Meetings by host kind and fallback reason",
                           ["host_kind", "fallback_reason"], registry=None))
HTTP_REQUEST_SECONDS = _api(Histogram(
    "converge_http_request_seconds", "API requests by route template, method and status",
    ["route", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30), registry=None,
))
