"""console-producer / console-consumer / perf tools / dump-log end to end, as subprocesses with pipes."""

from __future__ import annotations

import os
import re
import signal
import subprocess

from cli_helpers import assert_one_line_error, cli_cmd, run_cli


def _produce(b: str, topic: str, text: str, *extra: str) -> None:
    r = run_cli("console-producer", "--bootstrap-server", b, "--topic", topic, *extra, stdin=text)
    assert r.returncode == 0 and r.stdout == "", r.stderr  # no ">" prompt when stdin is a pipe


def test_walkthrough(broker) -> None:
    b = broker.bootstrap
    r = run_cli(
        "topics",
        "--bootstrap-server",
        b,
        "--create",
        "--topic",
        "helloworld",
        "--partitions",
        "1",
        "--replication-factor",
        "1",
    )
    assert r.returncode == 0, r.stderr
    _produce(b, "helloworld", "hello\nworld\n")
    r = run_cli(
        "console-consumer",
        "--bootstrap-server",
        b,
        "--topic",
        "helloworld",
        "--from-beginning",
        "--max-messages",
        "2",
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout == "hello\nworld\n"
    assert r.stderr == "Processed a total of 2 messages\n"


def test_keys_headers_and_print_properties(broker) -> None:
    b = broker.bootstrap
    _produce(
        b,
        "kh",
        "h1:v1,h2:v2\tk1\tone\nh3:x\tk2\ttwo\n",
        "--property",
        "parse.key=true",
        "--property",
        "parse.headers=true",
        "--producer-property",
        "acks=all",
        "--compression-codec",
        "gzip",
        "--request-required-acks",
        "1",
    )
    r = run_cli(
        "console-consumer",
        "--bootstrap-server",
        b,
        "--topic",
        "kh",
        "--from-beginning",
        "--max-messages",
        "2",
        "--property",
        "print.key=true",
        "--property",
        "print.offset=true",
        "--property",
        "print.partition=true",
        "--property",
        "print.headers=true",
        "--property",
        "print.timestamp=true",
    )
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert re.fullmatch(r"CreateTime:\d{13}\tPartition:0\tOffset:0\th1:v1,h2:v2\tk1\tone", lines[0]), lines
    assert re.fullmatch(r"CreateTime:\d{13}\tPartition:0\tOffset:1\th3:x\tk2\ttwo", lines[1]), lines
    r = run_cli(
        "console-consumer",
        "--bootstrap-server",
        b,
        "--topic",
        "kh",
        "--from-beginning",
        "--max-messages",
        "1",
        "--property",
        "print.key=true",
        "--property",
        "key.separator=|",
        "--property",
        "print.headers=true",
    )
    assert r.stdout == "h1:v1,h2:v2|k1|one\n"
    # a line without the key separator is Kafka's reader error: one line, non-zero exit
    line = assert_one_line_error(
        run_cli(
            "console-producer",
            "--bootstrap-server",
            b,
            "--topic",
            "kh",
            "--property",
            "parse.key=true",
            stdin="no-separator\n",
        )
    )
    assert "No key separator found on line number 1: 'no-separator'" in line


def test_partition_offset_and_timeout(broker) -> None:
    b = broker.bootstrap
    assert (
        run_cli(
            "topics", "--bootstrap-server", b, "--create", "--topic", "nums", "--partitions", "1"
        ).returncode
        == 0
    )
    _produce(b, "nums", "".join(f"{i}\n" for i in range(1, 11)))
    r = run_cli(
        "console-consumer",
        "--bootstrap-server",
        b,
        "--topic",
        "nums",
        "--partition",
        "0",
        "--offset",
        "7",
        "--timeout-ms",
        "1500",
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout == "8\n9\n10\n"
    assert r.stderr.splitlines()[-1] == "Processed a total of 3 messages"
    r = run_cli(
        "console-consumer",
        "--bootstrap-server",
        b,
        "--topic",
        "nums",
        "--partition",
        "0",
        "--offset",
        "earliest",
        "--max-messages",
        "2",
    )
    assert r.stdout == "1\n2\n"
    r = run_cli("console-consumer", "--bootstrap-server", b, "--topic", "nums", "--offset", "3")
    assert r.returncode == 2 and "partition is required" in r.stderr
    r = run_cli(
        "console-consumer", "--bootstrap-server", b, "--topic", "nums", "--partition", "0", "--offset", "-5"
    )
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_pipe_of_many_lines_and_sigint(broker) -> None:
    b = broker.bootstrap
    _produce(b, "seq", "".join(f"{i}\n" for i in range(1, 1001)))
    proc = subprocess.Popen(
        cli_cmd("console-consumer", "--bootstrap-server", b, "--topic", "seq", "--from-beginning"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        bufsize=0,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"1\n"  # wait on output, not on a sleep (unbuffered: reads no more)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    total = 1 + len(out.splitlines())
    assert err.decode().strip().splitlines() == [f"Processed a total of {total} messages"]
    assert total <= 1000


def test_perf_tools(broker) -> None:
    b = broker.bootstrap
    r = run_cli(
        "producer-perf-test",
        "--topic",
        "perf",
        "--num-records",
        "2000",
        "--record-size",
        "100",
        "--throughput",
        "-1",
        "--producer-props",
        f"bootstrap.servers={b}",
        "acks=1",
    )
    assert r.returncode == 0, r.stderr
    last = r.stdout.splitlines()[-1]
    assert re.fullmatch(
        r"2000 records sent, [\d.]+ records/sec \([\d.]+ MB/sec\), [\d.]+ ms avg latency, "
        r"[\d.]+ ms max latency, \d+ ms 50th, \d+ ms 95th, \d+ ms 99th, \d+ ms 99\.9th\.",
        last,
    ), last
    r = run_cli(
        "consumer-perf-test",
        "--bootstrap-server",
        b,
        "--topic",
        "perf",
        "--messages",
        "2000",
        "--timeout",
        "5000",
    )
    assert r.returncode == 0, r.stderr
    header, result = r.stdout.splitlines()
    assert header == (
        "start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, "
        "rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec"
    )
    fields = result.split(", ")
    assert len(fields) == 10 and fields[4] == "2000" and fields[2] == f"{200000 / 1024 / 1024:.4f}"


def test_dump_log(broker) -> None:
    b = broker.bootstrap
    _produce(b, "dump", "k1\tv1\nk2\tv2\nk3\tv3\n", "--property", "parse.key=true")
    assert broker.stop() == 0  # a clean shutdown writes the indexes too
    seg = broker.data_dir / "dump-0" / "00000000000000000000"
    r = run_cli("dump-log", "--files", f"{seg}.log", "--print-data-log")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[:2] == [f"Dumping {seg}.log", "Log starting offset: 0"]
    assert re.fullmatch(
        r"baseOffset: 0 lastOffset: 2 count: 3 baseSequence: 0 lastSequence: 2 producerId: \d+ "
        r"producerEpoch: 0 partitionLeaderEpoch: 0 isTransactional: false isControl: false "
        r"deleteHorizonMs: OptionalLong.empty position: 0 CreateTime: \d+ size: \d+ magic: 2 "
        r"compresscodec: none crc: \d+ isvalid: true",
        lines[2],
    ), lines[2]
    for i in range(3):
        assert re.fullmatch(
            rf"\| offset: {i} CreateTime: \d+ keySize: 2 valueSize: 2 sequence: {i} "
            rf"headerKeys: \[\] key: k{i + 1} payload: v{i + 1}",
            lines[3 + i],
        ), lines[3 + i]
    extra = [p for p in (f"{seg}.index", f"{seg}.timeindex") if os.path.exists(p)]
    if extra:
        r = run_cli("dump-log", "--files", ",".join(extra))
        assert r.returncode == 0, r.stderr
        for line in r.stdout.splitlines():
            assert re.fullmatch(
                r"Dumping .*|.* is empty\.|offset: \d+ position: \d+|timestamp: \d+ offset: \d+", line
            ), line
    assert "does not exist" in assert_one_line_error(run_cli("dump-log", "--files", "/nonexistent/0.log"))


def test_index_files_format(tmp_path) -> None:
    import struct

    idx = tmp_path / "00000000000000000100.index"
    idx.write_bytes(struct.pack(">ii", 3, 0) + struct.pack(">ii", 40, 4096))
    tix = tmp_path / "00000000000000000100.timeindex"
    tix.write_bytes(struct.pack(">qi", 1700000000000, 3) + struct.pack(">qi", 1700000000500, 40))
    r = run_cli("dump-log", "--files", f"{idx},{tix}")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        f"Dumping {idx}",
        "offset: 103 position: 0",
        "offset: 140 position: 4096",
        f"Dumping {tix}",
        "timestamp: 1700000000000 offset: 103",
        "timestamp: 1700000000500 offset: 140",
    ]


def _groups_served(bootstrap: str) -> bool:
    from kafka import KafkaAdminClient
    from kafka.errors import IncompatibleBrokerVersion
    from kafka.protocol.metadata import FindCoordinatorRequest  # type: ignore[attr-defined]

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    try:
        admin._manager.broker_version_data.api_version(FindCoordinatorRequest)  # noqa: SLF001
        return True
    except IncompatibleBrokerVersion:
        return False
    finally:
        admin.close()


def test_consumer_groups(broker) -> None:
    b = broker.bootstrap
    assert _groups_served(b)
    _produce(b, "cg", "a\nb\nc\n")
    r = run_cli(
        "console-consumer",
        "--bootstrap-server",
        b,
        "--topic",
        "cg",
        "--group",
        "g1",
        "--from-beginning",
        "--max-messages",
        "3",
        timeout=60,
    )
    assert r.returncode == 0 and r.stdout == "a\nb\nc\n", r.stderr
    r = run_cli("consumer-groups", "--bootstrap-server", b, "--list")
    assert "g1" in r.stdout.splitlines()
    r = run_cli("consumer-groups", "--bootstrap-server", b, "--describe", "--group", "g1")
    assert r.returncode == 0, r.stderr
    rows = [line.split() for line in r.stdout.splitlines() if line.strip()]
    assert rows[0] == [
        "GROUP",
        "TOPIC",
        "PARTITION",
        "CURRENT-OFFSET",
        "LOG-END-OFFSET",
        "LAG",
        "CONSUMER-ID",
        "HOST",
        "CLIENT-ID",
    ]
    assert rows[1][:6] == ["g1", "cg", "0", "3", "3", "0"]
    r = run_cli(
        "consumer-groups",
        "--bootstrap-server",
        b,
        "--reset-offsets",
        "--group",
        "g1",
        "--topic",
        "cg",
        "--to-earliest",
        "--execute",
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[-4:] == ["g1", "cg", "0", "0"]
    r = run_cli("consumer-groups", "--bootstrap-server", b, "--delete", "--group", "g1")
    assert r.returncode == 0 and "was successful" in r.stdout
