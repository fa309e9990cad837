"""A byte flipped at every position of every segment of a cleanly closed 3-segment log, with and
without that segment's ``.index`` (whose absence forces the segment's full recovery, as in issue 10):
the log always reopens, and only the tail of the corrupt segment, from the corrupt batch on, may be
affected. Every batch of the other segments reads back byte for byte (Kafka's LogLoader: below the
recovery point a corrupt segment is recovered alone, later segments are kept)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from fault_helpers import NOW, append, batch, open_log

from pykafka_broker.protocol.records import iter_batches, read_batch_header
from pykafka_broker.storage.files import INDEX_SUFFIX, LOG_SUFFIX, offset_file_name
from pykafka_broker.storage.log import LogConfig, PartitionLog

BATCHES_PER_SEGMENT = 3
SEGMENTS = 3
STRIDE = int(os.environ.get("CORRUPTION_STRIDE", "1"))  # every position by default


def _build(dir: Path) -> tuple[list[tuple[int, int, int, bytes]], int]:
    """A closed log of 3 segments x 3 batches; [(segment base, position, base offset, bytes)], LEO."""
    size = len(batch(0, count=2, size=8))
    plog = open_log(dir, LogConfig(segment_bytes=size * BATCHES_PER_SEGMENT))
    for i in range(SEGMENTS * BATCHES_PER_SEGMENT):
        append(plog, batch(i, count=2, size=8), NOW + i)
    assert [s.base_offset for s in plog.segments] == [0, 6, 12]
    end = plog.log_end_offset
    plog.close()
    layout = []
    for base in (0, 6, 12):
        data = (dir / offset_file_name(base, LOG_SUFFIX)).read_bytes()
        for pos, header in iter_batches(data):
            layout.append((base, pos, header.base_offset, data[pos : pos + header.size]))
    return layout, end


def _first_batch(plog: PartitionLog, offset: int) -> bytes | None:
    result = plog.read(offset, 1 << 16)
    data = b"".join(bytes(c) for c in result.chunks)
    if len(data) < 61:
        return None
    header = read_batch_header(data)
    return data[: header.size] if header.base_offset == offset else None


@pytest.mark.parametrize("drop_index", [True, False], ids=["index-removed", "index-kept"])
def test_flipped_byte_anywhere_only_affects_the_corrupt_segments_tail(tmp_path: Path,
                                                                      drop_index: bool) -> None:
    template = tmp_path / "template"
    layout, end = _build(template)
    work = tmp_path / "work"
    checked = 0
    for base in (0, 6, 12):
        log_name = offset_file_name(base, LOG_SUFFIX)
        length = (template / log_name).stat().st_size
        for position in range(0, length, STRIDE):
            if work.exists():
                shutil.rmtree(work)
            shutil.copytree(template, work)
            path = work / log_name
            with open(path, "r+b") as f:
                f.seek(position)
                byte = f.read(1)[0]
                f.seek(position)
                f.write(bytes([byte ^ 0x10]))
            if drop_index:
                (work / offset_file_name(base, INDEX_SUFFIX)).unlink()
            plog = open_log(work, recovery_point=end)  # the clean shutdown's checkpoint
            try:
                assert len(plog.segments) == SEGMENTS, (base, position)
                for seg_base, pos, offset, original in layout:
                    if seg_base == base and pos + len(original) > position:
                        continue  # the corrupt batch and what follows it in its segment
                    assert _first_batch(plog, offset) == original, (base, position, offset)
            finally:
                plog.close()
            checked += 1
    assert checked >= sum(1 for _ in layout) * 10
