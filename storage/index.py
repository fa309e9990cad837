"""Sparse offset and time indexes of one segment, in Kafka's on-disk formats.

``.index`` (OffsetIndex.java): 8-byte big-endian entries ``int32 relativeOffset, int32 position``,
relative to the segment's base offset. An entry maps the last offset of a batch to the file position
where that batch starts; lookups take the largest entry at or below the target and scan forward.

``.timeindex`` (TimeIndex.java): 12-byte big-endian entries ``int64 timestamp, int32 relativeOffset``;
an entry is only added when its timestamp exceeds the largest one so far, so both columns increase.

Entries live in memory (``array``) and are written to the file incrementally with plain writes;
unlike Kafka the files are neither preallocated nor mmapped, so their size is always a whole number
of entries. A file that is not a sane index (size, order, positions beyond the log) is reported by
``load`` returning False, and the segment rebuilds it from the log.
"""

from __future__ import annotations

import os
import struct
from array import array
from bisect import bisect_left, bisect_right
from pathlib import Path

from .files import pwrite_all, truncate_fd

_OFFSET_ENTRY = struct.Struct(">ii")
_TIME_ENTRY = struct.Struct(">qi")


class _IndexFile:
    """Shared bookkeeping: the in-memory column count, the file path and how much is on disk."""

    entry_size: int

    def __init__(self, path: Path, base_offset: int, max_index_bytes: int) -> None:
        self.path = path
        self.base_offset = base_offset
        self.max_entries = max(1, max_index_bytes // self.entry_size)
        self._persisted = 0  # entries already in the file, in order
        self._rewrite = True  # file content is not a prefix of memory: truncate and rewrite

    def __len__(self) -> int:
        raise NotImplementedError

    @property
    def is_full(self) -> bool:
        return len(self) >= self.max_entries

    def _entry_bytes(self, i: int) -> bytes:
        raise NotImplementedError

    def persist(self) -> None:
        """Write the entries not yet on disk (the whole file after a reset); no fsync here."""
        count = len(self)
        start = 0 if self._rewrite else self._persisted
        if not self._rewrite and start == count and self.path.exists():
            return
        data = b"".join(self._entry_bytes(i) for i in range(start, count))
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            pwrite_all(fd, data, start * self.entry_size)
            truncate_fd(fd, count * self.entry_size)
        finally:
            os.close(fd)
        self._persisted = count
        self._rewrite = False

    def _read_file(self) -> bytes | None:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        if len(data) % self.entry_size:
            return None
        return data


class OffsetIndex(_IndexFile):
    entry_size = _OFFSET_ENTRY.size

    def __init__(self, path: Path, base_offset: int, max_index_bytes: int) -> None:
        super().__init__(path, base_offset, max_index_bytes)
        self._offsets = array("q")  # absolute offsets
        self._positions = array("q")

    def __len__(self) -> int:
        return len(self._offsets)

    def _entry_bytes(self, i: int) -> bytes:
        return _OFFSET_ENTRY.pack(self._offsets[i] - self.base_offset, self._positions[i])

    def reset(self) -> None:
        self._offsets = array("q")
        self._positions = array("q")
        self._rewrite = True

    def append(self, offset: int, position: int) -> None:
        if self._offsets and (offset <= self._offsets[-1] or position <= self._positions[-1]):
            raise ValueError(f"index entry ({offset}, {position}) does not follow {self.last_entry}")
        self._offsets.append(offset)
        self._positions.append(position)

    @property
    def last_entry(self) -> tuple[int, int]:
        """(offset, position) of the last entry, or (base offset, 0) when empty."""
        if not self._offsets:
            return self.base_offset, 0
        return self._offsets[-1], self._positions[-1]

    def lookup(self, offset: int) -> tuple[int, int]:
        """Largest entry with offset <= ``offset``; (base offset, 0) when there is none."""
        i = bisect_right(self._offsets, offset)
        if i == 0:
            return self.base_offset, 0
        return self._offsets[i - 1], self._positions[i - 1]

    def load(self, log_size: int) -> bool:
        """Read the file; False (and empty) if it is missing or inconsistent with the log."""
        self.reset()
        data = self._read_file()
        if data is None:
            return False
        last_rel = last_pos = -1
        for rel, pos in _OFFSET_ENTRY.iter_unpack(data):
            if rel <= last_rel or pos <= last_pos or pos >= log_size or rel < 0:
                self.reset()
                return False
            self._offsets.append(self.base_offset + rel)
            self._positions.append(pos)
            last_rel, last_pos = rel, pos
        self._persisted = len(self._offsets)
        self._rewrite = False
        return True


class TimeIndex(_IndexFile):
    entry_size = _TIME_ENTRY.size

    def __init__(self, path: Path, base_offset: int, max_index_bytes: int) -> None:
        super().__init__(path, base_offset, max_index_bytes)
        self._timestamps = array("q")
        self._offsets = array("q")  # absolute offsets

    def __len__(self) -> int:
        return len(self._timestamps)

    def _entry_bytes(self, i: int) -> bytes:
        return _TIME_ENTRY.pack(self._timestamps[i], self._offsets[i] - self.base_offset)

    def reset(self) -> None:
        self._timestamps = array("q")
        self._offsets = array("q")
        self._rewrite = True

    @property
    def last_entry(self) -> tuple[int, int] | None:
        """(timestamp, offset) of the last entry, or None."""
        if not self._timestamps:
            return None
        return self._timestamps[-1], self._offsets[-1]

    def maybe_append(self, timestamp: int, offset: int, *, skip_full_check: bool = False) -> None:
        """Add (timestamp, offset) if the timestamp is larger than every entry so far (TimeIndex.maybeAppend).
        ``skip_full_check`` lets the final entry of a segment in, as Kafka does when a segment is rolled."""
        if self.is_full and not skip_full_check:
            return
        if self._timestamps and (timestamp <= self._timestamps[-1] or offset < self._offsets[-1]):
            return
        self._timestamps.append(timestamp)
        self._offsets.append(offset)

    def lookup(self, timestamp: int) -> int | None:
        """Offset of the last entry whose timestamp is strictly below ``timestamp``: every record at or
        before it is older than ``timestamp``, so the search may start there. None: start at the base."""
        i = bisect_left(self._timestamps, timestamp)
        if i == 0:
            return None
        return self._offsets[i - 1]

    def load(self, last_offset_bound: int) -> bool:
        """Read the file; False (and empty) if missing or not increasing or past ``last_offset_bound``."""
        self.reset()
        data = self._read_file()
        if data is None:
            return False
        last_ts, last_rel = -(1 << 63), -1
        for ts, rel in _TIME_ENTRY.iter_unpack(data):
            if ts <= last_ts or rel < last_rel or rel < 0 or self.base_offset + rel > last_offset_bound:
                self.reset()
                return False
            self._timestamps.append(ts)
            self._offsets.append(self.base_offset + rel)
            last_ts, last_rel = ts, rel
        self._persisted = len(self._timestamps)
        self._rewrite = False
        return True
