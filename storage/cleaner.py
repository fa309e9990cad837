"""The log cleaner's synchronous half: which part of a log may be compacted, and compacting it
(Kafka's LogCleanerManager, Cleaner.doClean/buildOffsetMap/groupSegmentsBySize/cleanSegments).

A log is cleaned from its first segment up to the *first uncleanable offset*: never into the active
segment, never at or past the last stable offset (``lso``; the log end until transactions keep one),
never into a segment holding records younger than ``min.compaction.lag.ms``. The part from the
cleaner checkpoint (``first_dirty``) to there is *dirty*; ``dirty / (clean + dirty)`` is the ratio
compared with ``min.cleanable.dirty.ratio``, unless the oldest dirty batch is older than
``max.compaction.lag.ms``, which makes the log due regardless.

One :class:`CleaningPass` runs in steps, each bounded by one group of segments, every step but
``install`` off the event loop (it only reads segment files nobody appends to, and writes new ones):

1. ``build_map``: classify transactional batches (committed, aborted, or still undecided below
   the first uncleanable offset), then map each key of the dirty range to the offset of its latest
   record (at most ``max_map_entries`` keys; the pass then stops at a segment boundary and the rest
   stays dirty for the next one).
2. ``clean_group(i)``: rewrite the i-th group of consecutive segments (at most ``segment.bytes``
   together) as one segment ``<base>.log.cleaned`` (+ indexes, rebuilt), fsync, rename the files to
   ``.swap`` and fsync the directory: the ``.log.swap`` rename is the commit point.
3. ``install`` (on the loop): rename the old segments' files to ``.deleted``, the ``.swap`` files to
   their final names, and replace the segments in the PartitionLog (the new segment's indexes were
   loaded by step 2, off the loop). The caller removes the
   ``.deleted`` files off the loop.

A crash leaves ``.cleaned`` files (deleted at the next start: nothing was committed) or ``.swap``
files, which ``files.complete_interrupted_swaps`` installs at the next start, as Kafka's LogLoader
does: the segments whose base offsets lie in the swap segment's offset range are deleted first.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pykafka_broker.protocol.records import read_batch_header

from .cleaner_records import CONTROL_ABORT, BatchFilter, control_type, iter_raw_records, records_section
from .files import (
    CLEANED_SUFFIX,
    INDEX_SUFFIX,
    LOG_SUFFIX,
    SEGMENT_FILE_SUFFIXES,
    SWAP_SUFFIX,
    TIME_INDEX_SUFFIX,
    TXN_INDEX_SUFFIX,
    BatchScanner,
    fsync_dir,
    offset_file_name,
    write_synced,
)
from .open_files import OpenFiles
from .segment import MAX_RELATIVE_OFFSET, LogSegment

if TYPE_CHECKING:
    from .log import PartitionLog

_LONG_MAX = 9223372036854775807


@dataclass(frozen=True, slots=True)
class CleanerConfig:
    compact: bool = False  # cleanup.policy includes "compact"
    min_cleanable_ratio: float = 0.5  # min.cleanable.dirty.ratio
    min_compaction_lag_ms: int = 0  # min.compaction.lag.ms
    max_compaction_lag_ms: int = _LONG_MAX  # max.compaction.lag.ms
    delete_retention_ms: int = 86400000  # delete.retention.ms
    segment_bytes: int = 1073741824  # segment.bytes: the largest cleaned segment
    index_interval_bytes: int = 4096
    segment_index_bytes: int = 10485760

    @classmethod
    def from_topic_configs(cls, configs: Mapping[str, str]) -> CleanerConfig:
        """Build from Kafka topic-level config names; missing keys keep Kafka's defaults."""
        d = cls()
        policy = {p.strip().lower() for p in configs.get("cleanup.policy", "delete").split(",")}
        return cls(
            compact="compact" in policy,
            min_cleanable_ratio=float(configs.get("min.cleanable.dirty.ratio", d.min_cleanable_ratio)),
            min_compaction_lag_ms=int(configs.get("min.compaction.lag.ms", d.min_compaction_lag_ms)),
            max_compaction_lag_ms=int(configs.get("max.compaction.lag.ms", d.max_compaction_lag_ms)),
            delete_retention_ms=int(configs.get("delete.retention.ms", d.delete_retention_ms)),
            segment_bytes=int(configs.get("segment.bytes", d.segment_bytes)),
            index_interval_bytes=int(configs.get("index.interval.bytes", d.index_interval_bytes)),
            segment_index_bytes=int(configs.get("segment.index.bytes", d.segment_index_bytes)),
        )


