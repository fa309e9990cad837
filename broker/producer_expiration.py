"""Producer-id expiration (Kafka's LogManager ``PRODUCER_EXPIRATION`` task).

Every ``producer.id.expiration.check.interval.ms`` (Kafka: 600000) each partition forgets the
idempotent/transactional producers it has not seen a batch from for ``producer.id.expiration.ms``
(Kafka: 86400000, dynamic: read at every pass), unless one has a transaction open — the rule of
ProducerStateManager.removeExpiredProducers (storage/producer_state.py). This bounds the producer
state of long-lived partitions; an expired producer's next batch is accepted as from a new one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from pykafka_broker.broker.clock import now_ms

if TYPE_CHECKING:
    from pykafka_broker.broker.config import BrokerConfig
    from pykafka_broker.storage.manager import LogManager

log = logging.getLogger("pykafka_broker.producer_expiration")


class ProducerExpiration:
    def __init__(self, config: BrokerConfig, logs: LogManager, *, clock: Callable[[], int] = now_ms) -> None:
        self.config = config
        self.logs = logs
        self.clock = clock
        self._task: asyncio.Task[None] | None = None

    def check(self) -> int:
        """One pass over every partition; the number of producer ids removed."""
        expiration_ms = self.config.get_int("producer.id.expiration.ms")
        now = self.clock()
        removed = sum(plog.producer_state.remove_expired(now, expiration_ms) for plog in self.logs.all_logs())
        if removed:
            log.info("removed %d expired producer id(s) (producer.id.expiration.ms=%d)", removed,
                     expiration_ms)
        return removed

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._periodic())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _periodic(self) -> None:
        interval_s = self.config.get_int("producer.id.expiration.check.interval.ms") / 1000
        while True:
            await asyncio.sleep(interval_s)
            try:
                self.check()
            except Exception:  # a failing pass must not end expiration for good
                log.exception("producer id expiration failed")
