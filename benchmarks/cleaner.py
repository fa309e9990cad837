"""Log cleaner benchmarks for pykafka-broker (measured, not asserted).

    python benchmarks/cleaner.py [--records 500000] [--keys 20000] [--codec lz4]

1. Cleaner throughput, in process: a compacted partition (``--records`` records of ``--keys``
   distinct keys and 100-byte values, batches of 100, ``--segment-bytes`` segments so nearly all of
   the log is cleanable) is written through the storage API (LogManager / PartitionLog.append with
   batches from ``build_batch``), then cleaned by the broker's own driver
   (``LogCleaner.clean_once``: build the key map, clean group by group in the cleaner's thread,
   install). MB/s counts the bytes of log read by the pass; records/s the offsets it covered.
   Once uncompressed, once with ``--codec`` (the cleaner decompresses and recompresses).
2. Produce latency while the cleaner works vs idle: a data dir with a compacted topic is pre-filled
   the same way (``--latency-records``, one partition, blocked from cleaning by
   ``min.compaction.lag.ms`` = 1 day), the broker is started on it (``python -m pykafka_broker serve
   --host 127.0.0.1 --port 0 ... --override log.cleaner.backoff.ms=100``), and a confluent-kafka
   producer (acks=1, linger.ms=0) sends ``--rate`` records/s for ``--seconds`` to a separate,
   non-compacted topic; latency is delivery-callback time minus send time. First with the cleaner
   idle, then again right after ``min.compaction.lag.ms`` is set to 0 (IncrementalAlterConfigs), so
   the cleaner works on the compacted partition during the window. A sampler reads the partition's
   ``.log`` bytes every 100 ms: the report shows how much it shrank and when it last changed.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic

from pykafka_broker.broker.config import BrokerConfig
from pykafka_broker.broker.log_cleaner import LogCleaner
from pykafka_broker.broker.topics import log_properties
from pykafka_broker.protocol.compression import CODEC_NAMES
from pykafka_broker.protocol.records import build_batch, read_batch_header
from pykafka_broker.storage.manager import LogManager

TIMEOUT = 120.0
VALUE_BYTES = 100
BATCH_RECORDS = 100
COMPACTED = "compacted"
LATENCY_TOPIC = "latency"
DAY_MS = "86400000"
CODECS = {name: code for code, name in CODEC_NAMES.items()}


# --- building a compacted log in process --------------------------------------------------------


def fill_compacted(data_dir: Path, records: int, keys: int, codec: int, segment_bytes: int,
                   topic_configs: dict[str, str]) -> None:
    """A data dir holding topic ``compacted`` (1 partition), written and closed as the broker would."""
    now = int(time.time() * 1000)
    logs = LogManager(data_dir, now_ms=now)
    logs.load(log_properties(BrokerConfig(data_dir=data_dir), {}))
    configs = {"cleanup.policy": "compact", "segment.bytes": str(segment_bytes), **topic_configs}
    logs.create_topic(COMPACTED, 1, configs)
    plog = logs.get_log(COMPACTED, 0)
    assert plog is not None
    # Hex values compress about 2:1, closer to real payloads than a repeated byte.
    values = [os.urandom(VALUE_BYTES // 2).hex().encode() for _ in range(997)]
    for start in range(0, records, BATCH_RECORDS):
        batch = build_batch([(b"key-%08d" % (i % keys), values[i % len(values)], [], now)
                             for i in range(start, min(start + BATCH_RECORDS, records))], codec=codec)
        plog.append(batch, read_batch_header(batch), now)
    logs.close()


def log_bytes(partition_dir: Path) -> tuple[int, int]:
    """(bytes, count) of the live ``.log`` files of a partition directory."""
    sizes = []
    for entry in os.scandir(partition_dir):
        if entry.name.endswith(".log"):
            try:
                sizes.append(entry.stat().st_size)
            except FileNotFoundError:
                continue
    return sum(sizes), len(sizes)


@dataclass(frozen=True, slots=True)
class CleanResult:
    codec: str
    records: int
    seconds: float
    bytes_cleaned: int
    before: tuple[int, int]
    after: tuple[int, int]

    def line(self) -> str:
        mb = self.bytes_cleaned / 1e6
        return (f"cleaner throughput [{self.codec:>4}]: {mb / self.seconds:6.1f} MB/s, "
                f"{self.records / self.seconds:9,.0f} records/s  ({self.records:,} records, {mb:.1f} MB "
                f"cleaned in {self.seconds:.2f} s; log {self.before[0] / 1e6:.1f} MB in {self.before[1]} "
                f"segments -> {self.after[0] / 1e6:.2f} MB in {self.after[1]})")


def clean_throughput(tmp: Path, records: int, keys: int, codec: int, segment_bytes: int) -> CleanResult:
    data_dir = tmp / f"throughput-{CODEC_NAMES[codec]}"
    fill_compacted(data_dir, records, keys, codec, segment_bytes, {"min.cleanable.dirty.ratio": "0.01"})
    config = BrokerConfig(data_dir=data_dir)
    logs = LogManager(data_dir, now_ms=int(time.time() * 1000))
    logs.load(log_properties(config, {}))
    partition_dir = data_dir / f"{COMPACTED}-0"
    before = log_bytes(partition_dir)

    async def run() -> float:
        cleaner = LogCleaner(config, logs)
        # The broker's driver with its own single cleaner thread, as LogCleaner.start sets it up,
        # but one pass at a time so the clock covers exactly the cleaning.
        cleaner._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="log-cleaner")
        started = time.perf_counter()
        cleaned = await asyncio.wait_for(cleaner.clean_once(), TIMEOUT)
        elapsed = time.perf_counter() - started
        cleaner._executor.shutdown(wait=True)
        if not cleaned:
            raise RuntimeError("the cleaner found nothing to clean")
        result.append(cleaner)
        return elapsed

    result: list[LogCleaner] = []
    seconds = asyncio.run(run())
    cleaner = result[0]
    end = cleaner.checkpoints[(COMPACTED, 0)]
    time.sleep(0.2)  # the .deleted files are removed off the loop
    after = log_bytes(partition_dir)
    logs.close()
    return CleanResult(CODEC_NAMES[codec], end, seconds, cleaner.bytes_cleaned, before, after)


# --- produce latency against a running broker ---------------------------------------------------


def start_broker(data_dir: Path, log_path: Path, overrides: list[str]) -> tuple[subprocess.Popen[bytes], str]:
    argv = [sys.executable, "-m", "pykafka_broker", "serve", "--host", "127.0.0.1", "--port", "0",
            "--data-dir", str(data_dir)]
    for o in overrides:
        argv += ["--override", o]
    out = open(log_path, "wb")  # noqa: SIM115 - the broker writes it until it exits
    proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    out.close()
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        m = re.search(rb"listening on (127\.0\.0\.1:\d+)", log_path.read_bytes())
        if m:
            return proc, m.group(1).decode()
        if proc.poll() is not None:
            raise RuntimeError(f"broker exited with {proc.returncode}: {log_path.read_text()[-500:]}")
        time.sleep(0.02)
    stop_broker(proc)
    raise TimeoutError("no 'listening on' line from the broker")


def stop_broker(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def _percentile(values: list[float], q: float) -> float:
    return values[max(0, math.ceil(q * len(values)) - 1)]


def latency_line(samples: list[tuple[float, float]], sent: int | None = None) -> str:
    values = sorted(ms for _t, ms in samples)
    if not values:
        return "no records"
    return (f"p50 {_percentile(values, 0.5):6.2f} ms  p99 {_percentile(values, 0.99):6.2f} ms  "
            f"max {values[-1]:7.2f} ms  ({len(values)}{'' if sent is None else f'/{sent}'} delivered)")


def produce_latency(bootstrap: str, rate: int, seconds: float) -> tuple[list[tuple[float, float]], int]:
    """Per-record produce latency (delivery callback - send), acks=1, at a steady rate: the
    (perf_counter send time, latency in ms) of every record delivered, and how many were sent."""
    p = Producer({"bootstrap.servers": bootstrap, "acks": "1", "linger.ms": 0, "enable.idempotence": False})
    p.list_topics(LATENCY_TOPIC, timeout=TIMEOUT)  # metadata before the clock starts
    for _ in range(100):  # warm-up: connection and first requests
        p.produce(LATENCY_TOPIC, b"w" * VALUE_BYTES)
    p.flush(TIMEOUT)
    latencies: list[tuple[float, float]] = []
    errors: list[str] = []

    def on_delivery(sent_ns: int):  # type: ignore[no-untyped-def]
        def done(err, _msg) -> None:  # type: ignore[no-untyped-def]
            if err is not None:
                errors.append(str(err))
            else:
                latencies.append((sent_ns / 1e9, (time.perf_counter_ns() - sent_ns) / 1e6))
        return done

    total = int(rate * seconds)
    value = b"v" * VALUE_BYTES
    started = time.perf_counter()
    for i in range(total):
        target = started + i / rate
        while (remaining := target - time.perf_counter()) > 0:
            p.poll(min(remaining, 0.0005))
        p.produce(LATENCY_TOPIC, value, on_delivery=on_delivery(time.perf_counter_ns()))
        p.poll(0)
    p.flush(TIMEOUT)
    if errors:
        raise RuntimeError(f"{len(errors)} delivery errors, first: {errors[0]}")
    return latencies, total


def cleaner_lines(broker_log: Path) -> list[str]:
    """The broker's "cleaned ..." log lines (one per finished cleaning pass)."""
    return [ln.split(": ", 2)[-1] for ln in broker_log.read_text().splitlines()
            if "log_cleaner" in ln and "cleaned " in ln]


