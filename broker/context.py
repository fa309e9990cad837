"""The broker's shared state, owned by the one event loop (no locks), and the interface handlers see.

``BrokerServices`` is what a request handler may use (``RequestContext.broker``); ``Broker`` is the one
implementation, built by ``server.open_broker``. The drivers import only ``clock`` for time, so this
module, the drivers and dispatch.py import each other only for type checking.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

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

__all__ = ["Broker", "BrokerServices"]


class BrokerServices(Protocol):
    """What handlers and connections need from the broker."""

    config: BrokerConfig
    logs: LogManager
    producer_ids: ProducerIdAllocator
    flusher: Flusher
    groups: GroupDriver
    waiters: FetchWaiters
    txns: TxnDriver
    connections: set[Any]
    advertised_host: str
    advertised_port: int
    lifecycle: LogLifecycle | None
    log_cleaner: LogCleaner | None

    @property
    def node_id(self) -> int: ...

    @property
    def cluster_id(self) -> str: ...


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
