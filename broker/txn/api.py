"""What goes in and out of the transaction coordinator: plain requests, responses, actions, timer keys.

A handler turns a decoded request into one of the request dataclasses below and the response back into the
versioned wire response. Every call returns a ``CoordinatorResult``: the response, the
``__transaction_state`` records to append (before the response is sent), ``markers`` — transactions whose
commit/abort markers the driver must now write — and timer commands (absolute deadlines; scheduling a key
again replaces its deadline). No reply is ever parked: like Kafka, the coordinator answers EndTxn once the
Prepare record is appended and answers CONCURRENT_TRANSACTIONS while markers are outstanding.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from pykafka_broker.broker.txn.state import TopicPartition
from pykafka_broker.protocol.errors import ErrorCode

OFFSETS_TOPIC = "__consumer_offsets"


@dataclass(frozen=True, slots=True)
class TxnConfig:
    """The broker properties the coordinator obeys (Kafka names and defaults)."""

    max_timeout_ms: int = 900000  # transaction.max.timeout.ms
    transactional_id_expiration_ms: int = 604800000  # transactional.id.expiration.ms (7 days)
    remove_expired_interval_ms: int = 3600000  # transaction.remove.expired.transaction.cleanup.interval.ms

    @classmethod
    def from_properties(cls, props: Mapping[str, object]) -> TxnConfig:
        def get(name: str, default: int) -> int:
            value = props.get(name)
            return default if value is None else int(str(value))

        d = cls()
        return cls(
            max_timeout_ms=get("transaction.max.timeout.ms", d.max_timeout_ms),
            transactional_id_expiration_ms=get("transactional.id.expiration.ms",
                                               d.transactional_id_expiration_ms),
            remove_expired_interval_ms=get("transaction.remove.expired.transaction.cleanup.interval.ms",
                                           d.remove_expired_interval_ms),
        )


# -- requests ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InitProducerId:
    transactional_id: str | None  # None: an idempotent producer, just gets a fresh producer id
    transaction_timeout_ms: int
    producer_id: int = -1  # v3+ (KIP-360): the producer's current id and epoch, -1 when it has none
    producer_epoch: int = -1
    api_version: int = 5


@dataclass(frozen=True, slots=True)
class AddPartitionsToTxn:
    transactional_id: str
    producer_id: int
    producer_epoch: int
    partitions: Sequence[TopicPartition]
    verify_only: bool = False  # KIP-890 v4+ broker-to-broker form: check, change nothing
    api_version: int = 3


@dataclass(frozen=True, slots=True)
class AddOffsetsToTxn:
    transactional_id: str
    producer_id: int
    producer_epoch: int
    group_id: str
    api_version: int = 4


@dataclass(frozen=True, slots=True)
class EndTxn:
    transactional_id: str
    producer_id: int
    producer_epoch: int
    committed: bool
    api_version: int = 4


@dataclass(frozen=True, slots=True)
class TxnOffsetCommitCheck:
    """May this producer commit offsets for ``group_id`` in its transaction? (the coordinator half of
    TxnOffsetCommit; generation/member checks and the offsets themselves belong to the group side)."""

    transactional_id: str
    producer_id: int
    producer_epoch: int
    group_id: str


@dataclass(frozen=True, slots=True)
class ListTransactions:
    state_filters: Sequence[str] = ()
    producer_id_filters: Sequence[int] = ()
    duration_filter_ms: int = -1  # v1 (KIP-994): only transactions running longer than this


@dataclass(frozen=True, slots=True)
class DescribeTransactions:
    transactional_ids: Sequence[str]


# -- responses -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InitProducerIdResponse:
    error_code: ErrorCode
    producer_id: int = -1
    producer_epoch: int = -1


@dataclass(frozen=True, slots=True)
class PartitionResult:
    topic: str
    partition: int
    error_code: ErrorCode


@dataclass(frozen=True, slots=True)
class AddPartitionsToTxnResponse:
    results: tuple[PartitionResult, ...]


@dataclass(frozen=True, slots=True)
class AddOffsetsToTxnResponse:
    error_code: ErrorCode


@dataclass(frozen=True, slots=True)
class EndTxnResponse:
    error_code: ErrorCode


@dataclass(frozen=True, slots=True)
class ListedTransaction:
    transactional_id: str
    producer_id: int
    state: str


@dataclass(frozen=True, slots=True)
class ListTransactionsResponse:
    error_code: ErrorCode
    unknown_state_filters: tuple[str, ...]
    transactions: tuple[ListedTransaction, ...]


@dataclass(frozen=True, slots=True)
class DescribedTransaction:
    error_code: ErrorCode
    transactional_id: str
    state: str = ""
    timeout_ms: int = 0
    start_ms: int = -1
    producer_id: int = -1
    producer_epoch: int = -1
    topics: tuple[tuple[str, tuple[int, ...]], ...] = ()


@dataclass(frozen=True, slots=True)
class DescribeTransactionsResponse:
    transactions: tuple[DescribedTransaction, ...]


# -- actions, timers, results --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WriteMarkers:
    """Write a COMMIT (``committed``) or ABORT control batch with this producer id and epoch to every
    partition (transactional offsets in ``__consumer_offsets`` are materialised or dropped by the marker on
    the group's offsets partition), then call ``TransactionCoordinator.markers_written``."""

    transactional_id: str
    producer_id: int
    producer_epoch: int
    committed: bool
    partitions: tuple[TopicPartition, ...]


@dataclass(frozen=True, slots=True)
class TimerKey:
    """``TIMEOUT`` aborts one open transaction; ``EXPIRATION`` is the transactional-id expiration job."""

    kind: str
    transactional_id: str = ""


TIMEOUT, EXPIRATION = "txn-timeout", "txn-expiration"
EXPIRATION_KEY = TimerKey(EXPIRATION)

Record = tuple[bytes, bytes | None]
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class CoordinatorResult(Generic[R]):
    """Append ``records`` to ``__transaction_state`` first, then send ``response``, start writing the
    ``markers``, and apply ``cancel`` and ``schedule`` (key, absolute deadline in ms)."""

    response: R | None
    records: tuple[Record, ...] = ()
    markers: tuple[WriteMarkers, ...] = ()
    schedule: tuple[tuple[TimerKey, int], ...] = ()
    cancel: tuple[TimerKey, ...] = ()


@dataclass(slots=True)
class Effects:
    """Side effects gathered during one call; timer commands are netted per key."""

    now_ms: int
    records: list[Record] = field(default_factory=list)
    markers: list[WriteMarkers] = field(default_factory=list)
    timers: dict[TimerKey, int | None] = field(default_factory=dict)  # deadline, or None = cancel

    def schedule_at(self, key: TimerKey, deadline_ms: int) -> None:
        self.timers.pop(key, None)
        self.timers[key] = deadline_ms

    def cancel(self, key: TimerKey) -> None:
        self.timers.pop(key, None)
        self.timers[key] = None

    def result(self, response: R | None) -> CoordinatorResult[R]:
        return CoordinatorResult(
            response=response,
            records=tuple(self.records),
            markers=tuple(self.markers),
            schedule=tuple((k, d) for k, d in self.timers.items() if d is not None),
            cancel=tuple(k for k, d in self.timers.items() if d is None),
        )