class SizeSampler(threading.Thread):
    """Every 100 ms: the compacted partition's .log bytes and files, and whether the broker has
    logged the end of a cleaning pass (perf_counter times)."""

    def __init__(self, partition_dir: Path, broker_log: Path) -> None:
        super().__init__(daemon=True)
        self.partition_dir = partition_dir
        self.broker_log = broker_log
        self.passes_before = len(cleaner_lines(broker_log))
        self.samples: list[tuple[float, int, int]] = []
        self.pass_done: float | None = None
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            now = time.perf_counter()
            size, files = log_bytes(self.partition_dir)
            self.samples.append((now, size, files))
            if self.pass_done is None and len(cleaner_lines(self.broker_log)) > self.passes_before:
                self.pass_done = now
            self.stopped.wait(0.1)

    def summary(self, window_start: float) -> str:
        first, last = self.samples[0], self.samples[-1]
        changed = [t for (t, s, f), (_, s0, f0) in zip(self.samples[1:], self.samples, strict=False)
                   if (s, f) != (s0, f0)]
        when = (f"files changed from {changed[0] - window_start:.1f} s to {changed[-1] - window_start:.1f} s"
                if changed else "no change during the window")
        return (f"compacted partition .log: {first[1] / 1e6:.1f} MB in {first[2]} files -> "
                f"{last[1] / 1e6:.1f} MB in {last[2]} files; {when}")


