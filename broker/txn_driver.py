"""The transaction coordinator (broker/txn/) on the shared runtime, over ``__transaction_state``, and
the transaction markers it asks for.

Appending its records, waiting for the fsync the flush policy demands, committing or reverting, keyed
timers, replay at startup and COORDINATOR_LOAD_IN_PROGRESS meanwhile are the runtime's
(broker/coordinator/runtime.py). A result's ``WriteMarkers`` actions reach ``_write_markers`` only once
its Prepare record is durable: a failed PrepareCommit append answers EndTxn with the error, leaves the
transaction Ongoing and writes no marker.

``__transaction_state`` is created on first use with ``transaction.state.log.num.partitions``
partitions, ``cleanup.policy=compact`` and ``segment.bytes=transaction.state.log.segment.bytes``, as
Kafka's ``TransactionStateManager``; a transactional id lives on partition
``Utils.abs(transactionalId.hashCode()) % partitions``.

Markers (Kafka's ``TransactionMarkerChannelManager`` and WriteTxnMarkers, in process): a control batch
with the producer id and epoch goes to every partition of the transaction, waking the fetches that wait
there; the marker on a ``__consumer_offsets`` partition also makes the group side commit or drop that
producer's pending offsets. When every marker is written (and flushed when required) the coordinator
completes the transaction. Markers are written before the EndTxn reply is sent when nothing needs an
fsync first, so a client rarely sees CONCURRENT_TRANSACTIONS. A failed marker write is retried after
``MARKER_RETRY_S``, a failed append of the Complete record after the runtime's back-off, as Kafka
retries both until they succeed. A marker whose fsync failed (or could not start) counts as not
written: the transaction stays PrepareCommit/PrepareAbort until it is written again and synced.

At startup every partition is replayed, then ``on_loaded`` re-issues the markers of prepared
transactions and arms the timeouts of open ones (the group side has been loaded first, so its pending
offsets are there to be completed).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from pykafka_broker.broker.clock import now_ms
from pykafka_broker.broker.coordinator.result import TimerKey
from pykafka_broker.broker.coordinator.runtime import CoordinatorRuntime
from pykafka_broker.broker.coordinator.topic import InternalTopic
from pykafka_broker.broker.group_driver import OFFSETS_TOPIC
from pykafka_broker.broker.ratelimit_log import RateLimitedLog
from pykafka_broker.broker.txn import TransactionCoordinator, TxnConfig, TxnOffsetCommitCheck, WriteMarkers
from pykafka_broker.protocol.errors import ErrorCode, KafkaError

if TYPE_CHECKING:
    from pykafka_broker.broker.config import BrokerConfig
    from pykafka_broker.broker.dispatch import Reply
    from pykafka_broker.broker.flusher import Flusher
    from pykafka_broker.broker.group_driver import GroupDriver
    from pykafka_broker.broker.producer_ids import ProducerIdAllocator
    from pykafka_broker.broker.waiters import FetchWaiters
    from pykafka_broker.storage.manager import LogManager

log = logging.getLogger("pykafka_broker.txn")
_marker_retry_log = RateLimitedLog(log)

TXN_TOPIC = "__transaction_state"
TOPIC = InternalTopic(TXN_TOPIC, "transaction.state.log.num.partitions",
                      "transaction.state.log.segment.bytes")
COORDINATOR_EPOCH = 0  # one node, never fails over: the coordinator epoch stays 0
CONTROL_BATCH_BYTES = 78  # a control batch's size: enough to wake a waiting fetch
MARKER_RETRY_S = 1.0
TRANSACTION_ABORTABLE_PRODUCE_VERSION = 11  # KIP-890: older producers get INVALID_TXN_STATE instead
E = ErrorCode
_RETRIABLE_VERIFICATION = frozenset({E.CONCURRENT_TRANSACTIONS, E.COORDINATOR_NOT_AVAILABLE,
                                     E.COORDINATOR_LOAD_IN_PROGRESS, E.NOT_COORDINATOR})


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
        self.runtime = CoordinatorRuntime(TOPIC, self.coordinator, config, logs, flusher, waiters,
                                          perform=self._write_markers)
        self._stopped = True

    def ensure_topic(self) -> None:
        self.runtime.ensure_topic()

    # -- lifecycle -----------------------------------------------------------------------------

    def load(self) -> None:
        """Replay ``__transaction_state`` (after the groups: markers complete their pending offsets)."""
        self.runtime.load()

    def start(self) -> None:
        """Re-issue markers of prepared transactions and arm the timers (needs the running loop)."""
        self._stopped = False
        self.runtime.start()

    def stop(self) -> None:
        self._stopped = True
        self.runtime.stop()

    def pending_timers(self) -> set[TimerKey]:
        return self.runtime.pending_timers()

    # -- the APIs ------------------------------------------------------------------------------

    def init_producer_id(self, req: Any) -> Reply[Any]:
        return self.runtime.write(self.coordinator.init_producer_id, req)

    def add_partitions(self, req: Any) -> Reply[Any]:
        return self.runtime.write(self.coordinator.add_partitions, req)

    def add_offsets(self, req: Any) -> Reply[Any]:
        return self.runtime.write(self.coordinator.add_offsets, req)

    def end_txn(self, req: Any) -> Reply[Any]:
        return self.runtime.write(self.coordinator.end_txn, req)

    def list_transactions(self, req: Any) -> Reply[Any]:
        return self.runtime.read(self.coordinator.list_transactions, req)

    def describe_transactions(self, req: Any) -> Reply[Any]:
        return self.runtime.read(self.coordinator.describe_transactions, req)

    def check_txn_offset_commit(self, req: TxnOffsetCommitCheck) -> ErrorCode:
        """The coordinator half of TxnOffsetCommit (COORDINATOR_LOAD_IN_PROGRESS while loading)."""
        if self.runtime.loading:
            return E.COORDINATOR_LOAD_IN_PROGRESS
        return self.coordinator.check_txn_offset_commit(req)

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
        if self.runtime.loading:
            code = E.COORDINATOR_LOAD_IN_PROGRESS
        else:
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

    # -- markers -------------------------------------------------------------------------------

    def _write_markers(self, m: WriteMarkers) -> None:
        if self._stopped:
            return  # re-issued by on_loaded at the next start
        now = now_ms()
        flushes: list[tuple[tuple[str, int], asyncio.Future[None]]] = []
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
                flushes.append(((topic, partition), flush))
        if not flushes:
            self._markers_written(m)
            return

        def flushed(f: asyncio.Future[list[Any]]) -> None:
            # A marker whose fsync failed is not written: the transaction stays PrepareCommit /
            # PrepareAbort and those markers are written again (a second marker of the same
            # transaction is harmless, as after a restart's re-issue), never completed unsynced.
            results = f.result()
            failed = [tp for (tp, _), result in zip(flushes, results, strict=True)
                      if isinstance(result, BaseException)]
            if not failed:
                self._markers_written(m)
                return
            error = next(r for r in results if isinstance(r, BaseException))
            self._retry_markers(replace(m, partitions=tuple(failed)), error)
        asyncio.gather(*(fut for _, fut in flushes), return_exceptions=True).add_done_callback(flushed)

    def _retry_markers(self, m: WriteMarkers, exc: BaseException) -> None:
        # Until the disk is back (or the next start for an offline log) this repeats every
        # MARKER_RETRY_S: one line per transactional id and interval, with the count suppressed.
        _marker_retry_log.error(f"markers:{m.transactional_id}",
                                "transaction %s: writing markers failed (%r); retrying in %.0f s",
                                m.transactional_id, exc, MARKER_RETRY_S)
        asyncio.get_running_loop().call_later(MARKER_RETRY_S, self._write_markers, m)

    def _markers_written(self, m: WriteMarkers) -> None:
        """Every marker is in: complete the transaction (retried while its record cannot be appended)."""
        if self._stopped:
            return
        try:
            self.runtime.submit(self.coordinator.markers_written(now_ms(), m.transactional_id),
                                retry=lambda: self._markers_written(m))
        except Exception:
            log.exception("transaction %s: completing failed", m.transactional_id)

