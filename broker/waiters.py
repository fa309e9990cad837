"""Long-poll Fetch waiters, woken by appends (kfake ``watchFetch``/``pushBatch``): no polling loops.

A waiting Fetch registers on every partition it reads. Each append adds its byte count to the
waiters of that partition; a waiter fires once it has seen ``min_bytes`` new bytes, or when its
``max_wait_ms`` timer expires, whichever is first.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable


class FetchWaiter:
    __slots__ = ("future", "needed", "keys", "timer", "_registry")

    def __init__(self, registry: FetchWaiters, keys: list[tuple[str, int]], needed: int,
                 max_wait_ms: int) -> None:
        loop = asyncio.get_running_loop()
        self.future: asyncio.Future[None] = loop.create_future()
        self.needed = needed
        self.keys = keys
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

    def wait(self, keys: Iterable[tuple[str, int]], min_bytes: int, max_wait_ms: int) -> FetchWaiter:
        waiter = FetchWaiter(self, list(keys), max(1, min_bytes), max_wait_ms)
        for key in waiter.keys:
            self._by_partition.setdefault(key, set()).add(waiter)
        return waiter

    def notify(self, topic: str, partition: int, nbytes: int) -> None:
        waiters = self._by_partition.get((topic, partition))
        if not waiters:
            return
        for waiter in list(waiters):
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
