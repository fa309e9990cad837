"""Fetch cuts the last batch at the partition limit, as Kafka does (LogSegment.read ->
FileRecords.slice), instead of walking every batch header to trim to whole batches; a first batch
over the limit still comes whole (KIP-74). Real clients (kafka-python, aiokafka, confluent-kafka,
kafkajs when KAFKAJS_DIR is set) read every record exactly once and in order across the cut
batches, at a max.partition.fetch.bytes between one and two batches and below one batch."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition as AioTopicPartition
from confluent_kafka import OFFSET_BEGINNING, Consumer
from confluent_kafka import TopicPartition as CkTopicPartition
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.protocol.consumer import FetchRequest, FetchResponse
from kafka_wire import Wire

TIMEOUT = 30.0
TOPIC = "partial-batches"
RECORDS = 300
VALUE_PAD = b"x" * 500  # ~7 records per 4 KiB batch


def value(i: int) -> bytes:
    return b"%05d" % i + VALUE_PAD


@pytest.fixture
def filled(broker: Any) -> Any:
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=int(TIMEOUT * 1000))
    try:
        admin.create_topics([NewTopic(TOPIC, 1, 1)])
    finally:
        admin.close()
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks=1, batch_size=4096, linger_ms=50)
    try:
        futures = [producer.send(TOPIC, value(i), partition=0) for i in range(RECORDS)]
        producer.flush(timeout=TIMEOUT)
        offsets = [f.get(timeout=TIMEOUT).offset for f in futures]
    finally:
        producer.close(timeout=TIMEOUT)
    assert offsets == list(range(RECORDS))
    return broker


def batch_sizes(records: bytes) -> list[int]:
    """Sizes of the whole batches at the start of ``records``; a partial tail is left out."""
    sizes, pos = [], 0
    while pos + 12 <= len(records):
        size = 12 + struct.unpack_from(">i", records, pos + 8)[0]
        if pos + size > len(records):
            break
        sizes.append(size)
        pos += size
    return sizes


def fetch_records(bootstrap: str, partition_max_bytes: int, offset: int = 0) -> bytes:
    ft = FetchRequest.FetchTopic
    req = FetchRequest(replica_id=-1, max_wait_ms=0, min_bytes=1, max_bytes=1 << 20, isolation_level=0,
                       session_id=0, session_epoch=-1, topics=[ft(topic=TOPIC, partitions=[
                           ft.FetchPartition(partition=0, fetch_offset=offset,
                                             partition_max_bytes=partition_max_bytes)])],
                       forgotten_topics_data=[], rack_id="")
    with Wire(bootstrap) as wire:
        resp = wire.request(req, FetchResponse, 12)
    return bytes(resp.responses[0][1][0][-1])


def test_last_batch_is_cut_at_the_partition_limit_and_a_first_batch_over_it_comes_whole(filled: Any) -> None:
    everything = fetch_records(filled.bootstrap, 1 << 20)
    sizes = batch_sizes(everything)
    assert len(sizes) > 10 and sum(sizes) == len(everything)  # many batches, none cut at the end
    first = sizes[0]
    limit = first + sizes[1] // 2  # one batch and half of the next
    cut = fetch_records(filled.bootstrap, limit)
    assert len(cut) == limit and cut == everything[:limit]  # Kafka's FileRecords.slice
    assert batch_sizes(cut) == [first]
    assert fetch_records(filled.bootstrap, first // 2) == everything[:first]  # KIP-74: whole first batch


def assert_all_in_order(got: list[tuple[int, bytes]]) -> None:
    assert [o for o, _ in got] == list(range(RECORDS))
    assert [v for _, v in got] == [value(i) for i in range(RECORDS)]


@pytest.mark.parametrize("limit", [1000, 5000])
def test_kafka_python_reads_across_cut_batches(filled: Any, limit: int) -> None:
    consumer = KafkaConsumer(bootstrap_servers=filled.bootstrap, group_id=None, enable_auto_commit=False,
                             auto_offset_reset="earliest", max_partition_fetch_bytes=limit)
    got: list[tuple[int, bytes]] = []
    try:
        consumer.assign([TopicPartition(TOPIC, 0)])
        for _ in range(2000):  # bounded: each poll returns at least one batch or times out
            if len(got) >= RECORDS:
                break
            for msgs in consumer.poll(timeout_ms=500).values():
                got.extend((m.offset, m.value) for m in msgs)
    finally:
        consumer.close()
    assert_all_in_order(got)


@pytest.mark.parametrize("limit", [1000, 5000])
async def test_aiokafka_reads_across_cut_batches(filled: Any, limit: int) -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers=filled.bootstrap, group_id=None, enable_auto_commit=False,
                                auto_offset_reset="earliest", max_partition_fetch_bytes=limit)
    await consumer.start()
    got: list[tuple[int, bytes]] = []
    try:
        consumer.assign([AioTopicPartition(TOPIC, 0)])

        async def read() -> None:
            while len(got) < RECORDS:
                for msgs in (await consumer.getmany(timeout_ms=500)).values():
                    got.extend((m.offset, m.value) for m in msgs)

        await asyncio.wait_for(read(), TIMEOUT)
    finally:
        await consumer.stop()
    assert_all_in_order(got)


@pytest.mark.parametrize("limit", [1000, 5000])
def test_confluent_kafka_reads_across_cut_batches(filled: Any, limit: int) -> None:
    consumer = Consumer({"bootstrap.servers": filled.bootstrap, "group.id": "partial",
                         "enable.auto.commit": False, "max.partition.fetch.bytes": limit})
    got: list[tuple[int, bytes]] = []
    try:
        consumer.assign([CkTopicPartition(TOPIC, 0, OFFSET_BEGINNING)])
        for _ in range(2000):  # bounded
            if len(got) >= RECORDS:
                break
            for msg in consumer.consume(RECORDS - len(got), 0.5):
                assert msg.error() is None, msg.error()
                got.append((msg.offset(), msg.value()))
    finally:
        consumer.close()
    assert_all_in_order(got)


KAFKAJS_DIR = os.environ.get("KAFKAJS_DIR", "")
NODE = shutil.which("node")


@pytest.mark.skipif(NODE is None or not (Path(KAFKAJS_DIR) / "node_modules" / "kafkajs").is_dir(),
                    reason="node or kafkajs not found: set KAFKAJS_DIR (see tests/clients/test_kafkajs.py)")
@pytest.mark.parametrize("limit", [1000, 5000])
def test_kafkajs_reads_across_cut_batches(filled: Any, limit: int) -> None:
    assert NODE is not None
    script = Path(__file__).parent / "js" / "partial.js"
    proc = subprocess.run([NODE, str(script), filled.bootstrap, TOPIC, str(RECORDS), str(limit)],
                          capture_output=True, text=True, timeout=90)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert [o for o, _ in got] == list(range(RECORDS))
    assert [v for _, v in got] == [f"{i:05d}" for i in range(RECORDS)]
