"""Real web servers for tests: one as a process on a free port of 127.0.0.1, its output kept in
a log file, stopped with SIGTERM and then killed.

    port = free_port()
    server = ServerProcess(["gunicorn", "--bind", f"127.0.0.1:{port}", "app:app"], port,
                           tmp_path / "server.log", env)
    base = server.wait_ready("/hello")       # "http://127.0.0.1:PORT" once /hello answers 200
    ...
    server.stop()
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.http_support import request


def need(*modules: str) -> None:
    """Skip unless every module can be imported (by the servers, which share this interpreter);
    under CI=true a missing one is a failure."""
    absent = [m for m in modules if importlib.util.find_spec(m) is None]
    if not absent:
        return
    reason = f"{', '.join(absent)} not installed"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (required when CI=true)")
    pytest.skip(reason)


def free_port() -> int:
    """A port nobody listens on right now (the server binds it a moment later)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ServerProcess:
    """A server started from ``ROOT`` in its own process group, stdout and stderr in ``log_path``."""

    def __init__(self, command: list[str], port: int, log_path: Path, env: dict[str, str]) -> None:
        self.command = command
        self.base = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        self._log = open(log_path, "ab")
        self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=self._log,
                                        stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, path: str, timeout: float = 30.0) -> str:
        """Wait until ``GET path`` answers 200 (the port is open and the app imported); return
        the base URL. The first answer also warms the app up before anything is measured."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"{self.command[:3]} exited with {self.process.returncode}:\n{self.output()}")
            try:
                if request(self.base, "GET", path, timeout=5).status == 200:
                    return self.base
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"{self.base}{path} did not answer within {timeout} s:\n{self.output()}")

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (servers stop gracefully on it), then SIGKILL for the whole group."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.process.pid, signal.SIGKILL)  # and any worker it forked
        except ProcessLookupError:
            pass
        self.process.wait(10)
        self._log.close()

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def __repr__(self) -> str:
        return f"<ServerProcess {' '.join(self.command[1:3])} on {self.base}>"
