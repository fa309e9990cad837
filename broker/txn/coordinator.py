"""The transaction coordinator: an I/O-free state machine, ``(now_ms, request) -> CoordinatorResult``.

Mirrors Kafka's ``TransactionCoordinator`` with ``transaction.version`` 1 semantics (no epoch bump per
EndTxn; partitions are added by AddPartitionsToTxn/AddOffsetsToTxn). Each call validates without
mutating, then snapshots the ``TxnMetadata`` it is about to change (``Effects.keep``), changes it in memory
and returns the ``__transaction_state`` record that makes the change durable. The runtime
(broker/coordinator/runtime.py) answers once that record is durable, and restores the snapshot when the
append fails — Kafka's ``pendingState`` that is dropped when ``appendTransactionToLog`` fails — so a failed
PrepareCommit leaves the transaction Ongoing and writes no marker.

Lifecycle of a transaction:  Empty/Complete* --AddPartitions--> Ongoing --EndTxn--> Prepare{Commit,Abort}
(reply sent, ``WriteMarkers`` issued) --``markers_written``--> Complete{Commit,Abort}. InitProducerId on an
Ongoing transaction, and the transaction timeout, fence the producer: PrepareEpochFence (epoch + 1,
never persisted) then PrepareAbort with the bumped epoch, so markers fence the zombie on every partition.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pykafka_broker.broker.coordinator.result import (
    EXPIRATION,
    EXPIRATION_KEY,
    CoordinatorResult,
    Effects,
    R,
    TimerKey,
    TimerTable,
)
from pykafka_broker.broker.txn import records as rec
from pykafka_broker.broker.txn.api import (
    OFFSETS_TOPIC,
    TIMEOUT,
    AddOffsetsToTxn,
    AddOffsetsToTxnResponse,
    AddPartitionsToTxn,
    AddPartitionsToTxnResponse,
    DescribedTransaction,
    DescribeTransactions,
    DescribeTransactionsResponse,
    EndTxn,
    EndTxnResponse,
    InitProducerId,
    InitProducerIdResponse,
    ListedTransaction,
    ListTransactions,
    ListTransactionsResponse,
    PartitionResult,
    TxnConfig,
    TxnOffsetCommitCheck,
    WriteMarkers,
)
from pykafka_broker.broker.txn.state import (
    COMPLETED,
    EXPIRATION_ALLOWED,
    MAX_EPOCH,
    NO_PRODUCER_EPOCH,
    NO_PRODUCER_ID,
    PREPARED,
    TopicPartition,
    TxnMetadata,
    TxnState,
    is_epoch_exhausted,
)
from pykafka_broker.protocol.errors import ErrorCode

S = TxnState
E = ErrorCode

# KIP-588: PRODUCER_FENCED exists from these versions on; older clients get INVALID_PRODUCER_EPOCH.
PRODUCER_FENCED_SINCE = {"InitProducerId": 4, "AddPartitionsToTxn": 2, "AddOffsetsToTxn": 2, "EndTxn": 2}


def fenced_for(api: str, version: int, error: ErrorCode) -> ErrorCode:
    if error is E.PRODUCER_FENCED and version < PRODUCER_FENCED_SINCE[api]:
        return E.INVALID_PRODUCER_EPOCH
    return error


class TransactionCoordinator:
    def __init__(self, next_producer_id: Callable[[], int], offsets_partition_for: Callable[[str], int],
                 config: TxnConfig | None = None) -> None:
        self.config = config or TxnConfig()
        self.txns: dict[str, TxnMetadata] = {}
        self._next_producer_id = next_producer_id
        self._offsets_partition_for = offsets_partition_for
        self.timers = TimerTable()

    # -- producer side -------------------------------------------------------------------------

    def init_producer_id(self, now_ms: int, req: InitProducerId) -> CoordinatorResult[InitProducerIdResponse]:
        fx = _effects(now_ms)
        if req.transactional_id is None:
            return self._finish(fx, InitProducerIdResponse(E.NONE, self._next_producer_id(), 0))
        error = self._init(fx, req)
        if isinstance(error, InitProducerIdResponse):
            return self._finish(fx, error)
        return self._finish(fx, InitProducerIdResponse(fenced_for("InitProducerId", req.api_version, error)))

    def _init(self, fx: Effects, req: InitProducerId) -> ErrorCode | InitProducerIdResponse:
        tid = req.transactional_id
        assert tid is not None
        if not tid:
            return E.INVALID_REQUEST
        if not 0 < req.transaction_timeout_ms <= self.config.max_timeout_ms:
            return E.INVALID_TRANSACTION_TIMEOUT
        if (req.producer_id == NO_PRODUCER_ID) != (req.producer_epoch == NO_PRODUCER_EPOCH):
            return E.INVALID_REQUEST  # KafkaApis: both or neither
        expected = None if req.producer_id == NO_PRODUCER_ID else (req.producer_id, req.producer_epoch)
        fx.keep(self.txns, tid, TxnMetadata.snapshot)
        meta = self.txns.get(tid)
        if meta is None:
            meta = TxnMetadata(tid, self._next_producer_id(), NO_PRODUCER_EPOCH, req.transaction_timeout_ms,
                               S.EMPTY, fx.now_ms)
        if expected is not None and not _valid_expected_producer(meta, *expected):
            return E.PRODUCER_FENCED
        if meta.state in PREPARED:
            return E.CONCURRENT_TRANSACTIONS  # markers outstanding: the client backs off and retries
        if meta.state is S.ONGOING:
            # Fence the current producer and abort its transaction; the bumped epoch is never handed out.
            # The client retries after CONCURRENT_TRANSACTIONS and then gets the epoch bumped once more.
            self._fence_and_abort(fx, meta)
            return E.CONCURRENT_TRANSACTIONS
        if meta.state not in COMPLETED:
            raise AssertionError(f"{tid} in {meta.state.display_name}")
        if meta.epoch_exhausted and (expected is None or expected[1] == meta.producer_epoch):
            # Rotate to a fresh producer id (TransactionMetadata.prepareProducerIdRotation).
            meta.previous_producer_id = meta.producer_id
            meta.last_producer_epoch = meta.producer_epoch if expected is not None else NO_PRODUCER_EPOCH
            meta.producer_id, meta.producer_epoch = self._next_producer_id(), 0
        else:
            bumped = _bumped_epochs(meta, None if expected is None else expected[1])
            if bumped is None:
                return E.PRODUCER_FENCED
            meta.producer_epoch, meta.last_producer_epoch = bumped
        meta.transit(S.EMPTY, fx.now_ms)
        meta.timeout_ms = req.transaction_timeout_ms
        meta.partitions = set()
        meta.start_ms = -1
        self.txns[tid] = meta
        self._persist(fx, meta)
        return InitProducerIdResponse(E.NONE, meta.producer_id, meta.producer_epoch)

    def add_partitions(self, now_ms: int,
                       req: AddPartitionsToTxn) -> CoordinatorResult[AddPartitionsToTxnResponse]:
        fx = _effects(now_ms)
        if req.verify_only:
            results = [(tp, self.verify(req.transactional_id, req.producer_id, req.producer_epoch, *tp))
                       for tp in req.partitions]
        else:
            error = self._add(fx, req.transactional_id, req.producer_id, req.producer_epoch, req.partitions)
            error = fenced_for("AddPartitionsToTxn", req.api_version, error)
            results = [(tp, error) for tp in req.partitions]
        response = AddPartitionsToTxnResponse(tuple(PartitionResult(t, p, e) for (t, p), e in results))
        return self._finish(fx, response)

    def add_offsets(self, now_ms: int, req: AddOffsetsToTxn) -> CoordinatorResult[AddOffsetsToTxnResponse]:
        fx = _effects(now_ms)
        partition = (OFFSETS_TOPIC, self._offsets_partition_for(req.group_id))
        error = self._add(fx, req.transactional_id, req.producer_id, req.producer_epoch, [partition])
        error = fenced_for("AddOffsetsToTxn", req.api_version, error)
        return self._finish(fx, AddOffsetsToTxnResponse(error))

    def _add(self, fx: Effects, tid: str, producer_id: int, epoch: int,
             partitions: Sequence[TopicPartition]) -> ErrorCode:
        wanted = set(partitions)
        meta = self._producer(tid, producer_id, epoch)
        if isinstance(meta, ErrorCode):
            return meta
        if meta.state in PREPARED:
            return E.CONCURRENT_TRANSACTIONS
        if meta.state is S.ONGOING and wanted <= meta.partitions:
            return E.NONE  # nothing new: no record
        fx.keep(self.txns, tid, TxnMetadata.snapshot)
        if meta.state in COMPLETED:
            meta.start_ms = fx.now_ms
            fx.schedule_at(TimerKey(TIMEOUT, tid), fx.now_ms + meta.timeout_ms)
        meta.transit(S.ONGOING, fx.now_ms)
        meta.partitions |= wanted
        self._persist(fx, meta)
        return E.NONE

    def end_txn(self, now_ms: int, req: EndTxn) -> CoordinatorResult[EndTxnResponse]:
        fx = _effects(now_ms)
        error = self._end(fx, req)
        return self._finish(fx, EndTxnResponse(fenced_for("EndTxn", req.api_version, error)))

    def _end(self, fx: Effects, req: EndTxn) -> ErrorCode:
        meta = self._producer(req.transactional_id, req.producer_id, req.producer_epoch)
        if isinstance(meta, ErrorCode):
            return meta
        state, commit = meta.state, req.committed
        if state is S.ONGOING:
            self._prepare_end(fx, meta, commit)
            return E.NONE
        # Retries of an EndTxn whose answer was lost: the same outcome again is fine, the other is not.
        if state is (S.COMPLETE_COMMIT if commit else S.COMPLETE_ABORT):
            return E.NONE
        if state is (S.PREPARE_COMMIT if commit else S.PREPARE_ABORT):
            return E.CONCURRENT_TRANSACTIONS
        return E.INVALID_TXN_STATE

    def _prepare_end(self, fx: Effects, meta: TxnMetadata, commit: bool) -> None:
        fx.keep(self.txns, meta.transactional_id, TxnMetadata.snapshot)
        meta.transit(S.PREPARE_COMMIT if commit else S.PREPARE_ABORT, fx.now_ms)
        fx.cancel(TimerKey(TIMEOUT, meta.transactional_id))
        self._persist(fx, meta)
        fx.actions.append(_markers(meta))

    def _fence_and_abort(self, fx: Effects, meta: TxnMetadata) -> None:
        """``prepareFenceProducerEpoch`` then an abort that is not from the client."""
        fx.keep(self.txns, meta.transactional_id, TxnMetadata.snapshot)
        meta.transit(S.PREPARE_EPOCH_FENCE, fx.now_ms)
        if meta.producer_epoch < MAX_EPOCH:  # an Ongoing epoch is at most MAX-1: the guard never bites
            meta.producer_epoch += 1
        meta.last_producer_epoch = NO_PRODUCER_EPOCH
        self._prepare_end(fx, meta, False)

    def markers_written(self, now_ms: int, transactional_id: str) -> CoordinatorResult[None]:
        """The driver wrote every marker of the prepared transaction: complete it. A call for a transaction
        that is not prepared (a duplicate) changes nothing."""
        fx = _effects(now_ms)
        meta = self.txns.get(transactional_id)
        if meta is not None and meta.state in PREPARED:
            fx.keep(self.txns, transactional_id, TxnMetadata.snapshot)
            meta.transit(S.COMPLETE_COMMIT if meta.state is S.PREPARE_COMMIT else S.COMPLETE_ABORT, now_ms)
            meta.partitions = set()
            self._persist(fx, meta)
        return self._finish(fx, None)

    # -- queries from other request paths -------------------------------------------------------

    def verify(self, transactional_id: str, producer_id: int, producer_epoch: int, topic: str,
               partition: int) -> ErrorCode:
        """KIP-890 part 1: may this transactional produce be appended to ``topic-partition``?
        (``handleVerifyPartitionsInTransaction``; a partition never added is TRANSACTION_ABORTABLE.)"""
        meta = self._producer(transactional_id, producer_id, producer_epoch)
        if isinstance(meta, ErrorCode):
            return meta
        if meta.state in PREPARED:
            return E.CONCURRENT_TRANSACTIONS
        return E.NONE if (topic, partition) in meta.partitions else E.TRANSACTION_ABORTABLE

    def check_txn_offset_commit(self, req: TxnOffsetCommitCheck) -> ErrorCode:
        """The coordinator half of TxnOffsetCommit: the group's offsets partition must be in the open
        transaction of this producer (AddOffsetsToTxn came first)."""
        return self.verify(req.transactional_id, req.producer_id, req.producer_epoch, OFFSETS_TOPIC,
                           self._offsets_partition_for(req.group_id))

    # -- admin ---------------------------------------------------------------------------------

    def list_transactions(self, now_ms: int,
                          req: ListTransactions) -> CoordinatorResult[ListTransactionsResponse]:
        states = {name: TxnState.from_name(name) for name in req.state_filters}
        unknown = tuple(name for name, state in states.items() if state is None)
        wanted = {s for s in states.values() if s is not None}
        pids = set(req.producer_id_filters)
        listed = tuple(
            ListedTransaction(m.transactional_id, m.producer_id, m.state.display_name)
            for m in self.txns.values()
            if m.state is not S.DEAD
            and (not pids or m.producer_id in pids)
            and (not req.state_filters or m.state in wanted)
            and (req.duration_filter_ms < 0 or now_ms - m.start_ms > req.duration_filter_ms)
        )
        return self._finish(_effects(now_ms), ListTransactionsResponse(E.NONE, unknown, listed))

    def describe_transactions(self, now_ms: int,
                              req: DescribeTransactions) -> CoordinatorResult[DescribeTransactionsResponse]:
        return self._finish(_effects(now_ms), DescribeTransactionsResponse(
            tuple(self.describe(tid) for tid in req.transactional_ids)))

    def describe(self, transactional_id: str) -> DescribedTransaction:
        if not transactional_id:
            return DescribedTransaction(E.INVALID_REQUEST, transactional_id)
        meta = self.txns.get(transactional_id)
        if meta is None or meta.state is S.DEAD:
            return DescribedTransaction(E.TRANSACTIONAL_ID_NOT_FOUND, transactional_id)
        topics: dict[str, list[int]] = {}
        for topic, partition in meta.sorted_partitions():
            topics.setdefault(topic, []).append(partition)
        return DescribedTransaction(E.NONE, transactional_id, meta.state.display_name, meta.timeout_ms,
                                    meta.start_ms, meta.producer_id, meta.producer_epoch,
                                    tuple((t, tuple(ps)) for t, ps in topics.items()))

    # -- timers --------------------------------------------------------------------------------

    def fire_timer(self, now_ms: int, key: TimerKey) -> CoordinatorResult[None]:
        """Run an expired timer. A key that was cancelled or rescheduled later is ignored."""
        fx = _effects(now_ms)
        if not self.timers.due(fx, key):
            return self._finish(fx, None)
        if key.kind == TIMEOUT:
            meta = self.txns.get(key.key)
            if meta is not None and meta.state is S.ONGOING and meta.start_ms + meta.timeout_ms <= now_ms:
                self._fence_and_abort(fx, meta)  # abortTimedOutTransactions: the zombie is fenced too
        elif key.kind == EXPIRATION:
            self._expire_transactional_ids(fx)
        return self._finish(fx, None)

    def _expire_transactional_ids(self, fx: Effects) -> None:
        """Forget ids idle for ``transactional.id.expiration.ms`` in a state that allows it: a tombstone
        (the Dead state is only the instant before removal, never written)."""
        horizon = fx.now_ms - self.config.transactional_id_expiration_ms
        for meta in list(self.txns.values()):
            if meta.state in EXPIRATION_ALLOWED and meta.last_update_ms <= horizon:
                fx.keep(self.txns, meta.transactional_id, TxnMetadata.snapshot)
                meta.transit(S.DEAD, fx.now_ms)
                del self.txns[meta.transactional_id]
                fx.records.append((rec.encode_key(meta.transactional_id), None))
        fx.schedule_at(EXPIRATION_KEY, fx.now_ms + self.config.remove_expired_interval_ms)

    def pending_timers(self) -> dict[TimerKey, int]:
        return self.timers.pending()

    # -- loading -------------------------------------------------------------------------------

    def replay(self, key: bytes, value: bytes | None, producer_id: int = -1) -> None:
        """Apply one ``__transaction_state`` record at startup (last value per key wins)."""
        tid = rec.decode_key(key)
        if tid is None:
            return
        if value is None:
            self.txns.pop(tid, None)
            return
        v = rec.decode_value(value)
        self.txns[tid] = TxnMetadata(tid, v.producer_id, v.producer_epoch, v.timeout_ms, v.state,
                                     v.last_update_ms, v.start_ms, set(v.partitions),
                                     previous_producer_id=v.previous_producer_id)

    def replay_marker(self, partition: int, producer_id: int, committed: bool) -> None:
        """``__transaction_state`` holds no transactional batches: nothing to complete."""

    def record_owner(self, key: bytes) -> str:
        return rec.decode_key(key) or ""

    def on_loaded(self, now_ms: int) -> CoordinatorResult[None]:
        """After replay: prepared transactions get their markers (re)written, open ones their timeout
        (already due ones fire at once), and the expiration job starts."""
        fx = _effects(now_ms)
        for meta in self.txns.values():
            if meta.state in PREPARED:
                fx.actions.append(_markers(meta))
            elif meta.state is S.ONGOING:
                fx.schedule_at(TimerKey(TIMEOUT, meta.transactional_id), meta.start_ms + meta.timeout_ms)
        fx.schedule_at(EXPIRATION_KEY, now_ms + self.config.remove_expired_interval_ms)
        return self._finish(fx, None)

    # -- internals -----------------------------------------------------------------------------

    def _producer(self, tid: str, producer_id: int, epoch: int) -> TxnMetadata | ErrorCode:
        """The metadata of the producer a request speaks for, or why it may not. Epochs must match exactly
        (client requests never bump the epoch): older is a zombie, newer cannot exist."""
        if not tid:
            return E.INVALID_REQUEST
        meta = self.txns.get(tid)
        if meta is None or meta.producer_id != producer_id:
            return E.INVALID_PRODUCER_ID_MAPPING
        if meta.producer_epoch != epoch:
            return E.PRODUCER_FENCED
        return meta

    def _persist(self, fx: Effects, meta: TxnMetadata) -> None:
        value = rec.TxnLogValue(meta.producer_id, meta.producer_epoch, meta.timeout_ms, meta.state,
                                meta.sorted_partitions(), meta.last_update_ms, meta.start_ms,
                                previous_producer_id=meta.previous_producer_id)
        fx.records.append((rec.encode_key(meta.transactional_id), rec.encode_value(value)))

    def _finish(self, fx: Effects, response: R | None) -> CoordinatorResult[R]:
        return self.timers.finish(fx, response)


def _effects(now_ms: int) -> Effects:
    """Every change here is made in memory with a snapshot to restore (``replay=False``): the
    ``last_producer_epoch`` of a KIP-360 retry is not in the record, so replaying it would lose it."""
    return Effects(now_ms, replay=False)


def _markers(meta: TxnMetadata) -> WriteMarkers:
    return WriteMarkers(meta.transactional_id, meta.producer_id, meta.producer_epoch,
                        meta.state is S.PREPARE_COMMIT, meta.sorted_partitions())


def _valid_expected_producer(meta: TxnMetadata, producer_id: int, epoch: int) -> bool:
    """KIP-360: a producer naming its current pid/epoch is fenced unless the id is fresh (epoch -1), the pid
    is the current one (its epoch is checked when bumped), or it is a retry after a pid rotation."""
    return (meta.producer_epoch == NO_PRODUCER_EPOCH or producer_id == meta.producer_id
            or (producer_id == meta.previous_producer_id and is_epoch_exhausted(epoch)))


def _bumped_epochs(meta: TxnMetadata, expected_epoch: int | None) -> tuple[int, int] | None:
    """(new epoch, last epoch) for InitProducerId (``prepareIncrementProducerEpoch``), None = fenced."""
    if meta.epoch_exhausted:
        # Only a stale expected epoch gets here (a matching or absent one rotated the producer id).
        return (meta.producer_epoch, meta.last_producer_epoch) if expected_epoch == meta.last_producer_epoch \
            else None
    bumped = meta.producer_epoch + 1
    if expected_epoch is None:
        return bumped, NO_PRODUCER_EPOCH
    if meta.producer_epoch == NO_PRODUCER_EPOCH or expected_epoch == meta.producer_epoch:
        return bumped, meta.producer_epoch
    if expected_epoch == meta.last_producer_epoch:
        return meta.producer_epoch, meta.last_producer_epoch  # a retry whose answer was lost: no bump
    return None
