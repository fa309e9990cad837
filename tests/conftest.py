"""Shared fixtures: a real broker process on an ephemeral loopback port."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from waiting import wait_until  # noqa: F401  (re-exported for tests)

READY = re.compile(r"listening on (\S+):(\d+) ")
START_TIMEOUT_S = 20.0


class BrokerProcess:
    """``pykafka-broker serve --port 0`` in a subprocess; the startup line tells the port."""

    def __init__(self, data_dir: Path, *overrides: str, host: str = "127.0.0.1") -> None:
        self.data_dir = data_dir
        self.overrides = list(overrides)
        self.host = host
        self.proc: subprocess.Popen[str] | None = None
        self.port = 0
        self.stderr_lines: list[str] = []
        self.stdout_lines: list[str] = []

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> BrokerProcess:
        cmd = [sys.executable, "-m", "pykafka_broker", "serve", "--host", self.host, "--port", "0",
               "--data-dir", str(self.data_dir)]
        for o in self.overrides:
            cmd += ["--override", o]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1"})
        ready = threading.Event()

        def pump_stdout() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            for line in self.proc.stdout:
                self.stdout_lines.append(line)
                m = READY.search(line)
                if m:
                    self.port = int(m.group(2))
                    ready.set()
            ready.set()

        def pump_stderr() -> None:
            assert self.proc is not None and self.proc.stderr is not None
            for line in self.proc.stderr:
                self.stderr_lines.append(line)

        threading.Thread(target=pump_stdout, daemon=True).start()
        threading.Thread(target=pump_stderr, daemon=True).start()
        if not ready.wait(START_TIMEOUT_S) or not self.port:
            self.kill()
            raise RuntimeError("broker did not start:\n" + "".join(self.stderr_lines[-30:]))
        return self

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM and wait: returns the exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def log_text(self) -> str:
        return "".join(self.stderr_lines)


@pytest.fixture
def broker_factory(tmp_path: Path) -> Iterator[object]:
    started: list[BrokerProcess] = []

    def make(*overrides: str, data_dir: Path | None = None) -> BrokerProcess:
        b = BrokerProcess(data_dir or tmp_path / "data", *overrides).start()
        started.append(b)
        return b

    yield make
    for b in started:
        b.kill()


@pytest.fixture
def broker(broker_factory: object) -> BrokerProcess:
    return broker_factory()  # type: ignore[operator]
