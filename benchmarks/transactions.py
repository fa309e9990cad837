"""Transaction benchmarks against pykafka-broker (measured, not asserted).

    python benchmarks/transactions.py [--seconds 5] [--consume-records 200000]

Starts the broker on 127.0.0.1 with a fresh data dir and measures, with confluent-kafka:

- transactions/s: one transactional producer running small transactions back to back — begin, 10
  records of 100 bytes over 2 partitions, commit — for ``--seconds``;
- read_committed vs read_uncommitted consume throughput on the same data: a topic filled by
  transactions of 100 records (every 10th aborted) until it holds ``--consume-records`` records,
  then read end to end once per isolation level (a fresh consumer each; the order alternates over
  three rounds and the median is reported). read_committed skips the aborted records client-side
  using the aborted-transaction list of each Fetch answer.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from brokers import free_port, launch_pykafka, wait_for_api_versions
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

TIMEOUT = 60.0
VALUE = b"x" * 100


def create_topic(bootstrap: str, name: str, partitions: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, partitions, 1)])[name].result(TIMEOUT)


def transactions_per_second(bootstrap: str, seconds: float) -> tuple[float, int]:
    create_topic(bootstrap, "txn-small", 2)
    p = Producer({"bootstrap.servers": bootstrap, "transactional.id": "bench-small", "linger.ms": 0})
    p.init_transactions(TIMEOUT)
    n = 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        p.begin_transaction()
        for i in range(10):
            p.produce("txn-small", VALUE, partition=i % 2)
        p.commit_transaction(TIMEOUT)
        n += 1
    return n / (time.perf_counter() - started), n


def fill(bootstrap: str, records: int) -> int:
    """Transactions of 100 records over 4 partitions, every 10th aborted; the records kept."""
    create_topic(bootstrap, "txn-read", 4)
    p = Producer({"bootstrap.servers": bootstrap, "transactional.id": "bench-fill", "linger.ms": 5})
    p.init_transactions(TIMEOUT)
    written = committed = 0
    txn = 0
    while written < records:
        p.begin_transaction()
        for i in range(100):
            p.produce("txn-read", VALUE, partition=i % 4)
        written += 100
        txn += 1
        if txn % 10 == 0:
            p.flush(TIMEOUT)
            p.abort_transaction(TIMEOUT)
        else:
            p.commit_transaction(TIMEOUT)
            committed += 100
    return committed


def consume_rate(bootstrap: str, isolation: str, expected: int) -> float:
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-{isolation}-{time.monotonic_ns()}",
            "isolation.level": isolation,
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    c.assign([TopicPartition("txn-read", p, 0) for p in range(4)])
    n = 0
    eof: set[int] = set()
    started = time.perf_counter()
    deadline = started + TIMEOUT
    while len(eof) < 4 and time.perf_counter() < deadline:
        for m in c.consume(num_messages=10000, timeout=0.5):
            if m.error():
                eof.add(m.partition() or 0)
            else:
                n += 1
    elapsed = time.perf_counter() - started
    c.close()
    if n < expected:
        raise RuntimeError(f"{isolation}: read {n} of {expected} records")
    return n / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--consume-records", type=int, default=200_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        spec = launch_pykafka(port, Path(tmp) / "data")
        started = time.monotonic()
        proc = subprocess.Popen(spec.argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for_api_versions(proc, port, started, TIMEOUT)
            bootstrap = f"127.0.0.1:{port}"
            rate, n = transactions_per_second(bootstrap, args.seconds)
            print(
                f"small transactions (10 x 100 B over 2 partitions, commit each): {rate:.0f} txn/s "
                f"({n} in {args.seconds:.0f} s, {rate * 10:.0f} records/s)",
                flush=True,
            )
            committed = fill(bootstrap, args.consume_records)
            rates: dict[str, list[float]] = {"read_committed": [], "read_uncommitted": []}
            for round_ in range(3):
                order = ["read_committed", "read_uncommitted"]
                for isolation in order if round_ % 2 == 0 else order[::-1]:
                    expected = committed if isolation == "read_committed" else args.consume_records
                    rates[isolation].append(consume_rate(bootstrap, isolation, expected))
            for isolation, values in rates.items():
                print(
                    f"consume {isolation}: median {statistics.median(values):,.0f} records/s "
                    f"(runs {', '.join(f'{v:,.0f}' for v in values)})",
                    flush=True,
                )
        finally:
            proc.terminate()
            proc.wait(TIMEOUT)


if __name__ == "__main__":
    main()
