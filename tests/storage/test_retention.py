"""Retention policy (pure, fake clock) and its application to a PartitionLog with small segments."""

from __future__ import annotations

from pathlib import Path

import pytest

from pykafka_broker.protocol.errors import ErrorCode, KafkaError
from pykafka_broker.protocol.records import build_batch, read_batch_header
from pykafka_broker.storage.files import remove_files
from pykafka_broker.storage.log import LogConfig, PartitionLog
from pykafka_broker.storage.manager import LogManager
from pykafka_broker.storage.retention import (
    RetentionConfig,
    SegmentStats,
    delete_old_segments,
    plan_deletion,
)

NOW = 1_700_000_000_000
HOUR = 3_600_000


def _plan(segments: list[SegmentStats], config: RetentionConfig, *, lso: int = 0, now: int = NOW,
          leo: int | None = None, hw: int | None = None) -> int:
    end = leo if leo is not None else segments[-1].base_offset + (1 if segments[-1].size else 0)
    return plan_deletion(segments, log_end_offset=end, log_start_offset=lso,
                         high_watermark=end if hw is None else hw, config=config, now_ms=now).count


def _segs(*specs: tuple[int, int, int]) -> list[SegmentStats]:
    return [SegmentStats(base, size, ts) for base, size, ts in specs]


# -- the pure policy -------------------------------------------------------------------------------

def test_time_retention_deletes_the_expired_run_of_oldest_segments() -> None:
    segs = _segs((0, 100, NOW - 5 * HOUR), (10, 100, NOW - 3 * HOUR), (20, 100, NOW - 5 * HOUR),
                 (30, 100, NOW))
    assert _plan(segs, RetentionConfig(retention_ms=4 * HOUR)) == 1  # stops at the first kept one
    assert _plan(segs, RetentionConfig(retention_ms=2 * HOUR)) == 3
    assert _plan(segs, RetentionConfig(retention_ms=3 * HOUR)) == 1  # exactly the limit is kept
    assert _plan(segs, RetentionConfig(retention_ms=-1)) == 0
    # The active segment goes too when it is expired and not empty (the log rolls first).
    assert _plan(segs, RetentionConfig(retention_ms=0), now=NOW + 1) == 4
    # ... but an empty last segment never does.
    assert _plan(segs + _segs((31, 0, -1)), RetentionConfig(retention_ms=0), now=NOW + 1, leo=31) == 4


def test_size_retention_keeps_at_least_retention_bytes() -> None:
    segs = _segs((0, 100, NOW), (10, 100, NOW), (20, 100, NOW), (30, 50, NOW))
    assert _plan(segs, RetentionConfig(retention_bytes=150)) == 2  # 350 - 200 = 150 left
    assert _plan(segs, RetentionConfig(retention_bytes=149)) == 2  # a third would leave 50 < 149
    assert _plan(segs, RetentionConfig(retention_bytes=250)) == 1
    assert _plan(segs, RetentionConfig(retention_bytes=350)) == 0
    assert _plan(segs, RetentionConfig(retention_bytes=400)) == 0
    assert _plan(segs, RetentionConfig(retention_bytes=0)) == 4
    assert _plan(segs, RetentionConfig(retention_bytes=-1)) == 0


def test_log_start_offset_breach_and_compact_only_topics() -> None:
    segs = _segs((0, 100, NOW - 9 * HOUR), (10, 100, NOW - 9 * HOUR), (20, 100, NOW - 9 * HOUR),
                 (30, 100, NOW - 9 * HOUR))
    compact = RetentionConfig(retention_ms=HOUR, retention_bytes=0, delete=False)
    assert _plan(segs, compact, lso=0) == 0
    assert _plan(segs, compact, lso=19) == 1
    assert _plan(segs, compact, lso=20) == 2  # the next segment starts at the log start offset
    assert _plan(segs, compact, lso=31) == 3  # never the active segment
    assert _plan(segs, RetentionConfig(retention_ms=HOUR), lso=0) == 4


