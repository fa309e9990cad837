"""``topics`` and ``configs`` against a real broker; errors are one line on stderr."""

from __future__ import annotations

import re
import subprocess
import time

from cli_helpers import assert_one_line_error, cli_cmd, free_port, run_cli


def test_create_list_describe_delete(broker) -> None:
    b = broker.bootstrap
    r = run_cli(
        "topics",
        "--bootstrap-server",
        b,
        "--create",
        "--topic",
        "alpha",
        "--partitions",
        "2",
        "--replication-factor",
        "1",
        "--config",
        "retention.ms=60000",
        "--config",
        "cleanup.policy=compact",
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout == "Created topic alpha.\n"
    assert run_cli("topics", "--bootstrap-server", b, "--create", "--topic", "beta").returncode == 0
    assert run_cli("topics", "--bootstrap-server", b, "--create", "--topic", "gamma1").returncode == 0

    r = run_cli("topics", "--bootstrap-server", b, "--list")
    assert r.returncode == 0 and r.stdout.splitlines() == ["alpha", "beta", "gamma1"]
    r = run_cli("topics", "--bootstrap-server", b, "--list", "--topic", "a.*|gam.*")
    assert r.stdout.splitlines() == ["alpha", "gamma1"]

    r = run_cli("topics", "--bootstrap-server", b, "--describe", "--topic", "alpha")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 3
    assert re.fullmatch(
        r"Topic: alpha\tTopicId: [A-Za-z0-9_-]{22}\tPartitionCount: 2\tReplicationFactor: 1"
        r"\tConfigs: cleanup.policy=compact,retention.ms=60000",
        lines[0],
    ), lines[0]
    for p in (0, 1):
        assert lines[1 + p] == (
            f"\tTopic: alpha\tPartition: {p}\tLeader: 1\tReplicas: 1\tIsr: 1\tElr: N/A\tLastKnownElr: N/A"
        )
    r = run_cli("topics", "--bootstrap-server", b, "--describe", "--topic", "beta")
    assert r.stdout.splitlines()[0].endswith("\tReplicationFactor: 1\tConfigs: ")

    # regex delete (Kafka matches the whole name)
    r = run_cli("topics", "--bootstrap-server", b, "--delete", "--topic", "gam.*")
    assert r.returncode == 0, r.stderr
    deadline = time.monotonic() + 10
    while "gamma1" in run_cli("topics", "--bootstrap-server", b, "--list").stdout:
        assert time.monotonic() < deadline
    r = run_cli("topics", "--bootstrap-server", b, "--list")
    assert r.stdout.splitlines() == ["alpha", "beta"]


def test_create_errors_and_if_not_exists(broker) -> None:
    b = broker.bootstrap
    assert run_cli("topics", "--bootstrap-server", b, "--create", "--topic", "t").returncode == 0
    line = assert_one_line_error(run_cli("topics", "--bootstrap-server", b, "--create", "--topic", "t"))
    assert "already exists" in line
    r = run_cli("topics", "--bootstrap-server", b, "--create", "--topic", "t", "--if-not-exists")
    assert r.returncode == 0 and r.stdout == "" and r.stderr == ""
    line = assert_one_line_error(
        run_cli("topics", "--bootstrap-server", b, "--create", "--topic", "t3", "--replication-factor", "3")
    )
    assert "InvalidReplicationFactor" in line
    line = assert_one_line_error(
        run_cli(
            "topics", "--bootstrap-server", b, "--create", "--topic", "t4", "--config", "no.such.config=1"
        )
    )
    assert "no.such.config" in line
    line = assert_one_line_error(
        run_cli("topics", "--bootstrap-server", b, "--describe", "--topic", "missing")
    )
    assert line == "Error: Topic 'missing' does not exist as expected"
    r = run_cli("topics", "--bootstrap-server", b, "--delete", "--topic", "missing", "--if-exists")
    assert r.returncode == 0
    # bad flag combinations are usage errors (exit 2), not tracebacks
    r = run_cli("topics", "--bootstrap-server", b, "--list", "--replication-factor", "1")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    r = run_cli("topics", "--bootstrap-server", b)
    assert r.returncode == 2 and "exactly one action" in r.stderr


def test_alter_partitions_grows_and_refuses_to_shrink(broker) -> None:
    b = broker.bootstrap
    assert run_cli("topics", "--bootstrap-server", b, "--create", "--topic", "grow").returncode == 0
    r = run_cli("topics", "--bootstrap-server", b, "--alter", "--topic", "grow", "--partitions", "3")
    assert r.returncode == 0, r.stderr
    out = run_cli("topics", "--bootstrap-server", b, "--describe", "--topic", "grow").stdout
    assert "PartitionCount: 3" in out
    r = run_cli("topics", "--bootstrap-server", b, "--alter", "--topic", "grow", "--partitions", "2")
    assert "currently has 3 partition(s); 2 would not be an increase" in assert_one_line_error(r)


def test_unreachable_broker_fails_fast() -> None:
    """Every client command gives up within seconds with one line; run side by side to save time."""
    port = free_port()
    commands = [
        ["topics", "--list"],
        ["configs", "--describe", "--topic", "x"],
        ["console-consumer", "--topic", "x"],
        ["consumer-groups", "--list"],
        ["console-producer", "--topic", "x"],
        ["consumer-perf-test", "--topic", "x", "--messages", "1"],
    ]
    start = time.monotonic()
    procs = [
        subprocess.Popen(
            cli_cmd(*args, "--bootstrap-server", f"127.0.0.1:{port}"),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for args in commands
    ]
    for args, proc in zip(commands, procs, strict=True):
        out, err = proc.communicate("a\n", timeout=20)
        done = subprocess.CompletedProcess(args, proc.returncode, out, err)
        assert "Unable to bootstrap" in assert_one_line_error(done), args
    assert time.monotonic() - start < 15


def test_configs_describe_and_alter(broker) -> None:
    b = broker.bootstrap
    assert (
        run_cli(
            "topics", "--bootstrap-server", b, "--create", "--topic", "cfg", "--config", "retention.ms=1234"
        ).returncode
        == 0
    )
    r = run_cli(
        "configs", "--bootstrap-server", b, "--describe", "--entity-type", "topics", "--entity-name", "cfg"
    )
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "Dynamic configs for topic cfg are:"
    assert lines[1].startswith(
        "  retention.ms=1234 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:retention.ms=1234"
    )
    r2 = run_cli("configs", "--bootstrap-server", b, "--describe", "--topic", "cfg")
    assert r2.stdout == r.stdout
    r = run_cli("configs", "--bootstrap-server", b, "--describe", "--topic", "cfg", "--all")
    assert r.stdout.startswith("All configs for topic cfg are:\n") and "  segment.bytes=" in r.stdout
    r = run_cli(
        "configs", "--bootstrap-server", b, "--describe", "--entity-type", "brokers", "--entity-name", "1"
    )
    assert r.returncode == 0 and r.stdout.startswith("Dynamic configs for broker 1 are:")
    assert "does not exist" in assert_one_line_error(
        run_cli("configs", "--bootstrap-server", b, "--describe", "--topic", "nope")
    )
    r = run_cli(
        "configs", "--bootstrap-server", b, "--alter", "--topic", "cfg", "--add-config", "retention.ms=999"
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout == "Completed updating config for topic cfg.\n"
    r = run_cli("configs", "--bootstrap-server", b, "--describe", "--topic", "cfg")
    assert r.stdout.splitlines()[1].startswith("  retention.ms=999 sensitive=false")
    line = assert_one_line_error(
        run_cli("configs", "--bootstrap-server", b, "--alter", "--topic", "cfg", "--delete-config", "not.set")
    )
    assert "Invalid config(s): not.set" in line
