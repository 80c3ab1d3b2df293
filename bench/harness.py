"""What every benchmark shares: a result row, the ratio to its baseline, the table, the files.

A benchmark is an async function `run(stack, quick) -> list[Row]`. Each row pairs one figure with
the baseline measured in the same run, on the same machine, so the ratio means something even on
a busy 2-core box where absolute numbers drift from run to run.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results.json"
README = HERE / "README.md"
TABLE_START = "<!-- bench-table:start -->"
TABLE_END = "<!-- bench-table:end -->"


@dataclass
class Row:
    """One figure, optionally beside its baseline. `ratio` is value / baseline."""

    bench: str
    metric: str
    value: float | None
    unit: str
    baseline: float | None = None
    baseline_label: str = ""
    note: str = ""

    @property
    def ratio(self) -> float | None:
        return ratio(self.value, self.baseline)

    def to_json(self) -> dict:
        return {**asdict(self), "ratio": self.ratio}


@dataclass
class Outcome:
    """What one benchmark produced: its rows, or why it did not run (missing feature, error)."""

    name: str
    rows: list[Row] = field(default_factory=list)
    seconds: float = 0.0
    skipped: str | None = None
    error: str | None = None
    measured_at: str = ""
    command: str = ""

    def to_json(self) -> dict:
        return {
            "rows": [r.to_json() for r in self.rows], "seconds": round(self.seconds, 1),
            "skipped": self.skipped, "error": self.error, "measured_at": self.measured_at,
            "command": self.command,
        }


class NotReady(Exception):
    """The part a benchmark measures is not in the tree yet; the message says what is missing."""


def ratio(value: float | None, baseline: float | None) -> float | None:
    if value is None or baseline is None or baseline == 0:
        return None
    return value / baseline


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile (p in 0..100); None for no values. Nearest rank keeps p99 of a
    small sample an observed value rather than an interpolation between two."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), -(-len(ordered) * p // 100)))
    return ordered[int(rank) - 1]


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


# --- formatting -------------------------------------------------------------------------------


def fmt(value: float | None, unit: str = "") -> str:
    """Three significant figures, thousands grouped, unit appended; '-' for missing."""
    if value is None:
        return "-"
    if value == 0:
        text = "0"
    elif abs(value) >= 100:
        text = f"{value:,.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    elif abs(value) >= 1:
        text = f"{value:.2f}"
    else:
        text = f"{value:.3g}"
    return f"{text} {unit}".strip() if unit else text


def fmt_ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}x"


def table(rows: list[Row]) -> str:
    """A Markdown table (also readable as plain text) of every row."""
    header = ["benchmark", "measure", "value", "baseline", "ratio"]
    lines = [header]
    for r in rows:
        base = fmt(r.baseline, r.unit) if r.baseline is not None else "-"
        if r.baseline is not None and r.baseline_label:
            base = f"{base} ({r.baseline_label})"
        measure = f"{r.metric} ({r.note})" if r.note else r.metric
        lines.append([r.bench, measure, fmt(r.value, r.unit), base, fmt_ratio(r.ratio)])
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]

    def render(cells: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"

    out = [render(lines[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [render(line) for line in lines[1:]]
    return "\n".join(out)


def outcome_rows(outcomes: list[Outcome]) -> list[Row]:
    rows: list[Row] = []
    for o in outcomes:
        if o.rows:
            rows += o.rows
        else:
            why = o.skipped or o.error or "no figures"
            rows.append(Row(o.name, f"not measured: {why}", None, ""))
    return rows


# --- the machine and the files ----------------------------------------------------------------


def machine() -> dict:
    """Cores, CPU model and memory as /proc tells them, so a reader can compare runs."""
    info = {"cores": os.cpu_count(), "python": platform.python_version(),
            "kernel": platform.release()}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        # Other work on the box skews every figure; the baselines share it, the ratios less so.
        info["load_avg_1m"] = round(os.getloadavg()[0], 2)
    except OSError:
        pass
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                info["memory_gib"] = round(int(line.split()[1]) / 1024 / 1024, 1)
                break
    except OSError:
        pass
    return info


def machine_line(m: dict) -> str:
    return (f"{m.get('cores')} cores ({m.get('cpu', 'unknown CPU')}), "
            f"{m.get('memory_gib', '?')} GiB memory, Linux {m.get('kernel')}, "
            f"Python {m.get('python')}, load average {m.get('load_avg_1m', '?')} at start")


def now_iso() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def load_results(path: Path = RESULTS) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def save_results(outcomes: list[Outcome], path: Path = RESULTS, machine_info: dict | None = None) -> dict:
    """Merge these outcomes into the file: a single-benchmark run keeps the others' figures."""
    data = load_results(path)
    data["machine"] = machine_info or machine()
    data["updated_at"] = now_iso()
    benches = data.setdefault("benchmarks", {})
    for o in outcomes:
        benches[o.name] = o.to_json()
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)
    return data


def rows_from_results(data: dict, order: list[str]) -> list[Row]:
    benches = data.get("benchmarks", {})
    rows: list[Row] = []
    for name in order + sorted(set(benches) - set(order)):
        entry = benches.get(name)
        if entry is None:
            continue
        got = [Row(**{k: v for k, v in r.items() if k != "ratio"}) for r in entry.get("rows", [])]
        if not got:
            why = entry.get("skipped") or entry.get("error") or "no figures"
            got = [Row(name, f"not measured: {why}", None, "")]
        rows += got
    return rows


def update_readme(data: dict, order: list[str], path: Path = README) -> None:
    """Replace the table between the markers with the figures in results.json."""
    if not path.exists():
        return
    benches = data.get("benchmarks", {})
    dates = sorted({e.get("measured_at", "")[:10] for e in benches.values() if e.get("measured_at")})
    commands = []
    for name in order + sorted(set(benches) - set(order)):
        entry = benches.get(name)
        if entry and entry.get("command") and entry["command"] not in commands:
            commands.append(entry["command"])
    block = "\n".join([
        TABLE_START,
        f"Measured {', '.join(dates) or '-'} on {machine_line(data.get('machine', {}))}; "
        f"by `{'`, `'.join(commands) or 'make bench'}`.",
        "",
        table(rows_from_results(data, order)),
        TABLE_END,
    ])
    text = path.read_text()
    start, end = text.find(TABLE_START), text.find(TABLE_END)
    if start == -1 or end == -1:
        text = text.rstrip() + "\n\n" + block + "\n"
    else:
        text = text[:start] + block + text[end + len(TABLE_END):]
    path.write_text(text)
