from __future__ import annotations

import os
from pathlib import Path

import pytest
from storage_helpers import NOW, append, batches_of, make_batch, open_log

from pykafka_broker.protocol.errors import ErrorCode, KafkaError
from pykafka_broker.protocol.records import crc_matches, read_batch_header
from pykafka_broker.storage.log import LogConfig, PartitionLog


def fill(plog: PartitionLog, batches: int, records: int = 3, value: bytes = b"x" * 100) -> None:
    for i in range(batches):
        append(plog, make_batch(records, ts=NOW + i * 10, value=value))


def test_append_assigns_offsets_and_reads_back(tmp_path: Path) -> None:
    plog = open_log(tmp_path / "t-0")
    r1 = append(plog, make_batch(3))
    r2 = append(plog, make_batch(2))
    assert (r1.base_offset, r1.last_offset, r2.base_offset, r2.last_offset) == (0, 2, 3, 4)
    assert r1.log_append_time_ms == -1 and not r1.duplicate
    assert plog.log_end_offset == 5
    result = plog.read(0, 1 << 20)
    headers = batches_of(result)
    assert [h.base_offset for h in headers] == [0, 3]
    assert result.size == sum(h.size for h in headers) == plog.size_bytes()
    assert plog.read(5, 1000).chunks == []


def test_index_lookup_at_inside_and_between_batches(tmp_path: Path) -> None:
    plog = open_log(tmp_path / "t-0", LogConfig(index_interval_bytes=300))
    fill(plog, 40)  # ~400-byte batches of 3 records: an index entry every other batch
    assert len(plog.active.offset_index) > 5
    for offset in range(0, 120):
        headers = batches_of(plog.read(offset, 1))  # min_one_batch: just the batch holding it
        assert len(headers) == 1
        assert headers[0].base_offset <= offset <= headers[0].last_offset


def test_out_of_range(tmp_path: Path) -> None:
    plog = open_log(tmp_path / "t-0")
    fill(plog, 2)
    with pytest.raises(KafkaError) as exc:
        plog.read(7, 100)
    assert exc.value.code == ErrorCode.OFFSET_OUT_OF_RANGE
    with pytest.raises(KafkaError):
        plog.read(-1, 100)


def test_max_bytes_and_min_one_batch(tmp_path: Path) -> None:
    plog = open_log(tmp_path / "t-0")
    fill(plog, 5)
    size = read_batch_header(make_batch(3, value=b"x" * 100)).size
    assert [h.base_offset for h in batches_of(plog.read(0, 2 * size + 10))] == [0, 3]
    assert [h.base_offset for h in batches_of(plog.read(4, 2 * size))] == [3, 6]
    assert plog.read(0, 10, min_one_batch=False).size == 0
    one = plog.read(0, 10)
    assert one.size == size and batches_of(one)[0].base_offset == 0


def test_roll_on_segment_bytes_and_read_across_segments(tmp_path: Path) -> None:
    size = read_batch_header(make_batch(3, value=b"x" * 100)).size
    plog = open_log(tmp_path / "t-0", LogConfig(segment_bytes=size * 3))
    fill(plog, 10)
    logs = sorted(n for n in os.listdir(tmp_path / "t-0") if n.endswith(".log"))
    assert logs == [f"{o:020d}.log" for o in (0, 9, 18, 27)]
    assert all(os.path.getsize(tmp_path / "t-0" / n) <= size * 3 for n in logs)
    result = plog.read(4, 1 << 20)
    assert [h.base_offset for h in batches_of(result)] == list(range(3, 30, 3))
    assert len(result.chunks) == 4
    # A budget that stops inside the second segment.
    assert [h.base_offset for h in batches_of(plog.read(6, 3 * size))] == [6, 9, 12]


def test_roll_on_segment_ms(tmp_path: Path) -> None:
    plog = open_log(tmp_path / "t-0", LogConfig(segment_ms=1000))
    append(plog, make_batch(2, ts=NOW))
    append(plog, make_batch(2, ts=NOW + 1000))  # exactly segment.ms later: Kafka rolls only when over
    append(plog, make_batch(2, ts=NOW + 1001))
    assert [s.base_offset for s in plog.segments] == [0, 4]
    assert (tmp_path / "t-0" / f"{4:020d}.log").exists()


def test_roll_when_index_full(tmp_path: Path) -> None:
    plog = open_log(tmp_path / "t-0", LogConfig(index_interval_bytes=1, segment_index_bytes=24))
    fill(plog, 8, records=1)
    assert len(plog.segments) > 1
    assert all(len(s.offset_index) <= 3 for s in plog.segments)