def set_config(bootstrap: str, topic: str, name: str, value: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    res = ConfigResource(ConfigResource.Type.TOPIC, topic,
                         incremental_configs=[ConfigEntry(name, value,
                                                          incremental_operation=AlterConfigOpType.SET)])
    for fut in admin.incremental_alter_configs([res]).values():
        fut.result(TIMEOUT)


def create_topic(bootstrap: str, name: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, 1, 1)])[name].result(TIMEOUT)


def latency_run(tmp: Path, args: argparse.Namespace) -> None:
    data_dir = tmp / "broker"
    print(f"pre-filling '{COMPACTED}': {args.latency_records:,} records, {args.keys:,} keys, "
          f"segment.bytes={args.segment_bytes} ...", flush=True)
    fill_compacted(data_dir, args.latency_records, args.keys, 0, args.segment_bytes,
                   {"min.cleanable.dirty.ratio": "0.01", "min.compaction.lag.ms": DAY_MS})
    partition_dir = data_dir / f"{COMPACTED}-0"
    broker_log = tmp / "broker.log"
    proc, bootstrap = start_broker(data_dir, broker_log, ["log.cleaner.backoff.ms=100"])
    try:
        create_topic(bootstrap, LATENCY_TOPIC)
        print(f"\nproduce latency to '{LATENCY_TOPIC}' (acks=1, linger.ms=0, {args.rate} rec/s x "
              f"{args.seconds:.0f} s, {VALUE_BYTES} B values):")
        for phase in ("idle", "cleaning"):
            sampler = SizeSampler(partition_dir, broker_log)
            sampler.start()
            altered = time.perf_counter()
            if phase == "cleaning":  # the cleaner picks it up within log.cleaner.backoff.ms
                set_config(bootstrap, COMPACTED, "min.compaction.lag.ms", "0")
            samples, sent = produce_latency(bootstrap, args.rate, args.seconds)
            sampler.stopped.set()
            sampler.join()
            window_start = samples[0][0]
            print(f"  cleaner {phase:>8}: {latency_line(samples, sent)}")
            print(f"  {'':17} {sampler.summary(window_start)}")
            if phase != "cleaning":
                continue
            lead_ms = (window_start - altered) * 1000
            print(f"  {'':17} min.compaction.lag.ms=0 set {lead_ms:.0f} ms before the "
                  "window (the key map is built first: files change only once groups are installed)")
            if sampler.pass_done is not None:
                during = [x for x in samples if x[0] <= sampler.pass_done]
                print(f"  {'':17} the pass ended {sampler.pass_done - window_start:.1f} s into the window; "
                      f"records sent before then: {latency_line(during)}")
            else:
                print(f"  {'':17} the pass was still running when the window ended")
                deadline = time.monotonic() + TIMEOUT
                while not cleaner_lines(broker_log) and time.monotonic() < deadline:
                    time.sleep(0.2)
        for ln in cleaner_lines(broker_log):
            print("  broker:", ln[:170])
    finally:
        stop_broker(proc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=500_000, help="records for the throughput pass")
    parser.add_argument("--keys", type=int, default=20_000)
    parser.add_argument("--codec", default="lz4", choices=[c for c in CODECS if c != "none"])
    parser.add_argument("--segment-bytes", type=int, default=1 << 20)
    parser.add_argument("--latency-records", type=int, default=None,
                        help="records pre-filled for the latency run (default: 4 x --records, so that "
                             "cleaning fills most of the window)")
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-latency", action="store_true")
    args = parser.parse_args()
    args.latency_records = args.latency_records or 4 * args.records
    with tempfile.TemporaryDirectory(prefix="cleaner-bench-") as name:
        tmp = Path(name)
        if not args.skip_throughput:
            for codec in (0, CODECS[args.codec]):
                print(clean_throughput(tmp, args.records, args.keys, codec, args.segment_bytes).line(),
                      flush=True)
        if not args.skip_latency:
            latency_run(tmp, args)


if __name__ == "__main__":
    main()
