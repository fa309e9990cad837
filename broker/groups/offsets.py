"""Committed offsets of every group, and the offset APIs' per-partition rules.

Mirrors Kafka's ``OffsetMetadataManager``: a commit produces OffsetCommit records, and the store changes
only by replaying records (live and at startup alike), so the log and memory cannot disagree.
Transactional offsets wait in txn_offsets.py until their transaction's marker.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence

from pykafka_broker.broker.coordinator.result import Record
from pykafka_broker.broker.groups import records as rec
from pykafka_broker.broker.groups.api import (
    FetchedOffset,
    FetchedTopic,
    PartitionError,
    TopicErrors,
)
from pykafka_broker.broker.groups.records import OffsetAndMetadata
from pykafka_broker.broker.groups.state import ClassicGroup, GroupState
from pykafka_broker.protocol.errors import ErrorCode

DEFAULT_RETENTION_TIME = -1  # OffsetCommitRequest.DEFAULT_RETENTION_TIME: use the broker's retention
NO_METADATA = ""


class OffsetStore:
    """group -> topic -> partition -> OffsetAndMetadata (insertion-ordered, like a fetch-all answer)."""

    def __init__(self) -> None:
        self._by_group: dict[str, dict[str, dict[int, OffsetAndMetadata]]] = {}

    def get(self, group_id: str, topic: str, partition: int) -> OffsetAndMetadata | None:
        return self._by_group.get(group_id, {}).get(topic, {}).get(partition)

    def put(self, group_id: str, topic: str, partition: int, value: OffsetAndMetadata) -> None:
        self._by_group.setdefault(group_id, {}).setdefault(topic, {})[partition] = value

    def remove(self, group_id: str, topic: str, partition: int) -> None:
        topics = self._by_group.get(group_id)
        if topics is None or topic not in topics:
            return
        topics[topic].pop(partition, None)
        if not topics[topic]:
            del topics[topic]
        if not topics:
            del self._by_group[group_id]

    def has_group(self, group_id: str) -> bool:
        return group_id in self._by_group

    def items(self, group_id: str) -> Iterator[tuple[str, int, OffsetAndMetadata]]:
        for topic, partitions in list(self._by_group.get(group_id, {}).items()):
            for partition, value in list(partitions.items()):
                yield topic, partition, value

    def topics(self, group_id: str) -> dict[str, dict[int, OffsetAndMetadata]]:
        return self._by_group.get(group_id, {})


def commit_records(
    group_id: str,
    topics: Mapping[str, Sequence[tuple[int, int, int, str | None]]],
    now_ms: int,
    retention_time_ms: int,
    metadata_max_bytes: int,
) -> tuple[tuple[TopicErrors, ...], list[Record]]:
    """Per-partition results and records of an accepted OffsetCommit (metadata too large fails only
    that partition)."""
    expire = None if retention_time_ms == DEFAULT_RETENTION_TIME else now_ms + retention_time_ms
    results: list[TopicErrors] = []
    records: list[Record] = []
    for topic, partitions in topics.items():
        errors: list[PartitionError] = []
        for partition, offset, leader_epoch, metadata in partitions:
            if metadata is not None and len(metadata) > metadata_max_bytes:
                errors.append(PartitionError(partition, ErrorCode.OFFSET_METADATA_TOO_LARGE))
                continue
            value = OffsetAndMetadata(offset, leader_epoch, metadata or NO_METADATA, now_ms, expire)
            key = rec.offset_commit_key(group_id, topic, partition)
            records.append((key, rec.offset_commit_value(value)))
            errors.append(PartitionError(partition, ErrorCode.NONE))
        results.append(TopicErrors(topic, tuple(errors)))
    return tuple(results), records


def _fetched(partition: int, value: OffsetAndMetadata | None) -> FetchedOffset:
    if value is None:
        return FetchedOffset(partition, -1, -1, NO_METADATA)
    return FetchedOffset(partition, value.offset, value.leader_epoch, value.metadata)


def fetch(store: OffsetStore, group_id: str, known: bool,
          topics: Sequence[tuple[str, Sequence[int]]] | None,
          unstable: Callable[[str, int], bool] | None = None) -> tuple[FetchedTopic, ...]:
    """Requested partitions (-1/"" when nothing is committed) or, with ``topics`` None, all of them.
    ``unstable`` (OffsetFetch with require_stable) marks partitions with pending transactional offsets:
    they answer UNSTABLE_OFFSET_COMMIT with offset -1, as Kafka's ``OffsetMetadataManager.fetchOffsets``."""
    def one(topic: str, partition: int, value: OffsetAndMetadata | None) -> FetchedOffset:
        if unstable is not None and unstable(topic, partition):
            return FetchedOffset(partition, -1, -1, NO_METADATA, ErrorCode.UNSTABLE_OFFSET_COMMIT)
        return _fetched(partition, value)

    if topics is None:
        if not known:
            return ()
        return tuple(FetchedTopic(t, tuple(one(t, p, v) for p, v in parts.items()))
                     for t, parts in store.topics(group_id).items())
    return tuple(
        FetchedTopic(t, tuple(one(t, p, store.get(group_id, t, p) if known else None) for p in parts))
        for t, parts in topics
    )