@dataclass(frozen=True, slots=True)
class SegmentView:
    """What the off-loop steps may know of a non-active segment, copied on the loop."""
    segment: LogSegment  # identity, checked again before the swap; never touched off the loop
    base_offset: int
    next_offset: int
    size: int
    path: Path
    max_timestamp: int
    first_batch_timestamp: int | None
    index_entries: int

    @classmethod
    def of(cls, s: LogSegment) -> SegmentView:
        return cls(s, s.base_offset, s.next_offset, s.size, s.log_path, s.max_timestamp,
                   s.first_batch_timestamp, len(s.offset_index))


@dataclass(frozen=True, slots=True)
class CleanablePlan:
    first_dirty: int
    first_uncleanable: int
    clean_bytes: int
    dirty_bytes: int
    overdue_ms: int  # how far the oldest dirty batch is past max.compaction.lag.ms (0: not)

    @property
    def ratio(self) -> float:
        total = self.clean_bytes + self.dirty_bytes
        return self.dirty_bytes / total if total else 0.0

    def due(self, config: CleanerConfig) -> bool:
        """LogCleanerManager.grabFilthiestCompactedLog's filter."""
        return (self.overdue_ms > 0 and self.dirty_bytes > 0) or self.ratio > config.min_cleanable_ratio


def non_active_views(plog: PartitionLog) -> list[SegmentView]:
    return [SegmentView.of(s) for s in plog.segments[:-1]]


def plan_cleaning(views: Sequence[SegmentView], *, active_base: int, log_start_offset: int,
                  checkpoint: int | None, lso: int, config: CleanerConfig, now_ms: int) -> CleanablePlan:
    """The cleanable range of a log and its dirtiness (LogCleanerManager.cleanableOffsets and
    calculateCleanableBytes). Pure: tests drive it with a fake clock."""
    first_dirty = log_start_offset if checkpoint is None or checkpoint < log_start_offset else checkpoint
    if first_dirty > active_base:  # a checkpoint past the cleanable part is stale (truncation)
        first_dirty = log_start_offset
    upper = min(active_base, lso)
    dirty = [v for v in views if v.next_offset > first_dirty and v.base_offset < upper]
    if config.min_compaction_lag_ms > 0:
        for v in dirty:
            if v.max_timestamp > now_ms - config.min_compaction_lag_ms:
                upper = min(upper, v.base_offset)
                break
    upper = max(upper, first_dirty)
    clean_bytes = sum(v.size for v in views if v.base_offset < first_dirty and v.next_offset <= first_dirty)
    dirty_bytes = sum(v.size for v in views if v.next_offset > first_dirty and v.base_offset < upper)
    overdue = 0
    firsts = [v.first_batch_timestamp for v in dirty
              if v.first_batch_timestamp is not None and v.first_batch_timestamp > 0]
    if firsts and config.max_compaction_lag_ms < _LONG_MAX:
        overdue = max(0, now_ms - config.max_compaction_lag_ms - min(firsts))
    return CleanablePlan(first_dirty, upper, clean_bytes, dirty_bytes, overdue)


