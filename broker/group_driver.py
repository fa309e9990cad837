"""The only I/O around the group coordinator: ``__consumer_offsets``, timers and parked replies.

The coordinator (broker/groups/) is a pure state machine; this driver gives it a clock (wall time in
ms), persists the records of each result to the group's ``__consumer_offsets`` partition before any
reply of that result is sent (and after fsync when the flush policy demands one), turns keyed timer
commands into ``loop.call_at`` handles (scheduling a key again replaces its handle), and keeps one
Future per parked JoinGroup/SyncGroup, resolved when a later result lists it as completed.

``__consumer_offsets`` is created on first use (or found at startup) with
``offsets.topic.num.partitions`` partitions, ``cleanup.policy=compact`` and
``segment.bytes=offsets.topic.segment.bytes``, as Kafka's ``GroupCoordinator.groupMetadataTopicConfigs``;
a group lives on partition ``Utils.abs(groupId.hashCode()) % partitions`` (Kafka's ``partitionFor``).
At startup every partition is read from its log start and replayed, then ``on_loaded`` arms the timers.

A failed append (disk error, a record over ``max.message.bytes``) fails the request's reply, which
closes that connection: nothing is acknowledged that did not reach the log.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from pykafka_broker.broker.context import now_ms
from pykafka_broker.broker.dispatch import Reply, map_reply
from pykafka_broker.broker.groups import GroupConfig, GroupCoordinator, TimerKey
from pykafka_broker.broker.groups import records as rec
from pykafka_broker.broker.groups.api import CoordinatorResult, JoinGroupResponse, Record, SyncGroupResponse
from pykafka_broker.broker.internal_topics import KeyedTimers, append_records, read_batches
from pykafka_broker.protocol.errors import ErrorCode, KafkaError
from pykafka_broker.protocol.records import decode_records

if TYPE_CHECKING:
    from pykafka_broker.broker.config import BrokerConfig
    from pykafka_broker.broker.flusher import Flusher
    from pykafka_broker.broker.waiters import FetchWaiters
    from pykafka_broker.storage.manager import LogManager

log = logging.getLogger("pykafka_broker.groups")

OFFSETS_TOPIC = "__consumer_offsets"
CONTROL_TYPE_COMMIT = 1  # control record key: int16 version, int16 type (0 ABORT, 1 COMMIT)
T = TypeVar("T")


def java_string_hash(text: str) -> int:
    """Java's ``String.hashCode``: 31-polynomial over UTF-16 code units, as a signed 32-bit int."""
    h = 0
    raw = text.encode("utf-16-be", "surrogatepass")
    for i in range(0, len(raw), 2):
        h = (31 * h + (raw[i] << 8 | raw[i + 1])) & 0xFFFFFFFF
    return h - (1 << 32) if h & 0x80000000 else h


def partition_for(group_id: str, partitions: int) -> int:
    """Kafka's ``Utils.abs(groupId.hashCode()) % partitions`` (``Utils.abs(MIN_VALUE)`` is 0)."""
    h = java_string_hash(group_id)
    return (0 if h == -(1 << 31) else abs(h)) % partitions


