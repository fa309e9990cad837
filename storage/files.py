"""File helpers shared by the storage layer: Kafka's file names and suffixes, the file lifecycle
(``.deleted``, ``.cleaned``, ``.swap``: Kafka's LogFileUtils and LogLoader's swap handling), atomic
metadata writes, full writes, and a buffered scanner that walks the record-batch headers of a segment
file with ``os.pread``. Log, cleaner and retention all use this module and none of each other's files.

Every call that changes a file's bytes or forces them to disk (write, pwrite, ftruncate, fsync) goes
through ``FileIO``, one object held in this module, so fault-injection tests can swap in a layer that
fails with ENOSPC, EIO or short writes (``use_io``) without patching ``os`` for the whole process.
"""

from __future__ import annotations

import ctypes
import errno
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from pykafka_broker.protocol.records import BATCH_HEADER_SIZE, LOG_OVERHEAD, BatchHeader, read_batch_header

LOG_SUFFIX = ".log"
INDEX_SUFFIX = ".index"
TIME_INDEX_SUFFIX = ".timeindex"
TXN_INDEX_SUFFIX = ".txnindex"
SNAPSHOT_SUFFIX = ".snapshot"
TMP_SUFFIX = ".tmp"
DELETED_SUFFIX = ".deleted"  # renamed out of the log, removed after file.delete.delay.ms
CLEANED_SUFFIX = ".cleaned"  # a cleaner output not yet committed
SWAP_SUFFIX = ".swap"  # a committed cleaner output not yet installed
# The files of one segment; the .log first.
SEGMENT_FILE_SUFFIXES = (LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX, TXN_INDEX_SUFFIX)
# Left behind by a crash in the middle of a delete or a compaction (Kafka's LogFileUtils suffixes).
STRAY_SUFFIXES = (DELETED_SUFFIX, CLEANED_SUFFIX, TMP_SUFFIX)

SCAN_CHUNK = 1 << 20


def offset_file_name(offset: int, suffix: str) -> str:
    """``00000000000000000042.log``: Kafka names segment files by the 20-digit base offset."""
    return f"{offset:020d}{suffix}"


def offset_from_file_name(name: str) -> int | None:
    """The offset a file is named by, or None when the stem is not 20 digits."""
    stem = name.split(".", 1)[0]
    if len(stem) != 20 or not stem.isdigit():
        return None
    return int(stem)


# Out of descriptors (EMFILE, ENFILE) or memory for a map (ENOMEM): the process ran short of a
# resource, the disk did not fail. The request is refused and may be retried; the log stays online.
RESOURCE_ERRNOS = frozenset((errno.EMFILE, errno.ENFILE, errno.ENOMEM))


def is_resource_error(exc: BaseException) -> bool:
    """``exc`` reports a transient shortage of descriptors or memory, not an I/O failure."""
    return isinstance(exc, OSError) and exc.errno in RESOURCE_ERRNOS


class FileIO:
    """The system calls that change or force file contents. Tests subclass it to inject faults."""

    def write(self, fd: int, data: memoryview) -> int:
        return os.write(fd, data)

    def pwrite(self, fd: int, data: bytes, offset: int) -> int:
        return os.pwrite(fd, data, offset)

    def ftruncate(self, fd: int, length: int) -> None:
        os.ftruncate(fd, length)

    def fsync(self, fd: int) -> None:
        os.fsync(fd)

    def syncfs(self, fd: int) -> None:
        """Flush every file of the filesystem holding ``fd`` (syncfs(2); it reports writeback
        errors since Linux 5.8). Without syncfs in libc, sync(2), which reports nothing."""
        if _syncfs is None:
            os.sync()
            return
        if _syncfs(fd) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))


try:
    _syncfs = ctypes.CDLL(None, use_errno=True).syncfs
    _syncfs.argtypes = (ctypes.c_int,)
except (AttributeError, OSError):  # not Linux/glibc
    _syncfs = None

_io = FileIO()


@contextmanager
def use_io(io: FileIO) -> Iterator[FileIO]:
    """Route the storage layer's writes and fsyncs through ``io`` for the duration (tests)."""
    global _io
    previous, _io = _io, io
    try:
        yield io
    finally:
        _io = previous


def fsync_fd(fd: int) -> None:
    _io.fsync(fd)


def truncate_fd(fd: int, length: int) -> None:
    _io.ftruncate(fd, length)


def pwrite_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        written = _io.pwrite(fd, bytes(view), offset)
        view = view[written:]
        offset += written


def syncfs_path(path: Path) -> None:
    """One syncfs of the filesystem holding ``path``: at shutdown, instead of an fsync per file of
    every partition (tens of thousands), which would make the stop time grow with the partitions."""
    fd = os.open(path, os.O_RDONLY)
    try:
        _io.syncfs(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        _io.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes, *, sync: bool = True) -> None:
    """Write metadata so a crash leaves either the old or the new file: tmp, fsync, rename, fsync dir.
    ``sync=False`` skips both fsyncs (the caller fsyncs the file and its directory later, off the
    event loop); readers of such files must tolerate a torn or empty file after a power loss."""
    tmp = path.with_name(path.name + TMP_SUFFIX)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        write_all(fd, data)
        if sync:
            _io.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    if sync:
        fsync_dir(path.parent)


