"""A log taken offline by an I/O error, seen through the wire with kafka-python's message classes:
Produce, Fetch and ListOffsets answer KAFKA_STORAGE_ERROR (56) for its partition, in a normal
response, while another topic of the same broker keeps serving (the handlers turn the storage
layer's KafkaError into per-partition codes). The broker runs in-process so faults can be injected."""

from __future__ import annotations

import asyncio
from pathlib import Path

import kafka_wire
from fault_helpers import EIO, FaultyIO
from kafka.protocol.consumer import FetchRequest, FetchResponse, ListOffsetsRequest, ListOffsetsResponse
from kafka.protocol.producer import ProduceRequest, ProduceResponse
from kafka.record.default_records import DefaultRecordBatchBuilder

from pykafka_broker.broker.config import BrokerConfig
from pykafka_broker.broker.context import Broker
from pykafka_broker.broker.server import serve
from pykafka_broker.protocol.errors import ErrorCode
from pykafka_broker.storage.files import use_io

PRODUCE_V, FETCH_V, LIST_OFFSETS_V = 9, 12, 7
STORAGE_ERROR = int(ErrorCode.KAFKA_STORAGE_ERROR)


class Wire(kafka_wire.Wire):
    """The suite's raw Kafka connection, with the three requests these tests send."""

    def __init__(self, port: int) -> None:
        super().__init__(f"127.0.0.1:{port}")

    def produce(self, topic: str, value: bytes) -> int:
        builder = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=False,
                                            producer_id=-1, producer_epoch=-1, base_sequence=-1,
                                            batch_size=1 << 20)
        builder.append(0, timestamp=1_700_000_000_000, key=b"k", value=value, headers=[])
        data = ProduceRequest.TopicProduceData
        part = data.PartitionProduceData(index=0, records=bytes(builder.build()))
        req = ProduceRequest(transactional_id=None, acks=-1, timeout_ms=10_000,
                             topic_data=[data(name=topic, partition_data=[part])])
        return self.request(req, ProduceResponse, PRODUCE_V).responses[0].partition_responses[0].error_code

    def fetch(self, topic: str) -> tuple[int, bytes]:
        ft = FetchRequest.FetchTopic
        req = FetchRequest(replica_id=-1, max_wait_ms=0, min_bytes=0, max_bytes=1 << 20, isolation_level=0,
                           session_id=0, session_epoch=-1, topics=[ft(topic=topic, partitions=[
                               ft.FetchPartition(partition=0, fetch_offset=0, partition_max_bytes=1 << 20)])],
                           forgotten_topics_data=[], rack_id="")
        resp = self.request(req, FetchResponse, FETCH_V)
        [p] = resp.responses[0].partitions
        return p.error_code, bytes(p.records or b"")

    def list_offsets(self, topic: str, timestamp: int) -> int:
        lt = ListOffsetsRequest.ListOffsetsTopic
        req = ListOffsetsRequest(replica_id=-1, isolation_level=0, topics=[
            lt(name=topic, partitions=[lt.ListOffsetsPartition(partition_index=0, timestamp=timestamp)])])
        return self.request(req, ListOffsetsResponse, LIST_OFFSETS_V).topics[0].partitions[0].error_code


async def test_offline_partition_answers_storage_error_and_the_rest_keeps_serving(tmp_path: Path) -> None:
    stop = asyncio.Event()
    ready: asyncio.Future[Broker] = asyncio.get_running_loop().create_future()
    server = asyncio.create_task(serve(BrokerConfig(data_dir=tmp_path, host="127.0.0.1", port=0),
                                       stop=stop, ready=ready))
    try:
        broker = await asyncio.wait_for(ready, 20)
        broker.logs.create_topic("a", 1, {})
        broker.logs.create_topic("b", 1, {})
        wire = await asyncio.to_thread(Wire, broker.advertised_port)
        assert await asyncio.to_thread(wire.produce, "a", b"before") == 0
        faults = FaultyIO(match="/a-0/")
        faults.short_write = (20, EIO)
        faults.truncate_errno = EIO  # the partial batch cannot be removed: the log goes offline
        with use_io(faults):
            assert await asyncio.to_thread(wire.produce, "a", b"lost") == STORAGE_ERROR
        plog = broker.logs.get_log("a", 0)
        assert plog is not None and plog.offline is not None
        assert await asyncio.to_thread(wire.produce, "a", b"again") == STORAGE_ERROR
        assert (await asyncio.to_thread(wire.fetch, "a"))[0] == STORAGE_ERROR
        for ts in (-1, -2, -3, 0):  # latest, earliest, max timestamp, by time
            assert await asyncio.to_thread(wire.list_offsets, "a", ts) == STORAGE_ERROR
        # The same connection, the same broker: the other topic serves normally.
        assert await asyncio.to_thread(wire.produce, "b", b"fine") == 0
        code, records = await asyncio.to_thread(wire.fetch, "b")
        assert code == 0 and b"fine" in records
        assert await asyncio.to_thread(wire.list_offsets, "b", -1) == 0
        wire.sock.close()
    finally:
        stop.set()
        await asyncio.wait_for(server, 30)


async def test_failed_fsync_before_ack_answers_storage_error_not_a_dropped_connection(tmp_path: Path) -> None:
    stop = asyncio.Event()
    ready: asyncio.Future[Broker] = asyncio.get_running_loop().create_future()
    config = BrokerConfig(data_dir=tmp_path, host="127.0.0.1", port=0,
                          props={"log.flush.interval.messages": "1"})
    server = asyncio.create_task(serve(config, stop=stop, ready=ready))
    try:
        broker = await asyncio.wait_for(ready, 20)
        broker.logs.create_topic("a", 1, {})
        broker.logs.create_topic("b", 1, {})
        wire = await asyncio.to_thread(Wire, broker.advertised_port)
        assert await asyncio.to_thread(wire.produce, "a", b"synced") == 0
        faults = FaultyIO(match="/a-0/")
        faults.fsync_errno = EIO
        with use_io(faults):
            assert await asyncio.to_thread(wire.produce, "a", b"never-acked") == STORAGE_ERROR
            assert await asyncio.to_thread(wire.produce, "b", b"fine") == 0  # same connection
        plog = broker.logs.get_log("a", 0)
        assert plog is not None and plog.offline is not None and plog.recovery_point == 1
        assert (await asyncio.to_thread(wire.fetch, "a"))[0] == STORAGE_ERROR
        wire.sock.close()
    finally:
        stop.set()
        await asyncio.wait_for(server, 30)
