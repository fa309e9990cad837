"""Opening a partition log: clean the directory, load or recover each segment, rebuild producer
state (Kafka's LogLoader).

Only the segments holding offsets at or past the recovery point are unflushed (recoverLog): each is
rescanned, and a truncation in one drops the unflushed segments after it, which were written after
the torn point. Below the recovery point a segment is rescanned only when its files are
inconsistent (a missing or insane index, a torn tail: loadSegmentFiles); corruption found there is
reported and cut from that segment alone, and every later segment is kept.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from .files import (
    INDEX_SUFFIX,
    LOG_SUFFIX,
    STRAY_SUFFIXES,
    TIME_INDEX_SUFFIX,
    TXN_INDEX_SUFFIX,
    complete_interrupted_swaps,
    fsync_path,
    offset_from_file_name,
)
from .producer_state import CompletedTxn
from .segment import LogSegment
from .txn_index import parse_end_txn_marker

if TYPE_CHECKING:
    from .log import PartitionLog

log = logging.getLogger("pykafka_broker.storage.log")


def load_log(plog: PartitionLog, *, recovery_point: int | None, now_ms: int,
             log_start_offset: int | None) -> None:
    """Fill a new, empty ``PartitionLog`` from its directory (see ``PartitionLog.open``)."""
    dir = plog.dir
    describe = f"partition {plog.topic}-{plog.partition}"
    plog._dirs_unsynced = not dir.exists()
    dir.mkdir(parents=True, exist_ok=True)
    bases = clean_directory(dir)
    recovered: list[LogSegment] = []
    truncated = False
    for i, base in enumerate(bases):
        segment = plog._new_segment(base, now_ms)
        if truncated:
            log.warning("%s: deleting unflushed segment %s after a truncated one",
                        describe, segment.log_path)
            segment.delete()
            continue
        consistent = segment.load()
        # LogLoader.recoverLog: only the segments holding offsets at or past the recovery point
        # are unflushed; a truncation there drops the unflushed segments after it. Below the
        # recovery point a segment with a bad index or a corrupt batch is recovered alone
        # (loadSegmentFiles): its corruption is reported and later segments are kept.
        if recovery_point is None:
            unflushed = True
        elif i + 1 < len(bases):
            unflushed = bases[i + 1] > recovery_point
        else:
            unflushed = segment.next_offset > recovery_point
        if not consistent or unflushed:
            log.info("%s: recovering %s segment %s", describe,
                     "unflushed" if unflushed else "inconsistent", segment.log_path.name)
            dropped = segment.recover(describe)
            if dropped and unflushed:
                truncated = True
            elif dropped:
                log.error("%s: corrupt data in %s below the recovery point %s; the segment's tail "
                          "was dropped, later segments are kept", describe,
                          segment.log_path, recovery_point)
            segment.txn_index.reset()  # rebuilt from the markers by _load_producer_state
            recovered.append(segment)
        plog.segments.append(segment)
    if not plog.segments:
        start = log_start_offset or 0
        plog.segments.append(plog._new_segment(start, now_ms))
        if start == 0:
            # A never-written partition: its empty .log is made by the first append (the append
            # descriptor is opened with O_CREAT), so the flush after it syncs the new name too.
            plog._dirs_unsynced = True
        else:  # the name records the log start offset should the checkpoint be lost
            plog.active.open_for_append()
    else:
        plog.active.open_for_append()
    plog._bases = [s.base_offset for s in plog.segments]
    plog.log_end_offset = plog.active.next_offset
    first_base = plog.segments[0].base_offset
    plog.log_start_offset = min(max(log_start_offset or first_base, first_base), plog.log_end_offset)
    if recovered:
        for segment in recovered:  # every recovered segment is in the log (a deleted one is not recovered)
            fsync_path(segment.log_path)
        plog.recovery_point = plog.log_end_offset
    else:
        plog.recovery_point = min(recovery_point or 0, plog.log_end_offset)
    load_producer_state(plog, recovered)
    if not recovered:  # every file is as the last close left it: closing untouched writes nothing
        plog.mark_opened()


def init_new_log(plog: PartitionLog, now_ms: int) -> None:
    """A partition just made in a new, empty directory (CreateTopics, CreatePartitions): one empty
    segment at offset 0 whose files do not exist yet. Its ``.log`` is created by the first append,
    its indexes at the first flush, roll or close after that; a restart before any of those finds
    no segment and makes the same empty one (``load_log``). No directory listing, no snapshot
    lookup: nothing can be there."""
    plog._dirs_unsynced = True  # the partition's directory entry and its files' entries
    plog.segments.append(plog._new_segment(0, now_ms))
    plog._bases = [0]
    plog.mark_opened()


def clean_directory(dir: Path) -> list[int]:
    """Remove leftovers of interrupted operations and orphan indexes; the segment base offsets."""
    names = complete_interrupted_swaps(dir)  # a committed compaction swap (.swap files) first
    bases = {offset_from_file_name(n) for n in names if n.endswith(LOG_SUFFIX)}
    for name in names:
        offset = offset_from_file_name(name)
        stray = name.endswith(STRAY_SUFFIXES)
        orphan = name.endswith((INDEX_SUFFIX, TIME_INDEX_SUFFIX, TXN_INDEX_SUFFIX)) and offset not in bases
        if stray or orphan:
            (dir / name).unlink(missing_ok=True)
    return sorted(b for b in bases if b is not None)


def load_producer_state(plog: PartitionLog, rebuild: list[LogSegment]) -> None:
    """Newest snapshot at or below the end of the log and below every segment in ``rebuild``,
    then replay the batches after it. The markers replayed in a ``rebuild`` segment re-index
    its aborted transactions (LogSegment.recover with a ProducerStateManager, in Kafka), so a
    crash between a marker and its ``.txnindex`` entry loses nothing."""
    state = plog.producer_state
    start = state.load_latest_snapshot(min([plog.log_end_offset, *(s.base_offset for s in rebuild)]))
    if start is None:
        start = plog.segments[0].base_offset
    for segment in plog.segments:
        if segment.next_offset > start:
            for header, batch in segment.iter_replay(start):
                completed = state.commit(header, parse_end_txn_marker(batch) if batch else None)
                if segment in rebuild:
                    index_completed(segment, completed)


def index_completed(segment: LogSegment, completed: CompletedTxn | None) -> None:
    """Put an aborted transaction in the ``.txnindex`` of the segment holding its marker
    (LogSegment.updateTxnIndex); committed ones leave no trace."""
    if completed is not None and completed.aborted:
        segment.txn_index.append(completed.as_aborted_txn())
