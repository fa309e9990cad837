"""A fake-clock harness around the transaction coordinator: no sockets, no event loop, no logs.

The harness plays the driver: it keeps the appended ``__transaction_state`` records, collects the marker
actions, fires due timers in deadline order, and reports written markers back when told to.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from pykafka_broker.broker.coordinator.result import CoordinatorResult, Record
from pykafka_broker.broker.txn import (
    AddOffsetsToTxn,
    AddPartitionsToTxn,
    EndTxn,
    InitProducerId,
    TransactionCoordinator,
    TxnConfig,
    WriteMarkers,
)
from pykafka_broker.broker.txn.state import TxnMetadata
from pykafka_broker.protocol.errors import ErrorCode

TIMEOUT = 60_000


def offsets_partition(group_id: str) -> int:
    return len(group_id) % 50


class Harness:
    def __init__(self, **config: Any) -> None:
        self.now = 1_000
        self.pids = itertools.count(1000)
        self.coord = TransactionCoordinator(lambda: next(self.pids), offsets_partition, TxnConfig(**config))
        self.log: list[Record] = []
        self.markers: list[WriteMarkers] = []

    def apply(self, result: CoordinatorResult[Any]) -> CoordinatorResult[Any]:
        self.log.extend(result.records)
        self.markers.extend(result.actions)
        return result

    def advance(self, ms: int) -> None:
        """Move the clock, firing every timer that falls due on the way, in deadline order."""
        target = self.now + ms
        while True:
            due = [(d, k) for k, d in self.coord.pending_timers().items() if d <= target]
            if not due:
                break
            deadline, key = min(due, key=lambda item: item[0])
            self.now = max(self.now, deadline)
            self.apply(self.coord.fire_timer(self.now, key))
        self.now = target

    def write_markers(self) -> list[WriteMarkers]:
        """Play the marker writer: every outstanding marker action is done, the coordinator told."""
        done, self.markers = self.markers, []
        for action in done:
            self.apply(self.coord.markers_written(self.now, action.transactional_id))
        return done

    # -- requests --------------------------------------------------------------------------------

    def init(self, tid: str | None = "t", timeout: int = TIMEOUT, pid: int = -1, epoch: int = -1,
             version: int = 5) -> Any:
        req = InitProducerId(tid, timeout, pid, epoch, version)
        return self.apply(self.coord.init_producer_id(self.now, req)).response

    def add(self, pid: int, epoch: int, *partitions: tuple[str, int], tid: str = "t", version: int = 3,
            verify_only: bool = False) -> ErrorCode:
        parts: Sequence[tuple[str, int]] = partitions or (("orders", 0),)
        req = AddPartitionsToTxn(tid, pid, epoch, list(parts), verify_only, version)
        results = self.apply(self.coord.add_partitions(self.now, req)).response.results
        errors = {r.error_code for r in results}
        assert len(errors) == 1, results
        return errors.pop()

    def add_offsets(self, pid: int, epoch: int, group: str = "g", tid: str = "t",
                    version: int = 4) -> ErrorCode:
        req = AddOffsetsToTxn(tid, pid, epoch, group, version)
        return self.apply(self.coord.add_offsets(self.now, req)).response.error_code

    def end(self, pid: int, epoch: int, commit: bool = True, tid: str = "t", version: int = 4) -> ErrorCode:
        req = EndTxn(tid, pid, epoch, commit, version)
        return self.apply(self.coord.end_txn(self.now, req)).response.error_code

    def ready(self, tid: str = "t") -> tuple[int, int]:
        """A freshly initialised producer: (pid, epoch)."""
        r = self.init(tid)
        assert r.error_code is ErrorCode.NONE
        return r.producer_id, r.producer_epoch

    def ongoing(self, tid: str = "t", *partitions: tuple[str, int]) -> tuple[int, int]:
        pid, epoch = self.ready(tid)
        assert self.add(pid, epoch, *partitions, tid=tid) is ErrorCode.NONE
        return pid, epoch

    def meta(self, tid: str = "t") -> TxnMetadata:
        return self.coord.txns[tid]

    def snapshot(self) -> Any:
        """Everything a refused request must leave alone."""
        return ({t: (m.state, m.producer_id, m.producer_epoch, set(m.partitions), m.start_ms)
                 for t, m in self.coord.txns.items()}, self.coord.pending_timers(), len(self.log))
