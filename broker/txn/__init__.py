"""Transaction coordinator: an I/O-free state machine (see coordinator.py)."""

from __future__ import annotations

from pykafka_broker.broker.txn.api import (
    AddOffsetsToTxn,
    AddPartitionsToTxn,
    DescribeTransactions,
    EndTxn,
    InitProducerId,
    ListTransactions,
    TxnConfig,
    TxnOffsetCommitCheck,
    WriteMarkers,
)
from pykafka_broker.broker.txn.coordinator import TransactionCoordinator
from pykafka_broker.broker.txn.state import TxnState

__all__ = [
    "AddOffsetsToTxn",
    "AddPartitionsToTxn",
    "DescribeTransactions",
    "EndTxn",
    "InitProducerId",
    "ListTransactions",
    "TransactionCoordinator",
    "TxnConfig",
    "TxnOffsetCommitCheck",
    "TxnState",
    "WriteMarkers",
]
