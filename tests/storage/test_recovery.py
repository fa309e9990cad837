from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from storage_helpers import NOW, append, batches_of, make_batch, open_log

from pykafka_broker.protocol.records import read_batch_header
from pykafka_broker.storage.log import LogConfig, PartitionLog
from pykafka_broker.storage.segment import LogSegment

BATCH_SIZE = read_batch_header(make_batch(3, value=b"x" * 100)).size


def build(path: Path, batches: int, config: LogConfig | None = None, crash: bool = True) -> PartitionLog:
    plog = open_log(path, config)
    for i in range(batches):
        append(plog, make_batch(3, ts=NOW + i, value=b"x" * 100))
    if crash:  # simulate kill -9: the OS has the data, nothing else happens
        plog.active.persist_indexes(final_time_entry=False)
        plog.active.release()
    else:
        plog.close()
    return plog


def seg(path: Path, base: int, suffix: str = ".log") -> Path:
    return path / f"{base:020d}{suffix}"


def test_clean_restart_keeps_everything(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "t-0"
    build(path, 12, LogConfig(segment_bytes=BATCH_SIZE * 5, index_interval_bytes=200), crash=False)
    monkeypatch.setattr(LogSegment, "recover", lambda *a: pytest.fail("no rescan after a clean close"))
    plog = open_log(path, LogConfig(segment_bytes=BATCH_SIZE * 5, index_interval_bytes=200),
                    recovery_point=36)
    assert plog.log_end_offset == 36 and plog.recovery_point == 36
    assert [h.base_offset for h in batches_of(plog.read(0, 1 << 20))] == list(range(0, 36, 3))
    assert plog.max_timestamp_offset() == (35, NOW + 13)
    assert len(plog.active.offset_index) > 0
    assert append(plog, make_batch(1)).base_offset == 36


@pytest.mark.parametrize("recovery_point", [None, 0, 9])
def test_torn_tail_is_truncated(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                recovery_point: int | None) -> None:
    path = tmp_path / "t-0"
    build(path, 6)
    full = seg(path, 0).stat().st_size
    os.truncate(seg(path, 0), full - 20)  # tear the last batch
    with caplog.at_level(logging.WARNING):
        plog = open_log(path, recovery_point=recovery_point)
    assert plog.log_end_offset == 15
    assert seg(path, 0).stat().st_size == 5 * BATCH_SIZE
    assert plog.recovery_point == 15
    message = caplog.text
    assert "t-0" in message and "00000000000000000000.log" in message
    assert f"byte {5 * BATCH_SIZE}" in message and f"{BATCH_SIZE - 20} bytes" in message
    assert append(plog, make_batch(1)).base_offset == 15
    assert [h.base_offset for h in batches_of(plog.read(0, 1 << 20))] == [0, 3, 6, 9, 12, 15]


def test_corrupt_crc_in_tail_truncates_and_drops_later_segments(tmp_path: Path) -> None:
    path = tmp_path / "t-0"
    config = LogConfig(segment_bytes=BATCH_SIZE * 4)
    build(path, 10, config)  # segments 0 (0..11), 12 (12..23), 24 (24..29)
    with open(seg(path, 12), "r+b") as f:  # flip a value byte in the second batch of segment 12
        f.seek(BATCH_SIZE + 100)
        byte = f.read(1)
        f.seek(BATCH_SIZE + 100)
        f.write(bytes([byte[0] ^ 0xFF]))
    plog = open_log(path, config, recovery_point=12)
    assert plog.log_end_offset == 15
    assert [s.base_offset for s in plog.segments] == [0, 12]
    assert not seg(path, 24).exists() and not seg(path, 24, ".index").exists()
    assert [h.base_offset for h in batches_of(plog.read(0, 1 << 20))] == [0, 3, 6, 9, 12]


def test_garbage_index_is_rebuilt(tmp_path: Path) -> None:
    path = tmp_path / "t-0"
    config = LogConfig(segment_bytes=BATCH_SIZE * 10, index_interval_bytes=200)
    build(path, 15, config, crash=False)
    good = seg(path, 0, ".index").read_bytes()
    assert len(good) > 0
    seg(path, 0, ".index").write_bytes(b"\xff" * 13)
    seg(path, 0, ".timeindex").write_bytes(b"")
    plog = open_log(path, config, recovery_point=45)  # segment 0 is below the recovery point
    assert seg(path, 0, ".index").read_bytes() == good
    assert len(plog.segments[0].time_index) > 0
    for offset in (0, 7, 20, 29):
        h = batches_of(plog.read(offset, 1))[0]
        assert h.base_offset <= offset <= h.last_offset


def test_index_pointing_past_the_log_is_rebuilt(tmp_path: Path) -> None:
    path = tmp_path / "t-0"
    build(path, 10, LogConfig(index_interval_bytes=200), crash=False)
    seg(path, 0, ".index").write_bytes((1).to_bytes(4, "big") + (10**6).to_bytes(4, "big"))
    plog = open_log(path, recovery_point=30)
    assert plog.log_end_offset == 30
    assert batches_of(plog.read(16, 1))[0].base_offset == 15


def test_empty_log_reopens(tmp_path: Path) -> None:
    plog = open_log(tmp_path / "t-0")
    plog.close()
    again = open_log(tmp_path / "t-0", recovery_point=None)
    assert again.log_end_offset == 0 and again.read(0, 100).size == 0
