"""The only I/O around the transaction coordinator: ``__transaction_state``, markers and timers.

The coordinator (broker/txn/) is a pure state machine; this driver gives it a clock (wall time in ms),
appends the records of each result to the transactional id's ``__transaction_state`` partition before
the reply is sent (and after fsync when the flush policy demands one), writes the COMMIT/ABORT markers
the result asks for, and turns keyed timer commands into ``loop.call_at`` handles.

``__transaction_state`` is created on first use with ``transaction.state.log.num.partitions``
partitions, ``cleanup.policy=compact`` and ``segment.bytes=transaction.state.log.segment.bytes``, as
Kafka's ``TransactionStateManager``; a transactional id lives on partition
``Utils.abs(transactionalId.hashCode()) % partitions``.

Markers (Kafka's ``TransactionMarkerChannelManager`` and WriteTxnMarkers, in process): once the Prepare
record is in the log (and durable if it must be), a control batch with the producer id and epoch goes
to every partition of the transaction, waking the fetches that wait there; the marker on a
``__consumer_offsets`` partition also makes the group side commit or drop that producer's pending
offsets. When every marker is written (and flushed when required) the coordinator completes the
transaction. Markers are written before the EndTxn reply is sent when nothing needs an fsync first, so
a client rarely sees CONCURRENT_TRANSACTIONS. A failed marker write is retried after
``MARKER_RETRY_S``, as Kafka retries markers until they succeed.

At startup every partition is replayed, then ``on_loaded`` re-issues the markers of prepared
transactions and arms the timeouts of open ones (the group side has been loaded first, so its pending
offsets are there to be completed).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar

from pykafka_broker.broker.context import now_ms
from pykafka_broker.broker.dispatch import Reply, map_reply
from pykafka_broker.broker.group_driver import OFFSETS_TOPIC, partition_for
from pykafka_broker.broker.internal_topics import KeyedTimers, append_records, read_batches
from pykafka_broker.broker.txn import (
    CoordinatorResult,
    TimerKey,
    TransactionCoordinator,
    TxnConfig,
    WriteMarkers,
)
from pykafka_broker.broker.txn import records as rec
from pykafka_broker.broker.txn.api import Record
from pykafka_broker.protocol.errors import ErrorCode, KafkaError
from pykafka_broker.protocol.records import decode_records

if TYPE_CHECKING:
    from pykafka_broker.broker.config import BrokerConfig
    from pykafka_broker.broker.flusher import Flusher
    from pykafka_broker.broker.group_driver import GroupDriver
    from pykafka_broker.broker.producer_ids import ProducerIdAllocator
    from pykafka_broker.broker.waiters import FetchWaiters
    from pykafka_broker.storage.manager import LogManager

log = logging.getLogger("pykafka_broker.txn")

TXN_TOPIC = "__transaction_state"
COORDINATOR_EPOCH = 0  # one node, never fails over: the coordinator epoch stays 0
CONTROL_BATCH_BYTES = 78  # a control batch's size: enough to wake a waiting fetch
MARKER_RETRY_S = 1.0
TRANSACTION_ABORTABLE_PRODUCE_VERSION = 11  # KIP-890: older producers get INVALID_TXN_STATE instead
E = ErrorCode
_RETRIABLE_VERIFICATION = frozenset({E.CONCURRENT_TRANSACTIONS, E.COORDINATOR_NOT_AVAILABLE,
                                     E.COORDINATOR_LOAD_IN_PROGRESS, E.NOT_COORDINATOR})
T = TypeVar("T")


class TxnDriver:
    def __init__(self, config: BrokerConfig, logs: LogManager, flusher: Flusher, waiters: FetchWaiters,
                 producer_ids: ProducerIdAllocator, groups: GroupDriver) -> None:
        self.config = config
        self.logs = logs
        self.flusher = flusher
        self.waiters = waiters
        self.groups = groups
        self.coordinator = TransactionCoordinator(producer_ids.next_id, groups.partition_for,
                                                  TxnConfig.from_properties(config.props))
        self._timers = KeyedTimers(self._fire, "transaction")

    # -- the internal topic --------------------------------------------------------------------

    @property
    def num_partitions(self) -> int:
        info = self.logs.topics.get(TXN_TOPIC)
        return (info.partitions if info is not None
                else self.config.get_int("transaction.state.log.num.partitions"))

    def partition_for(self, transactional_id: str) -> int:
        return partition_for(transactional_id, self.num_partitions)

    def ensure_topic(self) -> None:
        if TXN_TOPIC in self.logs.topics:
            return
        configs = {"cleanup.policy": "compact",
                   "segment.bytes": str(self.config.get_int("transaction.state.log.segment.bytes"))}
        partitions = self.config.get_int("transaction.state.log.num.partitions")
        self.logs.create_topic(TXN_TOPIC, partitions, configs)
        log.info("created %s with %d partitions", TXN_TOPIC, self.num_partitions)

    # -- lifecycle -----------------------------------------------------------------------------

    def load(self) -> int:
        """Replay every ``__transaction_state`` partition from its log start; the record count."""
        info = self.logs.topics.get(TXN_TOPIC)
        if info is None:
            return 0
        max_bytes = self.config.get_int("offsets.load.buffer.size")
        count = 0
        for partition in range(info.partitions):
            plog = self.logs.get_log(TXN_TOPIC, partition)
            if plog is not None:
                for header, batch in read_batches(plog, max_bytes):
                    if not header.is_control:
                        count += self._replay_batch(batch, partition)
        log.info("loaded %d records from %s: %d transactional ids", count, TXN_TOPIC,
                 len(self.coordinator.txns))
        return count

    def _replay_batch(self, batch: memoryview, partition: int) -> int:
        try:
            records = decode_records(batch)
        except KafkaError as exc:
            log.error("%s-%d: skipping undecodable batch: %s", TXN_TOPIC, partition, exc)
            return 0
        n = 0
        for r in records:
            if r.key is None:
                continue
            try:
                self.coordinator.replay(r.key, r.value)
                n += 1
            except rec.RecordFormatError as exc:
                log.error("%s-%d offset %d: skipping record: %s", TXN_TOPIC, partition, r.offset, exc)
        return n

    def start(self) -> None:
        """Re-issue markers of prepared transactions and arm the timers (needs the running loop)."""
        self._timers.stopped = False
        now = now_ms()
        self._apply(self.coordinator.on_loaded(now), now)

    def stop(self) -> None:
        self._timers.stop()

    # -- calls ---------------------------------------------------------------------------------

    def call(self, op: Callable[[int, Any], CoordinatorResult[T]], req: Any) -> Reply[T]:
        """Run one coordinator call: its response, or a Future of it when records must reach the disk
        first."""
        now = now_ms()
        result = op(now, req)
        persisted = self._apply(result, now)
        response = result.response
        if persisted is None:
            return response  # type: ignore[return-value]
        return map_reply(persisted, lambda _: response)  # type: ignore[arg-type,return-value]

    def init_producer_id(self, req: Any) -> Reply[Any]:
        return self.call(self.coordinator.init_producer_id, req)

    def add_partitions(self, req: Any) -> Reply[Any]:
        return self.call(self.coordinator.add_partitions, req)

    def add_offsets(self, req: Any) -> Reply[Any]:
        return self.call(self.coordinator.add_offsets, req)

    def end_txn(self, req: Any) -> Reply[Any]:
        return self.call(self.coordinator.end_txn, req)

    def list_transactions(self, req: Any) -> Reply[Any]:
        return self.call(self.coordinator.list_transactions, req)

    def describe_transactions(self, req: Any) -> Reply[Any]:
        return self.call(self.coordinator.describe_transactions, req)

    def verify_produce(self, transactional_id: str | None, producer_id: int, producer_epoch: int, topic: str,
                       partition: int, produce_version: int) -> tuple[ErrorCode, str | None]:
        """KIP-890 part 1: may this transactional batch be appended? Errors as Kafka's
        AddPartitionsToTxnManager and ReplicaManager map them for producers: PRODUCER_FENCED ->
        INVALID_PRODUCER_EPOCH, TRANSACTION_ABORTABLE -> INVALID_TXN_STATE before Produce v11, retriable
        coordinator errors -> NOT_ENOUGH_REPLICAS (retried without a metadata refresh)."""
        if transactional_id is None:  # KafkaApis: transactional records need an (authorized) transactional id
            return (E.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
                    "Transactional records require a transactional id in the Produce request")
        if not self.config.get_bool("transaction.partition.verification.enable"):
            return E.NONE, None
        code = self.coordinator.verify(transactional_id, producer_id, producer_epoch, topic, partition)
        if code is E.NONE:
            return code, None
        if code in _RETRIABLE_VERIFICATION:
            return E.NOT_ENOUGH_REPLICAS, ("Unable to verify the partition has been added to the "
                                           f"transaction. Underlying error: {code.name}")
        if code is E.PRODUCER_FENCED:
            return E.INVALID_PRODUCER_EPOCH, None
        if code is E.TRANSACTION_ABORTABLE and produce_version < TRANSACTION_ABORTABLE_PRODUCE_VERSION:
            code = E.INVALID_TXN_STATE
        not_added = code in (E.INVALID_TXN_STATE, E.TRANSACTION_ABORTABLE)
        return code, "Partition was not added to the transaction" if not_added else None

    def _apply(self, result: CoordinatorResult[Any], now: int) -> asyncio.Future[None] | None:
        """Persist, then timers, then markers (after the records are durable when that is required)."""
        try:
            persisted = self._persist(result.records, now)
        except Exception as exc:
            log.error("could not append to %s: %r", TXN_TOPIC, exc)
            persisted = asyncio.get_running_loop().create_future()
            persisted.set_exception(exc)
        for key in result.cancel:
            self._timers.cancel(key)
        for key, deadline in result.schedule:
            self._timers.schedule(key, deadline)
        for markers in result.markers:
            if persisted is None:
                self._write_markers(markers)
            else:
                persisted.add_done_callback(self._markers_after_persist(markers))
        return persisted

    def _persist(self, records: tuple[Record, ...], now: int) -> asyncio.Future[None] | None:
        if not records:
            return None
        self.ensure_topic()
        by_partition: dict[int, list[Record]] = {}
        for key, value in records:
            tid = rec.decode_key(key) or ""
            by_partition.setdefault(self.partition_for(tid), []).append((key, value))
        flushes: list[asyncio.Future[None]] = []
        for partition, recs in by_partition.items():
            plog = self.logs.get_log(TXN_TOPIC, partition)
            assert plog is not None, f"{TXN_TOPIC}-{partition} is missing"
            flush = append_records(plog, recs, now, self.waiters, self.flusher)
            if flush is not None:
                flushes.append(flush)
        if not flushes:
            return None
        return asyncio.gather(*flushes)  # type: ignore[return-value]

    # -- markers -------------------------------------------------------------------------------

    def _markers_after_persist(self, m: WriteMarkers) -> Callable[[asyncio.Future[None]], None]:
        def write(_persisted: asyncio.Future[None]) -> None:
            self._write_markers(m)  # a failed Prepare append was logged; the outcome is decided anyway
        return write

    def _write_markers(self, m: WriteMarkers) -> None:
        if self._timers.stopped:
            return  # re-issued by on_loaded at the next start
        now = now_ms()
        flushes: list[asyncio.Future[None]] = []
        for i, (topic, partition) in enumerate(m.partitions):
            plog = self.logs.get_log(topic, partition)
            if plog is None:  # deleted meanwhile: Kafka drops markers for unknown partitions too
                log.warning("transaction %s: %s-%d is gone, no marker written", m.transactional_id,
                            topic, partition)
                continue
            try:
                plog.append_control_batch(m.producer_id, m.producer_epoch, m.committed, COORDINATOR_EPOCH,
                                          now)
            except KafkaError as exc:
                if exc.code in (E.INVALID_PRODUCER_EPOCH, E.TRANSACTION_COORDINATOR_FENCED):
                    # TransactionMarkerRequestCompletionHandler: a newer epoch owns the partition now.
                    log.warning("transaction %s: no marker on %s-%d: %s", m.transactional_id, topic,
                                partition, exc)
                    continue
                self._retry_markers(replace(m, partitions=m.partitions[i:]), exc)
                return
            except Exception as exc:  # disk trouble: retry the partitions still without a marker
                self._retry_markers(replace(m, partitions=m.partitions[i:]), exc)
                return
            if topic == OFFSETS_TOPIC:
                self.groups.complete_txn(partition, m.producer_id, m.committed)
            self.waiters.notify(topic, partition, CONTROL_BATCH_BYTES)
            flush = self.flusher.after_append(plog)
            if flush is not None:
                flushes.append(flush)
        if not flushes:
            self._markers_written(m)
            return

        def flushed(f: asyncio.Future[Any]) -> None:
            if not f.cancelled() and f.exception() is None:
                self._markers_written(m)
            else:  # a disk failure the flusher reports; complete rather than stall the transactional id
                log.error("transaction %s: flushing markers failed", m.transactional_id)
                self._markers_written(m)
        asyncio.gather(*flushes).add_done_callback(flushed)

    def _retry_markers(self, m: WriteMarkers, exc: BaseException) -> None:
        log.error("transaction %s: writing markers failed (%r); retrying in %.0f s", m.transactional_id, exc,
                  MARKER_RETRY_S)
        asyncio.get_running_loop().call_later(MARKER_RETRY_S, self._write_markers, m)

    def _markers_written(self, m: WriteMarkers) -> None:
        if self._timers.stopped:
            return
        now = now_ms()
        try:
            self._apply(self.coordinator.markers_written(now, m.transactional_id), now)
        except Exception:
            log.exception("transaction %s: completing failed", m.transactional_id)

    # -- timers --------------------------------------------------------------------------------

    def _fire(self, now: int, key: TimerKey) -> None:
        self._apply(self.coordinator.fire_timer(now, key), now)

    def pending_timers(self) -> set[TimerKey]:
        return self._timers.keys()