def delete_records(
    store: OffsetStore, group: ClassicGroup, topics: Sequence[tuple[str, Sequence[int]]]
) -> tuple[tuple[TopicErrors, ...], list[Record]]:
    """OffsetDelete for a group that passed validation: subscribed topics are refused per partition."""
    results: list[TopicErrors] = []
    records: list[Record] = []
    for topic, partitions in topics:
        if group.is_subscribed_to_topic(topic):
            results.append(TopicErrors(topic, tuple(PartitionError(p, ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC)
                                                    for p in partitions)))
            continue
        for p in partitions:
            if store.get(group.group_id, topic, p) is not None:
                records.append((rec.offset_commit_key(group.group_id, topic, p), None))
        results.append(TopicErrors(topic, tuple(PartitionError(p, ErrorCode.NONE) for p in partitions)))
    return tuple(results), records


def all_tombstones(store: OffsetStore, group_id: str) -> list[Record]:
    return [(rec.offset_commit_key(group_id, t, p), None) for t, p, _ in store.items(group_id)]


def expired_tombstones(store: OffsetStore, group: ClassicGroup, now_ms: int,
                       retention_ms: int) -> tuple[list[Record], bool]:
    """Tombstones for expired offsets and whether every offset of the group expired, following
    ``OffsetMetadataManager.cleanupExpiredOffsets`` and ``ClassicGroup.offsetExpirationCondition``."""
    if not store.has_group(group.group_id):
        return [], True
    if group.protocol_type is not None:
        if group.state is GroupState.EMPTY:
            # Retention counts from the moment the group became empty (KIP-211).
            def base(v: OffsetAndMetadata) -> int:
                ts = group.state_timestamp_ms
                return ts if ts is not None else v.commit_timestamp_ms
        elif (group.uses_consumer_protocol() and group.subscribed_topics is not None
              and group.state is GroupState.STABLE):
            def base(v: OffsetAndMetadata) -> int:
                return v.commit_timestamp_ms
        else:
            return [], False
    else:  # a simple group (offsets only): retention counts from each commit
        def base(v: OffsetAndMetadata) -> int:
            return v.commit_timestamp_ms

    tombstones: list[Record] = []
    all_expired = True
    for topic, partition, value in store.items(group.group_id):
        if group.is_subscribed_to_topic(topic):
            all_expired = False
            continue
        if value.expire_timestamp_ms is not None:
            expired = now_ms >= value.expire_timestamp_ms
        else:
            expired = now_ms - base(value) >= retention_ms
        if expired:
            tombstones.append((rec.offset_commit_key(group.group_id, topic, partition), None))
        else:
            all_expired = False
    return tombstones, all_expired
