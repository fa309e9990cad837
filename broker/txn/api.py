"""What goes in and out of the transaction coordinator: plain requests, responses, actions, timer kinds.

A handler turns a decoded request into one of the request dataclasses below and the response back into the
versioned wire response; every request can answer with an error on its own (``error_response``). Every
call returns the shared ``CoordinatorResult`` (broker/coordinator/result.py): the response, the
``__transaction_state`` records to append, ``actions`` — ``WriteMarkers`` for transactions whose
commit/abort markers the driver must write once the Prepare record is durable — and timer commands. No
reply is ever parked: like Kafka, the coordinator answers EndTxn once the Prepare record is appended and
answers CONCURRENT_TRANSACTIONS while markers are outstanding.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pykafka_broker.broker.coordinator.result import int_property as get
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
    def from_properties(cls, p: Mapping[str, object]) -> TxnConfig:
        d = cls()
        return cls(
            max_timeout_ms=get(p, "transaction.max.timeout.ms", d.max_timeout_ms),
            transactional_id_expiration_ms=get(p, "transactional.id.expiration.ms",
                                               d.transactional_id_expiration_ms),
            remove_expired_interval_ms=get(p, "transaction.remove.expired.transaction.cleanup.interval.ms",
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

    def error_response(self, code: ErrorCode) -> InitProducerIdResponse:
        return InitProducerIdResponse(code)


@dataclass(frozen=True, slots=True)
class AddPartitionsToTxn:
    transactional_id: str
    producer_id: int
    producer_epoch: int
    partitions: Sequence[TopicPartition]
    verify_only: bool = False  # KIP-890 v4+ broker-to-broker form: check, change nothing
    api_version: int = 3

    def error_response(self, code: ErrorCode) -> AddPartitionsToTxnResponse:
        return AddPartitionsToTxnResponse(tuple(PartitionResult(t, p, code) for t, p in self.partitions))


@dataclass(frozen=True, slots=True)
class AddOffsetsToTxn:
    transactional_id: str
    producer_id: int
    producer_epoch: int
    group_id: str
    api_version: int = 4

    def error_response(self, code: ErrorCode) -> AddOffsetsToTxnResponse:
        return AddOffsetsToTxnResponse(code)


@dataclass(frozen=True, slots=True)
class EndTxn:
    transactional_id: str
    producer_id: int
    producer_epoch: int
    committed: bool
    api_version: int = 4

    def error_response(self, code: ErrorCode) -> EndTxnResponse:
        return EndTxnResponse(code)


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

    def error_response(self, code: ErrorCode) -> ListTransactionsResponse:
        return ListTransactionsResponse(code, (), ())


@dataclass(frozen=True, slots=True)
class DescribeTransactions:
    transactional_ids: Sequence[str]

    def error_response(self, code: ErrorCode) -> DescribeTransactionsResponse:
        return DescribeTransactionsResponse(
            tuple(DescribedTransaction(code, t) for t in self.transactional_ids))


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


# TimerKey kinds: ``TIMEOUT`` aborts one open transaction (``key`` is its transactional id); the
# transactional-id expiration job is the shared ``EXPIRATION_KEY``.
TIMEOUT = "txn-timeout"
