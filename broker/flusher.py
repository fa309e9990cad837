"""fsync policy with group commit, asynchronous roll flushes and checkpoints, all off the event loop.

Kafka's ``log.flush.interval.messages`` / ``log.flush.interval.ms`` (topic: ``flush.messages`` /
``flush.ms``) decide when a partition's data must be forced to disk; by default never (the OS
writes back, and an acknowledged record has reached the OS before the response). With
``flush.messages=1`` every produce waits for an fsync before it is acknowledged: all partitions that
need one while a flush runs join the next round, so one fsync per file serves many requests.

Whatever the policy, a rolled segment is fsynced as soon as it rolls (with the producer snapshot
taken at the roll and the partition directory), without anyone waiting for it, and the recovery
point advances to the new segment's base offset (UnifiedLog.roll schedules ``flush-log``). The
recovery-point checkpoint is then rewritten, so a crash rescans only the active segments. Checkpoints
are also written every ``log.flush.offset.checkpoint.interval.ms`` (60 s). All of this runs in the
default executor.

An fsync that fails takes its log offline (``PartitionLog.fail_flush`` explains why it is never
retried): requests waiting for that log's flush get KafkaError KAFKA_STORAGE_ERROR, other logs of
the same round complete normally. The fds a flush syncs are its own (opened or duplicated by
``begin_flush``, closed on the loop when the round ends), so a segment roll that closes the append
fd meanwhile cannot make the flush hit a reused descriptor. A flush that cannot even start (out of
fds, no space for the final time-index entry) fails only its own waiters; its rolled segments stay
pending for the next round.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from pykafka_broker.broker.clock import now_ms
from pykafka_broker.broker.ratelimit_log import RateLimitedLog
from pykafka_broker.protocol.errors import ErrorCode, KafkaError
from pykafka_broker.storage.files import fsync_fd

if TYPE_CHECKING:
    from pykafka_broker.broker.context import Broker

log = logging.getLogger("pykafka_broker.flusher")
_failed_start = RateLimitedLog(log)

CHECKPOINT_INTERVAL_S = 60.0  # log.flush.offset.checkpoint.interval.ms
TIME_FLUSH_CHECK_S = 1.0


class FlushFailed(KafkaError):
    """KAFKA_STORAGE_ERROR for the requests waiting on one log's failed flush; names the partition
    so the Produce handler can answer it per partition."""

    code = ErrorCode.KAFKA_STORAGE_ERROR

    def __init__(self, topic: str, partition: int, message: str) -> None:
        super().__init__(None, message)
        self.topic = topic
        self.partition = partition


class Flusher:
    def __init__(self) -> None:
        self._pending: dict[int, Any] = {}  # id(log) -> log waiting for the next round
        self._full: set[int] = set()  # of those, the ones whose whole log must be flushed
        self._waiters: dict[int, asyncio.Future[None]] = {}  # id(log) -> its next round's future
        self._running: asyncio.Future[Any] | None = None  # the round in progress
        self._task: asyncio.Task[None] | None = None
        self._broker: Broker | None = None
        self._checkpointing: asyncio.Future[None] | None = None
        self._checkpoint_again = False

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
        while self._running is not None or self._checkpointing is not None:
            running = self._running or self._checkpointing
            assert running is not None
            await asyncio.wait([running])

    def after_append(self, plog: Any) -> asyncio.Future[None] | None:
        """Called after appends to ``plog``; returns a future to await before acking, or None. A
        segment rolled by the append gets its asynchronous fsync started here."""
        return self._check(plog, now_ms())

    def _check(self, plog: Any, now: int) -> asyncio.Future[None] | None:
        """A full flush when the flush policy is due (its future), else the rolled segments' sync."""
        if plog.needs_flush(now):
            return self.request(plog)
        if plog.has_unsynced_rolls:
            self.request_roll_flush(plog)
        return None

    def request(self, plog: Any) -> asyncio.Future[None]:
        """Flush ``plog`` up to its log end in the next round; the future fails with KafkaError
        KAFKA_STORAGE_ERROR when the fsync fails."""
        key = id(plog)
        self._pending[key] = plog
        self._full.add(key)
        fut = self._waiters.get(key)
        if fut is None:
            fut = self._waiters[key] = asyncio.get_running_loop().create_future()
        if self._running is None:
            self._start_round()
        return fut

    def request_roll_flush(self, plog: Any) -> None:
        """fsync the segments ``plog`` rolled, nobody waiting (UnifiedLog.roll's ``flush-log``)."""
        self._pending.setdefault(id(plog), plog)
        if self._running is None:
            self._start_round()

    def _start_round(self) -> None:
        logs, full, waiters = list(self._pending.values()), self._full, self._waiters
        self._pending, self._full, self._waiters = {}, set(), {}
        rounds = []
        for plog in logs:
            fut = waiters.get(id(plog))
            if plog.offline is not None:
                # Offline since it asked (a flush of the previous round failed): nothing it wrote
                # since the last good flush may be acknowledged.
                _fail(fut, plog, f"{plog.dir} is offline: {plog.offline}")
                continue
            try:
                ticket = plog.begin_flush(rolled_only=id(plog) not in full)
            except OSError as exc:
                # begin_flush kept the rolled segments pending (and took the log offline for an
                # I/O error, not for running out of fds or space): only this log's waiters fail.
                _failed_start.error(f"start:{plog.topic}-{plog.partition}",
                                    "starting the flush of %s-%d failed: %r", plog.topic,
                                    plog.partition, exc)
                _fail(fut, plog, f"flush of {plog.dir} failed: {exc}")
                continue
            rounds.append((plog, ticket))
        if not rounds:
            return
        loop = asyncio.get_running_loop()
        # The tickets' fds belong to this round (only complete_flush / fail_flush close them, on
        # the loop, after the executor is done), so they are fsynced as they are.
        job = loop.run_in_executor(None, _fsync_each, [list(ticket.fds) for _plog, ticket in rounds])
        self._running = job

        def finished(f: asyncio.Future[list[OSError | None]]) -> None:
            self._running = None
            exc = f.exception()
            errors = [exc] * len(rounds) if exc is not None else f.result()
            rolled = False
            for (plog, ticket), error in zip(rounds, errors, strict=True):
                fut = waiters.get(id(plog))
                if error is None:
                    before = plog.recovery_point
                    plog.complete_flush(ticket)
                    rolled = rolled or (id(plog) not in full and plog.recovery_point > before)
                    if fut is not None and not fut.done():
                        fut.set_result(None)
                else:
                    plog.fail_flush(ticket, error)  # offline, logged once with its path
                    _fail(fut, plog, f"fsync of {plog.dir} failed: {error}")
            if rolled:
                self.checkpoint_soon()
            if self._pending:
                self._start_round()

        job.add_done_callback(finished)

    def checkpoint_soon(self) -> None:
        """Write the recovery-point and log-start checkpoints off the loop; coalesced."""
        broker = self._broker
        if broker is None:
            return
        if self._checkpointing is not None:
            self._checkpoint_again = True
            return
        snapshot = broker.logs.checkpoint_snapshot()
        job = asyncio.get_running_loop().run_in_executor(None, broker.logs.write_checkpoints, snapshot)
        self._checkpointing = job

        def done(f: asyncio.Future[None]) -> None:
            self._checkpointing = None
            if not f.cancelled() and f.exception() is not None:
                # The previous checkpoint stays valid: its offsets are lower, never unsafe.
                log.error("writing checkpoints in %s failed: %r", broker.logs.data_dir, f.exception())
            if self._checkpoint_again:
                self._checkpoint_again = False
                self.checkpoint_soon()

        job.add_done_callback(done)

    async def _periodic(self) -> None:
        since_checkpoint = 0.0
        while True:
            await asyncio.sleep(TIME_FLUSH_CHECK_S)
            since_checkpoint += TIME_FLUSH_CHECK_S
            try:
                self._periodic_pass(since_checkpoint >= CHECKPOINT_INTERVAL_S)
            except Exception as exc:  # never let one bad pass stop every later flush and checkpoint
                _failed_start.error("periodic", "periodic flush pass failed: %r", exc, exc_info=exc)
            if since_checkpoint >= CHECKPOINT_INTERVAL_S:
                since_checkpoint = 0.0

    def _periodic_pass(self, checkpoint: bool) -> None:
        broker = self._broker
        if broker is None:
            return
        now = now_ms()
        for plog in broker.logs.all_logs():
            fut = self._check(plog, now)  # also syncs rolls made by appends that did not ask
            if fut is not None:  # nobody awaits it: its failure is logged by the round, not by asyncio
                fut.add_done_callback(_consume)
        if checkpoint:
            self.checkpoint_soon()


def _fail(fut: asyncio.Future[None] | None, plog: Any, message: str) -> None:
    """Fail a log's flush waiters (their produces answer KAFKA_STORAGE_ERROR)."""
    if fut is not None and not fut.done():
        fut.set_exception(FlushFailed(plog.topic, plog.partition, message))


def _consume(fut: asyncio.Future[None]) -> None:
    if not fut.cancelled():
        fut.exception()


def _fsync_each(fd_groups: list[list[int]]) -> list[OSError | None]:
    """fsync each log's fds (left open: the log closes them); per log, None or the first error."""
    results: list[OSError | None] = []
    for fds in fd_groups:
        error: OSError | None = None
        for fd in fds:
            try:
                fsync_fd(fd)
            except OSError as exc:
                error = exc
                break
        results.append(error)
    return results
