"""Polling with a deadline, for state that has no event to await. Importable from any test
(``from waiting import wait_until``); tests/ is on sys.path because of tests/conftest.py."""

from __future__ import annotations

import time


def wait_until(predicate: object, timeout: float = 10.0, interval: float = 0.02) -> None:
    """Poll ``predicate`` until true or raise after ``timeout`` seconds (for state with no event)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")