def test_nothing_at_or_above_the_high_watermark_is_deleted() -> None:
    segs = _segs((0, 100, 0), (10, 100, 0), (20, 100, 0))
    assert _plan(segs, RetentionConfig(retention_ms=0), leo=25, hw=15) == 1
    assert _plan(segs, RetentionConfig(retention_ms=0), leo=25, hw=20) == 2


def test_config_from_topic_names() -> None:
    cfg = RetentionConfig.from_topic_configs({"retention.ms": "5", "retention.bytes": "7",
                                              "cleanup.policy": "compact, delete",
                                              "file.delete.delay.ms": "0"})
    assert cfg == RetentionConfig(5, 7, True, 0)
    assert not RetentionConfig.from_topic_configs({"cleanup.policy": "compact"}).delete
    assert RetentionConfig.from_topic_configs({}) == RetentionConfig()


# -- applied to a PartitionLog ---------------------------------------------------------------------

def _batch(ts: int, n: int = 2) -> bytearray:
    return build_batch([(b"k", b"value-%d" % i, [], ts) for i in range(n)])


BATCH_SIZE = len(_batch(NOW))


def _log(path: Path, **cfg: int) -> PartitionLog:
    # segment.bytes just above one batch: every batch starts a segment
    config = LogConfig(segment_bytes=BATCH_SIZE + 10, **cfg)
    return PartitionLog.open(path, "t", 0, config, recovery_point=0, now_ms=NOW)


def _fill(plog: PartitionLog, timestamps: list[int]) -> None:
    for ts in timestamps:
        b = _batch(ts)
        plog.append(b, read_batch_header(b), NOW)


def _deleted(path: Path) -> list[str]:
    return sorted(p.name for p in path.iterdir() if p.name.endswith(".deleted"))


def test_time_retention_on_a_log_renames_then_removes_files(tmp_path: Path) -> None:
    plog = _log(tmp_path / "t-0")
    _fill(plog, [NOW - 5 * HOUR, NOW - 4 * HOUR, NOW - HOUR, NOW])
    assert [s.base_offset for s in plog.segments] == [0, 2, 4, 6]
    result = delete_old_segments(plog, RetentionConfig(retention_ms=2 * HOUR), NOW)
    assert result.segments == 2 and "retention time" in result.reasons[0]
    assert [s.base_offset for s in plog.segments] == [4, 6]
    assert plog.log_start_offset == 4 and plog.log_end_offset == 8
    names = _deleted(tmp_path / "t-0")
    assert "00000000000000000000.log.deleted" in names and "00000000000000000002.index.deleted" in names
    assert not (tmp_path / "t-0" / "00000000000000000000.log").exists()
    assert set(map(Path, result.renamed)) >= {tmp_path / "t-0" / n for n in names}
    remove_files(result.renamed)
    assert _deleted(tmp_path / "t-0") == []
    with pytest.raises(KafkaError) as info:
        plog.read(3, 1 << 20)
    assert info.value.code == ErrorCode.OFFSET_OUT_OF_RANGE
    assert plog.read(4, 1 << 20).size == 2 * BATCH_SIZE
    # Nothing more is due: a second pass is a no-op.
    assert delete_old_segments(plog, RetentionConfig(retention_ms=2 * HOUR), NOW).segments == 0
    plog.close()


def test_size_retention_on_a_log(tmp_path: Path) -> None:
    plog = _log(tmp_path / "t-0")
    _fill(plog, [NOW] * 5)
    result = delete_old_segments(plog, RetentionConfig(retention_bytes=2 * BATCH_SIZE + 1), NOW)
    assert result.segments == 2 and plog.log_start_offset == 4
    assert plog.size_bytes() == 3 * BATCH_SIZE
    plog.close()


