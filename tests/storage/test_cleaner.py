"""Log compaction (storage/cleaner.py): unit tests with a fake clock, no sockets, no event loop."""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from storage_helpers import NOW

from pykafka_broker.protocol.records import build_batch, decode_records, iter_batches, read_batch_header
from pykafka_broker.storage.cleaner import (
    CleanerConfig,
    CleaningPass,
    install,
    non_active_views,
    plan_cleaning,
    still_installable,
)
from pykafka_broker.storage.cleaner_records import DELETE_HORIZON_FLAG
from pykafka_broker.storage.files import remove_files
from pykafka_broker.storage.log import LogConfig, PartitionLog
from pykafka_broker.storage.segment import LogSegment

SEGMENT = 400  # bytes: a few batches per segment
DAY = 86_400_000


def open_log(path: Path, *, recovery_point: int | None = 0) -> PartitionLog:
    return PartitionLog.open(path, "t", 0, LogConfig(segment_bytes=SEGMENT, index_interval_bytes=64),
                             recovery_point=recovery_point, now_ms=NOW)


def put(plog: PartitionLog, *records: tuple[bytes | None, bytes | None], ts: int = NOW, **kw: object) -> int:
    batch = build_batch([(k, v, [], ts + i) for i, (k, v) in enumerate(records)], **kw)  # type: ignore[arg-type]
    return plog.append(batch, read_batch_header(batch), ts).base_offset


def marker(plog: PartitionLog, pid: int, commit: bool, ts: int = NOW) -> int:
    key = struct.pack(">hh", 0, 1 if commit else 0)
    batch = build_batch([(key, struct.pack(">hi", 0, 0), [], ts)], producer_id=pid, producer_epoch=0,
                        transactional=True, control=True)
    return plog.append(batch, read_batch_header(batch), ts).base_offset


def config(**kw: object) -> CleanerConfig:
    return CleanerConfig(**{"compact": True, "segment_bytes": 1 << 20, "index_interval_bytes": 64, **kw})  # type: ignore[arg-type]


def clean(plog: PartitionLog, cfg: CleanerConfig | None = None, *, now: int = NOW,
          checkpoint: int | None = None, lso: int | None = None) -> CleaningPass:
    cfg = cfg or config()
    views = non_active_views(plog)
    plan = plan_cleaning(views, active_base=plog.active.base_offset, log_start_offset=plog.log_start_offset,
                         checkpoint=checkpoint, lso=plog.last_stable_offset if lso is None else lso,
                         config=cfg, now_ms=now)
    last = {pid: e.batches[-1].last_offset for pid, e in plog.producer_state.producers.items() if e.batches}
    cleaning = CleaningPass(plog.dir, views, plan, cfg, now, last)
    cleaning.build_map()
    for i in range(len(cleaning.groups)):
        cleaned = cleaning.clean_group(i)
        assert still_installable(plog, cleaned)
        with no_segment_loading():  # install runs on the event loop: renames and memory only
            remove_files(install(plog, cleaned))
    return cleaning


@contextmanager
def no_segment_loading() -> Iterator[None]:
    def refuse(*_args: object, **_kw: object) -> bool:
        raise AssertionError("segment files read during install (on the event loop)")
    saved = LogSegment.load, LogSegment.recover
    LogSegment.load = LogSegment.recover = refuse  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        LogSegment.load, LogSegment.recover = saved  # type: ignore[method-assign]


def batches(plog: PartitionLog):  # type: ignore[no-untyped-def]
    data = b"".join(bytes(c) for c in plog.read(plog.log_start_offset, 1 << 30).chunks)
    return [(h, data[p : p + h.size]) for p, h in iter_batches(data)]


def records(plog: PartitionLog) -> list[tuple[int, bytes | None, bytes | None, int]]:
    return [(r.offset, r.key, r.value, r.timestamp) for h, b in batches(plog) if not h.is_control
            for r in decode_records(b)]


def fill(plog: PartitionLog, rounds: int = 6, keys: int = 4) -> dict[bytes, tuple[int, bytes]]:
    latest = {}
    for r in range(rounds):
        for k in range(keys):
            key, value = f"k{k}".encode(), f"v{r}-{k}".encode() * 5
            latest[key] = (put(plog, (key, value), ts=NOW + r * 100 + k), value)
    return latest


