"""The I/O the coordinator runtime (broker/coordinator/runtime.py) does on an internal topic: reading
it back at startup, appending keyed records to it, and keyed timers on the event loop.

``__consumer_offsets`` and ``__transaction_state`` are both compacted logs of keyed records, replayed
from the log start when the broker starts and appended to before a coordinator's reply is sent.
Coordinator timers are keyed data (Kafka's ``CoordinatorTimer``): scheduling a key again replaces its
deadline.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Hashable, Iterator
from typing import TYPE_CHECKING, Any

from pykafka_broker.broker.clock import now_ms
from pykafka_broker.protocol.records import BatchHeader, build_batch, iter_batches, read_batch_header

if TYPE_CHECKING:
    from pykafka_broker.broker.flusher import Flusher
    from pykafka_broker.broker.waiters import FetchWaiters
    from pykafka_broker.storage.log import PartitionLog

log = logging.getLogger("pykafka_broker.internal_topics")

Record = tuple[bytes, bytes | None]


def read_batches(plog: PartitionLog, max_bytes: int) -> Iterator[tuple[BatchHeader, memoryview]]:
    """Every batch of ``plog`` from its log start (reads of ``max_bytes``, Kafka's
    ``offsets.load.buffer.size``); stops with an error line where nothing more can be read."""
    offset = plog.log_start_offset
    while offset < plog.log_end_offset:
        data = b"".join(bytes(c) for c in plog.read(offset, max_bytes).chunks)
        before = offset
        for pos, header in iter_batches(data):
            offset = header.next_offset
            yield header, memoryview(data)[pos:pos + header.size]
        if offset == before:  # a bug or corruption: never spin
            log.error("%s-%d: cannot read past offset %d", plog.topic, plog.partition, offset)
            return


def append_records(plog: PartitionLog, records: list[Record], now: int, waiters: FetchWaiters,
                   flusher: Flusher, producer: tuple[int, int] | None = None) -> asyncio.Future[None] | None:
    """Append keyed records as one batch (a transactional batch of ``producer`` (id, epoch) when given),
    wake the fetches waiting on the partition; the flush to await before replying, if the policy wants
    one."""
    if producer is None:
        batch = build_batch([(k, v, [], now) for k, v in records])
    else:
        batch = build_batch([(k, v, [], now) for k, v in records], producer_id=producer[0],
                            producer_epoch=producer[1], transactional=True)
    header = read_batch_header(batch)
    plog.append(batch, header, now)
    waiters.notify(plog.topic, plog.partition, header.size)
    return flusher.after_append(plog)


class KeyedTimers:
    """``loop.call_at`` handles by key; ``fire(now_ms, key)`` runs when a deadline (wall-clock ms) passes."""

    def __init__(self, fire: Callable[[int, Any], None], what: str) -> None:
        self._fire_cb = fire
        self._what = what
        self._handles: dict[Hashable, asyncio.TimerHandle] = {}
        self.stopped = False

    def schedule(self, key: Hashable, deadline_ms: int) -> None:
        self.cancel(key)
        if self.stopped:
            return
        loop = asyncio.get_running_loop()
        delay_s = max(0, deadline_ms - now_ms()) / 1000
        self._handles[key] = loop.call_at(loop.time() + delay_s, self._fire, key, deadline_ms)

    def cancel(self, key: Hashable) -> None:
        handle = self._handles.pop(key, None)
        if handle is not None:
            handle.cancel()

    def stop(self) -> None:
        self.stopped = True
        for handle in self._handles.values():
            handle.cancel()
        self._handles.clear()

    def keys(self) -> set[Any]:
        return set(self._handles)

    def _fire(self, key: Hashable, deadline_ms: int) -> None:
        self._handles.pop(key, None)
        # The loop's monotonic clock and wall time drift apart a little: the timer is due now.
        try:
            self._fire_cb(max(now_ms(), deadline_ms), key)
        except Exception:
            log.exception("%s timer %s failed", self._what, key)
