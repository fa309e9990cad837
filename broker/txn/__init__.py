"""Transaction coordinator: an I/O-free state machine (see coordinator.py)."""

from __future__ import annotations

from pykafka_broker.broker.txn.api import (
    AddOffsetsToTxn,
    AddPartitionsToTxn,
    CoordinatorResult,
    DescribeTransactions,
    EndTxn,
    InitProducerId,
    ListTransactions,
    TimerKey,
    TxnConfig,
    TxnOffsetCommitCheck,
    WriteMarkers,
)
from pykafka_broker.broker.txn.coordinator import TransactionCoordinator
from pykafka_broker.broker.txn.state import TxnState

__all__ = [
    "AddOffsetsToTxn",
    "AddPartitionsToTxn",
    "CoordinatorResult",
    "DescribeTransactions",
    "EndTxn",
    "InitProducerId",
    "ListTransactions",
    "TimerKey",
    "TransactionCoordinator",
    "TxnConfig",
    "TxnOffsetCommitCheck",
    "TxnState",
    "WriteMarkers",
]
