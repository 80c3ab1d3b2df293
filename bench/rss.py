"""Peak resident memory of a process while something runs, sampled every few milliseconds.

ru_maxrss alone is a lifetime peak: a process that peaked earlier (imports, an earlier
benchmark) hides what a download added. Sampling the current RSS from a thread during the work
gives the growth the work itself caused; ru_maxrss is kept beside it as a cross-check.
"""

from __future__ import annotations

import threading
import time

import psutil


class PeakRss:
    """`with PeakRss(pid) as peak: ...` then `peak.start_bytes`, `peak.peak_bytes`, `peak.growth`."""

    def __init__(self, pid: int | None = None, interval: float = 0.005) -> None:
        try:
            self.process: psutil.Process | None = psutil.Process(pid)
        except psutil.NoSuchProcess:  # it already finished (a small file)
            self.process = None
        self.interval = interval
        self.start_bytes = 0
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _rss(self) -> int:
        if self.process is None:
            return 0
        try:
            return self.process.memory_info().rss
        except psutil.Error:  # the process ended (curl finishing)
            return 0

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak_bytes = max(self.peak_bytes, self._rss())
            time.sleep(self.interval)

    def __enter__(self) -> "PeakRss":
        self.start_bytes = self._rss()
        self.peak_bytes = self.start_bytes
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def growth(self) -> int:
        return max(0, self.peak_bytes - self.start_bytes)
