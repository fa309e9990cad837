"""The group driver in process (no sockets): persistence to __consumer_offsets, replay, timers, parking."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from driver_harness import WAIT_S, close, opened, settle

from pykafka_broker.broker.context import Broker
from pykafka_broker.broker.coordinator.topic import java_string_hash, partition_for
from pykafka_broker.broker.group_driver import OFFSETS_TOPIC
from pykafka_broker.broker.groups import (
    DescribeGroups,
    Heartbeat,
    JoinGroup,
    OffsetCommit,
    OffsetFetch,
    SyncGroup,
)
from pykafka_broker.broker.groups import records as rec
from pykafka_broker.protocol.errors import ErrorCode
from pykafka_broker.protocol.records import decode_records

META = rec.encode_subscription(["orders"])


def join(member_id: str = "", group: str = "g", session_ms: int = 10_000, instance: str | None = None
         ) -> JoinGroup:
    return JoinGroup(group, member_id, instance, "consumer", [("range", META)], session_ms, 30_000,
                     client_id="driver-test", client_host="/127.0.0.1")


async def stable_single_member(broker: Broker, group: str = "g", session_ms: int = 10_000
                               ) -> tuple[str, int]:
    first = await settle(broker.groups.join_group(join(group=group, session_ms=session_ms)))
    assert first.error_code == ErrorCode.MEMBER_ID_REQUIRED
    joined = await settle(broker.groups.join_group(join(first.member_id, group, session_ms)))
    assert joined.error_code == ErrorCode.NONE and joined.leader == first.member_id
    synced = await settle(broker.groups.sync_group(SyncGroup(
        group, joined.generation_id, first.member_id, assignments=[(first.member_id, b"assignment")])))
    assert synced.error_code == ErrorCode.NONE and synced.assignment == b"assignment"
    return first.member_id, joined.generation_id


def commit(group: str, generation: int, member: str, offsets: dict[int, int]) -> OffsetCommit:
    return OffsetCommit(group, generation, member, None, -1,
                        {"orders": [(p, o, -1, f"meta-{p}") for p, o in offsets.items()]})


async def fetched(broker: Broker, group: str = "g") -> dict[int, tuple[int, str]]:
    resp = await settle(broker.groups.offset_fetch(OffsetFetch([(group, [("orders", [0, 1, 2])])])))
    (g,) = resp.groups
    return {p.partition: (p.offset, p.metadata) for t in g.topics for p in t.partitions}


def test_partition_for_matches_kafka() -> None:
    assert java_string_hash("") == 0
    assert java_string_hash("hello") == 99162322
    assert java_string_hash("polygenelubricants") == -(2**31)  # Utils.abs(MIN_VALUE) is 0
    assert partition_for("polygenelubricants", 50) == 0
    assert partition_for("hello", 50) == 99162322 % 50
    assert java_string_hash("alpha-group") == -386548400
    assert partition_for("alpha-group", 50) == 0  # Math.abs; the bit mask (& 0x7fffffff) would give 48
    assert java_string_hash("\U0001F600") == 0xD83D * 31 + 0xDE00  # UTF-16 code units


async def test_commit_survives_reopen(tmp_path: Path) -> None:
    broker = opened(tmp_path)
    broker.logs.create_topic("orders", 3, {})
    assert OFFSETS_TOPIC not in broker.logs.topics  # created lazily
    member, generation = await stable_single_member(broker)
    assert OFFSETS_TOPIC in broker.logs.topics
    assert broker.logs.topics[OFFSETS_TOPIC].partitions == 50
    assert broker.logs.effective_config(OFFSETS_TOPIC).segment_bytes == 104857600
    assert broker.logs.topics[OFFSETS_TOPIC].configs["cleanup.policy"] == "compact"
    resp = await settle(broker.groups.offset_commit(commit("g", generation, member, {0: 5, 1: 7})))
    assert all(p.error_code == ErrorCode.NONE for t in resp.topics for p in t.partitions)
    assert await fetched(broker) == {0: (5, "meta-0"), 1: (7, "meta-1"), 2: (-1, "")}
    # Every record sits on the group's partition, readable like any topic.
    plog = broker.logs.get_log(OFFSETS_TOPIC, partition_for("g", 50))
    assert plog is not None
    data = b"".join(bytes(c) for c in plog.read(0, 1 << 20).chunks)
    keys = [rec.decode_key(r.key) for r in decode_records(data)
            if r.key is not None]
    assert rec.GroupMetadataKey("g") in keys and rec.OffsetCommitKey("g", "orders", 1) in keys
    close(broker)

    broker = opened(tmp_path)
    try:
        assert await fetched(broker) == {0: (5, "meta-0"), 1: (7, "meta-1"), 2: (-1, "")}
        (described,) = (await settle(broker.groups.describe_groups(DescribeGroups(["g"])))).groups
        assert described.state == "Stable" and [m.member_id for m in described.members] == [member]
        # The loaded member keeps its generation and may heartbeat straight away.
        beat = await settle(broker.groups.heartbeat(Heartbeat("g", generation, member)))
        assert beat.error_code == ErrorCode.NONE
    finally:
        close(broker)


async def test_session_expiry_fires_on_the_loop(tmp_path: Path) -> None:
    broker = opened(tmp_path, **{"group.min.session.timeout.ms": "50"})
    try:
        broker.logs.create_topic("orders", 1, {})
        await stable_single_member(broker, session_ms=100)
        assert broker.groups.pending_timers()

        async def empty() -> None:
            while broker.groups.coordinator.member_count("g") != 0:
                await asyncio.sleep(0.01)
        await asyncio.wait_for(empty(), WAIT_S)
        (described,) = (await settle(broker.groups.describe_groups(DescribeGroups(["g"])))).groups
        assert described.state == "Empty"
    finally:
        close(broker)


async def test_commit_waits_for_fsync_when_flush_policy_demands(tmp_path: Path) -> None:
    broker = opened(tmp_path, **{"log.flush.interval.messages": "1"})
    try:
        broker.logs.create_topic("orders", 1, {})
        reply = broker.groups.offset_commit(commit("simple", -1, "", {0: 3}))
        assert isinstance(reply, asyncio.Future)
        resp = await settle(reply)
        assert resp.topics[0].partitions[0].error_code == ErrorCode.NONE
        plog = broker.logs.get_log(OFFSETS_TOPIC, partition_for("simple", 50))
        assert plog is not None and plog.recovery_point == plog.log_end_offset
    finally:
        close(broker)


async def test_stop_answers_parked_join_not_coordinator(tmp_path: Path) -> None:
    broker = opened(tmp_path)
    broker.logs.create_topic("orders", 1, {})
    member, generation = await stable_single_member(broker)
    # A second member's join parks until the first rejoins (it never does here).
    second = await settle(broker.groups.join_group(join()))
    parked = broker.groups.join_group(join(second.member_id))
    assert isinstance(parked, asyncio.Future) and not parked.done()
    close(broker)
    assert (await settle(parked)).error_code == ErrorCode.NOT_COORDINATOR
    assert not broker.groups.pending_timers()


@pytest.mark.parametrize("partitions", [1, 3])
async def test_offsets_topic_partition_count_from_config(tmp_path: Path, partitions: int) -> None:
    broker = opened(tmp_path, **{"offsets.topic.num.partitions": str(partitions)})
    try:
        broker.logs.create_topic("orders", 1, {})
        await settle(broker.groups.offset_commit(commit("x", -1, "", {0: 1})))
        assert broker.logs.topics[OFFSETS_TOPIC].partitions == partitions
    finally:
        close(broker)
