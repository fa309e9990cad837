"""Consumer-group benchmarks against pykafka-broker (measured, not asserted).

    python benchmarks/groups.py [--runs 5] [--members 10] [--commit-seconds 3]

Starts the broker on 127.0.0.1 with a fresh data dir and measures, with confluent-kafka:

- subscribe() -> first record: a consumer with client defaults (only bootstrap.servers, group.id and
  auto.offset.reset=earliest set), a fresh group each run, records already in the topic;
- a group of N members (consumers in threads, client defaults) becoming stable: from the last
  member's subscribe() until every member has its partitions (on_assign), with
  group.initial.rebalance.delay.ms at the broker default (0);
- OffsetCommit throughput: synchronous commits of one partition's offset from one group member.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from brokers import free_port, launch_pykafka, wait_for_api_versions
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

TIMEOUT = 60.0


def create_topic(bootstrap: str, name: str, partitions: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, partitions, 1)])[name].result(TIMEOUT)


def time_to_first_record(bootstrap: str, runs: int) -> list[float]:
    create_topic(bootstrap, "first-record", 3)
    producer = Producer({"bootstrap.servers": bootstrap})
    for i in range(30):
        producer.produce("first-record", value=b"%d" % i, partition=i % 3)
    producer.flush(TIMEOUT)
    times = []
    for run in range(runs):
        c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"first-{run}",
                      "auto.offset.reset": "earliest"})
        started = time.perf_counter()
        c.subscribe(["first-record"])
        deadline = started + TIMEOUT
        while time.perf_counter() < deadline:
            msg = c.poll(0.01)
            if msg is not None and msg.error() is None:
                times.append((time.perf_counter() - started) * 1000)
                break
        c.close()
    return times


def time_to_stable_group(bootstrap: str, members: int) -> float:
    create_topic(bootstrap, "big-group", members)
    assigned: dict[int, float] = {}
    subscribed: list[float] = []
    ready = threading.Barrier(members)
    stop = threading.Event()
    lock = threading.Lock()

    def member(i: int) -> None:
        c = Consumer({"bootstrap.servers": bootstrap, "group.id": "big-group"})

        def on_assign(_c: Consumer, parts: list[TopicPartition]) -> None:
            with lock:
                if parts:
                    assigned[i] = time.perf_counter()
                else:
                    assigned.pop(i, None)

        def on_revoke(_c: Consumer, _parts: list[TopicPartition]) -> None:
            with lock:
                assigned.pop(i, None)
        ready.wait()
        with lock:
            subscribed.append(time.perf_counter())
        c.subscribe(["big-group"], on_assign=on_assign, on_revoke=on_revoke)
        while not stop.is_set():
            c.poll(0.05)
        c.close()

    threads = [threading.Thread(target=member, args=(i,), daemon=True) for i in range(members)]
    for t in threads:
        t.start()
    deadline = time.perf_counter() + TIMEOUT
    while time.perf_counter() < deadline:
        with lock:
            if len(assigned) == members:
                took = (max(assigned.values()) - max(subscribed)) * 1000
                break
        time.sleep(0.005)
    else:
        took = float("nan")
    stop.set()
    for t in threads:
        t.join(TIMEOUT)
    return took


def commits_per_second(bootstrap: str, seconds: float) -> float:
    create_topic(bootstrap, "commits", 1)
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "committer", "enable.auto.commit": False})
    assigned = threading.Event()
    c.subscribe(["commits"], on_assign=lambda _c, parts: assigned.set())
    deadline = time.perf_counter() + TIMEOUT
    while not assigned.is_set() and time.perf_counter() < deadline:
        c.poll(0.05)
    n = 0
    started = time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        n += 1
        c.commit(offsets=[TopicPartition("commits", 0, n)], asynchronous=False)
    c.close()
    return n / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--members", type=int, default=10)
    parser.add_argument("--commit-seconds", type=float, default=3.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        spec = launch_pykafka(port, Path(tmp) / "data")
        started = time.monotonic()
        proc = subprocess.Popen(spec.argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for_api_versions(proc, port, started, TIMEOUT)
            bootstrap = f"127.0.0.1:{port}"
            firsts = time_to_first_record(bootstrap, args.runs)
            print(f"subscribe() -> first record (confluent-kafka defaults), ms: median "
                  f"{statistics.median(firsts):.0f}, runs {', '.join(f'{t:.0f}' for t in firsts)}",
                  flush=True)
            stable = time_to_stable_group(bootstrap, args.members)
            print(f"{args.members}-member group stable after the last subscribe(), ms: {stable:.0f}",
                  flush=True)
            rate = commits_per_second(bootstrap, args.commit_seconds)
            print(f"synchronous OffsetCommit from one client: {rate:.0f} requests/s", flush=True)
        finally:
            proc.terminate()
            proc.wait(TIMEOUT)


if __name__ == "__main__":
    main()
