"""Long-poll Fetch waiters driven in-process: a read_committed fetch waits on the last stable
offset, not on bytes appended inside a still-open transaction (Kafka's DelayedFetch measures up to
the LSO for read_committed), while read_uncommitted is woken by any append."""

from __future__ import annotations

import asyncio
import struct
from pathlib import Path
from typing import Any

from kafka.protocol.consumer import FetchRequest, FetchResponse
from test_connection import MemoryTransport, feed, responses

from pykafka_broker.broker.clock import now_ms
from pykafka_broker.broker.config import BrokerConfig
from pykafka_broker.broker.connection import KafkaConnection
from pykafka_broker.broker.server import open_broker
from pykafka_broker.protocol.records import build_batch, read_batch_header

PID, EPOCH = 4242, 0


def fetch_request(correlation_id: int, isolation_level: int, max_wait_ms: int = 30_000) -> bytes:
    ft = FetchRequest.FetchTopic
    req = FetchRequest(replica_id=-1, max_wait_ms=max_wait_ms, min_bytes=1, max_bytes=1 << 20,
                       isolation_level=isolation_level, session_id=0, session_epoch=-1,
                       topics=[ft(topic="t", partitions=[
                           ft.FetchPartition(partition=0, fetch_offset=0, partition_max_bytes=1 << 20)])],
                       forgotten_topics_data=[], rack_id="")
    req.with_header(correlation_id=correlation_id, client_id="test")
    return bytes(req.encode(version=12, header=True, framed=True))


def txn_append(broker: Any, seq: int) -> None:
    plog = broker.logs.get_log("t", 0)
    batch = build_batch([(b"k", b"v%d" % seq, [], 1000 + seq)], producer_id=PID, producer_epoch=EPOCH,
                        base_sequence=seq, transactional=True)
    plog.append(batch, read_batch_header(batch), now_ms())
    broker.waiters.notify("t", 0, len(batch))


def decoded(raw: bytes) -> Any:
    return FetchResponse.decode(raw[5:], version=12)  # correlation id + empty header tags


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_read_committed_long_poll_waits_for_the_lso(tmp_path: Path) -> None:
    broker = open_broker(BrokerConfig(data_dir=tmp_path))
    try:
        broker.logs.create_topic("t", 1, {})
        committed, tc = KafkaConnection(broker), MemoryTransport()
        uncommitted, tu = KafkaConnection(broker), MemoryTransport()
        committed.connection_made(tc)
        uncommitted.connection_made(tu)
        feed(committed, fetch_request(1, isolation_level=1))
        feed(uncommitted, fetch_request(2, isolation_level=0))
        for seq in range(3):  # appends inside an open transaction
            txn_append(broker, seq)
            await settle()
        assert len(responses(tu.out)) == 1  # read_uncommitted: woken by the first append
        assert not tc.out  # read_committed: nothing stable yet, still waiting
        plog = broker.logs.get_log("t", 0)
        plog.append_control_batch(PID, EPOCH, True, 0, now_ms())  # COMMIT moves the LSO
        broker.waiters.notify("t", 0, 78)
        await settle()
        (raw,) = responses(tc.out)
        assert struct.unpack_from(">i", raw)[0] == 1
        [p] = decoded(raw).responses[0].partitions
        assert p.error_code == 0 and p.last_stable_offset == 4 and p.records
    finally:
        broker.logs.close()


async def test_read_committed_long_poll_is_woken_by_a_non_transactional_append(tmp_path: Path) -> None:
    broker = open_broker(BrokerConfig(data_dir=tmp_path))
    try:
        broker.logs.create_topic("t", 1, {})
        c, t = KafkaConnection(broker), MemoryTransport()
        c.connection_made(t)
        feed(c, fetch_request(1, isolation_level=1))
        plog = broker.logs.get_log("t", 0)
        batch = build_batch([(b"k", b"v", [], 1000)])
        plog.append(batch, read_batch_header(batch), now_ms())
        broker.waiters.notify("t", 0, len(batch))
        await settle()
        (raw,) = responses(t.out)
        [p] = decoded(raw).responses[0].partitions
        assert p.high_watermark == 1 and p.records
    finally:
        broker.logs.close()
