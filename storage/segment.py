"""One log segment: a ``.log`` file of concatenated batches plus its ``.index``, ``.timeindex`` and
``.txnindex`` (the shape of Kafka's LogSegment.java).

No segment keeps a file descriptor of its own: the active segment appends through a bounded,
broker-wide cache of descriptors (storage/open_files.py), and reads open, pread and close unless
that cache holds the file open, so many partitions do not mean many open files.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from pathlib import Path

from pykafka_broker.protocol.records import (
    BATCH_HEADER_SIZE,
    LOG_OVERHEAD,
    BatchHeader,
    crc_matches,
    iter_batches,
    read_batch_header,
    read_batch_prefix,
)

from .files import (
    INDEX_SUFFIX,
    LOG_SUFFIX,
    TIME_INDEX_SUFFIX,
    TXN_INDEX_SUFFIX,
    BatchScanner,
    fsync_fd,
    fsync_path,
    offset_file_name,
    rename_to_deleted,
    segment_paths,
    truncate_fd,
    truncate_path,
    write_all,
)
from .index import OffsetIndex, TimeIndex
from .open_files import SHARED, OpenFiles
from .txn_index import TransactionIndex

log = logging.getLogger(__name__)

NO_TIMESTAMP = -1
MAX_RELATIVE_OFFSET = 0x7FFFFFFF
LOCATE_CHUNK = 64 * 1024


class WriteRolledBack(Exception):
    """A write to a segment failed and the file was truncated back to its last good size: none of
    the batch remains and the segment takes appends again (a full disk may free up)."""

    def __init__(self, path: Path, cause: OSError) -> None:
        super().__init__(f"write to {path} failed: {cause}")
        self.path = path
        self.cause = cause


class LogSegment:
    __slots__ = ("_bytes_since_index", "_files", "base_offset", "created_ms", "first_batch_timestamp",
                 "index_interval_bytes", "log_path", "max_timestamp", "next_offset", "offset_index",
                 "offset_of_max_timestamp", "size", "time_index", "txn_index")

    def __init__(self, dir: Path, base_offset: int, *, index_interval_bytes: int, max_index_bytes: int,
                 created_ms: int, open_files: OpenFiles | None = None) -> None:
        self.base_offset = base_offset
        self._files = SHARED if open_files is None else open_files
        self.log_path = dir / offset_file_name(base_offset, LOG_SUFFIX)
        # The indexes keep str paths, built without a Path each (per-partition memory).
        prefix = os.path.join(str(dir), offset_file_name(base_offset, ""))
        self.offset_index = OffsetIndex(prefix + INDEX_SUFFIX, base_offset, max_index_bytes)
        self.time_index = TimeIndex(prefix + TIME_INDEX_SUFFIX, base_offset, max_index_bytes)
        self.txn_index = TransactionIndex(prefix + TXN_INDEX_SUFFIX, base_offset)
        self.index_interval_bytes = index_interval_bytes
        self.created_ms = created_ms
        self._reset_stats()

    def _reset_stats(self) -> None:
        self.size = 0
        self.next_offset = self.base_offset
        self.max_timestamp = NO_TIMESTAMP
        self.offset_of_max_timestamp = self.base_offset
        self.first_batch_timestamp: int | None = None
        self._bytes_since_index = 0

    @property
    def index_paths(self) -> tuple[Path, ...]:
        """Every file besides the ``.log`` (flushed, closed and deleted with it); the ``.txnindex``
        exists only once the segment holds an ABORT marker."""
        return self.offset_index.path, self.time_index.path, self.txn_index.path

    # -- files -----------------------------------------------------------------------------------

    @property
    def fd(self) -> int | None:
        """The append descriptor when the cache holds one open (never opens one)."""
        return self._files.get(self)

    def open_for_append(self) -> None:
        """Make sure the ``.log`` file exists; the descriptor is opened by the first append."""
        if self._files.get(self) is None and not self.log_path.exists():
            os.close(os.open(self.log_path, os.O_WRONLY | os.O_CREAT, 0o644))

    def _close_fd(self) -> None:
        fd = self._files.release(self)
        if fd is not None:
            os.close(fd)

    def _read_fd(self) -> tuple[int, bool]:
        """(fd, owned): the active fd, or a fresh one the caller must close."""
        fd = self._files.get(self)
        if fd is not None:
            return fd, False
        return os.open(self.log_path, os.O_RDONLY), True

    def persist_indexes(self, *, final_time_entry: bool, trim: bool = True, lazy: bool = False) -> None:
        """Make the index files final: ``final_time_entry`` adds the segment's max timestamp, as
        Kafka does when a segment becomes inactive or is closed, so it survives a restart; ``trim``
        cuts the preallocated files to their entries (roll, close). Without it the files are only
        created if missing (a flush of the active segment: every entry is already written)."""
        # An empty segment's index files carry nothing: ``lazy`` (a log's close) makes them only
        # when they exist already, and a missing one of an empty segment loads as empty (``load``).
        # The cleaner and rolls still make every file.
        optional = lazy and self.indexes_optional(self.size)
        if final_time_entry and self.size:
            self.time_index.maybe_append(self.max_timestamp, self.offset_of_max_timestamp,
                                         skip_full_check=True)
        for index in (self.offset_index, self.time_index):
            if optional and not index.has_file:
                continue
            if trim:
                index.persist()
            else:
                index.ensure_file()

    def indexes_optional(self, log_size: int) -> bool:
        """An empty segment: its index files may be missing (nothing in them to lose or check)."""
        return log_size == 0 and len(self.offset_index) == 0

    def _drop_maps(self) -> None:
        self.offset_index.drop_map()
        self.time_index.drop_map()

    def close(self, *, sync: bool = True, lazy_indexes: bool = False) -> None:
        self.persist_indexes(final_time_entry=True, lazy=lazy_indexes)
        self._drop_maps()  # a closed segment's indexes are mapped again on their next lookup
        fd = self._files.release(self)
        if fd is not None:
            try:
                if sync:
                    fsync_fd(fd)
            finally:
                os.close(fd)
        if sync:
            if fd is None:
                fsync_path(self.log_path)
            for path in self.index_paths:
                fsync_path(path)

    def release(self) -> None:
        """Close the fd without writing or syncing anything (the log went offline)."""
        self._drop_maps()
        fd = self._files.release(self)
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass

    def mark_deleted(self) -> list[Path]:
        """Close the segment's file and rename each of its files to ``<name>.deleted``."""
        self.release()
        return rename_to_deleted(segment_paths(self.log_path))

    def delete(self) -> None:
        self._close_fd()
        self._drop_maps()
        for path in (self.log_path, *self.index_paths):
            path.unlink(missing_ok=True)

    # -- appends ---------------------------------------------------------------------------------

    def should_roll(self, batch_size: int, header: BatchHeader, now_ms: int, segment_bytes: int,
                    segment_ms: int) -> bool:
        """LogSegment.shouldRoll: size, age, full index, or an offset that no longer fits in int32."""
        if self.size == 0:
            return False
        if self.size + batch_size > segment_bytes:
            return True
        # Age is measured from the first batch's timestamp when there is one (Kafka's
        # rollingBasedTimestamp), else from the segment's creation.
        first = self.first_batch_timestamp
        if first is not None and first >= 0:
            waited = header.max_timestamp - first
        else:
            waited = now_ms - self.created_ms
        if waited > segment_ms:
            return True
        if self.offset_index.is_full or self.time_index.is_full:
            return True
        return header.last_offset - self.base_offset > MAX_RELATIVE_OFFSET

    def append(self, batch: bytes | bytearray | memoryview, header: BatchHeader) -> None:
        """Write one batch whose offsets (and timestamps) are final; ``header`` describes it.

        The fd is O_APPEND while positions come from ``self.size``, so the file must never hold bytes
        past ``size``: when the write fails (perhaps after a short write put part of the batch in
        the file) the file is truncated back to ``size`` and WriteRolledBack is raised. If that
        truncate fails too, its OSError propagates: the caller must stop appending to this log
        (Kafka takes the whole log dir offline on any IOException, LogDirFailureChannel)."""
        fd = self._files.acquire(self, self.log_path)
        position = self.size
        try:
            write_all(fd, batch)
            # An index entry that cannot be written (a full disk where the sparse index needs a
            # block, no fd to open it) refuses the batch like a failed write: the .log goes back
            # to its size before it, so a restart never brings the refused batch back.
            self._track(position, header)
        except OSError as exc:
            truncate_fd(fd, position)  # an OSError here leaves unknown bytes: log goes offline
            raise WriteRolledBack(self.log_path, exc) from exc

    def _track(self, position: int, header: BatchHeader) -> None:
        """Account for the batch written at ``position``; all or nothing: when an index write
        raises, the segment's state (and both indexes) are as before the batch."""
        max_timestamp, offset_of_max = self.max_timestamp, self.offset_of_max_timestamp
        if header.max_timestamp > max_timestamp:
            max_timestamp, offset_of_max = header.max_timestamp, header.last_offset
        # One index entry each time more than index.interval.bytes went in since the last one.
        if self._bytes_since_index > self.index_interval_bytes:
            undo = self.offset_index.checkpoint()
            self.offset_index.append(header.last_offset, position)
            try:
                self.time_index.maybe_append(max_timestamp, offset_of_max)
            except BaseException:
                self.offset_index.restore(undo)
                raise
            self._bytes_since_index = 0
        self.max_timestamp, self.offset_of_max_timestamp = max_timestamp, offset_of_max
        if self.first_batch_timestamp is None:
            self.first_batch_timestamp = header.max_timestamp
        self._bytes_since_index += header.size
        self.size = position + header.size
        self.next_offset = header.next_offset

    # -- loading and recovery --------------------------------------------------------------------

    def load(self) -> bool:
        """Load the indexes and find the end of the data without reading it all. False when the
        segment needs ``recover()``: an index is missing or insane, or the file ends in a torn batch."""
        self._reset_stats()
        file_size = self.log_path.stat().st_size
        index_ok = self.offset_index.load(file_size)
        start_offset, start_pos = self.offset_index.last_entry
        fd = os.open(self.log_path, os.O_RDONLY)
        try:
            if file_size >= BATCH_HEADER_SIZE:
                first = read_batch_header(os.pread(fd, BATCH_HEADER_SIZE, 0))
                self.first_batch_timestamp = first.max_timestamp
            scanner = BatchScanner(fd, start_pos, file_size, chunk=LOCATE_CHUNK)
            for _, header, _ in scanner:
                if not self._offsets_fit(header):
                    break  # scanner.position stays at this batch: recover() decides
                self.next_offset = header.next_offset
                if header.max_timestamp > self.max_timestamp:
                    self.max_timestamp = header.max_timestamp
                    self.offset_of_max_timestamp = header.last_offset
        finally:
            os.close(fd)
        self.size = scanner.position
        self._bytes_since_index = scanner.position - start_pos
        time_ok = self.time_index.load(self.next_offset - 1)
        if self.indexes_optional(file_size):  # not made for an empty segment (persist_indexes)
            index_ok = index_ok or self.offset_index.missing()
            time_ok = time_ok or self.time_index.missing()
        last_time = self.time_index.last_entry
        if last_time is not None and last_time[0] > self.max_timestamp:
            self.max_timestamp, self.offset_of_max_timestamp = last_time
        if start_pos and self.next_offset <= start_offset:
            index_ok = False
        txn_ok = self.txn_index.load()
        return index_ok and time_ok and txn_ok and scanner.position == file_size

    def _offsets_fit(self, header: BatchHeader) -> bool:
        """The batch follows the ones before it and its offsets fit the segment's int32 index."""
        return (header.base_offset >= self.next_offset
                and header.last_offset >= header.base_offset
                and header.last_offset - self.base_offset <= MAX_RELATIVE_OFFSET)

    def recover(self, describe: str) -> int:
        """Rescan every batch (magic, CRC, increasing offsets), truncate the file at the first bad or
        torn one and rebuild both indexes. Returns the number of bytes dropped."""
        self._reset_stats()
        self.offset_index.reset()
        self.time_index.reset()
        fd, owned = self._read_fd()
        try:
            file_size = os.fstat(fd).st_size
            valid_end = 0
            for pos, header, body in BatchScanner(fd, 0, file_size, with_body=True):
                assert body is not None
                # baseOffset is outside the CRC: a corrupt one shows as offsets out of order or
                # out of this segment's range (Kafka: LogSegment.ensureOffsetInRange).
                if header.magic != 2 or not self._offsets_fit(header) or not crc_matches(body, 0, header):
                    break
                self._track(pos, header)
                valid_end = pos + header.size
        finally:
            if owned:
                os.close(fd)
        dropped = file_size - valid_end
        if dropped:
            log.warning("%s: truncating %s at byte %d, dropping %d bytes of torn or corrupt data",
                        describe, self.log_path, valid_end, dropped)
            truncate_path(self.log_path, valid_end)
        self.persist_indexes(final_time_entry=True)
        return dropped

    def iter_replay(self, from_offset: int) -> Iterable[tuple[BatchHeader, bytes | None]]:
        """Headers of the batches whose last offset is >= ``from_offset``, each with the whole batch
        for control batches (whose marker record producer-state replay needs) and None for the others."""
        fd, owned = self._read_fd()
        try:
            _, pos = self.offset_index.lookup(from_offset)
            for batch_pos, header, _ in BatchScanner(fd, pos, self.size):
                if header.last_offset >= from_offset:
                    yield header, os.pread(fd, header.size, batch_pos) if header.is_control else None
        finally:
            if owned:
                os.close(fd)

    # -- reads -----------------------------------------------------------------------------------

    def _locate(self, fd: int, offset: int) -> tuple[int, BatchHeader] | None:
        """Position and header of the first batch whose last offset is >= ``offset``."""
        _, pos = self.offset_index.lookup(offset)
        for position, header, _ in BatchScanner(fd, pos, self.size, chunk=LOCATE_CHUNK):
            if header.last_offset >= offset:
                return position, header
        return None

    def read(self, offset: int, max_bytes: int, min_one_batch: bool,
             whole_batches: bool = True) -> tuple[bytes | memoryview, bool]:
        """Whole batches from the one holding ``offset``, at most ``max_bytes`` (but the first batch
        whatever its size when ``min_one_batch``). Returns (data, reached the end of the segment).

        ``whole_batches=False`` is Kafka's LogSegment.read for Fetch: ``max_bytes`` from the first
        batch's start, the last batch possibly cut (FileRecords.slice; clients drop a partial
        trailing batch), so no batch header past the first is parsed. A first batch larger than
        ``max_bytes`` is returned whole with ``min_one_batch`` (KIP-74), else nothing (Kafka's
        ReplicaManager replaces an incomplete first entry with an empty set)."""
        fd, owned = self._read_fd()
        try:
            found = self._locate(fd, offset)
            if found is None:
                return b"", True
            pos, first = found
            if not whole_batches:
                if first.size > max_bytes:
                    if not min_one_batch:
                        return b"", False
                    max_bytes = first.size
                size = max(0, min(max_bytes, self.size - pos))
                data = os.pread(fd, size, pos)
                return data, pos + len(data) >= self.size
            data = os.pread(fd, max(0, min(max_bytes, self.size - pos)), pos)
            end = 0
            for batch_pos, header in iter_batches(data):
                end = batch_pos + header.size
            if end == 0:
                if not min_one_batch:
                    return b"", False
                _, batch_length = read_batch_prefix(os.pread(fd, LOG_OVERHEAD, pos))
                data = os.pread(fd, batch_length + LOG_OVERHEAD, pos)
                end = len(data)
        finally:
            if owned:
                os.close(fd)
        reached_end = pos + end >= self.size
        return (data if end == len(data) else memoryview(data)[:end]), reached_end

    def find_timestamp(self, timestamp: int, min_offset: int,
                       record_times: Callable[[bytes], Iterable[tuple[int, int]]]) -> tuple[int, int] | None:
        """(offset, timestamp) of the first record at or after ``min_offset`` stamped >= ``timestamp``."""
        if self.size == 0 or self.max_timestamp < timestamp:
            return None
        start = self.time_index.lookup(timestamp)
        start = max(min_offset, self.base_offset if start is None else start)
        fd, owned = self._read_fd()
        try:
            _, pos = self.offset_index.lookup(start)
            for batch_pos, header, _ in BatchScanner(fd, pos, self.size, chunk=LOCATE_CHUNK):
                if header.last_offset < start or header.max_timestamp < timestamp:
                    continue
                for offset, ts in record_times(os.pread(fd, header.size, batch_pos)):
                    if offset >= start and ts >= timestamp:
                        return offset, ts
        finally:
            if owned:
                os.close(fd)
        return None
