"""Produce validation over raw sockets against a broker process: every class of invalid batch that
is CRC-correct gets Kafka's error code and nothing is appended; a decompression bomb is refused
without the broker's memory growing with it; clients cannot write to internal topics.

Batches are crafted by hand around valid headers (CRC set), requests sent with kafka-python's
message classes (an independent encoder)."""

from __future__ import annotations

import struct
import time
from collections.abc import Iterator
from typing import Any

import pytest
import zstandard
from kafka.protocol.consumer import FetchRequest, FetchResponse
from kafka.protocol.producer import ProduceRequest, ProduceResponse
from procfs import status_kib
from test_bad_input import PRODUCE_V, Wire, create_topic, fetch, latest_offset

from pykafka_broker.protocol.compression import GZIP, ZSTD, compress
from pykafka_broker.protocol.errors import ErrorCode
from pykafka_broker.protocol.records import (
    BATCH_HEADER_SIZE,
    CRC_OFFSET,
    LOG_OVERHEAD,
    compute_crc,
    read_batch_header,
    varint_bytes,
)

TOPIC = "validated"
YEAR_MS = 365 * 24 * 3600 * 1000


def now_ms() -> int:
    return int(time.time() * 1000)


def record(offset_delta: int, key: bytes | None = b"k", value: bytes = b"v", ts_delta: int = 0) -> bytes:
    body = b"\x00" + varint_bytes(ts_delta) + varint_bytes(offset_delta)
    body += b"\x01" if key is None else varint_bytes(len(key)) + key
    body += varint_bytes(len(value)) + value + b"\x00"
    return varint_bytes(len(body)) + body


def batch(section: bytes, count: int, *, codec: int = 0, base_ts: int | None = None,
          max_ts: int | None = None, producer_id: int = -1, base_sequence: int = -1,
          compress_section: bool = True, attributes: int = 0) -> bytes:
    """A CRC-valid magic-2 batch around ``section`` (compressed with ``codec`` unless told not to)."""
    ts = now_ms() if base_ts is None else base_ts
    payload = compress(codec, section) if codec and compress_section else section
    out = bytearray(BATCH_HEADER_SIZE) + payload
    struct.pack_into(">qiiBIhiqqqhii", out, 0, 0, len(out) - LOG_OVERHEAD, -1, 2, 0, codec | attributes,
                     count - 1, ts,
                     ts if max_ts is None else max_ts, producer_id, 0 if producer_id >= 0 else -1,
                     base_sequence, count)
    struct.pack_into(">I", out, CRC_OFFSET, compute_crc(out, 0, len(out)))
    return bytes(out)


def produce(wire: Wire, topic: str, data: bytes, partition: int = 0) -> Any:
    """The partition response (error_code, base_offset, record_errors, error_message) of an acks=-1
    produce of ``data``."""
    pd = ProduceRequest.TopicProduceData
    req = ProduceRequest(transactional_id=None, acks=-1, timeout_ms=10_000, topic_data=[
        pd(name=topic, partition_data=[pd.PartitionProduceData(index=partition, records=data)])])
    [t] = wire.request(req, ProduceResponse, PRODUCE_V).responses
    [p] = t.partition_responses
    return p


def fetch_raw(wire: Wire, topic: str) -> bytes:
    ft = FetchRequest.FetchTopic
    req = FetchRequest(replica_id=-1, max_wait_ms=0, min_bytes=0, max_bytes=1 << 20, isolation_level=0,
                       session_id=0, session_epoch=-1, topics=[ft(topic=topic, partitions=[
                           ft.FetchPartition(partition=0, fetch_offset=0, partition_max_bytes=1 << 20)])],
                       forgotten_topics_data=[], rack_id="")
    [p] = wire.request(req, FetchResponse, 12).responses[0].partitions
    return bytes(p.records or b"")


@pytest.fixture
def broker(broker_factory: Any) -> Iterator[Any]:
    b = broker_factory("auto.create.topics.enable=false")
    with Wire(b.bootstrap) as w:
        assert create_topic(w, TOPIC) == 0
        assert create_topic(w, "compacted", configs={"cleanup.policy": "compact"}) == 0
    yield b
    assert b.proc.poll() is None, "broker process died:\n" + b.log_text()[-3000:]


