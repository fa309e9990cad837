"""Rate-limited logging for messages a peer can trigger at will (bad frames, handler failures).

A fuzzing client can make the broker warn thousands of times a second; the log must not grow
with it. ``RateLimitedLog`` lets at most one message per *key* through every ``interval_s``
seconds; the next message let through for that key says how many were suppressed meanwhile::

    _bad_input = RateLimitedLog(logging.getLogger("pykafka_broker.connection"), interval_s=10)
    _bad_input.warning("bad-frame", "closing connection from %s: %s", peer, reason)
    # at most one "bad-frame" line per 10 s, then "... (41 similar messages suppressed since the last one)"

The key says what counts as "identical": pass a stable one (e.g. the reason without the peer's
port), or leave it out and the format string is the key. The key table is bounded (least
recently seen keys are dropped first), so varying keys cannot grow memory either.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

DEFAULT_INTERVAL_S = 10.0
MAX_KEYS = 1024


class RateLimitedLog:
    def __init__(self, logger: logging.Logger, interval_s: float = DEFAULT_INTERVAL_S, *,
                 clock: Callable[[], float] = time.monotonic, max_keys: int = MAX_KEYS) -> None:
        self.logger = logger
        self.interval_s = interval_s
        self.clock = clock
        self.max_keys = max_keys
        # key -> [time the last message went out, messages suppressed since]
        self._seen: OrderedDict[str, list[float]] = OrderedDict()

    def log(self, level: int, key: str | None, msg: str, *args: Any, exc_info: Any = None) -> bool:
        """Log ``msg % args`` unless ``key`` was logged less than ``interval_s`` ago; True if it was
        logged. ``exc_info`` is passed on (tracebacks are rate-limited with their message)."""
        if not self.logger.isEnabledFor(level):
            return False
        key = msg if key is None else key
        now = self.clock()
        entry = self._seen.get(key)
        if entry is not None and now - entry[0] < self.interval_s:
            entry[1] += 1
            self._seen.move_to_end(key)
            return False
        suppressed = int(entry[1]) if entry is not None else 0
        if entry is None:
            self._seen[key] = [now, 0]
            if len(self._seen) > self.max_keys:
                self._seen.popitem(last=False)
        else:
            entry[0], entry[1] = now, 0
            self._seen.move_to_end(key)
        if suppressed:
            msg = f"{msg} ({suppressed} similar messages suppressed since the last one)"
        self.logger.log(level, msg, *args, exc_info=exc_info)
        return True

    def warning(self, key: str | None, msg: str, *args: Any) -> bool:
        return self.log(logging.WARNING, key, msg, *args)

    def error(self, key: str | None, msg: str, *args: Any, exc_info: Any = None) -> bool:
        return self.log(logging.ERROR, key, msg, *args, exc_info=exc_info)
