from __future__ import annotations

import os
from pathlib import Path

import pytest
from storage_helpers import append, make_batch, open_log

from pykafka_broker.protocol.errors import ErrorCode, KafkaError
from pykafka_broker.protocol.records import read_batch_header
from pykafka_broker.storage.log import LogConfig

PID = 1000


def idem(seq: int, count: int = 2, epoch: int = 0, pid: int = PID) -> bytearray:
    return make_batch(count, producer_id=pid, epoch=epoch, seq=seq)


def test_duplicate_returns_original_offsets_and_writes_nothing(tmp_path: Path) -> None:
    plog = open_log(tmp_path / "t-0")
    append(plog, make_batch(1))
    first = append(plog, idem(0))
    append(plog, idem(2))
    size = plog.size_bytes()
    dup = append(plog, idem(0))
    assert dup.duplicate
    assert (dup.base_offset, dup.last_offset) == (first.base_offset, first.last_offset) == (1, 2)
    assert plog.size_bytes() == size and plog.log_end_offset == 5


def test_only_last_five_batches_are_remembered(tmp_path: Path) -> None:
    plog = open_log(tmp_path / "t-0")
    for i in range(6):
        append(plog, idem(2 * i))
    assert append(plog, idem(2)).duplicate  # batch 1 is among the last five
    with pytest.raises(KafkaError) as exc:
        append(plog, idem(0))  # batch 0 is not: it looks out of order
    assert exc.value.code == ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER


def test_out_of_order_sequence(tmp_path: Path) -> None:
    plog = open_log(tmp_path / "t-0")
    append(plog, idem(5))  # unknown producer: any first sequence
    with pytest.raises(KafkaError) as exc:
        append(plog, idem(8))
    assert exc.value.code == ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER
    assert plog.log_end_offset == 2
    assert append(plog, idem(7)).base_offset == 2


def test_sequence_wraps(tmp_path: Path) -> None:
    plog = open_log(tmp_path / "t-0")
    append(plog, idem(0x7FFFFFFE, count=2))
    assert not append(plog, idem(0)).duplicate


def test_epochs(tmp_path: Path) -> None:
    plog = open_log(tmp_path / "t-0")
    append(plog, idem(0, epoch=3))
    with pytest.raises(KafkaError) as exc:
        append(plog, idem(2, epoch=2))
    assert exc.value.code == ErrorCode.INVALID_PRODUCER_EPOCH
    with pytest.raises(KafkaError) as exc:
        append(plog, idem(2, epoch=4))  # a new epoch must start at 0
    assert exc.value.code == ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER
    append(plog, idem(0, epoch=4))
    with pytest.raises(KafkaError):
        append(plog, idem(2, epoch=3))
    assert plog.log_end_offset == 4


def test_non_idempotent_batches_skip_checks(tmp_path: Path) -> None:
    plog = open_log(tmp_path / "t-0")
    b = make_batch(2)
    append(plog, b)
    assert not append(plog, make_batch(2)).duplicate


@pytest.mark.parametrize("clean", [True, False])
def test_state_survives_reopen(tmp_path: Path, clean: bool) -> None:
    path = tmp_path / "t-0"
    size = read_batch_header(idem(0)).size
    config = LogConfig(segment_bytes=size * 3)
    plog = open_log(path, config)
    for i in range(8):
        append(plog, idem(2 * i))
    append(plog, idem(0, pid=7))
    assert len(plog.segments) == 3
    if clean:
        plog.close()
        rp: int | None = plog.log_end_offset
    else:
        plog.active.release()  # kill -9
        rp = None
    snapshots = sorted(n for n in os.listdir(path) if n.endswith(".snapshot"))
    assert len(snapshots) == 2
    again = open_log(path, config, recovery_point=rp)
    dup = again.append(idem(14), read_batch_header(idem(14)), 0)
    assert dup.duplicate and dup.base_offset == 14
    with pytest.raises(KafkaError):
        append(again, idem(20))
    assert append(again, idem(16)).base_offset == 18
    assert append(again, idem(2, pid=7)).base_offset == 20


def test_state_rebuilt_when_snapshot_is_corrupt_or_ahead(tmp_path: Path) -> None:
    path = tmp_path / "t-0"
    plog = open_log(path)
    for i in range(3):
        append(plog, idem(2 * i))
    plog.close()
    snap = path / f"{6:020d}.snapshot"
    snap.write_bytes(snap.read_bytes()[:-1] + b"\x00")
    (path / f"{99:020d}.snapshot").write_bytes(b"junk")  # beyond the log end: deleted
    again = open_log(path, recovery_point=6)
    assert append(again, idem(4)).duplicate
    assert sorted(os.listdir(path)).count(f"{99:020d}.snapshot") == 0