INVALID = {
    "garbage records section": (lambda: batch(b"\xff" * 40, 3), ErrorCode.INVALID_RECORD),
    "payload that does not decompress": (
        lambda: batch(b"\x28\xb5\x2f\xfd garbage", 1, codec=ZSTD, compress_section=False),
        ErrorCode.CORRUPT_MESSAGE),
    "huge record length varint": (lambda: batch(varint_bytes(2**31 - 1) + record(0)[1:], 1),
                                  ErrorCode.INVALID_RECORD),
    "fewer records than counted": (lambda: batch(record(0) + record(1), 3), ErrorCode.INVALID_RECORD),
    "more records than counted": (lambda: batch(record(0) + record(1) + record(2), 2),
                                  ErrorCode.INVALID_RECORD),
    "producer id with sequence -1": (lambda: batch(record(0), 1, producer_id=7, base_sequence=-1),
                                     ErrorCode.INVALID_RECORD),
    "timestamp ten years ahead": (lambda: batch(record(0) + record(1, ts_delta=10 * YEAR_MS), 2),
                                  ErrorCode.INVALID_TIMESTAMP),
}


@pytest.mark.parametrize("case", list(INVALID))
def test_invalid_batch_is_refused_with_kafkas_code_and_not_appended(broker: Any, case: str) -> None:
    make, code = INVALID[case]
    with Wire(broker.bootstrap) as w:
        p = produce(w, TOPIC, make())
        assert p.error_code == code, p
        assert p.error_message
        assert latest_offset(w, TOPIC) == 0
        # The partition still takes a valid batch at offset 0: nothing was written before it.
        ok = produce(w, TOPIC, batch(record(0) + record(1), 2))
        assert (ok.error_code, ok.base_offset) == (0, 0)
        assert [o for o, _, _ in fetch(w, TOPIC, 0)[1]] == [0, 1]


def test_timestamp_errors_name_each_bad_record(broker: Any) -> None:
    section = record(0) + record(1, ts_delta=10 * YEAR_MS) + record(2) + record(3, ts_delta=20 * YEAR_MS)
    with Wire(broker.bootstrap) as w:
        p = produce(w, TOPIC, batch(section, 4))
    assert p.error_code == ErrorCode.INVALID_TIMESTAMP
    assert [e.batch_index for e in p.record_errors] == [1, 3]


def test_every_keyless_record_on_a_compacted_topic_is_listed(broker: Any) -> None:
    section = b"".join(record(i, key=None) for i in range(10))
    with Wire(broker.bootstrap) as w:
        p = produce(w, "compacted", batch(section, 10, codec=GZIP))
        assert p.error_code == ErrorCode.INVALID_RECORD
        assert [e.batch_index for e in p.record_errors] == list(range(10))
        assert "10 record errors" in p.error_message
        assert latest_offset(w, "compacted") == 0


def test_wrong_offset_deltas_are_refused_so_batches_do_not_overlap(broker: Any) -> None:
    """Refused rather than rebuilt: a rebuild costs a Python object per record, and a few compressed
    bytes can hold millions of records (review finding); no client writes such a batch."""
    skewed = record(0, value=b"a") + record(5, value=b"b") + record(9, value=b"c")
    with Wire(broker.bootstrap) as w:
        p = produce(w, TOPIC, batch(skewed, 3))
        assert p.error_code == ErrorCode.INVALID_RECORD and "offset deltas" in p.error_message
        assert produce(w, TOPIC, batch(record(0, value=b"d"), 1)).base_offset == 0
        assert [(o, v) for o, _, v in fetch(w, TOPIC, 0)[1]] == [(0, b"d")]


def test_log_append_time_flag_on_a_create_time_topic_is_invalid_timestamp(broker: Any) -> None:
    """validateTimestamp: a producer never sets LogAppendTime; the records' own timestamps (here ten
    years ahead) must not slip through under the batch's claimed maxTimestamp (review finding)."""
    now = now_ms()
    ahead = batch(record(0, ts_delta=10 * 365 * 24 * 3600 * 1000), 1, base_ts=now, max_ts=now,
                  attributes=0x08)
    with Wire(broker.bootstrap) as w:
        p = produce(w, TOPIC, ahead)
        assert p.error_code == ErrorCode.INVALID_TIMESTAMP
        assert [e.batch_index for e in p.record_errors] == [0]
        assert latest_offset(w, TOPIC) == 0


