"""Classic consumer-group coordinator: an I/O-free state machine (see coordinator.py)."""

from __future__ import annotations

from pykafka_broker.broker.groups.api import (
    CoordinatorResult,
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
    TimerKey,
    TxnOffsetCommit,
)
from pykafka_broker.broker.groups.coordinator import GroupCoordinator
from pykafka_broker.broker.groups.state import GroupState

__all__ = [
    "CoordinatorResult",
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
    "TimerKey",
    "TxnOffsetCommit",
]
