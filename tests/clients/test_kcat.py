"""kcat (the librdkafka CLI, as packaged by the OS) end to end: produce with keys and headers, consume, -L."""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

KCAT = shutil.which("kcat")
pytestmark = pytest.mark.skipif(KCAT is None,
                                reason="kcat not installed (apt-get install kcat; .ci/run does)")
TIMEOUT = 30.0


def kcat(*args: str, stdin: str | None = None) -> str:
    assert KCAT is not None
    proc = subprocess.run([KCAT, *args], input=stdin, capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 0, f"kcat {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}"
    return proc.stdout


def create_topic(bootstrap: str, name: str, partitions: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, partitions, 1)])[name].result(TIMEOUT)


def test_produce_consume_with_keys_and_headers(broker: Any) -> None:
    create_topic(broker.bootstrap, "kcat-rt", 1)
    lines = [f"key-{i % 7}:value {i} with spaces" for i in range(200)]
    kcat("-P", "-b", broker.bootstrap, "-t", "kcat-rt", "-K:", "-H", "origin=kcat", "-H", "n=1",
         "-X", "enable.idempotence=true", "-X", "acks=all", stdin="\n".join(lines) + "\n")
    out = kcat("-C", "-b", broker.bootstrap, "-t", "kcat-rt", "-o", "beginning", "-e", "-q",
               "-f", "%k|%s|%h\n")
    want = [line.replace(":", "|", 1) + "|origin=kcat,n=1" for line in lines]
    assert out.splitlines() == want


def test_metadata_lists_topic(broker: Any) -> None:
    create_topic(broker.bootstrap, "kcat-meta", 3)
    out = kcat("-L", "-b", broker.bootstrap, "-t", "kcat-meta")
    assert '1 brokers:' in out
    assert 'topic "kcat-meta" with 3 partitions:' in out
    for p in range(3):
        assert f"partition {p}, leader 1, replicas: 1, isrs: 1" in out
    assert "kcat-meta" in kcat("-L", "-b", broker.bootstrap)


def test_balanced_consumer_group_resumes_where_it_left_off(broker: Any) -> None:
    """``-G``: a balanced consumer in a group; a second run of the group reads only what is new."""
    create_topic(broker.bootstrap, "kcat-group", 3)
    kcat("-P", "-b", broker.bootstrap, "-t", "kcat-group", stdin="".join(f"first {i}\n" for i in range(30)))
    # No -o: in -G mode it would override the committed offsets; the group starts from the earliest.
    group = ["-b", broker.bootstrap, "-G", "kcat-readers", "-e", "-q", "-f", "%s\n",
             "-X", "auto.offset.reset=earliest", "-X", "session.timeout.ms=6000",
             "-X", "heartbeat.interval.ms=500"]
    out = kcat(*group, "kcat-group")
    assert sorted(out.splitlines()) == sorted(f"first {i}" for i in range(30))
    kcat("-P", "-b", broker.bootstrap, "-t", "kcat-group", stdin="".join(f"second {i}\n" for i in range(9)))
    out = kcat(*group, "kcat-group")
    assert sorted(out.splitlines()) == sorted(f"second {i}" for i in range(9))
