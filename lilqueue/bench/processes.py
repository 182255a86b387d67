"""The processes a benchmark runs: a worker (lilqueue's or Huey's consumer) or a web server,
each a ``python -m lilqueue.bench.contestants`` child, and what they cost (CPU, memory)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path


class WorkerProcess:
    def __init__(self, kind: str, path: str, threads: int, log: Path) -> None:
        self._log = open(log, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "lilqueue.bench.contestants", kind, path, str(threads)],
            stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)

    def cpu_seconds(self) -> float | None:
        """CPU time of all the process's threads, from schedstat (nanoseconds, not 10 ms ticks);
        None where there is no /proc (the figure is then left out)."""
        threads = Path(f"/proc/{self.process.pid}/task")
        if not threads.is_dir():
            return None
        total = 0
        for task in threads.iterdir():
            try:
                total += int((task / "schedstat").read_text().split()[0])
            except (FileNotFoundError, ProcessLookupError):
                pass  # a thread that just ended
        return total / 1e9

    def rss_mb(self) -> float | None:
        status = Path(f"/proc/{self.process.pid}/status")
        if not status.exists():
            return None
        for line in status.read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return None

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self._log.close()


class WebProcess(WorkerProcess):
    """``python -m lilqueue serve``'s threaded server on a bench queue; ``port`` is where it listens."""

    def __init__(self, path: str, max_waiters: int, log: Path) -> None:
        self._log = open(log, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "lilqueue.bench.contestants", "web", path, str(max_waiters)],
            stdout=subprocess.PIPE, stderr=self._log, start_new_session=True)
        self.port = int(self.process.stdout.readline())
