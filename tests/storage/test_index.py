from __future__ import annotations

import os
import struct
import tracemalloc
from pathlib import Path

from pykafka_broker.storage.index import OffsetIndex, TimeIndex
from pykafka_broker.storage.open_files import MAPS


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


def test_entries_live_in_the_file_not_in_python_memory(tmp_path: Path) -> None:
    idx = OffsetIndex(tmp_path / "x.index", 0, 1 << 20)
    idx.append(1, 10)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(2, 20_002):
            idx.append(i, i * 10)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 16_000, grown  # an int array held ~32 B an entry: 640,000 B here
    assert idx.lookup(15_005) == (15_005, 150_050)
    assert os.path.getsize(tmp_path / "x.index") == 1 << 20  # preallocated, as Kafka does
    idx.persist()
    assert os.path.getsize(tmp_path / "x.index") == 20_001 * 8  # trimmed at roll and close


def test_preallocated_file_left_by_a_crash_is_read_back(tmp_path: Path) -> None:
    path = tmp_path / "x.index"
    idx = OffsetIndex(path, 100, 4096)
    for i in range(1, 11):
        idx.append(100 + i, i * 50)
    assert os.path.getsize(path) == 4096  # no trim: the process died
    again = OffsetIndex(path, 100, 4096)
    assert again.load(log_size=10_000)
    assert len(again) == 10 and again.last_entry == (110, 500)
    assert again.lookup(105) == (105, 250)
    again.append(111, 600)  # appends continue after the last real entry
    assert OffsetIndex(path, 100, 4096).load(log_size=10_000)
    with open(path, "r+b") as f:  # an insane entry: the segment rebuilds the index
        f.seek(3 * 8)
        f.write(struct.pack(">ii", 1, 5))
    assert not OffsetIndex(path, 100, 4096).load(log_size=10_000)


def test_maps_are_bounded_and_hold_no_descriptor(tmp_path: Path) -> None:
    saved = MAPS.max_maps
    MAPS.max_maps = 3
    fds = len(os.listdir("/proc/self/fd"))
    try:
        indexes = []
        for n in range(10):
            idx = TimeIndex(tmp_path / f"{n}.timeindex", 0, 1 << 16)
            idx.maybe_append(1000, 1)
            idx.maybe_append(2000, 2)
            idx.persist()
            indexes.append(idx)
        for idx in indexes * 2:
            assert idx.lookup(1500) == 1
            assert len(MAPS) <= 3
        assert len(os.listdir("/proc/self/fd")) == fds
        assert sum(1 for idx in indexes if idx._map is not None) <= 3
    finally:
        MAPS.max_maps = saved


def test_time_index_entry_of_timestamp_zero_at_the_base_survives_a_crash(tmp_path: Path) -> None:
    """(0, base offset) is all zeros on disk: a reload must not take it for the preallocated tail."""
    path = tmp_path / "x.timeindex"
    idx = TimeIndex(path, 100, 1 << 20)
    idx.maybe_append(0, 100)  # preallocated, not trimmed: what a crash leaves behind
    again = TimeIndex(path, 100, 1 << 20)
    assert again.load(last_offset_bound=100)
    assert len(again) == 1 and again.last_entry == (0, 100)
    idx.maybe_append(5, 103)
    again = TimeIndex(path, 100, 1 << 20)
    assert again.load(last_offset_bound=103)
    assert len(again) == 2 and again.last_entry == (5, 103) and again.lookup(6) == 103
    assert again.lookup(5) == 100