def group_segments(views: Sequence[SegmentView], config: CleanerConfig) -> list[list[SegmentView]]:
    """Cleaner.groupSegmentsBySize: runs of consecutive segments whose total size, index entries and
    offset span fit in one segment."""
    max_entries = max(1, config.segment_index_bytes // 8)
    groups: list[list[SegmentView]] = []
    for v in views:
        g = groups[-1] if groups else None
        if (g is not None and sum(x.size for x in g) + v.size <= config.segment_bytes
                and sum(x.index_entries for x in g) + v.index_entries <= max_entries
                and v.next_offset - 1 - g[0].base_offset <= MAX_RELATIVE_OFFSET):
            g.append(v)
        else:
            groups.append([v])
    return groups


@dataclass(slots=True)
class CleanedGroup:
    base_offset: int
    old: list[SegmentView]
    swap_files: list[tuple[Path, Path]]  # (.swap path, final path), the .log last
    bytes_in: int
    bytes_out: int
    segment: LogSegment  # the new segment, loaded off the loop from the .swap files


class CleaningAborted(Exception):
    """The broker is shutting down: the step stopped and removed its partial files."""


@dataclass(slots=True)
class CleaningPass:
    """One cleaning of one log; see the module docstring for the steps and where each runs."""
    dir: Path
    views: list[SegmentView]  # the log's non-active segments, oldest first
    plan: CleanablePlan
    config: CleanerConfig
    now_ms: int
    last_data_offsets: dict[int, int]  # producer id -> last offset of its last data batch
    max_map_entries: int = 1 << 22
    filter: BatchFilter | None = None
    groups: list[list[SegmentView]] = field(default_factory=list)
    log: PartitionLog | None = None  # the log being cleaned (the driver's; never used off the loop)
    stop_requested: bool = False  # set on the loop at shutdown; the running step stops soon after

    @property
    def end_offset(self) -> int:
        """The new cleaner checkpoint: everything below it has been deduplicated."""
        return self.filter.map_latest + 1 if self.filter is not None else self.plan.first_dirty

    # -- step 1, off the loop ------------------------------------------------------------------

    def build_map(self) -> None:
        start, upper = self.plan.first_dirty, self.plan.first_uncleanable
        aborted, undecided = self._classify_transactions(upper)
        offset_map: dict[bytes, int] = {}
        latest = start - 1
        for v in self.views:
            if v.next_offset <= start:
                continue
            if v.base_offset >= upper:
                break
            for _pos, header, body in _scan(v):
                if self.stop_requested:
                    raise CleaningAborted
                if header.base_offset >= upper:
                    break
                if (header.last_offset < start or header.is_control
                        or header.base_offset in aborted or header.base_offset in undecided):
                    continue
                try:
                    section = records_section(body, header)
                    for rec in iter_raw_records(section, header.records_count):
                        offset = header.base_offset + rec.offset_delta
                        if rec.key is not None and start <= offset < upper:
                            offset_map[rec.key] = offset
                except Exception:  # noqa: BLE001 - unreadable batches are kept, not mapped
                    continue
            latest = min(v.next_offset, upper) - 1
            if len(offset_map) >= self.max_map_entries:
                break  # map full: stop at this segment boundary, the rest stays dirty
        self.filter = BatchFilter(offset_map, latest, self.now_ms, self.config.delete_retention_ms,
                                  aborted, undecided, dict(self.last_data_offsets))
        self.groups = group_segments([v for v in self.views if v.base_offset < self.end_offset], self.config)

    def _classify_transactions(self, upper: int) -> tuple[set[int], set[int]]:
        """Base offsets of transactional data batches below ``upper`` whose transaction was aborted,
        and of those whose marker is not below ``upper`` (what Kafka reads from the .txnindex)."""
        open_txns: dict[int, list[int]] = {}
        aborted: set[int] = set()
        for v in self.views:
            if v.base_offset >= upper:
                break
            for _pos, header, body in _scan(v):
                if header.base_offset >= upper:
                    break
                if header.is_control:
                    batches = open_txns.pop(header.producer_id, [])
                    if control_type(body, header) == CONTROL_ABORT:
                        aborted.update(batches)
                elif header.is_transactional:
                    open_txns.setdefault(header.producer_id, []).append(header.base_offset)
        return aborted, {b for batches in open_txns.values() for b in batches}

    # -- step 2, off the loop ------------------------------------------------------------------

    def clean_group(self, index: int) -> CleanedGroup:
        assert self.filter is not None, "build_map first"
        group = self.groups[index]
        base = group[0].base_offset
        final = {s: self.dir / offset_file_name(base, s) for s in SEGMENT_FILE_SUFFIXES}
        cleaned = {s: p.with_name(p.name + CLEANED_SUFFIX) for s, p in final.items()}
        for p in cleaned.values():
            p.unlink(missing_ok=True)
        # Never touch the live segment's files: every path of the writer is a .cleaned one.
        writer = self._segment_at(base, cleaned)
        writer.open_for_append()
        try:
            for v in group:
                for _pos, header, body in _scan(v):
                    if self.stop_requested:
                        raise CleaningAborted
                    out = self.filter.clean(body, header)
                    if out is not None:
                        writer.append(out, header if out is body else read_batch_header(out))
            writer.close(sync=True)
        except BaseException:
            writer.release()
            for p in cleaned.values():
                p.unlink(missing_ok=True)
            raise
        txn_entries = b"".join(_read_if_exists(v.path.with_suffix(TXN_INDEX_SUFFIX)) for v in group)
        suffixes = [INDEX_SUFFIX, TIME_INDEX_SUFFIX]
        if txn_entries:  # aborted-transaction entries stay with the data they describe
            write_synced(cleaned[TXN_INDEX_SUFFIX], txn_entries)
            suffixes.append(TXN_INDEX_SUFFIX)
        swaps = []
        for s in [*suffixes, LOG_SUFFIX]:  # the .log rename last: it commits the swap
            swap = final[s].with_name(final[s].name + SWAP_SUFFIX)
            os.replace(cleaned[s], swap)
            swaps.append((swap, final[s]))
        fsync_dir(self.dir)
        # Load the new segment (indexes, stats) here, off the loop, from the .swap files; install
        # then only renames and swaps objects in memory.
        segment = self._segment_at(base, {s: p.with_name(p.name + SWAP_SUFFIX) for s, p in final.items()})
        if not segment.load():
            segment.recover(f"cleaned segment {segment.log_path}")
        return CleanedGroup(base, group, swaps, sum(v.size for v in group), writer.size, segment)

    def _segment_at(self, base: int, paths: dict[str, Path]) -> LogSegment:
        # A cache of its own: this runs off the loop and must never evict the loop's descriptors.
        segment = LogSegment(self.dir, base, index_interval_bytes=self.config.index_interval_bytes,
                             max_index_bytes=self.config.segment_index_bytes, created_ms=self.now_ms,
                             open_files=OpenFiles(2))
        _point_at(segment, paths)
        return segment


def _point_at(segment: LogSegment, paths: dict[str, Path]) -> None:
    """Give a segment object other file names (the .cleaned or .swap files, or the final ones)."""
    segment.log_path = paths[LOG_SUFFIX]
    segment.offset_index.path = paths[INDEX_SUFFIX]
    segment.time_index.path = paths[TIME_INDEX_SUFFIX]
    segment.txn_index.path = paths[TXN_INDEX_SUFFIX]


def _scan(v: SegmentView):  # type: ignore[no-untyped-def]
    """(position, header, batch) of every batch of a non-active segment, read from its file."""
    fd = os.open(v.path, os.O_RDONLY)
    try:
        for pos, header, body in BatchScanner(fd, 0, v.size, with_body=True):
            assert body is not None
            yield pos, header, body
    finally:
        os.close(fd)


def _read_if_exists(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return b""


# -- step 3, on the loop -------------------------------------------------------------------------

def still_installable(plog: PartitionLog, cleaned: CleanedGroup) -> bool:
    """The old segments are still in the log, consecutive and not active (retention or a topic
    deletion may have changed the log while the group was being cleaned)."""
    segments = plog.segments
    first = cleaned.old[0].segment
    if first not in segments:
        return False
    i = segments.index(first)
    olds = [v.segment for v in cleaned.old]
    return segments[i : i + len(olds)] == olds and i + len(olds) < len(segments)


def discard(cleaned: CleanedGroup) -> None:
    for swap, _final in cleaned.swap_files:
        swap.unlink(missing_ok=True)


def install(plog: PartitionLog, cleaned: CleanedGroup) -> list[Path]:
    """Swap the cleaned segment in for the old ones; returns the ``.deleted`` files to remove.
    Renames and in-memory changes only: the new segment was loaded by ``clean_group``."""
    deleted = [path for v in cleaned.old for path in v.segment.mark_deleted()]
    for swap, final in cleaned.swap_files:
        os.replace(swap, final)
    segment = cleaned.segment
    _point_at(segment, {s: plog.dir / offset_file_name(cleaned.base_offset, s)
                        for s in SEGMENT_FILE_SUFFIXES})
    segment.created_ms = plog.active.created_ms
    plog.replace_segments([v.segment for v in cleaned.old], segment)
    return deleted
