"""The one runtime around every coordinator: its internal topic, durability, replies, timers, loading.

Modelled on Kafka's ``CoordinatorRuntime`` (coordinator-common). A coordinator is an I/O-free state
machine over a compacted internal topic; this runtime is the only I/O around it:

- **Writes** (``write``): the machine computes a ``CoordinatorResult`` (result.py); the runtime appends
  its records to the topic partition of each record's owner (``partition_for``: Kafka's
  ``Utils.abs(id.hashCode()) % partitions``), waits for the fsync when the flush policy demands one,
  and only then commits: replays the records into the machine (``replay=True``), answers the request
  and the parked requests the result completed, and hands its ``actions`` to ``perform``. Results commit
  in the order they were appended (a result without records still waits for earlier ones, as Kafka's
  deferred event queue). A failed append or fsync reverts the result, and every later one not yet
  committed, newest first (their ``undo``: Kafka reverts its timeline to the last committed offset),
  and answers each request with the error Kafka maps an append failure to (``append_error``).
- **Reads** (``read``): answered at once from the committed state.
- **Timers**: a result's timer commands become ``loop.call_at`` handles by key at once; a firing key runs
  ``machine.fire_timer`` as a write. A reverted result re-arms the keys it consumed (a failed timer
  write is retried after ``RETRY_BACKOFF_MS``, Kafka's ``CoordinatorTimer`` with ``retry``).
- **Loading**: ``replay_steps``/``load`` read the topic from its log start (``offsets.load.buffer.size``
  per read) through ``machine.replay`` and ``machine.replay_marker``; requests meanwhile are answered
  COORDINATOR_LOAD_IN_PROGRESS. ``start`` (on the loop) then applies ``machine.on_loaded``.

How a new coordinator plugs in (KIP-848 groups, share groups, the schema registry):

1. Write the state machine as a ``StateMachine`` below, in its own I/O-free package: every operation is
   ``(now_ms, request) -> CoordinatorResult`` built with ``Effects`` and finished by its ``TimerTable``;
   ``replay`` applies one record (at load and, for ``replay=True`` results, after each append).
2. Give every request dataclass ``error_response(code)`` (``FailsWith``).
3. In ``broker/``, build ``CoordinatorRuntime(InternalTopic(...), machine, ...)``, call ``load()`` at
   startup and ``start()``/``stop()`` with the server, and route each handler to ``runtime.write`` or
   ``runtime.read``. Nothing else is needed: appends, durability, reverts, timers and loading are here.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from pykafka_broker.broker.clock import now_ms
from pykafka_broker.broker.coordinator.result import (
    CoordinatorResult,
    FailsWith,
    Record,
    TimerKey,
    TimerTable,
)
from pykafka_broker.broker.coordinator.topic import InternalTopic, partition_for
from pykafka_broker.broker.internal_topics import KeyedTimers, append_records, read_batches
from pykafka_broker.protocol.binary import RecordFormatError
from pykafka_broker.protocol.errors import ErrorCode, KafkaError
from pykafka_broker.protocol.records import decode_records

if TYPE_CHECKING:
    from pykafka_broker.broker.config import BrokerConfig
    from pykafka_broker.broker.flusher import Flusher
    from pykafka_broker.broker.waiters import FetchWaiters
    from pykafka_broker.storage.log import PartitionLog
    from pykafka_broker.storage.manager import LogManager

log = logging.getLogger("pykafka_broker.coordinator")

E = ErrorCode
CONTROL_TYPE_COMMIT = 1  # control record key: int16 version, int16 type (0 ABORT, 1 COMMIT)
RETRY_BACKOFF_MS = 500
T = TypeVar("T")
Producer = tuple[int, int]  # (producer id, epoch): append the records as that producer's transactional batch
AppendFn = Callable[["PartitionLog", list[Record], int, "Producer | None"], "asyncio.Future[None] | None"]

# How Kafka answers a request whose records could not be appended (CoordinatorOperationExceptionHelper,
# TransactionStateManager.appendTransactionToLog): retriable codes the clients know.
_APPEND_ERRORS = {
    E.UNKNOWN_TOPIC_OR_PARTITION: E.COORDINATOR_NOT_AVAILABLE,
    E.NOT_ENOUGH_REPLICAS: E.COORDINATOR_NOT_AVAILABLE,
    E.REQUEST_TIMED_OUT: E.COORDINATOR_NOT_AVAILABLE,
    E.NOT_LEADER_OR_FOLLOWER: E.NOT_COORDINATOR,
    E.KAFKA_STORAGE_ERROR: E.NOT_COORDINATOR,
    E.MESSAGE_TOO_LARGE: E.UNKNOWN_SERVER_ERROR,
    E.RECORD_LIST_TOO_LARGE: E.UNKNOWN_SERVER_ERROR,
    E.INVALID_FETCH_SIZE: E.UNKNOWN_SERVER_ERROR,
}


def append_error(exc: BaseException) -> ErrorCode:
    """The error a request gets when its records could not be appended or flushed (a disk error is
    KAFKA_STORAGE_ERROR, which Kafka answers as NOT_COORDINATOR)."""
    if isinstance(exc, KafkaError):
        code = exc.code
    elif isinstance(exc, OSError):
        code = E.KAFKA_STORAGE_ERROR
    else:
        code = E.UNKNOWN_SERVER_ERROR
    return _APPEND_ERRORS.get(code, code)


class StateMachine(Protocol):
    """What the runtime needs from a coordinator (Kafka's ``CoordinatorShard``)."""

    timers: TimerTable

    def replay(self, key: bytes, value: bytes | None, producer_id: int) -> None:
        """Apply one record (``producer_id`` >= 0: from that producer's transactional batch)."""

    def replay_marker(self, partition: int, producer_id: int, committed: bool) -> None:
        """A COMMIT/ABORT control batch of ``producer_id`` is in ``partition`` of the topic."""

    def record_owner(self, key: bytes) -> str:
        """The id whose partition a record key goes to (group id, transactional id, ...)."""

    def on_loaded(self, now_ms: int) -> CoordinatorResult[None]: ...

    def fire_timer(self, now_ms: int, key: TimerKey) -> CoordinatorResult[None]: ...


@dataclass(slots=True, eq=False)
class _Write:
    """A result appended but not yet committed (waiting for its fsync or for an earlier write)."""

    result: CoordinatorResult[Any]
    req: FailsWith[Any] | None
    producer_id: int
    retry: Callable[[], None] | None
    reply: asyncio.Future[Any] | None = None
    durable: bool = False


class CoordinatorRuntime:
    def __init__(self, topic: InternalTopic, machine: StateMachine, config: BrokerConfig, logs: LogManager,
                 flusher: Flusher, waiters: FetchWaiters,
                 perform: Callable[[Any], None] | None = None) -> None:
        self.topic = topic
        self.machine = machine
        self.config = config
        self.logs = logs
        self.perform = perform or (lambda action: None)

        def append(plog: PartitionLog, records: list[Record], now: int,
                   producer: Producer | None) -> asyncio.Future[None] | None:
            return append_records(plog, records, now, waiters, flusher, producer)
        # The seam every append goes through (tests replace it to inject failures).
        self.append: AppendFn = append
        self.loading = False
        self._timers = KeyedTimers(self._fire, topic.name)
        self._parked: dict[int, tuple[asyncio.Future[Any], FailsWith[Any]]] = {}
        self._uncommitted: deque[_Write] = deque()

    # -- the internal topic --------------------------------------------------------------------

    @property
    def num_partitions(self) -> int:
        info = self.logs.topics.get(self.topic.name)
        return info.partitions if info is not None else self.config.get_int(self.topic.partitions_property)

    def partition_for(self, owner: str) -> int:
        return partition_for(owner, self.num_partitions)

    def ensure_topic(self) -> None:
        if self.topic.name in self.logs.topics:
            return
        configs = {"cleanup.policy": "compact",
                   "segment.bytes": str(self.config.get_int(self.topic.segment_bytes_property))}
        self.logs.create_topic(self.topic.name, self.config.get_int(self.topic.partitions_property), configs)
        log.info("created %s with %d partitions", self.topic.name, self.num_partitions)

    # -- loading and lifecycle -----------------------------------------------------------------

    def replay_steps(self) -> Iterator[int]:
        """Replay the topic from its log start, yielding the record count after every batch; requests
        meanwhile get COORDINATOR_LOAD_IN_PROGRESS (Kafka's ``CoordinatorLoader``)."""
        info = self.logs.topics.get(self.topic.name)
        if info is None:
            return
        self.loading = True
        try:
            max_bytes = self.config.get_int("offsets.load.buffer.size")
            count = 0
            for partition in range(info.partitions):
                plog = self.logs.get_log(self.topic.name, partition)
                if plog is None:
                    continue
                for header, batch in read_batches(plog, max_bytes):
                    if header.is_control:
                        self._replay_marker(batch, header.producer_id, partition)
                    else:
                        producer = header.producer_id if header.is_transactional else -1
                        count += self._replay_batch(batch, partition, producer)
                    yield count
            log.info("loaded %d records from %s", count, self.topic.name)
        finally:
            self.loading = False

    def load(self) -> None:
        """Replay the whole topic now (before the broker serves)."""
        for _ in self.replay_steps():
            pass

    def _replay_marker(self, batch: memoryview, producer_id: int, partition: int) -> None:
        try:
            records = decode_records(batch)
        except KafkaError as exc:
            log.error("%s-%d: skipping undecodable control batch: %s", self.topic.name, partition, exc)
            return
        for r in records:
            if r.key is not None and len(r.key) >= 4:
                committed = int.from_bytes(r.key[2:4], "big", signed=True) == CONTROL_TYPE_COMMIT
                self.machine.replay_marker(partition, producer_id, committed)

    def _replay_batch(self, batch: memoryview, partition: int, producer_id: int) -> int:
        try:
            records = decode_records(batch)
        except KafkaError as exc:
            log.error("%s-%d: skipping undecodable batch: %s", self.topic.name, partition, exc)
            return 0
        n = 0
        for r in records:
            if r.key is not None and self._replay_one(r.key, r.value, producer_id):
                n += 1
        return n

    def _replay_one(self, key: bytes, value: bytes | None, producer_id: int) -> bool:
        try:
            self.machine.replay(key, value, producer_id)
            return True
        except RecordFormatError as exc:
            log.error("%s: skipping record: %s", self.topic.name, exc)
            return False

    def start(self) -> None:
        """Arm the loaded state's timers and run ``on_loaded`` (needs the running loop)."""
        self._timers.stopped = False
        self.submit(self.machine.on_loaded(now_ms()))

    def stop(self) -> None:
        """Cancel every timer and answer parked requests NOT_COORDINATOR, as Kafka does when a
        coordinator unloads, so clients look for the coordinator again when the broker is back."""
        self._timers.stop()
        parked, self._parked = self._parked, {}
        for fut, req in parked.values():
            if not fut.done():
                fut.set_result(req.error_response(E.NOT_COORDINATOR))

    # -- operations ----------------------------------------------------------------------------

    def write(self, op: Callable[[int, Any], CoordinatorResult[T]], req: FailsWith[T],
              producer: Producer | None = None) -> T | asyncio.Future[T]:
        """Run a write: its response once the records are durable, or its error response."""
        if self.loading:
            return req.error_response(E.COORDINATOR_LOAD_IN_PROGRESS)
        return self.submit(op(now_ms(), req), req, producer)  # type: ignore[no-any-return]

    def read(self, op: Callable[[int, Any], CoordinatorResult[T]],
             req: FailsWith[T]) -> T:  # type: ignore[type-var]
        """Run a read against the committed state."""
        if self.loading:
            return req.error_response(E.COORDINATOR_LOAD_IN_PROGRESS)
        result = op(now_ms(), req)
        assert not result.records and result.response is not None, "a read wrote"
        return result.response

    def submit(self, result: CoordinatorResult[Any], req: FailsWith[Any] | None = None,
               producer: Producer | None = None, retry: Callable[[], None] | None = None) -> Any:
        """Append ``result``'s records and commit it when durable; the reply (or a Future of it).
        ``retry`` runs after ``RETRY_BACKOFF_MS`` when a request-less result is reverted."""
        self._apply_timers(result.schedule, result.cancel)
        w = _Write(result, req, producer[0] if producer is not None else -1, retry)
        try:
            flushed = self._append(result.records, producer) if result.records else None
        except Exception as exc:
            log.error("could not append to %s: %r", self.topic.name, exc)
            return self._revert(w, append_error(exc))
        w.durable = flushed is None
        if w.durable and not self._uncommitted:
            self._commit(w)  # the common case: no fsync to wait for, nothing before it
            if result.response is not None or req is None:
                return result.response
        if req is not None:
            w.reply = asyncio.get_running_loop().create_future()
            if result.response is None:
                assert result.handle is not None
                self._parked[result.handle] = (w.reply, req)
        if not w.durable:
            self._uncommitted.append(w)
            assert flushed is not None
            flushed.add_done_callback(lambda f: self._flushed(w, f))
        elif self._uncommitted:
            self._uncommitted.append(w)
        return w.reply

    def _append(self, records: tuple[Record, ...], producer: Producer | None) -> asyncio.Future[None] | None:
        self.ensure_topic()
        by_partition: dict[int, list[Record]] = {}
        for key, value in records:
            partition = self.partition_for(self.machine.record_owner(key))
            by_partition.setdefault(partition, []).append((key, value))
        now = now_ms()
        flushes: list[asyncio.Future[None]] = []
        for partition, recs in by_partition.items():
            plog = self.logs.get_log(self.topic.name, partition)
            if plog is None:
                raise KafkaError(E.UNKNOWN_TOPIC_OR_PARTITION, f"{self.topic.name}-{partition} is missing")
            flush = self.append(plog, recs, now, producer)
            if flush is not None:
                flushes.append(flush)
        if not flushes:
            return None
        return flushes[0] if len(flushes) == 1 else asyncio.gather(*flushes)  # type: ignore[return-value]

    def _flushed(self, w: _Write, f: asyncio.Future[Any]) -> None:
        if w not in self._uncommitted:
            return  # reverted with an earlier write
        exc = asyncio.CancelledError() if f.cancelled() else f.exception()
        if exc is None:
            w.durable = True
            while self._uncommitted and self._uncommitted[0].durable:
                self._commit(self._uncommitted.popleft())
            return
        log.error("could not flush %s: %r", self.topic.name, exc)
        code = append_error(exc)
        at = self._uncommitted.index(w)
        failed = [self._uncommitted.pop() for _ in range(len(self._uncommitted) - at)]  # newest first
        for later in failed:
            self._revert(later, code)

    def _commit(self, w: _Write) -> None:
        r = w.result
        if r.replay:
            for key, value in r.records:
                self._replay_one(key, value, w.producer_id)
        for handle, reply in r.completed:
            entry = self._parked.pop(handle, None)
            if entry is not None and not entry[0].done():
                entry[0].set_result(reply)
        if w.reply is not None and r.response is not None and not w.reply.done():
            w.reply.set_result(r.response)
        for action in r.actions:
            self.perform(action)

    def _revert(self, w: _Write, code: ErrorCode) -> Any:
        """Undo ``w`` as if it never ran: its state changes and timer commands; answer it ``code``."""
        r = w.result
        for undo in reversed(r.undo):
            undo()
        self._resync_timers([key for key, _ in r.schedule] + list(r.cancel))
        if r.handle is not None:
            self._parked.pop(r.handle, None)
        if w.req is None:
            if w.retry is not None and not self._timers.stopped:
                asyncio.get_running_loop().call_later(RETRY_BACKOFF_MS / 1000, w.retry)
            return None
        error = w.req.error_response(code)
        if w.reply is None:
            return error
        if not w.reply.done():
            w.reply.set_result(error)
        return w.reply

    # -- timers --------------------------------------------------------------------------------

    def _apply_timers(self, schedule: tuple[tuple[TimerKey, int], ...], cancel: tuple[TimerKey, ...]) -> None:
        for key in cancel:
            self._timers.cancel(key)
        for key, deadline in schedule:
            self._timers.schedule(key, deadline)

    def _resync_timers(self, keys: list[TimerKey]) -> None:
        """Make the loop's handles match the machine's (restored) deadlines; one already due again is a
        timer whose write failed: retried after a back-off."""
        now = now_ms()
        for key in keys:
            deadline = self.machine.timers.get(key)
            if deadline is None:
                self._timers.cancel(key)
            else:
                self._timers.schedule(key, now + RETRY_BACKOFF_MS if deadline <= now else deadline)

    def _fire(self, now: int, key: TimerKey) -> None:
        self.submit(self.machine.fire_timer(now, key))

    def fire(self, now: int, key: TimerKey) -> None:
        """Run a timer now (tests drive deadlines with this)."""
        self._fire(now, key)

    def pending_timers(self) -> set[TimerKey]:
        return self._timers.keys()