class GroupDriver:
    def __init__(self, config: BrokerConfig, logs: LogManager, flusher: Flusher,
                 waiters: FetchWaiters) -> None:
        self.config = config
        self.logs = logs
        self.flusher = flusher
        self.waiters = waiters
        self.coordinator = GroupCoordinator(GroupConfig.from_properties(config.props))
        self._timers = KeyedTimers(self._fire, "group")
        self._parked: dict[int, tuple[asyncio.Future[Any], type]] = {}

    # -- the internal topic --------------------------------------------------------------------

    @property
    def num_partitions(self) -> int:
        info = self.logs.topics.get(OFFSETS_TOPIC)
        return info.partitions if info is not None else self.config.get_int("offsets.topic.num.partitions")

    def partition_for(self, group_id: str) -> int:
        return partition_for(group_id, self.num_partitions)

    def ensure_topic(self) -> None:
        if OFFSETS_TOPIC in self.logs.topics:
            return
        configs = {"cleanup.policy": "compact",
                   "segment.bytes": str(self.config.get_int("offsets.topic.segment.bytes"))}
        self.logs.create_topic(OFFSETS_TOPIC, self.config.get_int("offsets.topic.num.partitions"), configs)
        log.info("created %s with %d partitions", OFFSETS_TOPIC, self.num_partitions)

    # -- lifecycle -----------------------------------------------------------------------------

    def load(self) -> int:
        """Replay every ``__consumer_offsets`` partition from its log start; returns the record count.
        Runs before the event loop serves anything (no timers yet: ``start`` arms them)."""
        info = self.logs.topics.get(OFFSETS_TOPIC)
        if info is None:
            return 0
        max_bytes = self.config.get_int("offsets.load.buffer.size")
        count = 0
        for partition in range(info.partitions):
            plog = self.logs.get_log(OFFSETS_TOPIC, partition)
            if plog is None:
                continue
            for header, batch in read_batches(plog, max_bytes):
                if header.is_control:
                    self._replay_marker(batch, header.producer_id, partition)
                else:
                    producer = header.producer_id if header.is_transactional else -1
                    count += self._replay_batch(batch, partition, producer)
        log.info("loaded %d records from %s: %d groups", count, OFFSETS_TOPIC, len(self.coordinator.groups))
        return count

    def _replay_marker(self, batch: memoryview, producer_id: int, partition: int) -> None:
        """A COMMIT/ABORT control batch: complete the producer's pending offsets on this partition."""
        try:
            records = decode_records(batch)
        except KafkaError as exc:
            log.error("%s-%d: skipping undecodable control batch: %s", OFFSETS_TOPIC, partition, exc)
            return
        for r in records:
            if r.key is not None and len(r.key) >= 4:
                committed = int.from_bytes(r.key[2:4], "big", signed=True) == CONTROL_TYPE_COMMIT
                self.complete_txn(partition, producer_id, committed)

    def complete_txn(self, partition: int, producer_id: int, committed: bool) -> int:
        """The transaction marker of ``producer_id`` is in ``__consumer_offsets-<partition>``."""
        return self.coordinator.complete_txn(producer_id, committed,
                                             lambda group_id: self.partition_for(group_id) == partition)

    def _replay_batch(self, batch: memoryview, partition: int, producer_id: int = -1) -> int:
        n = 0
        try:
            records = decode_records(batch)
        except KafkaError as exc:
            log.error("%s-%d: skipping undecodable batch: %s", OFFSETS_TOPIC, partition, exc)
            return 0
        for r in records:
            if r.key is None:
                continue
            try:
                self.coordinator.replay(r.key, r.value, producer_id)
                n += 1
            except rec.RecordFormatError as exc:
                log.error("%s-%d offset %d: skipping record: %s", OFFSETS_TOPIC, partition, r.offset, exc)
        return n

    def start(self) -> None:
        """Arm the loaded groups' timers (needs the running loop)."""
        self._timers.stopped = False
        self._apply(self.coordinator.on_loaded(now_ms()), now_ms())

    def stop(self) -> None:
        """Cancel every timer and answer parked joins/syncs with NOT_COORDINATOR, as Kafka does when a
        coordinator unloads, so clients look for the coordinator again when the broker is back."""
        self._timers.stop()
        parked, self._parked = self._parked, {}
        for fut, kind in parked.values():
            if not fut.done():
                fut.set_result(kind(ErrorCode.NOT_COORDINATOR))

    # -- calls ---------------------------------------------------------------------------------

    def call(self, op: Callable[[int, Any], CoordinatorResult[T]], req: Any,
             parked_kind: type | None = None, producer: tuple[int, int] | None = None) -> Reply[T]:
        """Run one coordinator call: the response, or a Future of it when the request was parked or
        its records must reach the disk first. ``producer`` (id, epoch) writes the records as that
        producer's transactional batch (TxnOffsetCommit)."""
        now = now_ms()
        result = op(now, req)
        persisted = self._apply(result, now, producer)
        if result.response is None:
            assert result.handle is not None and parked_kind is not None
            fut: asyncio.Future[T] = asyncio.get_running_loop().create_future()
            self._parked[result.handle] = (fut, parked_kind)
            return fut
        if persisted is None:
            return result.response
        return map_reply(persisted, lambda _: result.response)  # type: ignore[arg-type,return-value]

    def join_group(self, req: Any) -> Reply[JoinGroupResponse]:
        return self.call(self.coordinator.join_group, req, JoinGroupResponse)

    def sync_group(self, req: Any) -> Reply[SyncGroupResponse]:
        return self.call(self.coordinator.sync_group, req, SyncGroupResponse)

    def heartbeat(self, req: Any) -> Reply[Any]:
        return self.call(self.coordinator.heartbeat, req)

    def leave_group(self, req: Any) -> Reply[Any]:
        return self.call(self.coordinator.leave_group, req)

    def offset_commit(self, req: Any) -> Reply[Any]:
        return self.call(self.coordinator.offset_commit, req)

    def txn_offset_commit(self, req: Any) -> Reply[Any]:
        return self.call(self.coordinator.txn_offset_commit, req,
                         producer=(req.producer_id, req.producer_epoch))

    def offset_fetch(self, req: Any) -> Reply[Any]:
        return self.call(self.coordinator.offset_fetch, req)

    def offset_delete(self, req: Any) -> Reply[Any]:
        return self.call(self.coordinator.offset_delete, req)

    def list_groups(self, req: Any) -> Reply[Any]:
        return self.call(self.coordinator.list_groups, req)

    def describe_groups(self, req: Any) -> Reply[Any]:
        return self.call(self.coordinator.describe_groups, req)

    def delete_groups(self, req: Any) -> Reply[Any]:
        return self.call(self.coordinator.delete_groups, req)

    def _apply(self, result: CoordinatorResult[Any], now: int,
               producer: tuple[int, int] | None = None) -> asyncio.Future[None] | None:
        """Persist, then release completed replies (after the fsync if one is needed), then timers."""
        try:
            persisted = self._persist(result.records, now, producer)
        except Exception as exc:
            log.error("could not append to %s: %r", OFFSETS_TOPIC, exc)
            persisted = asyncio.get_running_loop().create_future()
            persisted.set_exception(exc)
        for handle, reply in result.completed:
            entry = self._parked.pop(handle, None)
            if entry is not None:
                _resolve_after(persisted, entry[0], reply)
        for key in result.cancel:
            self._timers.cancel(key)
        for key, deadline in result.schedule:
            self._timers.schedule(key, deadline)
        return persisted

    def _persist(self, records: tuple[Record, ...], now: int,
                 producer: tuple[int, int] | None = None) -> asyncio.Future[None] | None:
        if not records:
            return None
        self.ensure_topic()
        by_partition: dict[int, list[Record]] = {}
        for key, value in records:
            k = rec.decode_key(key)
            group_id = k.group_id if k is not None else ""
            by_partition.setdefault(self.partition_for(group_id), []).append((key, value))
        flushes: list[asyncio.Future[None]] = []
        for partition, recs in by_partition.items():
            plog = self.logs.get_log(OFFSETS_TOPIC, partition)
            assert plog is not None, f"{OFFSETS_TOPIC}-{partition} is missing"
            flush = append_records(plog, recs, now, self.waiters, self.flusher, producer)
            if flush is not None:
                flushes.append(flush)
        if not flushes:
            return None
        return asyncio.gather(*flushes)  # type: ignore[return-value]

    # -- timers --------------------------------------------------------------------------------

    def _fire(self, now: int, key: TimerKey) -> None:
        self._apply(self.coordinator.fire_timer(now, key), now)

    def pending_timers(self) -> set[TimerKey]:
        return self._timers.keys()


def _resolve_after(persisted: asyncio.Future[None] | None, fut: asyncio.Future[Any], reply: Any) -> None:
    if fut.done():
        return
    if persisted is None:
        fut.set_result(reply)
        return

    def done(p: asyncio.Future[None]) -> None:
        if fut.done():
            return
        if p.cancelled():
            fut.cancel()
        elif (exc := p.exception()) is not None:
            fut.set_exception(exc)
        else:
            fut.set_result(reply)
    persisted.add_done_callback(done)
