"""The measured phases, driven with confluent-kafka against one running broker.

Every call is bounded: a phase that does not finish by its deadline raises, and the caller records the
failure in that broker's row instead of hanging.
"""

from __future__ import annotations

import math
import struct
import threading
import time
from dataclasses import dataclass
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

LATENCY_HEADER = struct.Struct(">qq")  # sequence number (-1 = warm-up), send time in monotonic ns


@dataclass(frozen=True, slots=True)
class Throughput:
    records: int
    seconds: float
    record_bytes: int

    def as_dict(self) -> dict[str, float]:
        return {
            "records": self.records,
            "seconds": round(self.seconds, 3),
            "records_per_s": round(self.records / self.seconds, 1),
            "mb_per_s": round(self.records * self.record_bytes / self.seconds / 1e6, 2),
        }


def create_topics(bootstrap: str, names: list[str], partitions: int, timeout: float) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(n, partitions, 1) for n in names], operation_timeout=timeout)
    for fut in futures.values():
        fut.result(timeout)  # raises KafkaException on a topic-level error
    # Wait until metadata shows every partition with a leader, so produce starts at full speed.
    deadline = time.monotonic() + timeout
    while True:
        md = admin.list_topics(timeout=max(1.0, deadline - time.monotonic()))
        if all(n in md.topics and len(md.topics[n].partitions) == partitions
               and all(p.leader >= 0 for p in md.topics[n].partitions.values()) for n in names):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"topics {names} not visible in metadata after {timeout:.0f} s")
        time.sleep(0.1)


def produce(bootstrap: str, topic: str, records: int, record_bytes: int, acks: str,
            timeout: float, extra: dict[str, Any] | None = None) -> Throughput:
    """``records`` values of ``record_bytes`` with linger.ms=5 (and ``extra`` producer settings)."""
    errors: list[Any] = []

    def on_error(err: Any, msg: Any) -> None:
        errors.append(err)

    producer = Producer({
        "bootstrap.servers": bootstrap, "acks": acks, "linger.ms": 5,
        "delivery.report.only.error": True, "on_delivery": on_error, **(extra or {}),
    })
    producer.list_topics(topic, timeout=timeout)  # connect and learn the leader before the clock starts
    value = b"v" * record_bytes
    deadline = time.monotonic() + timeout
    start = time.perf_counter()
    for i in range(records):
        while True:
            try:
                producer.produce(topic, value)
                break
            except BufferError:  # local queue full: let librdkafka drain it
                producer.poll(0.01)
                if time.monotonic() > deadline:
                    raise TimeoutError(f"produce stalled at record {i} of {records}") from None
        if i % 10000 == 0:
            producer.poll(0)
            if errors:
                raise RuntimeError(f"delivery failed: {errors[0]}")
    left = producer.flush(max(0.0, deadline - time.monotonic()))
    elapsed = time.perf_counter() - start
    if left:
        raise TimeoutError(f"{left} of {records} records undelivered after {timeout:.0f} s")
    if errors:
        raise RuntimeError(f"{len(errors)} deliveries failed, first: {errors[0]}")
    return Throughput(records, elapsed, record_bytes)


def _consumer(bootstrap: str) -> Consumer:
    # No consumer group: manual assignment only, no commits. librdkafka still wants a group.id
    # string in its config, but never contacts a coordinator without subscribe() or commit().
    # fetch.queue.backoff.ms: once its prefetch queue holds queued.min.messages, librdkafka pauses
    # fetching for this long (default 1000 ms), which punishes whichever broker answers fastest.
    # receive.message.max.bytes is only the ceiling the client accepts; one peer answers a fetch with
    # everything it has (110 MB for 1M records), over librdkafka's default 100 MB.
    return Consumer({
        "bootstrap.servers": bootstrap, "group.id": "bench-no-group",
        "enable.auto.commit": False, "enable.auto.offset.store": False,
        "fetch.queue.backoff.ms": 10, "receive.message.max.bytes": 1_000_000_000,
        "error_cb": _remember_error,
    })


_client_errors: list[str] = []


def _remember_error(err: Any) -> None:
    _client_errors.append(str(err))


def _last_client_error() -> str:
    return f"; last client error: {_client_errors[-1]}" if _client_errors else ""


