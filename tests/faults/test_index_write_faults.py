"""The .log write of a batch succeeds but its index entry cannot be written (a full disk where the
sparse preallocated index needs a new block): the batch is refused like a failed log write. The
.log is truncated back, the log stays online with KAFKA_STORAGE_ERROR for that batch, the indexes
hold no entry for it, and neither a later append nor a restart brings the refused batch back."""

from __future__ import annotations

from pathlib import Path

import pytest
from fault_helpers import ENOSPC, FaultyIO, append, batch, open_log, read_all, values

from pykafka_broker.protocol.errors import ErrorCode, KafkaError
from pykafka_broker.storage.files import use_io
from pykafka_broker.storage.log import LogConfig

CONFIG = LogConfig(index_interval_bytes=100)  # every batch past the first adds index entries


@pytest.mark.parametrize("failing", [".index", ".timeindex"])
def test_index_write_failure_rolls_the_batch_back(tmp_path: Path, failing: str) -> None:
    plog = open_log(tmp_path / "t-0", CONFIG)
    acked = [bytes(batch(0)), bytes(batch(1))]
    for data in acked:
        append(plog, bytearray(data))
    active = plog.active
    size, leo = active.size, plog.log_end_offset
    entries = (len(active.offset_index), len(active.time_index))
    state = (active.max_timestamp, active.offset_of_max_timestamp, active.next_offset)
    with use_io(FaultyIO(failing)) as io:
        io.pwrite_errno = ENOSPC
        with pytest.raises(KafkaError) as refused:
            append(plog, batch(2, count=5))  # a new max timestamp: a time entry too
    assert refused.value.code == ErrorCode.KAFKA_STORAGE_ERROR
    assert plog.offline is None and plog.log_end_offset == leo
    assert active.size == size == active.log_path.stat().st_size
    assert (len(active.offset_index), len(active.time_index)) == entries
    assert (active.max_timestamp, active.offset_of_max_timestamp, active.next_offset) == state
    # Room again: the next batch takes the refused one's offsets, and every lookup still works.
    later = [bytes(batch(3)), bytes(batch(4))]
    for data in later:
        append(plog, bytearray(data))
    acked += later
    assert values(read_all(plog)) == values(acked)
    for offset in range(plog.log_end_offset):
        assert plog.read(offset, 1 << 20).size > 0
    plog.close(sync=False)
    reopened = open_log(tmp_path / "t-0", CONFIG, recovery_point=None)
    assert reopened.log_end_offset == plog.log_end_offset
    assert values(read_all(reopened)) == values(acked)


def test_refused_batch_is_gone_after_a_restart_without_a_close(tmp_path: Path) -> None:
    plog = open_log(tmp_path / "t-0", CONFIG)
    append(plog, batch(0))
    append(plog, batch(1))
    leo = plog.log_end_offset
    with use_io(FaultyIO(".index")) as io:
        io.pwrite_errno = ENOSPC
        with pytest.raises(KafkaError):
            append(plog, batch(2))
    # A crash now: the data dir is reloaded as it is on disk.
    reopened = open_log(tmp_path / "t-0", CONFIG, recovery_point=None)
    assert reopened.log_end_offset == leo
    assert b"b2-0-" not in b"".join(values(read_all(reopened)))
