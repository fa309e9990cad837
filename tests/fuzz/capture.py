"""Regenerate tests/fuzz/corpus/: request frames sent by real clients, captured broker-side.

    python tests/fuzz/capture.py [--out tests/fuzz/corpus]

A broker subprocess runs with ``KafkaConnection._handle_frame`` wrapped so that every complete
client→broker frame is appended to a recording file (a proxy in front of the broker would be bypassed:
Metadata advertises the broker's own port). kafka-python, confluent-kafka and aiokafka then run short,
bounded workloads: admin (CreateTopics, CreatePartitions, DescribeConfigs, ListGroups...), produce
with every codec, idempotent and transactional produce, fetch, ListOffsets, consumer groups with
offset commits. The frames are deduplicated per (client, API, version, codec) and written as
``NNNN-<api>-v<version>-<client>[-<codec>].bin`` holding the frame with its size prefix.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
READY = re.compile(r"listening on (\S+):(\d+) ")
MAX_FRAME = 16384  # frames kept in the corpus (a real Produce of a few records is far smaller)
PER_KEY = 2  # frames kept per (client, api, version, codec)

# Run in the broker subprocess: record every frame the broker cuts, then serve as usual.
_RECORDER = """
import struct, sys
from pykafka_broker.broker import connection
out = open(sys.argv[1], "ab", buffering=0)
orig = connection.KafkaConnection._handle_frame
def recording(self, frame):
    out.write(struct.pack(">i", len(frame)) + bytes(frame))
    return orig(self, frame)
