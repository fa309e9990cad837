"""aiokafka consumer groups: sharing and take-over on leave, resuming at committed offsets (also across
a broker restart), group admin (aiokafka's admin client has no DeleteGroups; the other clients'
tests cover it). Members run as concurrent tasks on one loop."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import OffsetAndMetadata
from groups_expect import (
    COMMITTED,
    HEARTBEAT_INTERVAL_MS,
    MAX_POLL_INTERVAL_MS,
    PARTITIONS,
    RESUME_RECORDS,
    RESUMED_COUNT,
    SESSION_TIMEOUT_MS,
    TIMEOUT,
    assert_disjoint_cover,
    assert_exactly_once,
    assert_resumed,
    covers,
    values,
)

TOPIC = "orders"


async def create_topic(bootstrap: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(TOPIC, PARTITIONS, 1)])
    finally:
        await admin.close()


async def produce(bootstrap: str, vals: list[bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    try:
        futures = [await producer.send(TOPIC, value=v, partition=i % PARTITIONS) for i, v in enumerate(vals)]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


def new_consumer(bootstrap: str, group: str) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(TOPIC, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest",
                            enable_auto_commit=False, session_timeout_ms=SESSION_TIMEOUT_MS,
                            heartbeat_interval_ms=HEARTBEAT_INTERVAL_MS,
                            max_poll_interval_ms=MAX_POLL_INTERVAL_MS)


async def wait_for(predicate: Any, what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


class Member:
    """One member as a task: reads, records what it read, commits after every batch."""

    def __init__(self, bootstrap: str, group: str, seen: list[bytes]) -> None:
        self.consumer = new_consumer(bootstrap, group)
        self.seen = seen
        self.task: asyncio.Task[None] | None = None

    @property
    def owned(self) -> set[int]:
        return {tp.partition for tp in self.consumer.assignment()}

    async def start(self) -> Member:
        await self.consumer.start()
        self.task = asyncio.create_task(self._run())
        return self

    async def _run(self) -> None:
        while True:
            batches = await self.consumer.getmany(timeout_ms=100)
            if batches:
                self.seen.extend(r.value for recs in batches.values() for r in recs)
                await self.consumer.commit()

    async def leave(self) -> None:
        assert self.task is not None
        if self.task.done():
            self.task.result()  # surface a failure
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        await self.consumer.stop()  # sends LeaveGroup


async def test_members_share_partitions_and_take_over_on_leave(broker: Any) -> None:
    await create_topic(broker.bootstrap)
    seen: list[bytes] = []
    members = [await Member(broker.bootstrap, "share", seen).start() for _ in range(3)]
    try:
        await wait_for(lambda: covers([m.owned for m in members]), "three members to share")
        first = values("first", 120)
        await produce(broker.bootstrap, first)
        await wait_for(lambda: len(seen) >= len(first), "every record")
        assert_disjoint_cover([m.owned for m in members])
        assert_exactly_once(seen, first)

        await members.pop().leave()
        await wait_for(lambda: covers([m.owned for m in members]), "two members to cover all")
        second = values("second", 120)
        await produce(broker.bootstrap, second)
        await wait_for(lambda: len(seen) >= len(first) + len(second), "the second batch")
        assert_exactly_once(seen, first + second)
    finally:
        for m in members:
            await m.leave()


@pytest.mark.parametrize("restart", [False, True], ids=["same-broker", "broker-restarted"])
async def test_new_member_resumes_at_committed_offset(broker_factory: Any, restart: bool) -> None:
    broker = broker_factory()
    await create_topic(broker.bootstrap)
    first = values("first", RESUME_RECORDS)
    await produce(broker.bootstrap, first)
    c = new_consumer(broker.bootstrap, "resume")
    await c.start()
    n = 0
    deadline = time.monotonic() + TIMEOUT
    while n < len(first):
        assert time.monotonic() < deadline, f"read {n} of {len(first)}"
        n += sum(len(recs) for recs in (await c.getmany(timeout_ms=100)).values())
    await c.commit({TopicPartition(TOPIC, p): OffsetAndMetadata(COMMITTED, "ak") for p in range(PARTITIONS)})
    await c.stop()
    if restart:
        await asyncio.to_thread(broker.stop)
        broker = await asyncio.to_thread(broker_factory, data_dir=broker.data_dir)
    c = new_consumer(broker.bootstrap, "resume")
    await c.start()
    try:
        got: list[Any] = []
        deadline = time.monotonic() + TIMEOUT
        while len(got) < RESUMED_COUNT:
            assert time.monotonic() < deadline, f"read {len(got)} of {RESUMED_COUNT} records"
            got.extend(r for recs in (await c.getmany(timeout_ms=100)).values() for r in recs)
        assert_resumed([(r.offset, r.value) for r in got], first)
        assert await c.committed(TopicPartition(TOPIC, 0)) == COMMITTED
    finally:
        await c.stop()


async def test_admin_describe_and_list(broker: Any) -> None:
    await create_topic(broker.bootstrap)
    seen: list[bytes] = []
    member = await Member(broker.bootstrap, "admin-group", seen).start()
    admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
    await admin.start()
    try:
        await wait_for(lambda: len(member.owned) == PARTITIONS, "the member")
        await produce(broker.bootstrap, values("v", 12))
        await wait_for(lambda: len(seen) == 12, "the records")
        assert ("admin-group", "consumer") in [tuple(g[:2]) for g in await admin.list_consumer_groups()]
        (response,) = await admin.describe_consumer_groups(["admin-group"])
        (group,) = response.groups
        error_code, group_id, state, protocol_type, protocol, members = group[:6]
        assert (error_code, group_id, state, protocol_type, protocol) == (0, "admin-group", "Stable",
                                                                          "consumer", "roundrobin")
        assert len(members) == 1
        offsets = await admin.list_consumer_group_offsets("admin-group")
        assert {tp.partition: om.offset for tp, om in offsets.items()} == {p: 2 for p in range(PARTITIONS)}
    finally:
        await member.leave()
        await admin.close()
