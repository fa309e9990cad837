"""Retention: which whole segments go, and the renames that take them out of a log.

The policy mirrors Kafka's ``UnifiedLog.deleteOldSegments``. Three rules, applied in this order, each
to what the previous ones left; each deletes a run of the oldest segments and stops at the first one
it keeps:

- ``retention.ms`` (-1: forever): a segment whose largest timestamp is more than ``retention.ms``
  before now. The largest timestamp is the largest record timestamp, or the file's modification
  time when no record carries one (LogSegment.largestTimestamp).
- ``retention.bytes`` (-1: no limit): while the log is larger than the limit, the oldest segments
  whose removal still leaves at least ``retention.bytes`` (never cutting below it).
- the log start offset (after DeleteRecords): a segment whose successor begins at or below it.

The first two apply only when ``cleanup.policy`` includes ``delete``; the third always. Only data
below the high watermark is eligible, and an empty last segment is never deleted. The active segment
is eligible: when every segment would go, the log rolls first (PartitionLog.remove_oldest_segments),
so an empty active segment at the log end remains and the log start offset moves to the log end.

``plan_deletion`` is pure (tests drive it with a fake clock). ``delete_old_segments`` applies a plan
to a PartitionLog: segments leave the log, their files are renamed to ``*.deleted`` (fast; done on
the event loop), and the caller removes the renamed files after ``file.delete.delay.ms``, off the
loop (broker/log_lifecycle.py). A crash in between leaves ``*.deleted`` files that the next start
removes (log_loader.clean_directory).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .files import rename_to_deleted
from .segment import NO_TIMESTAMP, LogSegment

if TYPE_CHECKING:
    from .log import PartitionLog



@dataclass(frozen=True, slots=True)
class RetentionConfig:
    retention_ms: int = 604800000  # retention.ms
    retention_bytes: int = -1  # retention.bytes
    delete: bool = True  # cleanup.policy includes "delete"
    file_delete_delay_ms: int = 60000  # file.delete.delay.ms

    @classmethod
    def from_topic_configs(cls, configs: Mapping[str, str]) -> RetentionConfig:
        """Build from Kafka topic-level config names; missing keys keep Kafka's defaults."""
        default = cls()
        policy = configs.get("cleanup.policy", "delete")
        return cls(
            retention_ms=int(configs.get("retention.ms", default.retention_ms)),
            retention_bytes=int(configs.get("retention.bytes", default.retention_bytes)),
            delete="delete" in {p.strip().lower() for p in policy.split(",")},
            file_delete_delay_ms=int(configs.get("file.delete.delay.ms", default.file_delete_delay_ms)),
        )


@dataclass(frozen=True, slots=True)
class SegmentStats:
    base_offset: int
    size: int
    largest_timestamp: int


@dataclass(frozen=True, slots=True)
class RetentionPlan:
    count: int  # how many of the oldest segments to delete
    reasons: tuple[str, ...] = ()


def plan_deletion(segments: Sequence[SegmentStats], *, log_end_offset: int, log_start_offset: int,
                  high_watermark: int, config: RetentionConfig, now_ms: int) -> RetentionPlan:
    """How many of the oldest ``segments`` (ordered by base offset, the active one last) retention
    deletes now, and why."""
    done = 0
    reasons: list[str] = []

    def take(predicate: Callable[[int], bool], reason: str) -> None:
        nonlocal done
        n = _deletable_run(segments, done, predicate, log_end_offset, high_watermark)
        if n:
            done += n
            reasons.append(reason)

    if config.delete and config.retention_ms >= 0:
        take(lambda i: now_ms - segments[i].largest_timestamp > config.retention_ms,
             f"retention time {config.retention_ms}ms breach")
    if config.delete and config.retention_bytes >= 0:
        excess = sum(s.size for s in segments[done:]) - config.retention_bytes
        if excess >= 0:
            def within_excess(i: int) -> bool:
                nonlocal excess
                if excess - segments[i].size < 0:
                    return False
                excess -= segments[i].size
                return True
            take(within_excess, f"retention size in bytes {config.retention_bytes} breach")
    take(lambda i: i + 1 < len(segments) and segments[i + 1].base_offset <= log_start_offset,
         f"log start offset {log_start_offset} breach")
    return RetentionPlan(done, tuple(reasons))


def _deletable_run(segments: Sequence[SegmentStats], start: int, predicate: Callable[[int], bool],
                   log_end_offset: int, high_watermark: int) -> int:
    """Length of the run of segments from ``start`` that ``predicate`` accepts (LocalLog
    .deletableSegments): each must lie wholly below the high watermark, and an empty last segment
    always stays."""
    i = start
    while i < len(segments):
        is_last = i + 1 == len(segments)
        upper = log_end_offset if is_last else segments[i + 1].base_offset
        if high_watermark < upper or (is_last and segments[i].size == 0) or not predicate(i):
            break
        i += 1
    return i - start


# -- applying a plan to a log (file renames: fast, on the event loop) ------------------------------


def segment_stats(segment: LogSegment) -> SegmentStats:
    largest = segment.max_timestamp
    if largest == NO_TIMESTAMP:
        try:
            largest = int(segment.log_path.stat().st_mtime * 1000)
        except FileNotFoundError:
            largest = NO_TIMESTAMP
    return SegmentStats(segment.base_offset, segment.size, largest)


@dataclass(frozen=True, slots=True)
class DeletionResult:
    segments: int  # how many segments left the log
    renamed: list[Path]  # ``*.deleted`` files for the caller to remove after file.delete.delay.ms
    reasons: tuple[str, ...] = ()


def delete_old_segments(plog: PartitionLog, config: RetentionConfig, now_ms: int) -> DeletionResult:
    """Apply retention to ``plog`` now: take the planned segments out of the log (advancing its log
    start offset), rename their files and the producer-state snapshots below the new log start to
    ``*.deleted``. The caller deletes the returned files, off the event loop."""
    plan = plan_deletion([segment_stats(s) for s in plog.segments], log_end_offset=plog.log_end_offset,
                         log_start_offset=plog.log_start_offset, high_watermark=plog.log_end_offset,
                         config=config, now_ms=now_ms)
    if plan.count == 0:
        return DeletionResult(0, [])
    removed = plog.remove_oldest_segments(plan.count, now_ms)
    renamed = [path for segment in removed for path in segment.mark_deleted()]
    renamed += _mark_snapshots_deleted(plog, plog.segments[0].base_offset)
    return DeletionResult(len(removed), renamed, plan.reasons)


def _mark_snapshots_deleted(plog: PartitionLog, below: int) -> list[Path]:
    """Producer-state snapshots of deleted segments (UnifiedLog.deleteProducerSnapshots)."""
    state = plog.producer_state
    return rename_to_deleted(state.snapshot_path(o) for o in state.snapshot_offsets() if o < below)

