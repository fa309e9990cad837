"""Sparse offset and time indexes of one segment, in Kafka's on-disk formats.

``.index`` (OffsetIndex.java): 8-byte big-endian entries ``int32 relativeOffset, int32 position``,
relative to the segment's base offset. An entry maps the last offset of a batch to the file position
where that batch starts; lookups take the largest entry at or below the target and scan forward.

``.timeindex`` (TimeIndex.java): 12-byte big-endian entries ``int64 timestamp, int32 relativeOffset``;
an entry is only added when its timestamp exceeds the largest one so far, so both columns increase.

As in Kafka (AbstractIndex), the entries live in the file, not in Python memory, so memory does not
grow with the data kept: an index file that takes entries is preallocated to ``segment.index.bytes``
(a sparse file) and trimmed to its entries when the segment is rolled or closed; lookups binary-search
a read-only memory map of the file (mapped on first use, at most ``open_files.MAPS.max_maps`` maps
at once). Entries are written with ``pwrite`` through the FileIO layer, not through the map, so a
full disk is an ENOSPC error that fault handling sees (a store into a sparse map would be a SIGBUS),
and each entry is in the page cache at once: after a SIGKILL the index of a live segment is read
back, its zero-filled preallocated tail cut off. A file that is not a sane index (size, order,
positions beyond the log) is reported by ``load`` returning False, and the segment rebuilds it.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import struct
from array import array
from pathlib import Path

from .files import pwrite_all, truncate_fd, truncate_path
from .open_files import MAPS

_OFFSET_ENTRY = struct.Struct(">ii")
_TIME_ENTRY = struct.Struct(">qi")

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                       ctypes.c_long)
_libc.munmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t)
_MAP_FAILED = ctypes.c_void_p(-1).value


class FileMap:
    """A read-only shared map of a file that holds no file descriptor (Python's ``mmap`` keeps a
    duplicate of it open until 3.13's ``trackfd=False``, which would cost one descriptor per mapped
    index). Unmapped when the last reference goes, so a reader holding one is never cut off."""

    __slots__ = ("addr", "buf", "size")

    def __init__(self, fd: int, size: int) -> None:
        addr = _libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
        if addr is None or addr == _MAP_FAILED:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
        self.addr = addr
        self.size = size
        self.buf = (ctypes.c_char * size).from_address(addr)

    def __len__(self) -> int:
        return self.size

    def __del__(self) -> None:
        _libc.munmap(self.addr, self.size)


class _IndexFile:
    """An index file of fixed-size entries: the count, the last entry, and a lazily made map."""

    entry: struct.Struct
    # Slots and a str path: thousands of partitions hold two of these per segment.
    __slots__ = ("_entries", "_file_size", "_last", "_map", "_path", "base_offset", "max_entries")

    def __init__(self, path: str | Path, base_offset: int, max_index_bytes: int) -> None:
        self._path = str(path)
        self.base_offset = base_offset
        self.max_entries = max(1, max_index_bytes // self.entry.size)
        self._entries = 0
        self._last: tuple[int, int] | None = None  # decoded (absolute) last entry
        self._file_size = -1  # bytes the file has (preallocated or trimmed); -1: unknown
        self._map: FileMap | None = None

    def __len__(self) -> int:
        return self._entries

    @property
    def path(self) -> Path:
        return Path(self._path)

    @path.setter
    def path(self, path: Path) -> None:
        self.drop_map()
        self._path = str(path)

    @property
    def has_file(self) -> bool:
        """The file is known to exist (loaded, written, created or trimmed by this object)."""
        return self._file_size != -1

    def missing(self) -> bool:
        return not os.path.exists(self._path)

    @property
    def trimmed(self) -> bool:
        """The file holds exactly the entries (or neither exists yet): nothing to trim at close."""
        if self._file_size == -1:
            return self._entries == 0
        return self._file_size == self._entries * self.entry.size

    @property
    def is_full(self) -> bool:
        return self._entries >= self.max_entries

    def _decode(self, raw: tuple[int, int]) -> tuple[int, int]:
        raise NotImplementedError

    def _encode(self, entry: tuple[int, int]) -> bytes:
        raise NotImplementedError

    # -- the file ------------------------------------------------------------------------------

    def _append(self, entry: tuple[int, int], *, preallocate: bool = True) -> None:
        """Write one entry after the others, preallocating the file first (Kafka's index resize),
        unless it is the final entry of a segment being closed, which is trimmed right after."""
        end = (self._entries + 1) * self.entry.size
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if self._file_size < 0:
                self._file_size = os.fstat(fd).st_size
            if self._file_size < end and preallocate:
                size = max(end, self.max_entries * self.entry.size)
                truncate_fd(fd, size)
                self._file_size = size
            pwrite_all(fd, self._encode(entry), self._entries * self.entry.size)
            self._file_size = max(self._file_size, end)
        finally:
            os.close(fd)
        self._entries += 1
        self._last = entry

    def checkpoint(self) -> tuple[int, tuple[int, int] | None]:
        """The entry count and last entry, for ``restore`` to undo appends made after it."""
        return self._entries, self._last

    def restore(self, state: tuple[int, tuple[int, int] | None]) -> None:
        """Forget the entries appended since ``checkpoint`` (the batch they index was refused).
        Their bytes may stay in the file past the entry count: the next append overwrites them,
        a trim cuts them. After a crash a reload either rejects such an entry (it points at the
        log's end or past it) or finds one that still points at a batch start no later than the
        offset it names, so lookups that start there stay correct."""
        self._entries, self._last = state

    def persist(self) -> None:
        """Trim the file to its entries (creating it when missing): at roll and close, as Kafka's
        trimToValidSize. The entries themselves were written by each append; no fsync here."""
        size = self._entries * self.entry.size
        if self._file_size == size:  # known to exist with exactly the entries (e.g. a closing
            return  # segment's only time entry, written unpreallocated just before)
        fd = os.open(self._path, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            if os.fstat(fd).st_size != size:
                self.drop_map()  # never keep a map past the end of the file
                truncate_fd(fd, size)
        finally:
            os.close(fd)
        self._file_size = size

    def ensure_file(self) -> None:
        """Create the file if it does not exist yet (a flush of a segment without entries)."""
        if self._entries == 0 and not os.path.exists(self._path):
            os.close(os.open(self._path, os.O_WRONLY | os.O_CREAT, 0o644))
            self._file_size = 0

    def reset(self) -> None:
        """Drop every entry (before a rebuild): the file is emptied."""
        self.drop_map()
        self._entries = 0
        self._last = None
        try:
            truncate_path(self._path, 0)
            self._file_size = 0
        except FileNotFoundError:
            pass

    def drop_map(self) -> None:
        """Forget the map (evicted, trimmed or deleted); the next lookup maps the file again."""
        self._map = None
        MAPS.forget(self)

    def _view(self) -> FileMap:
        mapped = self._map
        needed = self._entries * self.entry.size
        if mapped is None or len(mapped) < needed:
            fd = os.open(self._path, os.O_RDONLY)
            try:
                mapped = FileMap(fd, os.fstat(fd).st_size)
            finally:
                os.close(fd)  # the map keeps the file; no descriptor stays open
            self._map = mapped
        MAPS.touch(self)
        return mapped

    def _entry_at(self, view: FileMap, i: int) -> tuple[int, int]:
        return self._decode(self.entry.unpack_from(view.buf, i * self.entry.size))

    def _largest_below(self, key: int, strict: bool) -> tuple[int, int] | None:
        """The last entry whose first column is <= ``key`` (< when ``strict``), binary search."""
        if self._entries == 0:
            return None
        last = self._last
        assert last is not None
        if last[0] < key or (not strict and last[0] == key):
            return last
        view = self._view()
        lo, hi = 0, self._entries  # answer: the entry before the first one past key
        while lo < hi:
            mid = (lo + hi) // 2
            value = self._entry_at(view, mid)[0]
            if value < key or (not strict and value == key):
                lo = mid + 1
            else:
                hi = mid
        return self._entry_at(view, lo - 1) if lo else None

    def _read_entries(self) -> list[tuple[int, int]] | None:
        """Every entry of the file, its preallocated zero tail cut off; None when the file is
        missing or not whole entries."""
        try:
            with open(self._path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                if size % self.entry.size:
                    return None
                if size == 0:
                    return []
                with mmap.mmap(f.fileno(), size, prot=mmap.PROT_READ) as view:
                    count = self._used_entries(view, size // self.entry.size)
                    data = view[: count * self.entry.size]
        except FileNotFoundError:
            return None
        self._file_size = size
        return [self._decode(raw) for raw in self.entry.iter_unpack(data)]

    # The first entry that may be all zeros and still be real: none for the offset index (its
    # first entry's position is above 0), the second for the time index (see TimeIndex).
    _first_nonzero = 0

    def _used_entries(self, view: mmap.mmap, slots: int) -> int:
        """Entries before the zero-filled tail a preallocated file has after a crash: real entries
        from ``_first_nonzero`` on are never all zeros (both columns increase), so binary search."""
        zero = bytes(self.entry.size)
        lo, hi = min(self._first_nonzero, slots), slots
        while lo < hi:
            mid = (lo + hi) // 2
            start = mid * self.entry.size
            if view[start : start + self.entry.size] == zero:
                hi = mid
            else:
                lo = mid + 1
        return lo

    def _loaded(self, entries: list[tuple[int, int]]) -> None:
        self.drop_map()
        self._entries = len(entries)
        self._last = entries[-1] if entries else None


def _increasing(values: array) -> bool:
    return all(a < b for a, b in zip(values, values[1:], strict=False))


class OffsetIndex(_IndexFile):
    __slots__ = ()
    entry = _OFFSET_ENTRY

    def _decode(self, raw: tuple[int, int]) -> tuple[int, int]:
        return self.base_offset + raw[0], raw[1]

    def _encode(self, entry: tuple[int, int]) -> bytes:
        return _OFFSET_ENTRY.pack(entry[0] - self.base_offset, entry[1])

    def append(self, offset: int, position: int) -> None:
        last = self._last
        if last is not None and (offset <= last[0] or position <= last[1]):
            raise ValueError(f"index entry ({offset}, {position}) does not follow {last}")
        self._append((offset, position))

    @property
    def last_entry(self) -> tuple[int, int]:
        """(offset, position) of the last entry, or (base offset, 0) when empty."""
        return self._last if self._last is not None else (self.base_offset, 0)

    def lookup(self, offset: int) -> tuple[int, int]:
        """Largest entry with offset <= ``offset``; (base offset, 0) when there is none."""
        found = self._largest_below(offset, strict=False)
        return found if found is not None else (self.base_offset, 0)

    def load(self, log_size: int) -> bool:
        """Read the file; False (and empty) if it is missing or inconsistent with the log."""
        entries = self._read_entries()
        self._loaded([])
        if entries is None:
            return False
        offsets = array("q", (e[0] for e in entries))
        positions = array("q", (e[1] for e in entries))
        if entries and (offsets[0] < self.base_offset or positions[0] < 0 or positions[-1] >= log_size
                        or not _increasing(offsets) or not _increasing(positions)):
            return False
        self._loaded(entries)
        return True


class TimeIndex(_IndexFile):
    __slots__ = ()
    entry = _TIME_ENTRY
    # (timestamp 0, relative offset 0) is a real first entry (a producer stamping 0), all zeros: it
    # always counts. A crash right after the file was preallocated leaves it zero without being
    # written; read back as (0, base offset) it is still a true lower bound for every lookup.
    _first_nonzero = 1

    def _decode(self, raw: tuple[int, int]) -> tuple[int, int]:
        return raw[0], self.base_offset + raw[1]

    def _encode(self, entry: tuple[int, int]) -> bytes:
        return _TIME_ENTRY.pack(entry[0], entry[1] - self.base_offset)

    @property
    def last_entry(self) -> tuple[int, int] | None:
        """(timestamp, offset) of the last entry, or None."""
        return self._last

    def maybe_append(self, timestamp: int, offset: int, *, skip_full_check: bool = False) -> None:
        """Add (timestamp, offset) if the timestamp is larger than every entry so far (TimeIndex.maybeAppend).
        ``skip_full_check`` lets the final entry of a segment in, as Kafka does when a segment is rolled."""
        if self.is_full and not skip_full_check:
            return
        last = self._last
        if last is not None and (timestamp <= last[0] or offset < last[1]):
            return
        self._append((timestamp, offset), preallocate=not skip_full_check)

    def lookup(self, timestamp: int) -> int | None:
        """Offset of the last entry whose timestamp is strictly below ``timestamp``: every record at or
        before it is older than ``timestamp``, so the search may start there. None: start at the base."""
        found = self._largest_below(timestamp, strict=True)
        return None if found is None else found[1]

    def load(self, last_offset_bound: int) -> bool:
        """Read the file; False (and empty) if missing or not increasing or past ``last_offset_bound``."""
        entries = self._read_entries()
        self._loaded([])
        if entries is None:
            return False
        stamps = array("q", (e[0] for e in entries))
        offsets = array("q", (e[1] for e in entries))
        if entries and (offsets[0] < self.base_offset or offsets[-1] > last_offset_bound
                        or not _increasing(stamps)
                        or not all(a <= b for a, b in zip(offsets, offsets[1:], strict=False))):
            return False
        self._loaded(entries)
        return True
