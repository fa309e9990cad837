"""fsync policy with group commit, off the event loop.

Kafka's ``log.flush.interval.messages`` / ``log.flush.interval.ms`` (topic: ``flush.messages`` /
``flush.ms``) decide when a partition's data must be forced to disk; by default never (the OS
writes back, and an acknowledged record has reached the OS before the response). With
``flush.messages=1`` every produce waits for an fsync before it is acknowledged: all partitions that
need one while a flush runs join the next round, so one fsync per file serves many requests.
The fds are duplicated on the loop before the executor fsyncs them, so a segment roll that closes
the original fd meanwhile cannot make the flush hit a reused descriptor.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import TYPE_CHECKING, Any

from pykafka_broker.broker.context import now_ms

if TYPE_CHECKING:
    from pykafka_broker.broker.context import Broker

log = logging.getLogger("pykafka_broker.flusher")

CHECKPOINT_INTERVAL_S = 60.0  # log.flush.offset.checkpoint.interval.ms
TIME_FLUSH_CHECK_S = 1.0


class Flusher:
    def __init__(self) -> None:
        self._pending: dict[int, Any] = {}  # id(log) -> log waiting for the next round
        self._next: asyncio.Future[None] | None = None
        self._running = False
        self._task: asyncio.Task[None] | None = None
        self._broker: Broker | None = None

    def start(self, broker: Broker) -> None:
        self._broker = broker
        self._task = asyncio.get_running_loop().create_task(self._periodic())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        while self._running or self._pending:
            fut = self._next
            if fut is None:
                break
            await asyncio.shield(fut)

    def after_append(self, plog: Any) -> asyncio.Future[None] | None:
        """Called after appends to ``plog``; returns a future to await before acking, or None."""
        if not plog.needs_flush(now_ms()):
            return None
        return self.request(plog)

    def request(self, plog: Any) -> asyncio.Future[None]:
        self._pending[id(plog)] = plog
        if self._next is None:
            self._next = asyncio.get_running_loop().create_future()
        fut = self._next
        if not self._running:
            self._start_round()
        return fut

    def _start_round(self) -> None:
        logs = list(self._pending.values())
        self._pending.clear()
        done, self._next = self._next, None
        self._running = True
        tickets = [(plog, plog.begin_flush()) for plog in logs]
        fds = [os.dup(fd) for _plog, ticket in tickets for fd in ticket.fds]
        loop = asyncio.get_running_loop()
        job = loop.run_in_executor(None, _fsync_all, fds)

        def finished(f: asyncio.Future[None]) -> None:
            self._running = False
            exc = f.exception()
            if exc is None:
                for plog, ticket in tickets:
                    plog.complete_flush(ticket)
            else:
                log.error("fsync failed: %r", exc)
            if done is not None and not done.done():
                if exc is None:
                    done.set_result(None)
                else:
                    done.set_exception(exc)
            if self._pending:
                self._start_round()

        job.add_done_callback(finished)

    async def _periodic(self) -> None:
        since_checkpoint = 0.0
        while True:
            await asyncio.sleep(TIME_FLUSH_CHECK_S)
            broker = self._broker
            if broker is None:
                continue
            now = now_ms()
            for plog in broker.logs.all_logs():
                if plog.needs_flush(now):
                    self.request(plog)
            since_checkpoint += TIME_FLUSH_CHECK_S
            if since_checkpoint >= CHECKPOINT_INTERVAL_S:
                since_checkpoint = 0.0
                broker.logs.checkpoint()


def _fsync_all(fds: list[int]) -> None:
    try:
        for fd in fds:
            os.fsync(fd)
    finally:
        for fd in fds:
            os.close(fd)