def write_synced(path: Path, data: bytes) -> None:
    """Create or replace ``path`` with ``data`` and fsync it (the directory is the caller's)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        write_all(fd, data)
        _io.fsync(fd)
    finally:
        os.close(fd)


def truncate_path(path: Path, length: int) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        _io.ftruncate(fd, length)
    finally:
        os.close(fd)


def write_all(fd: int, data: bytes | bytearray | memoryview) -> None:
    """os.write may write less than asked (signals, full disks); loop until every byte is out. An
    error after a short write leaves those bytes in the file: the caller truncates them away."""
    view = memoryview(data)
    while view:
        written = _io.write(fd, view)
        view = view[written:]


def fsync_path(path: Path) -> None:
    """fsync a file that is not kept open (rolled segments, index files). Missing files are skipped."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        _io.fsync(fd)
    finally:
        os.close(fd)


class BatchScanner:
    """Walk the batches of ``fd`` between ``start`` and ``end`` with buffered preads.

    Yields ``(position, header, batch)`` where ``batch`` is the whole batch as a memoryview when
    ``with_body`` is set, else None. Stops at the first position where no complete, plausible batch
    is present (fewer bytes than a header, a batchLength too small, or a batch running past ``end``);
    ``position`` then tells where the walk stopped, so ``position < end`` means a torn tail."""

    def __init__(self, fd: int, start: int, end: int, *, with_body: bool = False,
                 chunk: int = SCAN_CHUNK) -> None:
        self.fd = fd
        self.position = start
        self.end = end
        self.with_body = with_body
        self.chunk = chunk

    def __iter__(self) -> Iterator[tuple[int, BatchHeader, memoryview | None]]:
        buf = b""
        buf_pos = self.position
        while True:
            pos = self.position
            if pos + BATCH_HEADER_SIZE > self.end:
                return
            off = pos - buf_pos
            if off + BATCH_HEADER_SIZE > len(buf):
                buf = os.pread(self.fd, min(self.chunk, self.end - pos), pos)
                buf_pos, off = pos, 0
                if len(buf) < BATCH_HEADER_SIZE:
                    return
            header = read_batch_header(buf, off)
            if header.batch_length < BATCH_HEADER_SIZE - LOG_OVERHEAD or pos + header.size > self.end:
                return
            body: memoryview | None = None
            if self.with_body:
                if off + header.size > len(buf):
                    buf = os.pread(self.fd, min(max(self.chunk, header.size), self.end - pos), pos)
                    buf_pos, off = pos, 0
                    if len(buf) < header.size:
                        return
                body = memoryview(buf)[off : off + header.size]
            yield pos, header, body
            self.position = pos + header.size


# -- file lifecycle ------------------------------------------------------------------------------

def segment_paths(log_path: Path) -> list[Path]:
    """Every file a segment may have, from the path of its ``.log``."""
    return [log_path.with_suffix(suffix) for suffix in SEGMENT_FILE_SUFFIXES]


def rename_to_deleted(paths: Iterable[Path]) -> list[Path]:
    """Rename each existing path to ``<name>.deleted`` (Kafka deletes asynchronously after
    file.delete.delay.ms); the new paths. Missing files are skipped."""
    renamed = []
    for path in paths:
        target = path.with_name(path.name + DELETED_SUFFIX)
        try:
            os.replace(path, target)
        except FileNotFoundError:
            continue
        renamed.append(target)
    return renamed


def remove_files(paths: Iterable[Path]) -> None:
    """Blocking removal of renamed files (run it off the event loop)."""
    for path in paths:
        path.unlink(missing_ok=True)


def complete_interrupted_swaps(dir: Path) -> list[str]:
    """At log open, before anything else reads the directory: a ``<base>.log.swap`` means a cleaned
    segment was committed but not fully installed. Delete the segments it replaces (base offsets in
    its offset range), then give its files their final names (LogLoader's swap-file handling).
    Index ``.swap`` files without a ``.log.swap`` belong to an uncommitted swap and are deleted.
    Returns the directory's names afterwards (listed once when there was no swap to install)."""
    names = os.listdir(dir)
    log_swaps = sorted(n for n in names if n.endswith(LOG_SUFFIX + SWAP_SUFFIX))
    for name in log_swaps:
        base = offset_from_file_name(name)
        if base is None:
            continue
        swap_path = dir / name
        end = _next_offset_of(swap_path, base)
        for other in os.listdir(dir):
            off = offset_from_file_name(other)
            if off is None or not base <= off < end or not other.endswith(SEGMENT_FILE_SUFFIXES):
                continue
            if (off == base and other.endswith(TXN_INDEX_SUFFIX)
                    and not (dir / (other + SWAP_SUFFIX)).exists()):
                continue  # already the swapped-in segment's own
            # Everything else in the range goes; the base's own indexes are rebuilt from the log.
            (dir / other).unlink(missing_ok=True)
        for suffix in (INDEX_SUFFIX, TIME_INDEX_SUFFIX):
            (dir / (offset_file_name(base, suffix) + SWAP_SUFFIX)).unlink(missing_ok=True)
        txn_swap = dir / (offset_file_name(base, TXN_INDEX_SUFFIX) + SWAP_SUFFIX)
        if txn_swap.exists():
            os.replace(txn_swap, dir / offset_file_name(base, TXN_INDEX_SUFFIX))
        os.replace(swap_path, dir / offset_file_name(base, LOG_SUFFIX))
    if log_swaps:
        names = os.listdir(dir)
    kept = []
    for name in names:
        if name.endswith(SWAP_SUFFIX):
            (dir / name).unlink(missing_ok=True)
        else:
            kept.append(name)
    if log_swaps:
        fsync_dir(dir)
    return kept


def _next_offset_of(path: Path, base: int) -> int:
    """One past the last offset in a segment file (its base when empty)."""
    end = base + 1
    fd = os.open(path, os.O_RDONLY)
    try:
        for _pos, header, _body in BatchScanner(fd, 0, os.fstat(fd).st_size):
            end = max(end, header.next_offset)
    finally:
        os.close(fd)
    return end
