"""The benchmark harness's plumbing, at its smallest, so `make bench` cannot rot unnoticed.

No timing is asserted anywhere: the figures live in bench/results.json, not in tests.
"""

from __future__ import annotations

import json
import time

from bench.harness import Outcome, Row, fmt, fmt_ratio, percentile, save_results, table, update_readme


def test_ratio_table_and_percentiles():
    row = Row("bookings", "per second", 2.5, "/s", 10.0, "bare workflows", note="concurrency 20")
    assert row.ratio == 0.25
    assert Row("x", "m", 1.0, "ms").ratio is None
    assert Row("x", "m", 1.0, "ms", 0.0).ratio is None
    assert fmt(1234.0, "ms") == "1,234 ms" and fmt(0.01234, "s") == "0.0123 s"
    assert fmt(None) == "-" and fmt_ratio(None) == "-" and fmt_ratio(0.25) == "0.25x"
    text = table([row, Row("webhooks", "not measured: missing", None, "")])
    lines = text.splitlines()
    assert lines[0].startswith("| benchmark") and len({len(line) for line in lines}) == 1
    assert "2.50 /s" in text and "10.0 /s (bare workflows)" in text and "0.25x" in text
    assert "per second (concurrency 20)" in text
    # nearest rank: p99 of 100 values is the 99th, p50 of 4 is the 2nd
    assert percentile(list(range(1, 101)), 99) == 99
    assert percentile([4, 1, 3, 2], 50) == 2
    assert percentile([], 50) is None


def test_results_merge_and_readme(tmp_path):
    results, readme = tmp_path / "results.json", tmp_path / "README.md"
    readme.write_text("# Bench\n\n<!-- bench-table:start -->\nold\n<!-- bench-table:end -->\n\nkept\n")
    save_results([Outcome("a", [Row("a", "m", 1.0, "s", 2.0)], measured_at="2030-01-01T00:00:00")],
                 results)
    data = save_results([Outcome("b", skipped="not there yet", command="python -m bench b")], results)
    assert set(data["benchmarks"]) == {"a", "b"}  # a single-benchmark run keeps the others
    assert json.loads(results.read_text())["benchmarks"]["a"]["rows"][0]["ratio"] == 0.5
    update_readme(data, ["a", "b"], readme)
    text = readme.read_text()
    assert "old" not in text and text.endswith("kept\n")
    assert "not measured: not there yet" in text and "cores" in text and "2030-01-01" in text


def test_signed_events_pass_the_services_check():
    from bench.stack import WEBHOOK_SECRET
    from bench.webhooks import signed_requests
    from zoom.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, parse_event, verify_signature

    reqs = signed_requests(3)
    assert len({r["body"] for r in reqs}) == 3
    for r in reqs:
        h, body = r["headers"], r["body"].encode()
        assert verify_signature([WEBHOOK_SECRET], h[TIMESTAMP_HEADER], h[SIGNATURE_HEADER], body,
                                now=time.time(), max_age_seconds=60)
        assert parse_event(body).event == "recording.completed"


async def test_load_generator_against_the_bare_handler(tmp_path):
    from bench.webhooks import bare_server, load, signed_requests

    path = tmp_path / "requests.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in signed_requests(5)))
    runner, url = await bare_server()
    try:
        step = await load(url, path, rate=50, seconds=0.1)
    finally:
        await runner.cleanup()
    assert step["sent"] == 5 and step["ok"] == 5 and step["errors"] == {}
    assert step["p50_ms"] is not None and step["p99_ms"] >= step["p50_ms"]


async def test_bare_workflows_tiny(temporal_env):
    from bench.bare import run_bare

    seconds = await run_bare(temporal_env.client, 5, concurrency=5)
    assert seconds > 0
