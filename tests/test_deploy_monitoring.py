"""deploy/'s Prometheus rules and Grafana dashboard load, and every metric they name is served by
the process their `job` scrapes; each process serves only the metrics it updates.

promtool is not on PyPI, so the rule file is checked against Prometheus' rule file structure
(https://prometheus.io/docs/prometheus/latest/configuration/recording_rules/) with a JSON schema,
and each PromQL expression's selectors are read by a small lexer: every selector must carry a
`job` matcher, and its metric must be in that job's scrape.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import jsonschema
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from devstack import free_port
from metrics import serve_worker_metrics

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"

_DURATION = {"type": "string", "pattern": r"^([0-9]+(ms|s|m|h|d|w|y))+$"}
_STR_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
RULE_FILE_SCHEMA = {
    "type": "object", "required": ["groups"], "additionalProperties": False,
    "properties": {"groups": {"type": "array", "minItems": 1, "items": {
        "type": "object", "required": ["name", "rules"], "additionalProperties": False,
        "properties": {
            "name": {"type": "string", "minLength": 1}, "interval": _DURATION, "limit": {"type": "integer"},
            "rules": {"type": "array", "minItems": 1, "items": {"oneOf": [
                {"type": "object", "required": ["alert", "expr"], "additionalProperties": False,
                 "properties": {"alert": {"type": "string", "pattern": r"^[a-zA-Z_][a-zA-Z0-9_]*$"},
                                "expr": {"type": "string", "minLength": 1}, "for": _DURATION,
                                "keep_firing_for": _DURATION, "labels": _STR_MAP, "annotations": _STR_MAP}},
                {"type": "object", "required": ["record", "expr"], "additionalProperties": False,
                 "properties": {"record": {"type": "string", "pattern": r"^[a-zA-Z_:][a-zA-Z0-9_:]*$"},
                                "expr": {"type": "string", "minLength": 1}, "labels": _STR_MAP}},
            ]}},
        }}}},
}
_TARGET = {"type": "object", "required": ["refId", "expr"],
           "properties": {"refId": {"type": "string"}, "expr": {"type": "string", "minLength": 1}}}
_GRID = {"type": "object", "required": ["h", "w", "x", "y"],
         "properties": {k: {"type": "integer", "minimum": 0} for k in ("h", "w", "x", "y")}}
DASHBOARD_SCHEMA = {
    "type": "object", "required": ["title", "uid", "schemaVersion", "panels"],
    "properties": {
        "title": {"type": "string"}, "uid": {"type": "string", "maxLength": 40},
        "schemaVersion": {"type": "integer"},
        "panels": {"type": "array", "minItems": 1, "items": {
            "type": "object", "required": ["id", "type", "title", "gridPos"],
            "properties": {"id": {"type": "integer"}, "type": {"type": "string"}, "title": {"type": "string"},
                           "gridPos": _GRID, "targets": {"type": "array", "items": _TARGET}},
            "if": {"properties": {"type": {"not": {"const": "row"}}}},
            "then": {"required": ["targets", "datasource"], "properties": {"targets": {"minItems": 1}}},
        }},
    },
}

# Names Prometheus makes itself for every scrape target, not served by the process.
SYNTHETIC = {"up"}
_FUNCTIONS_AND_KEYWORDS = {
    "sum", "max", "min", "avg", "count", "rate", "increase", "irate", "absent", "histogram_quantile",
    "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool",
    "offset", "humanizeDuration",
}
_SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}")
_JOB = re.compile(r'job\s*(=~?)\s*"([^"]*)"')


def selectors(expr: str) -> list[tuple[str, set[str]]]:
    """(metric, jobs) for each `metric{...}` selector; fails on a bare metric name, which could
    not be checked against a job."""
    found = []
    for name, matchers in _SELECTOR.findall(expr):
        m = _JOB.search(matchers)
        assert m, f"selector {name}{{{matchers}}} names no job in: {expr}"
        found.append((name, set(m.group(2).split("|")) if m.group(1) == "=~" else {m.group(2)}))
    rest = _SELECTOR.sub(" ", expr)
    rest = re.sub(r'"[^"]*"|\[[^\]]*\]', " ", rest)
    rest = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", " ", rest)
    bare = [w for w in re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", rest) if w not in _FUNCTIONS_AND_KEYWORDS]
    assert not bare, f"bare names {bare} in: {expr}"
    assert found, f"no selector in: {expr}"
    return found


def served_names(exposition: str) -> set[str]:
    """Every series name a scrape can show, including those of labelled metrics with no sample yet."""
    suffixes = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_count", "_sum", "_created"),
                "summary": ("", "_count", "_sum", "_created"), "gauge": ("",), "info": ("_info",)}
    names = set()
    for family in text_string_to_metric_families(exposition):
        names |= {family.name + s for s in suffixes.get(family.type, ("",))}
        names |= {s.name for s in family.samples}
    return names


def _alert_exprs() -> list[str]:
    rules = yaml.safe_load((DEPLOY / "prometheus-alerts.yml").read_text())
    return [r["expr"] for g in rules["groups"] for r in g["rules"]]


def _dashboard_exprs() -> list[str]:
    dash = json.loads((DEPLOY / "grafana-dashboard.json").read_text())
    return [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]


@pytest.fixture
async def scrapes(api):
    """What each scrape job sees: the API's GET /metrics, and the worker's endpoint as worker.py
    serves it (serve_worker_metrics)."""
    port = free_port()
    server = serve_worker_metrics(port, addr="127.0.0.1")
    try:
        async with httpx.AsyncClient() as http:
            worker = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
    finally:
        server.shutdown()
        server.server_close()
    api_text = (await api.http.get("/metrics")).text
    return {"converge-api": served_names(api_text), "converge-worker": served_names(worker)}


def test_the_alert_rules_have_prometheus_rule_file_structure():
    rules = yaml.safe_load((DEPLOY / "prometheus-alerts.yml").read_text())
    jsonschema.validate(rules, RULE_FILE_SCHEMA)
    alerts = {r["alert"] for g in rules["groups"] for r in g["rules"]}
    assert {"ConvergeWorkerDown", "ConvergeInboxBacklog", "ConvergeBookingsStuckScheduling",
            "ConvergeTokenRefreshFailures"} <= alerts
    config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    assert config["rule_files"] == ["prometheus-alerts.yml"]


def test_the_dashboard_has_grafana_dashboard_structure():
    dash = json.loads((DEPLOY / "grafana-dashboard.json").read_text())
    jsonschema.validate(dash, DASHBOARD_SCHEMA)
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids)), "panel ids repeat"


def test_a_bare_or_jobless_metric_is_refused_by_the_check():
    with pytest.raises(AssertionError, match="names no job"):
        selectors('rate(converge_webhooks_total{outcome="stored"}[5m])')
    with pytest.raises(AssertionError, match="bare names"):
        selectors("sum(rate(converge_webhooks_total[5m]))")


async def test_every_metric_the_rules_and_dashboard_name_is_served_by_its_job(scrapes):
    config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    assert {c["job_name"] for c in config["scrape_configs"]} == set(scrapes)
    for expr in _alert_exprs() + _dashboard_exprs():
        for name, jobs in selectors(expr):
            for job in jobs:
                assert job in scrapes, f"unknown job {job} in: {expr}"
                assert name in SYNTHETIC or name in scrapes[job], f"{job} does not serve {name}: {expr}"


async def test_each_process_serves_only_the_metrics_it_updates(scrapes):
    api, worker = scrapes["converge-api"], scrapes["converge-worker"]
    worker_only = {"zoom_token_refresh_total", "zoom_connections", "converge_meeting_creates_total",
                   "converge_recording_download_bytes_total", "converge_recording_downloads_total",
                   "converge_recording_download_seconds_bucket"}
    api_only = {"converge_http_request_seconds_bucket", "converge_webhooks_total", "converge_inbox_pending",
                "converge_bookings", "converge_bookings_scheduling_delayed_total"}
    assert worker_only <= worker and not worker_only & api
    assert api_only <= api and not api_only & worker
    assert "converge_zoom_api_errors_total" in api & worker  # both call Zoom
    assert "process_cpu_seconds_total" in api & worker
