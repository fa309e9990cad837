from __future__ import annotations

import struct
from pathlib import Path

from pykafka_broker.storage.index import OffsetIndex, TimeIndex


def test_offset_index_lookup_and_file_format(tmp_path: Path) -> None:
    idx = OffsetIndex(tmp_path / "x.index", 100, 1 << 20)
    assert idx.lookup(150) == (100, 0)
    idx.append(110, 4000)
    idx.append(120, 8000)
    assert idx.lookup(109) == (100, 0)
    assert idx.lookup(110) == (110, 4000)
    assert idx.lookup(119) == (110, 4000)
    assert idx.lookup(500) == (120, 8000)
    idx.persist()
    assert (tmp_path / "x.index").read_bytes() == struct.pack(">iiii", 10, 4000, 20, 8000)
    idx.append(130, 9000)
    idx.persist()  # incremental
    assert len((tmp_path / "x.index").read_bytes()) == 24
    again = OffsetIndex(tmp_path / "x.index", 100, 1 << 20)
    assert again.load(log_size=10000)
    assert again.lookup(135) == (130, 9000)


def test_offset_index_rejects_bad_files(tmp_path: Path) -> None:
    path = tmp_path / "x.index"
    idx = OffsetIndex(path, 0, 1 << 20)
    assert not idx.load(100)  # missing
    path.write_bytes(b"\x00" * 7)  # not whole entries
    assert not idx.load(100)
    path.write_bytes(struct.pack(">iiii", 5, 10, 3, 20))  # offsets decreasing
    assert not idx.load(100)
    path.write_bytes(struct.pack(">ii", 5, 500))  # position beyond the log
    assert not idx.load(100)
    assert len(idx) == 0


def test_offset_index_full(tmp_path: Path) -> None:
    idx = OffsetIndex(tmp_path / "x.index", 0, 16)
    idx.append(1, 1)
    assert not idx.is_full
    idx.append(2, 2)
    assert idx.is_full


def test_time_index(tmp_path: Path) -> None:
    path = tmp_path / "x.timeindex"
    idx = TimeIndex(path, 10, 1 << 20)
    idx.maybe_append(1000, 12)
    idx.maybe_append(900, 15)  # not larger: skipped
    idx.maybe_append(2000, 20)
    assert idx.last_entry == (2000, 20)
    assert idx.lookup(1000) is None  # records at or before 12 may be stamped 1000
    assert idx.lookup(1001) == 12
    assert idx.lookup(5000) == 20
    idx.persist()
    assert path.read_bytes() == struct.pack(">qiqi", 1000, 2, 2000, 10)
    again = TimeIndex(path, 10, 1 << 20)
    assert again.load(last_offset_bound=20)
    assert not TimeIndex(path, 10, 1 << 20).load(last_offset_bound=19)