def test_all_expired_rolls_the_active_segment_and_appends_continue(tmp_path: Path) -> None:
    plog = _log(tmp_path / "t-0")
    _fill(plog, [NOW - 3 * HOUR, NOW - 2 * HOUR])
    result = delete_old_segments(plog, RetentionConfig(retention_ms=HOUR), NOW)
    assert result.segments == 2
    assert [s.base_offset for s in plog.segments] == [4] and plog.active.size == 0
    assert (plog.log_start_offset, plog.log_end_offset) == (4, 4)
    assert plog.read(4, 1000).size == 0
    _fill(plog, [NOW])
    assert plog.read(4, 1 << 20).size == BATCH_SIZE
    # the empty active segment left behind is never deleted
    assert delete_old_segments(plog, RetentionConfig(retention_ms=HOUR), NOW).segments == 0
    plog.close()


def test_delete_records_offset_inside_a_segment(tmp_path: Path) -> None:
    plog = _log(tmp_path / "t-0")
    _fill(plog, [NOW] * 3)  # segments at 0, 2, 4; LEO 6
    assert plog.increment_log_start_offset(3)
    assert not plog.increment_log_start_offset(1)  # never backwards
    assert plog.log_start_offset == 3
    with pytest.raises(KafkaError) as info:
        plog.increment_log_start_offset(7)
    assert info.value.code == ErrorCode.OFFSET_OUT_OF_RANGE
    with pytest.raises(KafkaError):
        plog.read(2, 1 << 20)
    # A fetch at the start gets the whole batch holding it (clients skip the records before it).
    assert read_batch_header(bytes(plog.read(3, 1 << 20).chunks[0])).base_offset == 2
    result = delete_old_segments(plog, RetentionConfig(retention_ms=-1, delete=False), NOW)
    assert result.segments == 1 and "log start offset 3" in result.reasons[0]
    assert plog.log_start_offset == 3 and plog.segments[0].base_offset == 2
    plog.close()


def test_producer_snapshots_below_the_new_start_are_removed(tmp_path: Path) -> None:
    plog = _log(tmp_path / "t-0")
    _fill(plog, [NOW] * 4)  # a roll snapshots producer state at 2, 4, 6
    assert plog.producer_state.snapshot_offsets()[-1] == 6
    result = delete_old_segments(plog, RetentionConfig(retention_bytes=BATCH_SIZE), NOW)
    assert result.segments == 3
    assert all(o >= 6 for o in plog.producer_state.snapshot_offsets())
    plog.close()


def test_log_start_offset_persists_and_deleted_leftovers_go_at_restart(tmp_path: Path) -> None:
    mgr = LogManager(tmp_path, now_ms=NOW)
    mgr.load({"segment.bytes": str(BATCH_SIZE + 10)})
    mgr.create_topic("t", 1, {})
    plog = mgr.get_log("t", 0)
    assert plog is not None
    _fill(plog, [NOW - 5 * HOUR, NOW - 4 * HOUR, NOW])
    result = delete_old_segments(plog, RetentionConfig(retention_ms=HOUR), NOW)
    assert result.segments == 2
    plog.increment_log_start_offset(5)  # inside the remaining segment
    mgr.checkpoint()
    assert "t 0 5" in (tmp_path / "log-start-offset-checkpoint").read_text()
    # killed before the delayed removal ran: the .deleted files are still there
    assert _deleted(tmp_path / "t-0")
    again = LogManager(tmp_path, now_ms=NOW)
    again.load({"segment.bytes": str(BATCH_SIZE + 10)})
    reloaded = again.get_log("t", 0)
    assert reloaded is not None
    assert (reloaded.log_start_offset, reloaded.log_end_offset) == (5, 6)
    assert [s.base_offset for s in reloaded.segments] == [4]
    assert _deleted(tmp_path / "t-0") == []
    with pytest.raises(KafkaError):
        reloaded.read(4, 1 << 20)
    again.close()
