"""Wall-clock time in milliseconds: the one clock the broker's drivers and coordinators are given.

Its own module so that anything may import it (context.py builds the drivers; the drivers need the
clock): no import circle.
"""

from __future__ import annotations

import time


def now_ms() -> int:
    return time.time_ns() // 1_000_000
