"""`python -m bench NAME --profile`: where this process spends its time during a benchmark.

pyinstrument when installed (statistical, low overhead, sees through asyncio: time waiting in
the event loop's select shows up as such), else the standard library's cProfile. Only this
process is profiled (the API and the worker live here); Postgres, Temporal and the emulator are
other processes — use `py-spy top --pid` on those if they are the suspects.
"""

from __future__ import annotations

import cProfile
import os
import io
import pstats
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def profiled(report: Path):
    try:
        from pyinstrument import Profiler
    except ImportError:
        Profiler = None
    if os.environ.get("BENCH_PROFILER") == "cprofile":  # self time per function, not a call tree
        Profiler = None
    if Profiler is not None:
        # async_mode="disabled": sample the main thread whatever task runs, i.e. the whole loop.
        profiler = Profiler(interval=0.001, async_mode="disabled")
        profiler.start()
        try:
            yield
        finally:
            profiler.stop()
            report.write_text(profiler.output_text(unicode=False, color=False, show_all=False))
            print(f"profile (pyinstrument): {report}")
        return
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        yield
    finally:
        profiler.disable()
        profiler.dump_stats(report.with_suffix(".prof"))  # for pstats' callers / snakeviz
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("cumulative").print_stats(60)
        stats.sort_stats("tottime").print_stats(40)
        report.write_text(out.getvalue())
        print(f"profile (cProfile): {report}")
