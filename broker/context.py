"""The broker's shared state, owned by the one event loop (no locks)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pykafka_broker.broker.config import BrokerConfig
from pykafka_broker.broker.producer_ids import ProducerIdAllocator
from pykafka_broker.broker.waiters import FetchWaiters

if TYPE_CHECKING:
    from pykafka_broker.broker.flusher import Flusher
    from pykafka_broker.broker.group_driver import GroupDriver
    from pykafka_broker.broker.log_cleaner import LogCleaner
    from pykafka_broker.broker.log_lifecycle import LogLifecycle
    from pykafka_broker.broker.txn_driver import TxnDriver
    from pykafka_broker.storage.manager import LogManager


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(slots=True)
class Broker:
    config: BrokerConfig
    logs: LogManager
    producer_ids: ProducerIdAllocator
    flusher: Flusher
    groups: GroupDriver
    waiters: FetchWaiters
    txns: TxnDriver
    connections: set[Any] = field(default_factory=set)
    advertised_host: str = "localhost"
    advertised_port: int = 9092
    lifecycle: LogLifecycle | None = None  # retention and file deletion (broker/log_lifecycle.py)
    log_cleaner: LogCleaner | None = None  # compaction (broker/log_cleaner.py), set once serving

    @property
    def node_id(self) -> int:
        return self.config.node_id

    @property
    def cluster_id(self) -> str:
        return self.logs.cluster_id
