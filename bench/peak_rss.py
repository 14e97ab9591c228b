"""The peak resident memory of a process while a block runs, sampled from a thread."""

from __future__ import annotations

import threading

import psutil


class PeakRss:
    """``with PeakRss(pid) as rss: ...`` then ``rss.peak_mb``: the highest RSS seen, sampled every
    ``interval`` seconds (no process: stays 0)."""

    def __init__(self, pid: int | None, interval: float = 0.05) -> None:
        self._process = psutil.Process(pid) if pid else None
        self._interval = interval
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    @property
    def peak_mb(self) -> float:
        return self.peak_bytes / 1e6

    def _sample(self) -> None:
        while self._process is not None and not self._stop.is_set():
            self.peak_bytes = max(self.peak_bytes, self._process.memory_info().rss)
            self._stop.wait(self._interval)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
