"""The log of one partition: an ordered run of segments, offset assignment, reads, recovery and
flushing (Kafka's UnifiedLog, LogLoader and LogSegments, cut down to one node).

I/O errors follow Kafka's LogDirFailureChannel, at the granularity of one log (one data dir here,
and taking it all offline would stop the internal topics too): a write that fails is truncated back
to the last good position and the batch is refused with KAFKA_STORAGE_ERROR; if that truncate fails,
or an fsync fails, or a read hits an I/O error, the log goes offline. An offline log answers
KAFKA_STORAGE_ERROR to appends, reads and offset lookups until the broker restarts, its recovery
point never moves again, and the data dir is not marked cleanly shut down, so the next start
rescans it from the recovery point. Other logs keep serving. The error is logged once, with the path.
Running out of descriptors or memory (EMFILE, ENFILE, ENOMEM) is not a storage failure: a read or
an append that changed nothing is refused with KAFKA_STORAGE_ERROR and the log stays online.
"""

from __future__ import annotations

import logging
import os
import random
import shutil
import time
import uuid
from bisect import bisect_right
from pathlib import Path

from pykafka_broker.protocol.errors import ErrorCode, KafkaError
from pykafka_broker.protocol.records import (
    TIMESTAMP_TYPE_MASK,
    BatchHeader,
    patch_base_offset,
    patch_log_append_time,
    read_batch_header,
    record_offsets_and_timestamps,
)

from .files import fsync_path, is_resource_error
from .log_flush import LogFlushing
from .log_loader import index_completed, init_new_log, load_log
from .log_types import AppendResult, FlushTicket, LogConfig, ReadResult
from .producer_state import ProducerStateManager
from .segment import NO_TIMESTAMP, LogSegment, WriteRolledBack
from .txn_index import (
    build_control_batch,
    collect_aborted,
    cut_at_offset,
    parse_end_txn_marker,
)

log = logging.getLogger(__name__)
RESOURCE_LOG_INTERVAL_S = 10.0  # at most one "out of fds" warning per log this often

__all__ = ["AppendResult", "FlushTicket", "LogConfig", "PartitionLog", "ReadResult"]