connection.KafkaConnection._handle_frame = recording
from pykafka_broker.cli import main
sys.argv = ["pykafka-broker"] + sys.argv[2:]
main()
"""


def start_recording_broker(data_dir: Path, record_file: Path) -> tuple[subprocess.Popen[str], int]:
    cmd = [sys.executable, "-c", _RECORDER, str(record_file), "serve", "--host", "127.0.0.1", "--port", "0",
           "--data-dir", str(data_dir), "--log-level", "WARNING"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        m = READY.search(line)
        if m:
            threading.Thread(target=proc.stdout.read, daemon=True).start()  # keep the pipe drained
            return proc, int(m.group(2))
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise RuntimeError("recording broker did not start")


CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]


def kafka_python_workload(bootstrap: str) -> None:
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient, NewPartitions, NewTopic

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="kpy-admin", request_timeout_ms=10000)
    admin.create_topics([NewTopic("kpy", 2, 1), NewTopic("kpy-compact", 1, 1,
                                                         topic_configs={"cleanup.policy": "compact"})])
    admin.create_partitions({"kpy": NewPartitions(3)})
    admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, "kpy")])
    admin.list_topics()
    for codec in CODECS:
        p = KafkaProducer(bootstrap_servers=bootstrap, client_id=f"kpy-{codec}", linger_ms=5,
                          compression_type=None if codec == "none" else codec)
        for i in range(5):
            p.send("kpy", key=b"k%d" % i, value=b"value-%d-" % i * 4, headers=[("h", b"v")], partition=i % 3)
        p.flush(10)
        p.close(10)
    p = KafkaProducer(bootstrap_servers=bootstrap, client_id="kpy-idem", enable_idempotence=True, acks="all")
    for i in range(3):
        p.send("kpy", key=b"i%d" % i, value=b"idempotent", partition=0)
    p.flush(10)
    p.close(10)
    c = KafkaConsumer("kpy", bootstrap_servers=bootstrap, client_id="kpy-consumer", group_id="kpy-group",
                      auto_offset_reset="earliest", consumer_timeout_ms=3000)
    n = 0
    for _ in c:
        n += 1
        if n >= 10:
            break
    c.commit()
    c.end_offsets([TopicPartition("kpy", 0)])
    c.close()
    admin.list_groups()
    admin.describe_groups(["kpy-group"])
    admin.describe_cluster()
    admin.describe_log_dirs()
    admin.list_group_offsets("kpy-group")
    admin.delete_records({TopicPartition("kpy", 1): 1})
    admin.describe_producers([TopicPartition("kpy", 0)])
    admin.close()


def confluent_workload(bootstrap: str) -> None:
    from confluent_kafka import Consumer, Producer, TopicPartition
    from confluent_kafka.admin import AdminClient, ConfigResource, NewPartitions, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap, "client.id": "ck-admin"})
    for f in admin.create_topics([NewTopic("ck", 2, 1)]).values():
        f.result(10)
    for f in admin.create_partitions([NewPartitions("ck", 3)]).values():
        f.result(10)
    for f in admin.describe_configs([ConfigResource("topic", "ck")]).values():
        f.result(10)
    for codec in CODECS:
        p = Producer({"bootstrap.servers": bootstrap, "client.id": f"ck-{codec}", "linger.ms": 5,
                      "compression.type": codec})
        for i in range(5):
            p.produce("ck", key=b"k%d" % i, value=b"value-%d-" % i * 4, headers=[("h", b"v")],
                      partition=i % 3)
        p.flush(10)
    p = Producer({"bootstrap.servers": bootstrap, "client.id": "ck-idem", "enable.idempotence": True})
    for i in range(3):
        p.produce("ck", value=b"idempotent-%d" % i, partition=1)
    p.flush(10)
    p = Producer({"bootstrap.servers": bootstrap, "client.id": "ck-txn", "transactional.id": "ck-txn-id"})
    p.init_transactions(10)
    for commit in (True, False):
        p.begin_transaction()
        for i in range(3):
            p.produce("ck", key=b"t%d" % i, value=b"txn", partition=2)
        p.flush(10)
        (p.commit_transaction if commit else p.abort_transaction)(10)
    c = Consumer({"bootstrap.servers": bootstrap, "client.id": "ck-consumer", "group.id": "ck-group",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.subscribe(["ck"])
    deadline, got = time.monotonic() + 15, 0
    while time.monotonic() < deadline and got < 10:
        m = c.poll(0.5)
        if m is not None and m.error() is None:
            got += 1
    c.commit(asynchronous=False)
    c.get_watermark_offsets(TopicPartition("ck", 0), timeout=5)
    c.close()
    admin.list_consumer_groups().result(10)
    admin.describe_consumer_groups(["ck-group"])["ck-group"].result(10)
    admin.describe_cluster().result(10)


async def aiokafka_workload(bootstrap: str) -> None:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    for codec in ("gzip", "zstd"):
        p = AIOKafkaProducer(bootstrap_servers=bootstrap, client_id=f"aio-{codec}", compression_type=codec)
        await p.start()
        try:
            for i in range(3):
                await p.send_and_wait("kpy", key=b"a%d" % i, value=b"aio", partition=i % 3)
        finally:
            await p.stop()
    c = AIOKafkaConsumer("kpy", bootstrap_servers=bootstrap, client_id="aio-consumer", group_id="aio-group",
                         auto_offset_reset="earliest")
    await c.start()
    try:
        await c.getmany(timeout_ms=3000, max_records=10)
        await c.commit()
    finally:
        await c.stop()


_CLIENTS = [("kpy", "kafka-python"), ("ck", "confluent"), ("rdkafka", "confluent"), ("aio", "aiokafka")]


def client_of(client_id: str | None) -> str:
    cid = client_id or ""
    for prefix, name in _CLIENTS:
        if cid.startswith(prefix):
            return name
    return "other"


def describe(frame: bytes) -> tuple[int, int, str, str]:
    """(api_key, api_version, client, codec tag) of a captured frame (without size prefix)."""
    from wire import parse_produce

    api_key, version, _corr, clen = struct.unpack_from(">hhih", frame, 0)
    client_id = frame[10:10 + clen].decode("utf-8", "replace") if clen >= 0 else None
    tag = ""
    if api_key == 0:
        try:
            batch = parse_produce(frame).topics[0][1][0][1] or b""
            attrs = struct.unpack_from(">h", batch, 21)[0]
            tag = ["none", "gzip", "snappy", "lz4", "zstd", "c5", "c6", "c7"][attrs & 7]
            idempotent = struct.unpack_from(">q", batch, 43)[0] >= 0
            tag += "-txn" if attrs & 0x10 else ("-idem" if idempotent else "")
        except (ValueError, IndexError, struct.error):
            tag = "unparsed"
    return api_key, version, client_of(client_id), tag


def write_corpus(record_file: Path, out: Path) -> int:
    names = {0: "produce", 1: "fetch", 2: "list_offsets", 3: "metadata", 8: "offset_commit",
             9: "offset_fetch",
             10: "find_coordinator", 11: "join_group", 12: "heartbeat", 13: "leave_group", 14: "sync_group",
             15: "describe_groups", 16: "list_groups", 18: "api_versions", 19: "create_topics",
             22: "init_producer_id", 24: "add_partitions_to_txn", 26: "end_txn", 32: "describe_configs",
             20: "delete_topics", 21: "delete_records", 35: "describe_log_dirs", 37: "create_partitions",
             60: "describe_cluster", 61: "describe_producers", 71: "get_telemetry",
             75: "describe_topic_partitions"}
    data = record_file.read_bytes()
    kept: dict[tuple[int, int, str, str], int] = {}
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    pos, n = 0, 0
    while pos + 4 <= len(data):
        (size,) = struct.unpack_from(">i", data, pos)
        frame = data[pos + 4:pos + 4 + size]
        pos += 4 + size
        if size > MAX_FRAME or size < 10:
            continue
        key = describe(frame)
        if kept.get(key, 0) >= PER_KEY:
            continue
        kept[key] = kept.get(key, 0) + 1
        api_key, version, client, tag = key
        name = names.get(api_key, f"api{api_key}")
        suffix = f"-{tag}" if tag else ""
        (out / f"{n:04d}-{name}-v{version}-{client}{suffix}.bin").write_bytes(struct.pack(">i", size) + frame)
        n += 1
    return n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=HERE / "corpus")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(HERE))
    with tempfile.TemporaryDirectory(prefix="fuzz-capture-") as tmp:
        record = Path(tmp) / "frames.rec"
        proc, port = start_recording_broker(Path(tmp) / "data", record)
        bootstrap = f"127.0.0.1:{port}"
        try:
            failures: list[str] = []
            workloads: list[tuple[str, Any]] = [
                ("kafka-python", lambda: kafka_python_workload(bootstrap)),
                ("confluent-kafka", lambda: confluent_workload(bootstrap)),
                ("aiokafka", lambda: asyncio.run(aiokafka_workload(bootstrap)))]
            for name, run in workloads:
                try:
                    run()
                except Exception as exc:  # keep what the other clients sent
                    failures.append(f"{name}: {exc!r}")
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        n = write_corpus(record, args.out)
    total = sum(f.stat().st_size for f in args.out.iterdir())
    print(f"{n} frames, {total} bytes in {args.out}")
    for f in failures:
        print("workload failed:", f, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