def consume(bootstrap: str, topic: str, partitions: int, records: int, record_bytes: int,
            timeout: float) -> dict[str, float]:
    consumer = _consumer(bootstrap)
    try:
        # Learn the leader before the clock starts; otherwise librdkafka's first metadata round
        # adds ~500 ms, the same for every broker, to the phase.
        consumer.list_topics(topic, timeout=timeout)
        deadline = time.monotonic() + timeout
        start = time.perf_counter()
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
        count = 0
        first = 0.0
        while count < records:
            if time.monotonic() > deadline:
                raise TimeoutError(f"consumed {count} of {records} records in {timeout:.0f} s"
                                   + _last_client_error())
            # Never ask for more than remain: consume() waits for the full count or the timeout.
            for msg in consumer.consume(min(10000, records - count), 0.5):
                if msg.error():
                    raise KafkaException(msg.error())
                count += 1
            if count and not first:
                first = time.perf_counter()
        elapsed = time.perf_counter() - start
    finally:
        consumer.close()
    out = Throughput(count, elapsed, record_bytes).as_dict()
    # ListOffsets and the first fetch, which the whole-phase rate includes.
    out["first_batch_ms"] = round((first - start) * 1000, 1)
    return out


def _percentile(sorted_values: list[int], q: float) -> int:
    return sorted_values[max(0, math.ceil(q * len(sorted_values)) - 1)]


def end_to_end_latency(bootstrap: str, topic: str, partitions: int, rate: int, seconds: float,
                       record_bytes: int, timeout: float) -> dict[str, float]:
    """Produce at a steady `rate` for `seconds`; a consumer thread measures consume time - send time."""
    total = int(rate * seconds)
    latencies_ns: list[int] = []
    warm_partitions: set[int] = set()
    stop = threading.Event()
    failure: list[BaseException] = []
    consumer = _consumer(bootstrap)
    consumer.assign([TopicPartition(topic, p, OFFSET_END) for p in range(partitions)])

    def consume_loop() -> None:
        try:
            while not stop.is_set() and len(latencies_ns) < total:
                # poll() returns as soon as one record is there; consume(n) would wait for n of them.
                msg = consumer.poll(0.05)
                now = time.monotonic_ns()
                if msg is not None:
                    if msg.error():
                        raise KafkaException(msg.error())
                    seq, sent = LATENCY_HEADER.unpack_from(msg.value())
                    if seq < 0:
                        warm_partitions.add(msg.partition())
                    else:
                        latencies_ns.append(now - sent)
        except BaseException as exc:  # reported by the main thread
            failure.append(exc)

    thread = threading.Thread(target=consume_loop, name="latency-consumer", daemon=True)
    thread.start()
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "1", "linger.ms": 1})
    pad = b"p" * max(0, record_bytes - LATENCY_HEADER.size)
    try:
        # Warm up until the consumer is positioned at the end of every partition.
        deadline = time.monotonic() + timeout
        while len(warm_partitions) < partitions:
            if failure:
                raise failure[0]
            if time.monotonic() > deadline:
                raise TimeoutError(f"latency consumer not positioned after {timeout:.0f} s"
                                   + _last_client_error())
            for p in range(partitions):
                producer.produce(topic, LATENCY_HEADER.pack(-1, time.monotonic_ns()) + pad, partition=p)
            producer.poll(0.2)
        producer.flush(5)
        start = time.perf_counter()
        for i in range(total):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            producer.produce(topic, LATENCY_HEADER.pack(i, time.monotonic_ns()) + pad)
            producer.poll(0)
        sent_seconds = time.perf_counter() - start
        left = producer.flush(timeout)
        if left:
            raise TimeoutError(f"{left} latency records undelivered")
        drain_deadline = time.monotonic() + min(timeout, 30.0)
        while len(latencies_ns) < total and time.monotonic() < drain_deadline and not failure:
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(5)
        consumer.close()
    if failure:
        raise failure[0]
    if not latencies_ns:
        raise RuntimeError("no latency records consumed")
    values = sorted(latencies_ns)
    return {
        "sent": total, "received": len(values), "achieved_rate": round(total / sent_seconds, 1),
        "p50_ms": round(_percentile(values, 0.50) / 1e6, 2),
        "p99_ms": round(_percentile(values, 0.99) / 1e6, 2),
        "max_ms": round(values[-1] / 1e6, 2),
    }