class PartitionLog(LogFlushing):
    def __init__(self, dir: Path, topic: str, partition: int, config: LogConfig, now_ms: int) -> None:
        self.dir = dir
        self.topic = topic
        self.partition = partition
        self.config = config
        self.segments: list[LogSegment] = []
        self._bases: list[int] = []
        self.log_start_offset = 0
        self.log_end_offset = 0
        self.recovery_point = 0
        self.producer_state = ProducerStateManager(dir)
        self._unflushed_messages = 0
        self._last_flush_ms = now_ms
        self._clock_ms = now_ms  # latest time seen, for calls that do not pass one
        self._pending_sync: list[Path] = []  # files of rolled segments (and their dir) not yet fsynced
        self._dirs_unsynced = False  # a new partition dir: its entry in the data dir needs an fsync
        self._roll_jitter_ms = 0  # set by _new_segment (segment.jitter.ms)
        self._closed = False
        self._opened: tuple[int, ...] | None = None  # _file_state() when opened with consistent files
        self.offline: str | None = None  # why the log stopped serving (its I/O failed)
        self._write_failing = False  # a rolled-back write failure was logged; quiet until one succeeds
        self._resource_logged_at = float("-inf")  # last EMFILE/ENOMEM warning (time.monotonic)

    def __repr__(self) -> str:
        return f"PartitionLog({self.topic}-{self.partition}, {self.log_start_offset}..{self.log_end_offset})"

    def _new_segment(self, base_offset: int, now_ms: int) -> LogSegment:
        # The roll jitter of the segment made last, i.e. the active one (LogConfig.randomSegmentJitter).
        jitter = self.config.segment_jitter_ms
        self._roll_jitter_ms = random.randrange(min(jitter, self.config.segment_ms)) if jitter > 0 else 0
        return LogSegment(self.dir, base_offset, index_interval_bytes=self.config.index_interval_bytes,
                          max_index_bytes=self.config.segment_index_bytes, created_ms=now_ms)

    @property
    def active(self) -> LogSegment:
        return self.segments[-1]

    # -- opening and recovery ------------------------------------------------------------------

    @classmethod
    def open(cls, dir: Path, topic: str, partition: int, config: LogConfig, *, recovery_point: int | None,
             now_ms: int, log_start_offset: int | None = None) -> PartitionLog:
        """Load the segments in ``dir``. ``recovery_point`` None means an unclean shutdown with no
        checkpoint: every segment is rescanned; otherwise only segments holding offsets at or past it
        (and any whose files are inconsistent) are (storage/log_loader.py)."""
        self = cls(dir, topic, partition, config, now_ms)
        load_log(self, recovery_point=recovery_point, now_ms=now_ms, log_start_offset=log_start_offset)
        return self

    @classmethod
    def create(cls, dir: Path, topic: str, partition: int, config: LogConfig, *, now_ms: int) -> PartitionLog:
        """A new partition in ``dir``, which the caller has just made empty: no file is created
        until the first append (storage/log_loader.py init_new_log)."""
        self = cls(dir, topic, partition, config, now_ms)
        init_new_log(self, now_ms)
        return self

    def _file_state(self) -> tuple[int, ...]:
        """What closing writes depends on: the log's bounds, the active segment and its indexes."""
        active = self.active
        return (self.log_end_offset, self.log_start_offset, len(self.segments), id(active), active.size,
                len(active.offset_index), len(active.time_index))

    def mark_opened(self) -> None:
        """The files are consistent and final now (opened from a clean state, or just created)."""
        active = self.active
        consistent = (not self.producer_state.producers and active.offset_index.trimmed
                      and active.time_index.trimmed)  # not a crash-left preallocated index
        self._opened = self._file_state() if consistent else None

    def untouched(self) -> bool:
        """Nothing changed since a consistent open: no append, roll, truncation or log start move,
        and the producer state was and is empty. Closing such a log needs no write at all: its
        indexes are as the last close trimmed them and no producer snapshot is needed (Kafka
        writes one per partition at shutdown; an empty state at an unchanged log end is what a
        restart rebuilds from the files anyway)."""
        return (self._opened is not None and not self.producer_state.producers
                and not self._pending_sync and self._opened == self._file_state())

    def _describe(self) -> str:
        return f"partition {self.topic}-{self.partition}"

    # -- I/O failures (LogDirFailureChannel, per log) ------------------------------------------

    def check_online(self) -> None:
        """KafkaError KAFKA_STORAGE_ERROR when the log is offline."""
        if self.offline is not None:
            raise KafkaError(ErrorCode.KAFKA_STORAGE_ERROR,
                             f"{self._describe()} is offline after an I/O error: {self.offline}")

    def mark_offline(self, reason: str) -> None:
        """Stop serving this log for good (until restart): release its fds without writing
        anything, never advance its recovery point. Logged once, with the log's path."""
        if self.offline is not None:
            return
        self.offline = reason
        log.error("%s (%s) is now offline, answering KAFKA_STORAGE_ERROR until restart: %s",
                  self._describe(), self.dir, reason)
        for segment in self.segments:
            segment.release()
        self._pending_sync = []

    def _storage_error(self, exc: OSError, what: str, *, may_retry: bool = True) -> KafkaError:
        """Take the log offline for ``exc`` and return the error its callers answer with.

        Running out of descriptors or memory (EMFILE, ENFILE, ENOMEM: e.g. many client
        connections) is no disk failure: when ``may_retry`` (nothing was changed: a read, or an
        append refused before its data went in) the request gets KAFKA_STORAGE_ERROR, which
        clients retry, and the log stays online."""
        if may_retry and is_resource_error(exc):
            now = time.monotonic()
            if now - self._resource_logged_at >= RESOURCE_LOG_INTERVAL_S:
                self._resource_logged_at = now
                log.warning("%s: %s failed, request refused, log kept online: %s", self._describe(),
                            what, exc)
            return KafkaError(ErrorCode.KAFKA_STORAGE_ERROR, f"{self._describe()}: {what} failed: {exc}")
        path = getattr(exc, "filename", None) or self.dir
        self.mark_offline(f"{what} {path} failed: {exc}")
        return KafkaError(ErrorCode.KAFKA_STORAGE_ERROR, f"{self._describe()}: {what} failed: {exc}")

    # -- appends -------------------------------------------------------------------------------

    def append(self, batch: bytearray | memoryview, header: BatchHeader, now_ms: int) -> AppendResult:
        """Append one validated batch (CRC checked by the caller), assigning its offsets in place."""
        size = header.size
        if size > self.config.max_message_bytes:
            raise KafkaError(ErrorCode.MESSAGE_TOO_LARGE,
                             f"batch of {size} bytes exceeds max.message.bytes "
                             f"{self.config.max_message_bytes}")
        if size > self.config.segment_bytes:
            raise KafkaError(ErrorCode.RECORD_LIST_TOO_LARGE,
                             f"batch of {size} bytes exceeds segment.bytes {self.config.segment_bytes}")
        self.check_online()
        self._clock_ms = max(self._clock_ms, now_ms)
        duplicate = self.producer_state.check(header)
        marker = parse_end_txn_marker(batch) if header.is_control else None
        if marker is not None:
            self.producer_state.check_marker(header.producer_id, header.producer_epoch,
                                             marker.coordinator_epoch)
        if duplicate is not None:
            return AppendResult(duplicate.first_offset, duplicate.last_offset, NO_TIMESTAMP,
                                self.log_start_offset, duplicate=True)
        base_offset = self.log_end_offset
        append_time = NO_TIMESTAMP
        final = header._replace(base_offset=base_offset)
        if self.config.log_append_time:
            patch_log_append_time(batch, 0, header, now_ms)
            append_time = now_ms
            final = final._replace(max_timestamp=now_ms, attributes=header.attributes | TIMESTAMP_TYPE_MASK)
        try:
            if self.active.should_roll(size, final, now_ms, self.config.segment_bytes,
                                       self.config.segment_ms - self._roll_jitter_ms):
                self.roll(now_ms)
            patch_base_offset(batch, 0, base_offset)
            self.active.append(batch, final)
        except WriteRolledBack as exc:
            # The file is as it was: refuse this batch, keep the log (a full disk may drain).
            if not self._write_failing:
                self._write_failing = True
                log.error("%s: %s; the partial batch was truncated away, appends are refused "
                          "with KAFKA_STORAGE_ERROR while writes fail", self._describe(), exc)
            raise KafkaError(ErrorCode.KAFKA_STORAGE_ERROR, f"{self._describe()}: {exc}") from exc
        except OSError as exc:
            raise self._storage_error(exc, "append to") from exc
        if self._write_failing:
            self._write_failing = False
            log.info("%s: writes succeed again", self._describe())
        try:
            index_completed(self.active, self.producer_state.commit(final, marker))
        except OSError as exc:  # the .txnindex write
            # The batch is in the segment already: no retry of a half-done append.
            raise self._storage_error(exc, "transaction index write to", may_retry=False) from exc
        self.log_end_offset = final.next_offset
        self._unflushed_messages += max(header.records_count, 1)
        return AppendResult(base_offset, final.last_offset, append_time, self.log_start_offset)

    def roll(self, now_ms: int) -> None:
        """Close the active segment for appends and start one at the log end offset."""
        self.check_online()
        old = self.active
        if old.size == 0:
            return
        old.close(sync=False)
        self._pending_sync.extend((old.log_path, *old.index_paths))
        # Kafka snapshots producer state at each new segment's base offset, without an fsync under
        # the log's lock (UnifiedLog.roll, takeSnapshot(false)): the snapshot, the rolled segment's
        # files and the directory holding the new names are fsynced off the loop by the next
        # flush, which the broker starts at once (UnifiedLog schedules "flush-log" on roll), and
        # the recovery point then advances to the new segment's base offset.
        self.producer_state.take_snapshot(self.log_end_offset, sync=False)
        self._pending_sync.append(self.producer_state.snapshot_path(self.log_end_offset))
        segment = self._new_segment(self.log_end_offset, now_ms)
        segment.open_for_append()
        self._pending_sync.append(self.dir)
        self.segments.append(segment)
        self._bases.append(segment.base_offset)

    # -- reads ---------------------------------------------------------------------------------

    def _check_offset(self, offset: int) -> None:
        if offset < self.log_start_offset or offset > self.log_end_offset:
            raise KafkaError(ErrorCode.OFFSET_OUT_OF_RANGE,
                             f"offset {offset} not in [{self.log_start_offset}, {self.log_end_offset}] "
                             f"of {self.topic}-{self.partition}")

    def read(self, offset: int, max_bytes: int, *, min_one_batch: bool = True,
             max_offset: int | None = None, whole_batches: bool = True) -> ReadResult:
        """Whole batches from the one holding ``offset``, up to ``max_bytes`` (the first batch always
        when ``min_one_batch``), possibly spanning segments. ``max_offset`` (the last stable offset,
        for read_committed) is an exclusive bound: no batch starting at or past it is returned,
        whatever ``min_one_batch`` says (LocalLog.read with maxOffsetMetadata).
        ``whole_batches=False`` (Fetch, without ``max_offset``) lets the last batch be cut at
        ``max_bytes`` as Kafka's FileRecords.slice does (see LogSegment.read)."""
        self.check_online()
        try:
            return self._read(offset, max_bytes, min_one_batch, max_offset, whole_batches)
        except OSError as exc:
            raise self._storage_error(exc, "read of") from exc

    def _read(self, offset: int, max_bytes: int, min_one_batch: bool, max_offset: int | None,
              whole_batches: bool = True) -> ReadResult:
        whole_batches = whole_batches or max_offset is not None  # the LSO cut needs batch bounds
        self._check_offset(offset)
        chunks: list[bytes | memoryview] = []
        total = 0
        end = self.log_end_offset if max_offset is None else min(max_offset, self.log_end_offset)
        i = max(0, bisect_right(self._bases, offset) - 1)
        while i < len(self.segments) and offset < end:
            segment = self.segments[i]
            data, reached_end = segment.read(offset, max_bytes - total, min_one_batch and not chunks,
                                             whole_batches)
            if data:
                chunks.append(data)
                total += len(data)
            if not reached_end or total >= max_bytes:
                break
            i += 1
            if i < len(self.segments):
                offset = max(offset, self.segments[i].base_offset)
        if max_offset is not None and chunks:
            chunks, total = cut_at_offset(chunks, max_offset)
        return ReadResult(chunks, total)

    # -- transactions (KIP-98) ------------------------------------------------------------------

    @property
    def last_stable_offset(self) -> int:
        """First offset of the earliest open transaction, else the log end (the high watermark on
        one node); never below the log start offset."""
        first = self.producer_state.first_unstable_offset()
        lso = self.log_end_offset if first is None else min(first, self.log_end_offset)
        return max(lso, self.log_start_offset)

    def append_control_batch(self, producer_id: int, producer_epoch: int, committed: bool,
                             coordinator_epoch: int, now_ms: int) -> int:
        """Write the COMMIT or ABORT marker of ``producer_id``'s transaction (what WriteTxnMarkers
        does on a partition leader) through the normal append path; its offset. KafkaError
        INVALID_PRODUCER_EPOCH or TRANSACTION_COORDINATOR_FENCED when fenced: nothing written."""
        batch = build_control_batch(producer_id, producer_epoch, committed, coordinator_epoch, now_ms)
        return self.append(batch, read_batch_header(batch), now_ms).base_offset

    def aborted_transactions(self, fetch_offset: int, upper_bound: int) -> list[tuple[int, int]]:
        """(producer id, first offset) of the aborted transactions overlapping
        [fetch_offset, upper_bound), for a read_committed fetch."""
        i = max(0, bisect_right(self._bases, fetch_offset) - 1)
        return collect_aborted((s.txn_index for s in self.segments[i:]), fetch_offset, upper_bound)

    def offset_for_timestamp(self, ts: int) -> tuple[int, int] | None:
        """(offset, timestamp) of the first record stamped at or after ``ts`` (ListOffsets)."""
        self.check_online()
        try:
            return self._offset_for_timestamp(ts)
        except OSError as exc:
            raise self._storage_error(exc, "timestamp lookup in") from exc

    def _offset_for_timestamp(self, ts: int) -> tuple[int, int] | None:
        for segment in self.segments:
            if segment.next_offset <= self.log_start_offset:
                continue
            found = segment.find_timestamp(ts, self.log_start_offset, record_offsets_and_timestamps)
            if found is not None:
                return found
        return None

    def max_timestamp_offset(self) -> tuple[int, int] | None:
        """(last offset of the batch with the largest maxTimestamp, that timestamp); KIP-734."""
        self.check_online()
        best: tuple[int, int] | None = None
        for segment in self.segments:
            if segment.size and (best is None or segment.max_timestamp > best[1]):
                best = (segment.offset_of_max_timestamp, segment.max_timestamp)
        return best

    def size_bytes(self) -> int:
        return sum(segment.size for segment in self.segments)

    # -- lifecycle -----------------------------------------------------------------------------

    def close(self, *, sync: bool = True) -> None:
        """Snapshot producer state, fsync everything and release the file descriptors.
        ``sync=False`` (LogManager.close) writes everything but fsyncs nothing: the caller syncs
        the whole filesystem once, then calls ``closed_synced`` to advance the recovery point."""
        if self._closed:
            return
        self._closed = True
        if self.offline is not None:
            return  # nothing more is written; the data dir is not marked clean (LogManager.close)
        if self.untouched():
            self.active.release()
            if sync:
                self.closed_synced()
            return
        try:
            self.producer_state.take_snapshot(self.log_end_offset, sync=sync)
            if sync:
                for path in self._pending_sync:
                    fsync_path(path)
            self.active.close(sync=sync, lazy_indexes=True)
        except OSError as exc:
            # Offline: the recovery point is kept and the next start rescans.
            self._storage_error(exc, "close of", may_retry=False)
            return
        if sync:
            self.closed_synced()

    def closed_synced(self) -> None:
        """Everything of the closed log is on disk: its recovery point is its end."""
        if self.offline is None:
            self._pending_sync = []
            self.recovery_point = self.log_end_offset
            self._unflushed_messages = 0

    def delete(self, *, remove_files: bool = True) -> Path:
        """Remove the partition: rename the directory to ``<dir>.<uuid>-delete`` first (as Kafka
        does), then delete it, unless ``remove_files`` is False (the broker removes it off the event
        loop; a leftover is removed at the next start). Returns the renamed directory."""
        self._closed = True
        for segment in self.segments:
            segment.release()
        doomed = self.dir.with_name(f"{self.dir.name}.{uuid.uuid4().hex}-delete")
        os.replace(self.dir, doomed)
        if remove_files:
            shutil.rmtree(doomed, ignore_errors=True)
        return doomed

    # -- log start offset and retention (storage/retention.py decides what goes) ---------------

    def increment_log_start_offset(self, offset: int) -> bool:
        """DeleteRecords (UnifiedLog.maybeIncrementLogStartOffset): move the log start offset up to
        ``offset``, which may fall inside a batch; reads below it then fail with OFFSET_OUT_OF_RANGE,
        and segments wholly below it go at the next retention pass. False when already there."""
        if offset > self.log_end_offset:
            raise KafkaError(ErrorCode.OFFSET_OUT_OF_RANGE,
                             f"Cannot increment the log start offset to {offset} of partition "
                             f"{self.topic}-{self.partition} since it is larger than the high watermark "
                             f"{self.log_end_offset}")
        if offset <= self.log_start_offset:
            return False
        self.log_start_offset = offset
        return True

    def replace_segments(self, old: list[LogSegment], new: LogSegment) -> None:
        """Put a cleaned segment in place of the consecutive non-active ``old`` ones (the files were
        swapped by storage/cleaner.py; Kafka's UnifiedLog.replaceSegments)."""
        i = self.segments.index(old[0])
        self.segments[i : i + len(old)] = [new]
        self._bases = [s.base_offset for s in self.segments]

    def remove_oldest_segments(self, count: int, now_ms: int) -> list[LogSegment]:
        """Take the ``count`` oldest segments out of the log and advance the log start offset to the
        new first segment (never backwards). Taking them all rolls first (UnifiedLog.deleteSegments),
        so an empty active segment remains. The caller disposes of the returned segments' files."""
        if count >= len(self.segments):
            self.roll(now_ms)
            count = min(count, len(self.segments) - 1)
        removed = self.segments[:max(count, 0)]
        del self.segments[:len(removed)]
        del self._bases[:len(removed)]
        self.log_start_offset = max(self.log_start_offset, self.segments[0].base_offset)
        return removed