def test_too_large(tmp_path: Path) -> None:
    plog = open_log(tmp_path / "t-0", LogConfig(max_message_bytes=100))
    with pytest.raises(KafkaError) as exc:
        append(plog, make_batch(3, value=b"x" * 100))
    assert exc.value.code == ErrorCode.MESSAGE_TOO_LARGE
    assert plog.log_end_offset == 0


def test_log_append_time(tmp_path: Path) -> None:
    plog = open_log(tmp_path / "t-0", LogConfig(message_timestamp_type="LogAppendTime"))
    result = append(plog, make_batch(2, ts=5), now_ms=NOW + 77)
    assert result.log_append_time_ms == NOW + 77
    data = bytes(plog.read(0, 1000).chunks[0])
    header = read_batch_header(data)
    assert header.is_log_append_time and header.max_timestamp == NOW + 77
    assert crc_matches(data, 0, header)
    assert plog.max_timestamp_offset() == (1, NOW + 77)
    assert plog.offset_for_timestamp(NOW) == (0, NOW + 77)


def test_offset_for_timestamp_and_max_timestamp(tmp_path: Path) -> None:
    plog = open_log(tmp_path / "t-0", LogConfig(index_interval_bytes=200, segment_bytes=2000))
    assert plog.max_timestamp_offset() is None and plog.offset_for_timestamp(0) is None
    fill(plog, 30)  # batch i holds offsets 3i..3i+2 stamped NOW+10i .. NOW+10i+2
    assert len(plog.segments) > 2
    assert plog.offset_for_timestamp(0) == (0, NOW)
    assert plog.offset_for_timestamp(NOW + 101) == (31, NOW + 101)
    assert plog.offset_for_timestamp(NOW + 103) == (33, NOW + 110)
    assert plog.offset_for_timestamp(NOW + 292) == (89, NOW + 292)
    assert plog.offset_for_timestamp(NOW + 293) is None
    assert plog.max_timestamp_offset() == (89, NOW + 292)


def test_only_active_segment_keeps_a_file_open(tmp_path: Path) -> None:
    size = read_batch_header(make_batch(3, value=b"x" * 100)).size
    before = len(os.listdir("/proc/self/fd"))
    plog = open_log(tmp_path / "t-0", LogConfig(segment_bytes=size * 2))
    fill(plog, 20)
    assert len(plog.segments) == 10
    assert len(os.listdir("/proc/self/fd")) == before + 1
    plog.read(0, 1 << 20)
    plog.offset_for_timestamp(NOW + 50)
    assert len(os.listdir("/proc/self/fd")) == before + 1
    plog.close()
    assert len(os.listdir("/proc/self/fd")) == before


def test_flush_ticket(tmp_path: Path) -> None:
    plog = open_log(tmp_path / "t-0", LogConfig(flush_interval_messages=5))
    fill(plog, 1)
    assert not plog.needs_flush(NOW)
    fill(plog, 1)
    assert plog.needs_flush(NOW)
    ticket = plog.begin_flush(NOW)
    # The active file first, through a descriptor of the ticket's own (the cache may close its).
    assert ticket.offset == 6 and ticket.fds[0] in ticket.opened_fds
    assert os.path.samestat(os.fstat(ticket.fds[0]), os.stat(plog.active.log_path))
    assert not plog.needs_flush(NOW)
    ticket.sync()
    plog.complete_flush(ticket)
    assert plog.recovery_point == 6
    timed = open_log(tmp_path / "t-1", LogConfig(flush_interval_ms=100))
    fill(timed, 1)
    assert not timed.needs_flush(NOW + 99) and timed.needs_flush(NOW + 100)


def test_flush_covers_rolled_segments_without_holding_fds(tmp_path: Path) -> None:
    size = read_batch_header(make_batch(3, value=b"x" * 100)).size
    before = len(os.listdir("/proc/self/fd"))
    plog = open_log(tmp_path / "t-0", LogConfig(segment_bytes=size * 2))
    fill(plog, 5)  # segments 0, 6, 12: two rolled since the last flush
    assert len(os.listdir("/proc/self/fd")) == before + 1
    ticket = plog.begin_flush()
    # active .log + its 2 index files + 3 files of each of the 2 rolled segments, the 2 producer
    # snapshots taken at the rolls, the partition dir and (a new partition) the data dir
    assert len(ticket.fds) == 13 and len(ticket.opened_fds) == 13  # the active .log: a dup
    ticket.sync()
    plog.complete_flush(ticket)
    assert plog.recovery_point == 15
    assert len(os.listdir("/proc/self/fd")) == before + 1
    plog.close()


def test_delete(tmp_path: Path) -> None:
    plog = open_log(tmp_path / "t-0")
    fill(plog, 2)
    plog.delete()
    assert os.listdir(tmp_path) == []
