"""aiokafka end to end: AIOKafkaAdminClient, idempotent AIOKafkaProducer, AIOKafkaConsumer with assign()."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import InvalidReplicationFactorError, TopicAlreadyExistsError, for_code
from expect import (
    BIG_TOPIC_CONFIG,
    BIG_VALUE_SIZE,
    TIME_QUERIES,
    TIMESTAMPS,
    Got,
    Rec,
    assert_roundtrip,
    make_records,
    norm_headers,
)

TIMEOUT = 20.0


def topic_errors(response: Any) -> dict[str, int]:
    """CreateTopics/DeleteTopics response -> {topic: error_code} (aiokafka returns raw responses)."""
    rows = getattr(response, "topic_errors", None) or getattr(response, "topic_error_codes", [])
    return {row[0]: row[1] for row in rows}


async def create_topic(admin: AIOKafkaAdminClient, name: str, partitions: int,
                       configs: dict[str, str] | None = None) -> int:
    resp = await admin.create_topics([NewTopic(name, partitions, 1, topic_configs=configs or {})])
    return topic_errors(resp)[name]


async def started_admin(bootstrap: str) -> AIOKafkaAdminClient:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(TIMEOUT * 1000))
    await admin.start()
    return admin


async def produce(bootstrap: str, topic: str, records: list[Rec], **conf: object) -> list[tuple[int, int]]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True,
                                linger_ms=5, **conf)
    await producer.start()
    try:
        futures = [await producer.send(topic, key=r.key, value=r.value, headers=list(r.headers))
                   for r in records]
        metas = await asyncio.wait_for(asyncio.gather(*futures), TIMEOUT)
    finally:
        await producer.stop()
    return [(m.partition, m.offset) for m in metas]


async def consume_all(bootstrap: str, topic: str, partitions: int, expected: int,
                      **conf: object) -> list[Got]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                auto_offset_reset="none", **conf)
    await consumer.start()
    got: list[Got] = []
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)

        async def read() -> None:
            while len(got) < expected:
                batches = await consumer.getmany(timeout_ms=500)
                for tp, msgs in batches.items():
                    got.extend(Got(tp.partition, m.offset, m.key, m.value, norm_headers(m.headers))
                               for m in msgs)

        await asyncio.wait_for(read(), TIMEOUT)
    finally:
        await consumer.stop()
    return got


async def test_roundtrip_1000_keyed_records_with_headers(broker: Any) -> None:
    admin = await started_admin(broker.bootstrap)
    try:
        assert await create_topic(admin, "aio-roundtrip", 3) == 0
    finally:
        await admin.close()
    records = make_records(1000, "aio")
    reports = await produce(broker.bootstrap, "aio-roundtrip", records)
    got = await consume_all(broker.bootstrap, "aio-roundtrip", 3, len(records))
    assert_roundtrip(records, got, 3)
    assert sorted(reports) == sorted((g.partition, g.offset) for g in got)


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
async def test_compressed_roundtrip(broker: Any, codec: Any) -> None:
    topic = f"aio-{codec}"
    admin = await started_admin(broker.bootstrap)
    try:
        assert await create_topic(admin, topic, 3) == 0
    finally:
        await admin.close()
    records = make_records(300, codec, value_pad=50)
    await produce(broker.bootstrap, topic, records, compression_type=codec)
    assert_roundtrip(records, await consume_all(broker.bootstrap, topic, 3, len(records)), 3)


async def test_one_mib_record(broker: Any) -> None:
    admin = await started_admin(broker.bootstrap)
    try:
        assert await create_topic(admin, "aio-big", 1, BIG_TOPIC_CONFIG) == 0
    finally:
        await admin.close()
    value = bytes(range(256)) * (BIG_VALUE_SIZE // 256) + b"x" * (BIG_VALUE_SIZE % 256)
    await produce(broker.bootstrap, "aio-big", [Rec(b"big", value, (("h", b"v"),))],
                  max_request_size=2_000_000)
    got = await consume_all(broker.bootstrap, "aio-big", 1, 1, fetch_max_bytes=4_000_000,
                            max_partition_fetch_bytes=4_000_000)
    assert len(got) == 1 and got[0].value == value and got[0].key == b"big"


async def test_offsets_for_times(broker: Any) -> None:
    admin = await started_admin(broker.bootstrap)
    try:
        assert await create_topic(admin, "aio-times", 1) == 0
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for ts in TIMESTAMPS:
            await producer.send_and_wait("aio-times", key=b"k", value=str(ts).encode(), timestamp_ms=ts)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    tp = TopicPartition("aio-times", 0)
    try:
        for ts, want in TIME_QUERIES:
            found = await asyncio.wait_for(consumer.offsets_for_times({tp: ts}), TIMEOUT)
            if want is None:
                assert found[tp] is None, (ts, found)
            else:
                assert found[tp] is not None and found[tp].offset == want, (ts, found)
                assert found[tp].timestamp == TIMESTAMPS[want]
        assert (await consumer.beginning_offsets([tp]))[tp] == 0
        assert (await consumer.end_offsets([tp]))[tp] == len(TIMESTAMPS)
    finally:
        await consumer.stop()


async def test_admin_errors_and_delete(broker: Any) -> None:
    admin = await started_admin(broker.bootstrap)
    try:
        code = topic_errors(await admin.create_topics([NewTopic("aio-rf3", 1, 3)]))["aio-rf3"]
        assert for_code(code) is InvalidReplicationFactorError
        assert await create_topic(admin, "aio-admin", 2) == 0
        assert for_code(await create_topic(admin, "aio-admin", 2)) is TopicAlreadyExistsError
        assert "aio-admin" in await admin.list_topics()
        assert topic_errors(await admin.delete_topics(["aio-admin"])) == {"aio-admin": 0}
        topics = await admin.list_topics()
        assert "aio-admin" not in topics and "aio-rf3" not in topics
    finally:
        await admin.close()
