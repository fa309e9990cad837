"""PartitionLog.read(whole_batches=False), the Fetch read: Kafka's LogSegment.read with
FileRecords.slice (the last batch cut at max_bytes, no header walk), KIP-74's whole first batch,
an empty answer when the first batch does not fit and min_one_batch is off (ReplicaManager drops an
incomplete first entry), reads across segments, and the LSO cut still in whole batches."""

from __future__ import annotations

from pathlib import Path

from storage_helpers import NOW, append, make_batch, open_log

from pykafka_broker.protocol.records import read_batch_header
from pykafka_broker.storage.log import LogConfig, PartitionLog

VALUE = b"x" * 100


def joined(result: object) -> bytes:
    return b"".join(bytes(c) for c in result.chunks)  # type: ignore[attr-defined]


def filled(path: Path, config: LogConfig | None = None) -> tuple[PartitionLog, int]:
    size = read_batch_header(make_batch(3, value=VALUE)).size
    plog = open_log(path, config or LogConfig(segment_bytes=size * 3))
    for i in range(10):
        append(plog, make_batch(3, ts=NOW + i * 10, value=VALUE))
    return plog, size


def test_last_batch_cut_at_max_bytes_across_segments(tmp_path: Path) -> None:
    plog, size = filled(tmp_path / "t-0")
    assert len(plog.segments) > 2
    everything = joined(plog.read(0, 1 << 20))
    for start_batch, budget in [(0, size + 7), (0, 4 * size + 1), (1, 5 * size - 3), (2, 10 * size)]:
        got = plog.read(start_batch * 3 + 1, budget, whole_batches=False)  # from inside a batch
        want = everything[start_batch * size : start_batch * size + budget]
        assert joined(got) == want and got.size == len(want)


def test_first_batch_over_the_budget(tmp_path: Path) -> None:
    plog, size = filled(tmp_path / "t-0")
    whole = plog.read(3, 10, whole_batches=False)  # KIP-74: the first batch, whole, nothing more
    assert whole.size == size and read_batch_header(joined(whole)).base_offset == 3
    assert plog.read(3, 10, min_one_batch=False, whole_batches=False).size == 0


def test_lso_bound_keeps_whole_batches(tmp_path: Path) -> None:
    plog, size = filled(tmp_path / "t-0", LogConfig())
    got = plog.read(0, 2 * size + 50, max_offset=9, whole_batches=False)  # a cut needs batch bounds
    assert got.size == 2 * size
    assert plog.read(0, 4 * size, max_offset=9, whole_batches=False).size == 3 * size  # 0, 3, 6 < LSO
