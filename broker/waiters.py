"""Long-poll Fetch waiters, woken by appends (kfake ``watchFetch``/``pushBatch``): no polling loops.

A waiting Fetch registers on every partition it reads. Each append adds its byte count to the
waiters of that partition; a waiter fires once it has seen ``min_bytes`` new bytes, or when its
``max_wait_ms`` timer expires, whichever is first.

A read_committed Fetch can only be answered with bytes below the last stable offset, so bytes
appended inside an open transaction must not wake it (librdkafka, read_committed by default, would
otherwise spin on empty answers while a transaction is open). Such a waiter carries a ``stable``
callback that is asked instead of counting: it checks whether the LSO moved and whether enough
stable bytes are now available (Kafka's DelayedFetch measures up to the LSO for read_committed).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

# (topic, partition, bytes appended) -> True when the waiter now has enough to answer.
StableCheck = Callable[[str, int, int], bool]


class FetchWaiter:
    __slots__ = ("future", "needed", "keys", "timer", "stable", "_registry")

    def __init__(self, registry: FetchWaiters, keys: list[tuple[str, int]], needed: int,
                 max_wait_ms: int, stable: StableCheck | None = None) -> None:
        loop = asyncio.get_running_loop()
        self.future: asyncio.Future[None] = loop.create_future()
        self.needed = needed
        self.keys = keys
        self.stable = stable
        self._registry = registry
        self.timer = loop.call_later(max_wait_ms / 1000.0, self.fire)

    def fire(self) -> None:
        if not self.future.done():
            self.future.set_result(None)
        self.timer.cancel()
        self._registry._remove(self)


class FetchWaiters:
    def __init__(self) -> None:
        self._by_partition: dict[tuple[str, int], set[FetchWaiter]] = {}

    def wait(self, keys: Iterable[tuple[str, int]], min_bytes: int, max_wait_ms: int,
             stable: StableCheck | None = None) -> FetchWaiter:
        """Wait for ``min_bytes`` appended bytes on ``keys`` or ``max_wait_ms``; with ``stable`` (a
        read_committed fetch) appends ask that callback instead of being counted."""
        waiter = FetchWaiter(self, list(keys), max(1, min_bytes), max_wait_ms, stable)
        for key in waiter.keys:
            self._by_partition.setdefault(key, set()).add(waiter)
        return waiter

    def notify(self, topic: str, partition: int, nbytes: int) -> None:
        waiters = self._by_partition.get((topic, partition))
        if not waiters:
            return
        for waiter in list(waiters):
            if waiter.stable is not None:
                if waiter.stable(topic, partition, nbytes):
                    waiter.fire()
                continue
            waiter.needed -= nbytes
            if waiter.needed <= 0:
                waiter.fire()

    def wake_all(self) -> None:
        for waiters in list(self._by_partition.values()):
            for waiter in list(waiters):
                waiter.fire()

    def _remove(self, waiter: FetchWaiter) -> None:
        for key in waiter.keys:
            waiters = self._by_partition.get(key)
            if waiters is not None:
                waiters.discard(waiter)
                if not waiters:
                    del self._by_partition[key]
