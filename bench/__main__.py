"""`make bench` / `python -m bench [NAME ...] [--quick] [--profile]`.

Starts the stack once (bench/stack.py), runs each benchmark with its baseline, prints one table,
and (unless --quick) merges the figures into bench/results.json and the table in bench/README.md.
A --quick run is a smoke run: small N, nothing written unless --out is given.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
import time
import traceback
from pathlib import Path

from bench.harness import (
    NotReady,
    Outcome,
    machine,
    machine_line,
    now_iso,
    outcome_rows,
    save_results,
    table,
    update_readme,
)

# Run order: cheap and independent first; the download moves a GiB, the sweep makes 10,000 grants.
BENCHMARKS = ["bookings", "webhooks", "cadence", "refresh", "downloads", "end_to_end", "replicas"]
# Each benchmark is bounded: past this it is cancelled and reported as an error.
TIME_LIMIT_S = {"bookings": 240, "webhooks": 120, "cadence": 180, "refresh": 240, "downloads": 180,
                "end_to_end": 180, "replicas": 240}


def _command(argv: list[str]) -> str:
    return "python -m bench" + ("" if not argv else " " + " ".join(argv))


async def run_one(name: str, stack, quick: bool, command: str) -> Outcome:
    module = importlib.import_module(f"bench.{name}")
    outcome = Outcome(name, measured_at=now_iso(), command=command)
    print(f"\n▶ {name}", flush=True)
    started = time.perf_counter()
    try:
        async with asyncio.timeout(TIME_LIMIT_S[name] * (0.5 if quick else 1)):
            outcome.rows = await module.run(stack, quick)
    except NotReady as exc:
        outcome.skipped = str(exc)
        print(f"  skipped: {exc}", flush=True)
    except Exception as exc:
        outcome.error = f"{type(exc).__name__}: {exc}"[:500]
        traceback.print_exc()
    outcome.seconds = time.perf_counter() - started
    for row in outcome.rows:
        print(f"  {row.metric}: {row.value:.4g} {row.unit}" if row.value is not None else
              f"  {row.metric}: -", flush=True)
    print(f"  ({outcome.seconds:.1f}s)", flush=True)
    return outcome


async def main_async(names: list[str], quick: bool, command: str) -> list[Outcome]:
    from bench.stack import running_stack

    outcomes = []
    async with running_stack() as stack:
        for name in names:
            outcomes.append(await run_one(name, stack, quick, command))
    return outcomes


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"benchmarks to run (default: all): {', '.join(BENCHMARKS)}")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: small N, results not written (unless --out)")
    parser.add_argument("--out", type=Path, help="results file (default bench/results.json)")
    parser.add_argument("--profile", action="store_true",
                        help="profile this process (pyinstrument if installed, else cProfile); "
                             "the report goes to bench/profile-<names>.txt")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    names = args.names or BENCHMARKS
    command = _command(argv)
    at_start = machine()
    print(f"bench on {machine_line(at_start)}", flush=True)
    started = time.perf_counter()
    if args.profile:
        from bench.profiling import profiled

        with profiled(Path(__file__).resolve().parent / f"profile-{'-'.join(names)}.txt"):
            outcomes = asyncio.run(main_async(names, args.quick, command))
    else:
        outcomes = asyncio.run(main_async(names, args.quick, command))
    print("\n" + table(outcome_rows(outcomes)))
    print(f"\n{len(outcomes)} benchmark(s) in {time.perf_counter() - started:.0f}s")
    if not args.quick or args.out:
        from bench.harness import RESULTS

        path = args.out or RESULTS
        data = save_results(outcomes, path, at_start)
        if path == RESULTS:
            update_readme(data, BENCHMARKS)
        print(f"results: {path}")
    return 1 if any(o.error for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
