"""Pending transactional offsets (TxnOffsetCommit), after Kafka's ``OffsetMetadataManager``.

A TxnOffsetCommit writes ordinary OffsetCommit records, but inside the producer's transactional batch in
``__consumer_offsets``. Until the transaction's COMMIT or ABORT marker reaches that partition the offsets
are *pending*: kept per producer id, invisible to OffsetFetch, and reported as UNSTABLE_OFFSET_COMMIT to an
OffsetFetch with ``require_stable`` (KIP-447). The marker then materialises them (commit) or drops them
(abort). Replay at startup follows the same path: a transactional batch's records go here, a control batch
completes the producer's pending offsets of the groups on that partition.

Deviation: Kafka keeps the record offset of every commit and, at a COMMIT marker, keeps whichever of the
pending and the already committed offset was written later; we let the transaction's offsets win.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from pykafka_broker.broker.groups.records import OffsetAndMetadata

Partition = tuple[str, int]  # (topic, partition)


class PendingTxnOffsets:
    """producer id -> group -> (topic, partition) -> offset, plus a count per (group, topic, partition) so
    ``is_pending`` is O(1) (Kafka's ``openTransactionsByGroupTopicAndPartition``)."""

    def __init__(self) -> None:
        self._by_producer: dict[int, dict[str, dict[Partition, OffsetAndMetadata]]] = {}
        self._open: dict[tuple[str, str, int], int] = {}

    def put(self, producer_id: int, group_id: str, topic: str, partition: int,
            value: OffsetAndMetadata) -> None:
        groups = self._by_producer.setdefault(producer_id, {})
        offsets = groups.setdefault(group_id, {})
        if (topic, partition) not in offsets:
            key = (group_id, topic, partition)
            self._open[key] = self._open.get(key, 0) + 1
        offsets[(topic, partition)] = value

    def is_pending(self, group_id: str, topic: str, partition: int) -> bool:
        return (group_id, topic, partition) in self._open

    def has_group(self, group_id: str) -> bool:
        return any(group_id in groups for groups in self._by_producer.values())

    def producers(self) -> Iterator[int]:
        return iter(list(self._by_producer))

    def complete(self, producer_id: int, in_partition: Callable[[str], bool]
                 ) -> list[tuple[str, str, int, OffsetAndMetadata]]:
        """Take the producer's pending offsets of the groups ``in_partition`` selects (the groups on the
        ``__consumer_offsets`` partition that received the marker): (group, topic, partition, value)."""
        groups = self._by_producer.get(producer_id)
        if not groups:
            return []
        taken: list[tuple[str, str, int, OffsetAndMetadata]] = []
        for group_id in [g for g in groups if in_partition(g)]:
            for (topic, partition), value in groups.pop(group_id).items():
                key = (group_id, topic, partition)
                left = self._open[key] - 1
                if left:
                    self._open[key] = left
                else:
                    del self._open[key]
                taken.append((group_id, topic, partition, value))
        if not groups:
            del self._by_producer[producer_id]
        return taken
