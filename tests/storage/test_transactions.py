"""Storage side of transactions: open transactions and the last stable offset, end-transaction
markers, the aborted-transaction index (``.txnindex``), read_committed reads, and recovery."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest
from storage_helpers import NOW, append, batches_of, make_batch, open_log

from pykafka_broker.protocol.errors import ErrorCode, KafkaError
from pykafka_broker.protocol.records import build_batch, decode_records, iter_batches
from pykafka_broker.storage.log import LogConfig, PartitionLog
from pykafka_broker.storage.txn_index import (
    ENTRY_SIZE,
    AbortedTxn,
    EndTxnMarker,
    parse_end_txn_marker,
)

PID1, PID2, PID3 = 1000, 2000, 3000


def txn(pid: int, seq: int, n: int = 1, *, epoch: int = 0, transactional: bool = True) -> bytearray:
    return build_batch([(None, b"v%d" % i, [], NOW + i) for i in range(n)], producer_id=pid,
                       producer_epoch=epoch, base_sequence=seq, transactional=transactional)


def commit(plog: PartitionLog, pid: int, *, epoch: int = 0, coordinator_epoch: int = 0) -> int:
    return plog.append_control_batch(pid, epoch, True, coordinator_epoch, NOW)


def abort(plog: PartitionLog, pid: int, *, epoch: int = 0, coordinator_epoch: int = 0) -> int:
    return plog.append_control_batch(pid, epoch, False, coordinator_epoch, NOW)


def txn_files(path: Path) -> list[str]:
    return sorted(n for n in os.listdir(path) if n.endswith(".txnindex"))


def all_entries(plog: PartitionLog) -> list[AbortedTxn]:
    return [e for s in plog.segments for e in s.txn_index.entries]


def test_open_transaction_holds_lso_until_commit(tmp_path: Path) -> None:
    plog = open_log(tmp_path)
    append(plog, make_batch())  # 0
    assert plog.last_stable_offset == 1
    append(plog, txn(PID1, 0, 2))  # 1-2
    assert plog.last_stable_offset == 1 and plog.log_end_offset == 3
    append(plog, txn(PID1, 2))  # 3: same transaction, first offset unchanged
    assert plog.last_stable_offset == 1
    assert commit(plog, PID1) == 4
    assert plog.last_stable_offset == plog.log_end_offset == 5
    assert plog.aborted_transactions(0, 5) == []
    assert txn_files(tmp_path) == []  # commits leave no index entry


def test_abort_indexes_the_transaction_and_advances_lso(tmp_path: Path) -> None:
    plog = open_log(tmp_path)
    append(plog, txn(PID1, 0, 2))  # 0-1
    assert abort(plog, PID1) == 2
    assert plog.last_stable_offset == 3
    assert all_entries(plog) == [AbortedTxn(PID1, 0, 2, 3)]
    assert plog.aborted_transactions(0, 3) == [(PID1, 0)]
    # The marker batch is a control batch carrying an ABORT record with the coordinator epoch.
    marker = batches_of(plog.read(2, 1 << 20))[0]
    assert marker.is_control and marker.is_transactional and marker.base_sequence == -1
    data = b"".join(bytes(c) for c in plog.read(2, 1 << 20).chunks)
    assert parse_end_txn_marker(data) == EndTxnMarker(False, 0)
    (record,) = decode_records(data)
    assert record.key == struct.pack(">hh", 0, 0) and record.value == struct.pack(">hi", 0, 0)


def test_interleaved_transactions_keep_lso_at_the_earliest_open_one(tmp_path: Path) -> None:
    plog = open_log(tmp_path)
    append(plog, txn(PID1, 0))  # 0
    append(plog, txn(PID2, 0))  # 1
    append(plog, txn(PID1, 1))  # 2
    assert plog.last_stable_offset == 0
    assert abort(plog, PID1) == 3
    assert plog.last_stable_offset == 1  # PID2 still open
    assert all_entries(plog) == [AbortedTxn(PID1, 0, 3, 1)]
    append(plog, txn(PID1, 2))  # 4: PID1 opens a new transaction
    assert commit(plog, PID2) == 5
    assert plog.last_stable_offset == 4
    assert abort(plog, PID1) == 6
    assert plog.last_stable_offset == 7
    assert all_entries(plog) == [AbortedTxn(PID1, 0, 3, 1), AbortedTxn(PID1, 4, 6, 7)]
    assert plog.aborted_transactions(0, 7) == [(PID1, 0), (PID1, 4)]


def test_read_with_max_offset_stops_at_lso(tmp_path: Path) -> None:
    plog = open_log(tmp_path, LogConfig(segment_bytes=200))  # about two batches per segment
    for _ in range(3):
        append(plog, make_batch())  # 0, 1, 2
    append(plog, txn(PID1, 0))  # 3
    append(plog, make_batch())  # 4
    assert len(plog.segments) > 1
    lso = plog.last_stable_offset
    assert lso == 3
    got = plog.read(0, 1 << 20, max_offset=lso)
    assert [h.base_offset for h in batches_of(got)] == [0, 1, 2]
    assert got.size == sum(len(c) for c in got.chunks)
    assert plog.read(3, 1 << 20, max_offset=lso).chunks == []
    assert plog.read(4, 1 << 20, max_offset=lso).chunks == []  # past the LSO: empty, no error
    assert plog.read(3, 1, max_offset=lso).chunks == []  # min_one_batch does not cross the LSO
    # Unbounded reads are unchanged.
    assert [h.base_offset for h in batches_of(plog.read(0, 1 << 20))] == [0, 1, 2, 3, 4]
    commit(plog, PID1)
    assert [h.base_offset for h in batches_of(plog.read(0, 1 << 20, max_offset=plog.last_stable_offset))] \
        == [0, 1, 2, 3, 4, 5]


def test_aborted_transactions_overlap_rules(tmp_path: Path) -> None:
    plog = open_log(tmp_path)
    append(plog, txn(PID1, 0))  # 0
    abort(plog, PID1)  # 1  -> [0, 1], LSO 2
    append(plog, txn(PID2, 0))  # 2
    abort(plog, PID2)  # 3  -> [2, 3], LSO 4
    append(plog, txn(PID3, 0))  # 4
    abort(plog, PID3)  # 5  -> [4, 5], LSO 6
    assert plog.aborted_transactions(0, 6) == [(PID1, 0), (PID2, 2), (PID3, 4)]
    assert plog.aborted_transactions(2, 6) == [(PID2, 2), (PID3, 4)]  # PID1 ended before 2
    assert plog.aborted_transactions(1, 6) == [(PID1, 0), (PID2, 2), (PID3, 4)]  # its marker at 1
    assert plog.aborted_transactions(1, 2) == [(PID1, 0)]  # PID2 starts at the exclusive bound
    assert plog.aborted_transactions(3, 4) == [(PID2, 2)]
    assert plog.aborted_transactions(6, 6) == []


def test_aborted_transaction_spanning_segments(tmp_path: Path) -> None:
    plog = open_log(tmp_path, LogConfig(segment_bytes=200))
    append(plog, txn(PID1, 0))  # 0, opens in the first segment
    for _ in range(4):
        append(plog, make_batch())
    abort(plog, PID1)
    assert len(plog.segments) > 2
    marker_segment = plog.segments[-1]
    assert marker_segment.txn_index.entries == [AbortedTxn(PID1, 0, 5, 6)]
    assert plog.aborted_transactions(0, 6) == [(PID1, 0)]
    assert plog.aborted_transactions(2, 6) == [(PID1, 0)]


def test_stale_epoch_marker_is_rejected_and_nothing_appended(tmp_path: Path) -> None:
    plog = open_log(tmp_path)
    append(plog, txn(PID1, 0, epoch=5))
    end = plog.log_end_offset
    with pytest.raises(KafkaError) as exc:
        abort(plog, PID1, epoch=4)
    assert exc.value.code == ErrorCode.INVALID_PRODUCER_EPOCH
    assert plog.log_end_offset == end and plog.last_stable_offset == 0 and all_entries(plog) == []
    # A newer epoch on the marker (the coordinator fencing the producer) completes it and fences
    # the old epoch's batches.
    abort(plog, PID1, epoch=6)
    assert plog.last_stable_offset == plog.log_end_offset
    with pytest.raises(KafkaError) as exc:
        append(plog, txn(PID1, 1, epoch=5))
    assert exc.value.code == ErrorCode.INVALID_PRODUCER_EPOCH


def test_marker_from_an_older_coordinator_is_fenced(tmp_path: Path) -> None:
    plog = open_log(tmp_path)
    append(plog, txn(PID1, 0))
    commit(plog, PID1, coordinator_epoch=3)
    append(plog, txn(PID1, 1))
    end = plog.log_end_offset
    with pytest.raises(KafkaError) as exc:
        commit(plog, PID1, coordinator_epoch=2)
    assert exc.value.code == ErrorCode.TRANSACTION_COORDINATOR_FENCED
    assert plog.log_end_offset == end


def test_marker_without_open_transaction_is_written_and_completes_nothing(tmp_path: Path) -> None:
    plog = open_log(tmp_path)
    append(plog, make_batch())
    assert abort(plog, PID1) == 1
    assert plog.log_end_offset == plog.last_stable_offset == 2
    assert all_entries(plog) == [] and txn_files(tmp_path) == []


def test_plain_write_inside_open_transaction_is_refused(tmp_path: Path) -> None:
    plog = open_log(tmp_path)
    append(plog, txn(PID1, 0))
    with pytest.raises(KafkaError) as exc:
        append(plog, txn(PID1, 1, transactional=False))
    assert exc.value.code == ErrorCode.INVALID_TXN_STATE
    assert plog.log_end_offset == 1


def test_idempotence_applies_to_transactional_batches(tmp_path: Path) -> None:
    plog = open_log(tmp_path)
    first = append(plog, txn(PID1, 0, 2))
    retry = append(plog, txn(PID1, 0, 2))
    assert retry.duplicate and retry.base_offset == first.base_offset
    with pytest.raises(KafkaError) as exc:
        append(plog, txn(PID1, 5))
    assert exc.value.code == ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER


def test_txnindex_bytes_follow_kafka_format(tmp_path: Path) -> None:
    plog = open_log(tmp_path)
    append(plog, txn(PID1, 0))  # 0
    append(plog, txn(PID2, 0))  # 1
    abort(plog, PID2)  # 2 -> LSO stays at PID1's 0
    abort(plog, PID1)  # 3 -> LSO 4
    raw = (tmp_path / "00000000000000000000.txnindex").read_bytes()
    assert ENTRY_SIZE == 34 and len(raw) == 68
    assert raw == struct.pack(">hqqqq", 0, PID2, 1, 2, 0) + struct.pack(">hqqqq", 0, PID1, 0, 3, 4)


def _build_mixed(plog: PartitionLog) -> None:
    append(plog, txn(PID1, 0))  # 0
    abort(plog, PID1)  # 1 -> aborted [0, 1]
    append(plog, make_batch())  # 2
    append(plog, txn(PID2, 0, 2))  # 3-4, left open


def test_clean_reopen_keeps_open_transactions_and_aborted_index(tmp_path: Path) -> None:
    plog = open_log(tmp_path)
    _build_mixed(plog)
    plog.close()
    again = open_log(tmp_path, recovery_point=plog.log_end_offset)
    assert again.last_stable_offset == 3
    assert again.aborted_transactions(0, 5) == [(PID1, 0)]
    assert again.producer_state.producers[PID2].current_txn_first_offset == 3
    assert commit(again, PID2) == 5
    assert again.last_stable_offset == 6


@pytest.mark.parametrize("lose_txnindex", [False, True])
def test_unclean_reopen_rebuilds_open_transactions_and_index(tmp_path: Path, lose_txnindex: bool) -> None:
    plog = open_log(tmp_path, LogConfig(segment_bytes=200))
    _build_mixed(plog)
    abort(plog, PID2)  # 5 -> aborted [3, 5]
    append(plog, txn(PID3, 0))  # 6, open
    expected = all_entries(plog)
    before = {n: (tmp_path / n).read_bytes() for n in txn_files(tmp_path)}
    # Killed: no close, no snapshot at the end; the index writes may never have reached the disk.
    if lose_txnindex:
        for name in before:
            (tmp_path / name).unlink()
    again = open_log(tmp_path, LogConfig(segment_bytes=200), recovery_point=None)
    assert again.log_end_offset == 7
    assert again.last_stable_offset == 6
    assert all_entries(again) == expected
    assert {n: (tmp_path / n).read_bytes() for n in txn_files(tmp_path)} == before
    assert again.aborted_transactions(0, 6) == [(PID1, 0), (PID2, 3)]


def test_recovery_point_before_marker_reindexes_it(tmp_path: Path) -> None:
    plog = open_log(tmp_path)
    append(plog, txn(PID1, 0))
    plog.flush()
    recovery_point = plog.recovery_point
    abort(plog, PID1)
    (tmp_path / "00000000000000000000.txnindex").unlink()  # the entry never reached the disk
    again = open_log(tmp_path, recovery_point=recovery_point)
    assert again.aborted_transactions(0, 2) == [(PID1, 0)]
    assert again.last_stable_offset == 2


def _tear_last_batch(path: Path) -> None:
    log_file = sorted(path.glob("*.log"))[-1]
    data = log_file.read_bytes()
    last = list(iter_batches(data))[-1][0]
    os.truncate(log_file, last + 20)


def test_torn_marker_reopens_the_transaction(tmp_path: Path) -> None:
    plog = open_log(tmp_path)
    append(plog, make_batch())  # 0
    append(plog, txn(PID1, 0))  # 1
    abort(plog, PID1)  # 2: torn below
    assert txn_files(tmp_path)
    plog.close()  # even a snapshot at the old end must not survive the truncation
    _tear_last_batch(tmp_path)
    again = open_log(tmp_path, recovery_point=None)
    assert again.log_end_offset == 2
    assert again.last_stable_offset == 1  # the transaction is open again
    assert all_entries(again) == [] and txn_files(tmp_path) == []
    assert abort(again, PID1) == 2  # the coordinator's retry completes it
    assert again.aborted_transactions(0, 3) == [(PID1, 1)]


def test_torn_batch_inside_a_transaction(tmp_path: Path) -> None:
    plog = open_log(tmp_path)
    append(plog, txn(PID1, 0))  # 0
    abort(plog, PID1)  # 1
    append(plog, txn(PID2, 0))  # 2
    append(plog, txn(PID2, 1))  # 3: torn below
    _tear_last_batch(tmp_path)
    again = open_log(tmp_path, recovery_point=None)
    assert again.log_end_offset == 3
    assert again.last_stable_offset == 2
    assert again.aborted_transactions(0, 3) == [(PID1, 0)]
    assert [h.base_offset for h in batches_of(again.read(0, 1 << 20, max_offset=2))] == [0, 1]
