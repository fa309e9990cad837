"""Classic consumer-group coordinator: an I/O-free state machine (see coordinator.py)."""

from __future__ import annotations

from pykafka_broker.broker.groups.api import (
    DeleteGroups,
    DescribeGroups,
    GroupConfig,
    Heartbeat,
    JoinGroup,
    LeaveGroup,
    ListGroups,
    OffsetCommit,
    OffsetDelete,
    OffsetFetch,
    SyncGroup,
    TxnOffsetCommit,
)
from pykafka_broker.broker.groups.coordinator import GroupCoordinator
from pykafka_broker.broker.groups.state import GroupState

__all__ = [
    "DeleteGroups",
    "DescribeGroups",
    "GroupConfig",
    "GroupCoordinator",
    "GroupState",
    "Heartbeat",
    "JoinGroup",
    "LeaveGroup",
    "ListGroups",
    "OffsetCommit",
    "OffsetDelete",
    "OffsetFetch",
    "SyncGroup",
    "TxnOffsetCommit",
]
