"""Flushing a partition log (Kafka's UnifiedLog.flush and the recovery point it advances), split
in two so the fsyncs run off the event loop: ``begin_flush`` on the loop collects what to sync,
``FlushTicket.sync`` runs in a thread, ``complete_flush`` or ``fail_flush`` applies the result on
the loop. A mixin of PartitionLog, which holds the state used here.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import TYPE_CHECKING

from pykafka_broker.protocol.errors import ErrorCode, KafkaError

from .files import is_resource_error
from .log_types import FlushTicket, LogConfig

if TYPE_CHECKING:
    from .segment import LogSegment


class LogFlushing:
    config: LogConfig
    dir: Path
    offline: str | None
    recovery_point: int
    log_end_offset: int
    _unflushed_messages: int
    _last_flush_ms: int
    _clock_ms: int
    _pending_sync: list[Path]
    _dirs_unsynced: bool

    @property
    def active(self) -> LogSegment:
        raise NotImplementedError

    def check_online(self) -> None:
        raise NotImplementedError

    def mark_offline(self, reason: str) -> None:
        raise NotImplementedError

    def _describe(self) -> str:
        raise NotImplementedError

    def needs_flush(self, now_ms: int) -> bool:
        """flush.messages / flush.ms reached with unflushed data."""
        if self.offline is not None or (not self._unflushed_messages and not self._pending_sync):
            return False
        return (self._unflushed_messages >= self.config.flush_interval_messages
                or now_ms - self._last_flush_ms >= self.config.flush_interval_ms)

    @property
    def has_unsynced_rolls(self) -> bool:
        """Segments rolled since the last flush wait for their asynchronous fsync."""
        return bool(self._pending_sync) and self.offline is None

    def begin_flush(self, now_ms: int | None = None, *, rolled_only: bool = False) -> FlushTicket:
        """On the loop: collect the fds to fsync up to the current log end (the active segment, and
        the files of segments rolled since the last flush, opened now so idle logs hold no extra
        fds). fsync them (off the loop), then call ``complete_flush(ticket)`` on the loop, or
        ``fail_flush(ticket, exc)`` when an fsync failed.

        ``rolled_only`` is the flush Kafka schedules on every roll (flushUptoOffsetExclusive of the
        new segment's base): only the rolled segments' files, the producer snapshot and the
        directory are synced, and the recovery point may advance to the active segment's base."""
        if self.offline is not None:
            return FlushTicket(self.recovery_point, ())
        # Nothing of the log's state changes until every file is open: an error on the way (ENOSPC
        # on the final time-index entry, EMFILE on an open) leaves the rolled segments pending,
        # so no later flush advances the recovery point past files that were never fsynced.
        active = self.active
        paths = list(self._pending_sync)
        dirs_unsynced = self._dirs_unsynced
        if dirs_unsynced:  # a new partition: its directory entry (and its files' entries)
            paths += [self.dir, self.dir.parent]
        opened: list[int] = []
        try:
            if rolled_only:
                offset = active.base_offset
            else:
                active.persist_indexes(final_time_entry=True, trim=False)
                # The append descriptor may be evicted from the cache (and its number reused) while
                # the fsync runs off the loop: sync a duplicate, which shares its error state, or
                # the file opened anew when the cache closed it (an unseen writeback error still
                # shows there).
                fd = active.fd
                if fd is not None:
                    opened.append(os.dup(fd))
                else:
                    paths.insert(0, active.log_path)
                paths += active.index_paths
                offset = self.log_end_offset
            for path in dict.fromkeys(paths):
                try:
                    opened.append(os.open(path, os.O_RDONLY))
                except FileNotFoundError:  # deleted by retention or compaction meanwhile
                    pass
        except OSError as exc:
            for fd in opened:
                os.close(fd)
            if not is_resource_error(exc) and exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                self.mark_offline(f"starting a flush failed: {exc}")
            raise
        # Rolls made while the fsync runs append to a fresh list, synced by the next flush.
        self._pending_sync = []
        self._dirs_unsynced = False
        if not rolled_only:
            self._unflushed_messages = 0
            self._last_flush_ms = self._clock_ms if now_ms is None else now_ms
        return FlushTicket(offset, tuple(opened))

    def complete_flush(self, ticket: FlushTicket) -> None:
        """After every fd of ``ticket`` was fsynced: advance the recovery point, release the fds."""
        for fd in ticket.opened_fds:
            os.close(fd)
        if self.offline is None:
            self.recovery_point = max(self.recovery_point, ticket.offset)

    def fail_flush(self, ticket: FlushTicket, exc: OSError) -> None:
        """An fsync of ``ticket`` failed: the log goes offline, its recovery point stays.

        No retry. After a failed fsync Linux may already have dropped the dirty pages (marked
        clean, or the error reported once and cleared: the 2018 "fsyncgate" findings, which is
        why PostgreSQL panics on fsync failure and Kafka takes the log dir offline), so a second
        fsync that "succeeds" proves nothing about the data. Requests waiting for this flush are
        answered with an error, never acknowledged; the next start rescans the log from its
        recovery point, which never passed the unsynced data."""
        for fd in ticket.opened_fds:
            try:
                os.close(fd)
            except OSError:
                pass
        self.mark_offline(f"fsync failed: {exc}")

    def flush(self, now_ms: int | None = None) -> None:
        """Synchronous flush, for shutdown, tests and offline tools. KafkaError KAFKA_STORAGE_ERROR
        (the log offline) when an fsync fails, or when the flush cannot start (see begin_flush)."""
        self.check_online()
        try:
            ticket = self.begin_flush(now_ms)
        except OSError as exc:  # nothing started; offline only for a real I/O error
            raise KafkaError(ErrorCode.KAFKA_STORAGE_ERROR, f"{self._describe()}: {exc}") from exc
        try:
            ticket.sync()
        except OSError as exc:
            self.fail_flush(ticket, exc)
            raise KafkaError(ErrorCode.KAFKA_STORAGE_ERROR, f"{self._describe()}: {exc}") from exc
        self.complete_flush(ticket)
