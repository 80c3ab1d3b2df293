"""The worker's side of the keep-alive: its metrics endpoint and its registrations."""

from __future__ import annotations

import socket

import httpx
import pytest

from devstack import free_port
from metrics import DEFAULT_WORKER_METRICS_PORT, serve_worker_metrics, worker_metrics_port
from settings import ConfigError


def test_worker_metrics_port_defaults_to_9464_and_0_turns_it_off():
    assert worker_metrics_port({}) == DEFAULT_WORKER_METRICS_PORT == 9464
    assert worker_metrics_port({"WORKER_METRICS_PORT": "9500"}) == 9500
    assert worker_metrics_port({"WORKER_METRICS_PORT": "0"}) is None
    for bad in ("nine", "70000", "-1"):
        with pytest.raises(ConfigError, match="WORKER_METRICS_PORT"):
            worker_metrics_port({"WORKER_METRICS_PORT": bad})


async def test_the_worker_serves_the_keepalive_metrics():
    import metrics

    metrics.CONNECTIONS.labels("active").set(3)
    port = free_port()
    server = serve_worker_metrics(port, addr="127.0.0.1")
    assert server is not None
    try:
        async with httpx.AsyncClient() as http:
            r = await http.get(f"http://127.0.0.1:{port}/metrics")
    finally:
        server.shutdown()
        server.server_close()
    assert r.status_code == 200
    assert "# TYPE zoom_token_refresh_total counter" in r.text
    assert "# TYPE zoom_token_refresh_sweep_seconds histogram" in r.text
    assert 'zoom_connections{status="active"} 3.0' in r.text


def test_a_taken_port_does_not_stop_the_worker():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        assert serve_worker_metrics(busy.getsockname()[1], addr="127.0.0.1") is None
    assert serve_worker_metrics(None) is None


def test_the_worker_runs_the_keepalive_workflow_and_activities(keepalive):
    from activities import build_activities
    from worker import workflows
    from workflows.token_refresh import TokenRefreshWorkflow

    assert TokenRefreshWorkflow in workflows()
    names = {fn.__temporal_activity_definition.name for fn in build_activities(keepalive)}
    assert {"refresh_due_connections", "report_token_sweep"} <= names