@pytest.mark.parametrize("group_bytes", [1 << 20, 2 * SEGMENT])
def test_latest_value_per_key_offsets_and_timestamps_kept(tmp_path: Path, group_bytes: int) -> None:
    plog = open_log(tmp_path / "t-0")
    fill(plog)
    before = records(plog)
    active_base = plog.active.base_offset
    assert len(plog.segments) > 3
    cleaning = clean(plog, config(segment_bytes=group_bytes))
    assert len(cleaning.groups) == (1 if group_bytes > SEGMENT * 100 else len(plog.segments) - 1)
    after = records(plog)
    in_active = [r for r in before if r[0] >= active_base]
    cleaned = [r for r in after if r[0] < active_base]
    expected = {}
    for r in before:
        if r[0] < active_base:
            expected[r[1]] = r
    assert cleaned == sorted(expected.values())  # latest per key, same offset, value and timestamp
    assert [r for r in after if r[0] >= active_base] == in_active  # the active segment is untouched
    offsets = [r[0] for r in after]
    assert offsets == sorted(offsets) and len(offsets) < len(before)  # increasing, with gaps
    assert plog.log_end_offset == before[-1][0] + 1
    # Reading from an offset that was compacted away starts at the next surviving record.
    gone = next(r[0] for r in before if r[0] not in offsets)
    first = decode_records(bytes(plog.read(gone, 1 << 20).chunks[0]))
    assert min(x.offset for x in first if x.offset >= gone) > gone
    plog.close()
    reopened = open_log(tmp_path / "t-0")  # indexes of the cleaned segments load as consistent
    assert records(reopened) == after
    assert not [n for n in os.listdir(tmp_path / "t-0") if n.endswith((".swap", ".cleaned", ".deleted"))]


def test_tombstones_kept_for_delete_retention_then_removed(tmp_path: Path) -> None:
    plog = open_log(tmp_path / "t-0")
    put(plog, (b"a", b"1"), (b"b", b"1"))
    put(plog, (b"a", None))  # tombstone for a
    plog.roll(NOW)
    put(plog, (b"c", b"1"))
    cfg = config(delete_retention_ms=DAY)
    first = clean(plog, cfg, now=NOW)
    assert [(k, v) for _, k, v, _ in records(plog)] == [(b"b", b"1"), (b"a", None), (b"c", b"1")]
    tomb_batch = next(h for h, b in batches(plog) if any(r.value is None for r in decode_records(b)))
    assert tomb_batch.attributes & DELETE_HORIZON_FLAG and tomb_batch.base_timestamp == NOW + DAY
    assert first.filter is not None and first.filter.min_delete_horizon == NOW + DAY
    ts_before = [r[3] for r in records(plog)]
    clean(plog, cfg, now=NOW + DAY - 1, checkpoint=first.end_offset)
    assert (b"a", None) in [(k, v) for _, k, v, _ in records(plog)]
    assert [r[3] for r in records(plog)] == ts_before  # timestamps survive the rebased deltas
    last = clean(plog, cfg, now=NOW + DAY, checkpoint=first.end_offset)
    assert [(k, v) for _, k, v, _ in records(plog)] == [(b"b", b"1"), (b"c", b"1")]
    assert last.filter is not None and last.filter.min_delete_horizon is None


