"""Helpers for the CLI tests: run ``python -m pykafka_broker <command>`` as a real subprocess."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

CLI_TIMEOUT_S = 30.0


def cli_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "pykafka_broker", *args]


def run_cli(
    *args: str, stdin: str | None = None, timeout: float = CLI_TIMEOUT_S
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cli_cmd(*args),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def assert_one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    """A failed command: non-zero exit, exactly one line on stderr, no traceback."""
    assert proc.returncode != 0, proc
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


def free_port() -> int:
    """A loopback port nothing listens on: bind to port 0, read it, close it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
