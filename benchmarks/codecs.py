"""Micro-benchmark of the hand-written hot-path codecs against kafka-python's schema classes.

    python benchmarks/codecs.py

Prints microseconds per call (best of 5 repeats): Produce request decode, Produce response encode,
Fetch request decode, Fetch response encode (as a list of buffers) and record decoding.
"""
# ruff: noqa: F403, F405, E501, E702, B023
import timeit
import uuid

from kafka.protocol.consumer import FetchRequest
from kafka.protocol.producer import ProduceRequest

from pykafka_broker.protocol.fetch import *
from pykafka_broker.protocol.produce import *
from pykafka_broker.protocol.records import build_batch, decode_records, record_offsets_and_timestamps


def us(fn, n=20000):
    t = min(timeit.repeat(fn, number=n, repeat=5)); return t / n * 1e6

T = ProduceRequest.TopicProduceData; P = T.PartitionProduceData
for size in (16 << 10, 1 << 20):
    rec = b"x" * size
    for v in (3, 9):
        e = memoryview(bytearray(ProduceRequest[v](transactional_id=None, acks=-1, timeout_ms=3000, topic_data=[T(name="topic-a", partition_data=[P(index=0, records=rec)])]).encode()))
        print(f"produce v{v} decode 1x1 {size>>10}KiB: {us(lambda: decode_produce_request(e, v)):.2f} us; kafka-python {us(lambda: ProduceRequest[v].decode(e), 2000):.1f} us")
e = memoryview(bytes(ProduceRequest[9](transactional_id=None, acks=-1, timeout_ms=3000, topic_data=[T(name=f"topic-{t}", partition_data=[P(index=i, records=b"y"*1000) for i in range(3)]) for t in range(2)]).encode()))
print(f"produce v9 decode 2x3: {us(lambda: decode_produce_request(e, 9)):.2f} us")
res = [ProduceTopicResult("topic-a", [ProducePartitionResult(0, 0, 100, -1, 0)])]
for v in (3, 9):
    print(f"produce v{v} response encode 1x1: {us(lambda: encode_produce_response(v, res)):.2f} us")

FT = FetchRequest.FetchTopic; FP = FT.FetchPartition
tid = uuid.uuid4()
for v in (4, 12, 13, 17):
    e = memoryview(bytes(FetchRequest[v](replica_id=-1, max_wait_ms=500, min_bytes=1, max_bytes=50<<20, isolation_level=0, session_id=0, session_epoch=-1,
        topics=[FT(topic="topic-a", topic_id=tid, partitions=[FP(partition=p, current_leader_epoch=0, fetch_offset=100*p, last_fetched_epoch=-1, log_start_offset=-1, partition_max_bytes=1<<20) for p in range(3)])],
        forgotten_topics_data=[], rack_id="").encode()))
    print(f"fetch v{v} request decode 1x3: {us(lambda: decode_fetch_request(e, v)):.2f} us; kafka-python {us(lambda: FetchRequest[v].decode(e), 5000):.1f} us")

chunk = memoryview(bytearray(1 << 20))
big = [FetchTopicResult("topic-a", tid, [FetchPartitionResult(p, 0, 1000, 1000, 0, None, [chunk]) for p in range(100)])]
small = [FetchTopicResult("topic-a", tid, [FetchPartitionResult(0, 0, 1000, 1000, 0, None, [memoryview(bytearray(300))])])]
empty3 = [FetchTopicResult("topic-a", tid, [FetchPartitionResult(p, 0, 1000, 1000, 0, None, []) for p in range(3)])]
for v in (4, 12, 13):
    print(f"fetch v{v} response encode 100x1MiB: {us(lambda: encode_fetch_response(v, throttle_time_ms=0, error_code=0, session_id=0, topics=big), 2000):.1f} us;"
          f" small 1x300B: {us(lambda: encode_fetch_response(v, throttle_time_ms=0, error_code=0, session_id=0, topics=small)):.2f} us;"
          f" 1x3 empty: {us(lambda: encode_fetch_response(v, throttle_time_ms=0, error_code=0, session_id=0, topics=empty3)):.2f} us")
batch = build_batch([(b"k%d" % i, b"v" * 100, [], 1000 + i) for i in range(100)])
print(f"decode_records 100 recs: {us(lambda: decode_records(batch), 500):.1f} us; offsets/ts: {us(lambda: list(record_offsets_and_timestamps(batch)), 1000):.1f} us")