def test_dirty_ratio_and_compaction_lags(tmp_path: Path) -> None:
    plog = open_log(tmp_path / "t-0")
    fill(plog)
    views = non_active_views(plog)
    base = plog.active.base_offset

    def plan(cfg: CleanerConfig, checkpoint: int | None = None, now: int = NOW + 10_000):  # type: ignore[no-untyped-def]
        return plan_cleaning(views, active_base=base, log_start_offset=0, checkpoint=checkpoint,
                             lso=plog.log_end_offset, config=cfg, now_ms=now)

    fresh = plan(config())
    assert fresh.first_dirty == 0 and fresh.first_uncleanable == base and fresh.ratio == 1.0
    assert fresh.due(config())
    half = views[len(views) // 2].base_offset
    partial = plan(config(), checkpoint=half)
    assert 0 < partial.ratio < 1
    assert partial.due(config(min_cleanable_ratio=partial.ratio - 0.01))
    assert not partial.due(config(min_cleanable_ratio=partial.ratio))  # strictly above, as Kafka
    assert plan(config(), checkpoint=base).dirty_bytes == 0
    young = plan(config(min_compaction_lag_ms=10_000 - 250))  # records from NOW+250 on are too young
    assert 0 < young.first_uncleanable < base
    lso = plan_cleaning(views, active_base=base, log_start_offset=0, checkpoint=None, lso=half,
                        config=config(), now_ms=NOW)
    assert lso.first_uncleanable == half
    overdue = plan(config(max_compaction_lag_ms=1_000), checkpoint=half, now=NOW + 5_000)
    assert overdue.overdue_ms > 0 and overdue.due(config(min_cleanable_ratio=0.99))


def test_lso_bounds_the_map(tmp_path: Path) -> None:
    plog = open_log(tmp_path / "t-0")
    fill(plog)
    before = records(plog)
    stable = plog.segments[2].base_offset
    cleaning = clean(plog, lso=stable)
    assert cleaning.end_offset == stable
    assert [r for r in records(plog) if r[0] >= stable] == [r for r in before if r[0] >= stable]


def test_transactions_aborted_dropped_markers_expire(tmp_path: Path) -> None:
    plog = open_log(tmp_path / "t-0")
    txn = {"producer_id": 7, "producer_epoch": 0, "transactional": True}
    put(plog, (b"a", b"committed"), base_sequence=0, **txn)
    marker(plog, 7, commit=True)
    put(plog, (b"a", b"aborted"), (b"b", b"aborted"), base_sequence=1, **txn)
    aborted_marker = marker(plog, 7, commit=False)
    put(plog, (b"c", b"plain"))
    plog.roll(NOW)
    put(plog, (b"d", b"active"))
    cfg = config(delete_retention_ms=DAY)
    clean(plog, cfg)
    assert [(k, v) for _, k, v, _ in records(plog)] == [
        (b"a", b"committed"), (b"c", b"plain"), (b"d", b"active")]
    controls = [h for h, _ in batches(plog) if h.is_control]
    assert len(controls) == 2  # both markers stay for now; the aborted one (now empty) got a horizon
    empty = [h for h in controls if h.base_offset == aborted_marker][0]
    assert empty.attributes & DELETE_HORIZON_FLAG
    offsets = [h.base_offset for h, _ in batches(plog)]
    assert offsets == sorted(offsets)
    clean(plog, cfg, now=NOW + DAY + 1, checkpoint=plog.active.base_offset)
    controls = [h for h, _ in batches(plog) if h.is_control]
    assert [h.base_offset for h in controls] == [1]  # the committed txn still holds data


def test_open_transaction_bounds_cleaning_at_the_lso(tmp_path: Path) -> None:
    plog = open_log(tmp_path / "t-0")
    put(plog, (b"a", b"1"))
    plog.roll(NOW)
    open_txn = put(plog, (b"a", b"in-txn"), producer_id=9, producer_epoch=0, base_sequence=0,
                   transactional=True)
    put(plog, (b"a", b"2"))
    plog.roll(NOW)
    put(plog, (b"z", b"active"))
    assert plog.last_stable_offset == open_txn
    cleaning = clean(plog)
    assert cleaning.end_offset == open_txn
    assert [(k, v) for _, k, v, _ in records(plog)] == [
        (b"a", b"1"), (b"a", b"in-txn"), (b"a", b"2"), (b"z", b"active")]
    marker(plog, 9, commit=False)
    plog.roll(NOW)
    put(plog, (b"z", b"active2"))
    clean(plog, checkpoint=cleaning.end_offset)
    assert [(k, v) for _, k, v, _ in records(plog)] == [(b"a", b"2"), (b"z", b"active"), (b"z", b"active2")]


def test_producer_last_batch_kept_empty(tmp_path: Path) -> None:
    plog = open_log(tmp_path / "t-0")
    idem = {"producer_id": 3, "producer_epoch": 0}
    put(plog, (b"a", b"1"), (b"b", b"1"), base_sequence=0, **idem)
    put(plog, (b"a", b"2"), (b"b", b"2"))  # supersedes both records of the producer's last batch
    plog.roll(NOW)
    put(plog, (b"z", b"active"))
    clean(plog)
    first, _ = batches(plog)[0]
    assert (first.base_offset, first.records_count, first.last_offset_delta) == (0, 0, 1)
    assert (first.producer_id, first.base_sequence) == (3, 0)
    plog.close()
    reopened = open_log(tmp_path / "t-0", recovery_point=None)
    assert reopened.producer_state.producers[3].last_seq == 1
    assert [(k, v) for _, k, v, _ in records(reopened)] == [(b"a", b"2"), (b"b", b"2"), (b"z", b"active")]


@pytest.mark.parametrize("codec", [1, 2, 3, 4])
def test_compressed_batches_recompressed_with_their_codec(tmp_path: Path, codec: int) -> None:
    plog = open_log(tmp_path / "t-0")
    put(plog, (b"a", b"1"), (b"b", b"1"), (b"c", b"1"), codec=codec)
    put(plog, (b"b", b"2"))
    plog.roll(NOW)
    put(plog, (b"z", b"active"))
    clean(plog)
    first, _ = batches(plog)[0]
    assert first.compression == codec and first.records_count == 2
    assert [(o, k, v) for o, k, v, _ in records(plog)] == [(0, b"a", b"1"), (2, b"c", b"1"), (3, b"b", b"2"),
                                                          (4, b"z", b"active")]


def _prepare_swap(tmp_path: Path) -> tuple[PartitionLog, list, list]:  # type: ignore[type-arg]
    plog = open_log(tmp_path / "t-0")
    fill(plog)
    before = records(plog)
    views = non_active_views(plog)
    cfg = config()
    plan = plan_cleaning(views, active_base=plog.active.base_offset, log_start_offset=0, checkpoint=None,
                         lso=plog.log_end_offset, config=cfg, now_ms=NOW)
    cleaning = CleaningPass(plog.dir, views, plan, cfg, NOW, {})
    cleaning.build_map()
    cleaned = cleaning.clean_group(0)
    return plog, before, cleaned.swap_files


def test_crash_before_swap_commit_loses_nothing(tmp_path: Path) -> None:
    plog, before, swaps = _prepare_swap(tmp_path)
    for swap, final in swaps:  # the crash came before the renames to .swap
        os.replace(swap, final.with_name(final.name + ".cleaned"))
    plog.close()
    reopened = open_log(tmp_path / "t-0", recovery_point=None)
    assert records(reopened) == before
    assert not [n for n in os.listdir(tmp_path / "t-0") if n.endswith((".swap", ".cleaned"))]


def test_crash_with_index_swaps_but_no_log_swap(tmp_path: Path) -> None:
    plog, before, swaps = _prepare_swap(tmp_path)
    log_swap, log_final = swaps[-1]
    os.replace(log_swap, log_final.with_name(log_final.name + ".cleaned"))  # .log rename never happened
    plog.close()
    assert records(open_log(tmp_path / "t-0", recovery_point=None)) == before


@pytest.mark.parametrize("stage", ["swap", "old-deleted"])
def test_crash_after_swap_commit_completes_it(tmp_path: Path, stage: str) -> None:
    plog, before, swaps = _prepare_swap(tmp_path)
    active_base = plog.active.base_offset
    if stage == "old-deleted":  # crash in install: old files renamed, .swap not yet
        for name in os.listdir(tmp_path / "t-0"):
            if name.endswith(".log") and int(name[:20]) < active_base:
                os.replace(tmp_path / "t-0" / name, tmp_path / "t-0" / (name + ".deleted"))
    plog.close()
    reopened = open_log(tmp_path / "t-0", recovery_point=None)
    after = records(reopened)
    latest = {r[1]: r for r in before if r[0] < active_base}
    assert [r for r in after if r[0] < active_base] == sorted(latest.values())
    assert [r for r in after if r[0] >= active_base] == [r for r in before if r[0] >= active_base]
    names = os.listdir(tmp_path / "t-0")
    assert not [n for n in names if n.endswith((".swap", ".cleaned", ".deleted"))]
    assert len([n for n in names if n.endswith(".log")]) == 2  # the cleaned segment and the active one