def test_millions_of_keyless_records_are_refused_in_bounded_memory(broker: Any) -> None:
    """A small zstd batch of 2,000,000 minimal keyless records on a compacted topic: refused with the
    first MAX_RECORD_ERRORS listed, without an object per record (review finding: +280 MiB)."""
    from pykafka_broker.protocol.validation import MAX_RECORD_ERRORS
    n = 2_000_000
    section = b"".join(record(i, key=None, value=b"") for i in range(1000)) * (n // 1000)
    assert len(section) < 16 * 1024 * 1024  # within the decompression cap: the walk is what is measured
    pid = broker.proc.pid
    with Wire(broker.bootstrap) as w:
        produce(w, TOPIC, batch(record(0), 1))  # warm the produce path before the baseline
        before = status_kib(pid, "VmRSS")
        p = produce(w, "compacted", batch(section, n, codec=ZSTD))
        assert p.error_code == ErrorCode.INVALID_RECORD
        assert len(p.record_errors) == MAX_RECORD_ERRORS
        assert f"{n} record errors" in p.error_message
    grown_mib = (status_kib(pid, "VmHWM") - before) / 1024
    assert grown_mib < 64, f"peak RSS grew by {grown_mib:.0f} MiB"


def test_create_time_max_timestamp_is_the_records_max(broker: Any) -> None:
    base = now_ms() - 5_000
    with Wire(broker.bootstrap) as w:
        claimed = batch(record(0) + record(1, ts_delta=700), 2, base_ts=base, max_ts=base + 999_999)
        p = produce(w, TOPIC, claimed)
        assert p.error_code == 0
        stored = read_batch_header(fetch_raw(w, TOPIC))
    assert stored.max_timestamp == base + 700
    assert [o for o, _, _ in fetch_after_check(broker)] == [0, 1]  # CRC still valid for a real client


def fetch_after_check(broker: Any) -> list[tuple[int, bytes, bytes]]:
    with Wire(broker.bootstrap) as w:
        error, got = fetch(w, TOPIC, 0)
    assert error == 0
    return got


@pytest.mark.parametrize("topic", ["__consumer_offsets", "__transaction_state"])
def test_clients_cannot_produce_to_internal_topics(broker: Any, topic: str) -> None:
    from confluent_kafka import Consumer, TopicPartition

    # A standalone offset commit creates __consumer_offsets, so a forged record would have a log to go to.
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "g"})
    c.commit(offsets=[TopicPartition(TOPIC, 0, 0)], asynchronous=False)
    c.close()
    forged = batch(record(0, key=b"\x00\x01\x00\x01g", value=b"forged"), 1)
    with Wire(broker.bootstrap) as w:
        for partition in (0, 1):
            p = produce(w, topic, forged, partition)
            assert p.error_code == ErrorCode.INVALID_TOPIC_EXCEPTION
            assert p.error_message == f"Cannot append to internal topic {topic}"


@pytest.mark.parametrize("codec", [ZSTD, GZIP])
def test_decompression_bomb_is_refused_without_memory_growth(broker: Any, codec: int) -> None:
    """A few KB that decompress to 256 MiB: refused as CORRUPT_MESSAGE with the broker's peak RSS
    growing by far less than the bomb (the cap is 16 MiB for a payload this small)."""
    zeros = bytes(256 << 20)
    if codec == ZSTD:  # no declared content size: the broker must find out by decompressing
        payload = zstandard.ZstdCompressor(level=19, write_content_size=False).compress(zeros)
    else:
        payload = compress(GZIP, zeros, level=9)
    del zeros
    bomb = batch(payload, 1, codec=codec, compress_section=False)
    pid = broker.proc.pid
    with Wire(broker.bootstrap) as w:
        produce(w, TOPIC, batch(record(0), 1))  # warm the produce path before the baseline
        before = status_kib(pid, "VmRSS")
        p = produce(w, "compacted", bomb)
        assert p.error_code == ErrorCode.CORRUPT_MESSAGE, p
        assert "decompresses to more than" in p.error_message
        assert latest_offset(w, "compacted") == 0
    grown_mib = (status_kib(pid, "VmHWM") - before) / 1024
    assert grown_mib < 64, f"peak RSS grew by {grown_mib:.0f} MiB for a {len(payload)}-byte bomb"


@pytest.mark.parametrize("level", [1, 19])
def test_recompression_uses_the_topics_codec_level_without_decoding_records(broker: Any, level: int) -> None:
    """compression.type=zstd with compression.zstd.level: the stored payload is exactly the producer's
    records section compressed at that level (header fields kept, CRC valid for a real reader)."""
    section = b"".join(record(i, value=b"value-%d " % i * 20) for i in range(200))
    assert compress(ZSTD, section, level=1) != compress(ZSTD, section, level=19)
    topic = f"zstd-{level}"
    with Wire(broker.bootstrap) as w:
        assert create_topic(w, topic, configs={"compression.type": "zstd",
                                               "compression.zstd.level": str(level)}) == 0
        p = produce(w, topic, batch(section, 200, producer_id=-1))
        assert p.error_code == 0, p
        stored = fetch_raw(w, topic)
    header = read_batch_header(stored)
    assert header.compression == ZSTD and header.records_count == 200
    assert stored[BATCH_HEADER_SIZE:header.size] == compress(ZSTD, section, level=level)
    assert compute_crc(stored, 0, header.size) == header.crc
