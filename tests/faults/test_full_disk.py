"""A real full disk: a 1 MiB tmpfs (we mount it; skipped with the reason when mounting is not
permitted). Writes fail with ENOSPC or come back short; the log truncates the partial batch away,
answers KAFKA_STORAGE_ERROR, stays online, and takes appends again once space is freed. Every
acknowledged record is readable before and after a restart, through a real client end to end."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fault_helpers import append, batch, consume_all, open_log, read_all, values

from pykafka_broker.protocol.errors import ErrorCode, KafkaError

FILLER_BYTES = 128 * 1024
MAX_SENDS = 3000  # 1 KiB records: a 1 MiB disk fills long before


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a 1 MiB tmpfs here: {done.stderr.strip() or done.returncode}")
    try:
        (mnt / "filler").write_bytes(b"\0" * FILLER_BYTES)  # freed later to make room again
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_full_disk_refuses_the_batch_keeps_the_log_and_every_ack(small_disk: Path) -> None:
    plog = open_log(small_disk / "t-0")
    acked: list[bytes] = []
    for i in range(MAX_SENDS):
        data = batch(i, count=2, size=500)
        try:
            append(plog, data)
        except KafkaError as exc:
            assert exc.code == ErrorCode.KAFKA_STORAGE_ERROR
            break
        acked.append(bytes(data))
    else:
        pytest.fail("the 1 MiB disk never filled")
    assert plog.offline is None
    assert plog.active.log_path.stat().st_size == plog.active.size  # no partial batch left behind
    (small_disk / "filler").unlink()
    more = batch(-1, count=2, size=500)
    append(plog, more)  # space again: the same log takes appends
    acked.append(bytes(more))
    assert values(read_all(plog)) == values(acked)
    plog.close()
    reopened = open_log(small_disk / "t-0", recovery_point=None)
    assert values(read_all(reopened)) == values(acked)
    reopened.close()


def _produce_until_full(bootstrap: str, topic: str) -> tuple[list[bytes], Exception]:
    from kafka import KafkaProducer
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks=1, retries=0, linger_ms=0,
                             max_block_ms=10000, request_timeout_ms=10000)
    acked: list[bytes] = []
    try:
        for i in range(MAX_SENDS):
            value = b"%06d-" % i + b"x" * 1024
            try:
                producer.send(topic, value, partition=0).get(timeout=10)
            except Exception as exc:  # the broker's answer for a full disk
                return acked, exc
            acked.append(value)
    finally:
        producer.close()
    pytest.fail("the 1 MiB disk never filled")


def test_real_client_into_a_full_data_dir(small_disk: Path, broker_factory: Any) -> None:
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import KafkaStorageError
    data_dir = small_disk / "data"
    broker = broker_factory(data_dir=data_dir)
    topic = f"full-{uuid.uuid4().hex[:6]}"
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        admin.create_topics([NewTopic(topic, 1, 1)])
    finally:
        admin.close()
    acked, error = _produce_until_full(broker.bootstrap, topic)
    assert isinstance(error, KafkaStorageError), repr(error)
    assert len(acked) > 100
    assert consume_all(broker.bootstrap, topic, len(acked)) == acked  # the same broker keeps serving
    (small_disk / "filler").unlink()
    from kafka import KafkaProducer
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks=1, retries=0)
    try:
        producer.send(topic, b"after-space-freed", partition=0).get(timeout=10)
    finally:
        producer.close()
    late = acked + [b"after-space-freed"]
    assert broker.stop() == 0
    again = broker_factory(data_dir=data_dir)
    assert consume_all(again.bootstrap, topic, len(late)) == late
    assert again.stop() == 0
