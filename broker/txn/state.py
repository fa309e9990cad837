"""Transaction states, their legal predecessors, and the per-transactional-id metadata.

Mirrors Kafka's ``TransactionState`` (state ids are the byte written to ``__transaction_state``; names are
what DescribeTransactions/ListTransactions report) and ``TransactionMetadata``. Every change of state goes
through ``TxnMetadata.transit``, which refuses a transition the table below does not allow: that would be
our bug, not the client's, so it raises instead of answering an error code.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import IntEnum

NO_PRODUCER_ID = -1
NO_PRODUCER_EPOCH = -1
MAX_EPOCH = 2**15 - 1  # Short.MAX_VALUE

TopicPartition = tuple[str, int]


class TxnState(IntEnum):
    EMPTY = 0
    ONGOING = 1
    PREPARE_COMMIT = 2
    PREPARE_ABORT = 3
    COMPLETE_COMMIT = 4
    COMPLETE_ABORT = 5
    DEAD = 6
    PREPARE_EPOCH_FENCE = 7

    @property
    def display_name(self) -> str:
        return _NAMES[self]

    @classmethod
    def from_name(cls, name: str) -> TxnState | None:
        return _BY_NAME.get(name)


S = TxnState
_NAMES = {
    S.EMPTY: "Empty", S.ONGOING: "Ongoing", S.PREPARE_COMMIT: "PrepareCommit",
    S.PREPARE_ABORT: "PrepareAbort",
    S.COMPLETE_COMMIT: "CompleteCommit", S.COMPLETE_ABORT: "CompleteAbort", S.DEAD: "Dead",
    S.PREPARE_EPOCH_FENCE: "PrepareEpochFence",
}
_BY_NAME = {name: state for state, name in _NAMES.items()}

COMPLETED = frozenset({S.EMPTY, S.COMPLETE_COMMIT, S.COMPLETE_ABORT})  # no transaction open
PREPARED = frozenset({S.PREPARE_COMMIT, S.PREPARE_ABORT})  # decided, markers not yet written

# Legal predecessors of each state (TransactionState.validPreviousStates). PrepareAbort from Empty and
# Complete* exists only for transaction.version 2 (an EndTxn abort without a transaction), which we do
# not serve; the table keeps Kafka's shape, the coordinator never takes those edges.
VALID_PREVIOUS: dict[TxnState, frozenset[TxnState]] = {
    S.EMPTY: COMPLETED,
    S.ONGOING: COMPLETED | {S.ONGOING},
    S.PREPARE_COMMIT: frozenset({S.ONGOING}),
    S.PREPARE_ABORT: COMPLETED | {S.ONGOING, S.PREPARE_EPOCH_FENCE},
    S.COMPLETE_COMMIT: frozenset({S.PREPARE_COMMIT}),
    S.COMPLETE_ABORT: frozenset({S.PREPARE_ABORT}),
    S.DEAD: COMPLETED,
    S.PREPARE_EPOCH_FENCE: frozenset({S.ONGOING}),
}

# States in which an idle transactional id may expire (TransactionState.isExpirationAllowed).
EXPIRATION_ALLOWED = COMPLETED


class IllegalTransition(RuntimeError):
    """The coordinator tried a transition Kafka's state table forbids (a bug here, never the client's)."""


def is_epoch_exhausted(epoch: int) -> bool:
    """An epoch this high cannot be bumped again safely (``TransactionMetadata.isEpochExhausted``): one more
    bump is kept in reserve for fencing, so InitProducerId rotates to a new producer id instead."""
    return epoch >= MAX_EPOCH - 1


@dataclass(slots=True)
class TxnMetadata:
    """The coordinator's view of one transactional id (Kafka ``TransactionMetadata``).

    ``previous_producer_id`` and ``last_producer_epoch`` serve KIP-360 retries of InitProducerId: a
    producer whose epoch bump (or producer-id rotation) succeeded but whose response was lost may retry
    with the old pid/epoch and get the current ones back. ``last_producer_epoch`` is not in the log, so
    (as in Kafka) it is forgotten on reload.
    """

    transactional_id: str
    producer_id: int
    producer_epoch: int
    timeout_ms: int
    state: TxnState
    last_update_ms: int
    start_ms: int = -1
    partitions: set[TopicPartition] = field(default_factory=set)
    previous_producer_id: int = NO_PRODUCER_ID
    last_producer_epoch: int = NO_PRODUCER_EPOCH

    def snapshot(self) -> TxnMetadata:
        """A copy a failed append can restore: only ``partitions`` is mutated in place, every other
        field is replaced whole, so no deep copy is needed."""
        return replace(self, partitions=set(self.partitions))

    def transit(self, state: TxnState, now_ms: int) -> None:
        if self.state not in VALID_PREVIOUS[state]:
            raise IllegalTransition(
                f"{self.transactional_id}: {self.state.display_name} -> {state.display_name}")
        self.state = state
        self.last_update_ms = now_ms

    @property
    def epoch_exhausted(self) -> bool:
        return is_epoch_exhausted(self.producer_epoch)

    def sorted_partitions(self) -> tuple[TopicPartition, ...]:
        return tuple(sorted(self.partitions))
