"""A broker process's memory as the kernel reports it, for tests that bound RSS (``from procfs import
status_kib``; tests/ is on sys.path because of tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path


def status_kib(pid: int, key: str) -> int:
    """A ``/proc/<pid>/status`` field in KiB: VmRSS (now), VmHWM (peak since start)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {key} in /proc/{pid}/status")
