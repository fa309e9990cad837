"""InitProducerId, AddPartitionsToTxn/AddOffsetsToTxn and EndTxn through every state, with a fake clock."""

from __future__ import annotations

import pytest
from txn_harness import TIMEOUT, Harness, offsets_partition

from pykafka_broker.broker.coordinator.result import TimerKey
from pykafka_broker.broker.txn import AddPartitionsToTxn, TxnOffsetCommitCheck
from pykafka_broker.broker.txn.api import OFFSETS_TOPIC
from pykafka_broker.broker.txn.api import TIMEOUT as TIMEOUT_KIND
from pykafka_broker.broker.txn.records import decode_key, decode_value
from pykafka_broker.broker.txn.state import MAX_EPOCH, TxnState
from pykafka_broker.protocol.errors import ErrorCode as E

S = TxnState


def last_value(h: Harness, tid: str = "t"):  # type: ignore[no-untyped-def]
    key, value = h.log[-1]
    assert decode_key(key) == tid and value is not None
    return decode_value(value)


# -- InitProducerId ------------------------------------------------------------------------------


def test_new_transactional_id_gets_new_pid_epoch_0_and_a_record(h: Harness) -> None:
    r = h.init()
    assert (r.error_code, r.producer_id, r.producer_epoch) == (E.NONE, 1000, 0)
    v = last_value(h)
    assert (v.producer_id, v.producer_epoch, v.state, v.timeout_ms) == (1000, 0, S.EMPTY, TIMEOUT)
    assert v.partitions == ()
    assert h.meta().state is S.EMPTY


def test_idempotent_producer_gets_fresh_pid_and_nothing_is_stored(h: Harness) -> None:
    r = h.init(None)
    assert (r.error_code, r.producer_id, r.producer_epoch) == (E.NONE, 1000, 0)
    assert h.init(None).producer_id == 1001
    assert h.log == [] and h.coord.txns == {}


def test_reinit_bumps_epoch_same_pid_and_keeps_new_timeout(h: Harness) -> None:
    pid, _ = h.ready()
    r = h.init(timeout=5_000)
    assert (r.producer_id, r.producer_epoch) == (pid, 1)
    assert h.meta().timeout_ms == 5_000


@pytest.mark.parametrize("final", [True, False])
def test_reinit_after_complete_bumps_epoch(h: Harness, final: bool) -> None:
    pid, epoch = h.ongoing()
    assert h.end(pid, epoch, commit=final) is E.NONE
    h.write_markers()
    assert h.meta().state is (S.COMPLETE_COMMIT if final else S.COMPLETE_ABORT)
    r = h.init()
    assert (r.error_code, r.producer_id, r.producer_epoch) == (E.NONE, pid, epoch + 1)
    assert h.meta().state is S.EMPTY and h.meta().start_ms == -1


def test_exhausted_epoch_rotates_to_new_pid(h: Harness) -> None:
    pid, _ = h.ready()
    h.meta().producer_epoch = MAX_EPOCH - 2
    r = h.init()
    assert (r.producer_id, r.producer_epoch) == (pid, MAX_EPOCH - 1)  # still one bump short of exhausted
    r = h.init()
    assert (r.error_code, r.producer_id, r.producer_epoch) == (E.NONE, pid + 1, 0)
    assert h.meta().previous_producer_id == pid
    assert last_value(h).previous_producer_id == pid


@pytest.mark.parametrize("timeout", [0, -1, 900_001])
def test_invalid_transaction_timeout(h: Harness, timeout: int) -> None:
    assert h.init(timeout=timeout).error_code is E.INVALID_TRANSACTION_TIMEOUT
    assert h.log == [] and h.coord.txns == {}


def test_max_timeout_is_configurable() -> None:
    h = Harness(max_timeout_ms=10_000)
    assert h.init(timeout=10_000).error_code is E.NONE
    assert h.init(timeout=10_001).error_code is E.INVALID_TRANSACTION_TIMEOUT


def test_empty_transactional_id_is_invalid_request(h: Harness) -> None:
    assert h.init("").error_code is E.INVALID_REQUEST


def test_pid_without_epoch_is_invalid_request(h: Harness) -> None:
    h.ready()
    assert h.init(pid=1000, epoch=-1).error_code is E.INVALID_REQUEST


def test_kip360_resume_with_current_epoch_bumps(h: Harness) -> None:
    pid, epoch = h.ready()
    r = h.init(pid=pid, epoch=epoch)
    assert (r.error_code, r.producer_id, r.producer_epoch) == (E.NONE, pid, epoch + 1)
    # The answer was lost: a retry with the old epoch gets the same epoch back, no second bump.
    r = h.init(pid=pid, epoch=epoch)
    assert (r.error_code, r.producer_epoch) == (E.NONE, epoch + 1)


def test_kip360_stale_epoch_or_unknown_pid_is_fenced(h: Harness) -> None:
    pid, _ = h.ready()
    h.init()
    h.init()  # epoch 2, last epoch -1
    assert h.init(pid=pid, epoch=0).error_code is E.PRODUCER_FENCED
    assert h.init(pid=pid + 77, epoch=2).error_code is E.PRODUCER_FENCED
    assert h.init(pid=pid + 77, epoch=2, version=3).error_code is E.INVALID_PRODUCER_EPOCH  # KIP-588


def test_kip360_retry_after_pid_rotation_returns_new_pid(h: Harness) -> None:
    pid, _ = h.ready()
    h.meta().producer_epoch = MAX_EPOCH - 1
    r = h.init(pid=pid, epoch=MAX_EPOCH - 1)
    assert (r.producer_id, r.producer_epoch) == (pid + 1, 0)
    r = h.init(pid=pid, epoch=MAX_EPOCH - 1)  # lost answer, retried
    assert (r.error_code, r.producer_id, r.producer_epoch) == (E.NONE, pid + 1, 0)


def test_reinit_with_ongoing_txn_fences_and_aborts_then_retry_succeeds(h: Harness) -> None:
    pid, epoch = h.ongoing("t", ("orders", 0), ("orders", 1))
    r = h.init()
    assert r.error_code is E.CONCURRENT_TRANSACTIONS
    meta = h.meta()
    assert (meta.state, meta.producer_epoch) == (S.PREPARE_ABORT, epoch + 1)
    [action] = h.markers
    assert (action.producer_id, action.producer_epoch, action.committed) == (pid, epoch + 1, False)
    assert action.partitions == (("orders", 0), ("orders", 1))
    v = last_value(h)
    assert (v.state, v.producer_epoch, v.partitions) == (S.PREPARE_ABORT, epoch + 1, action.partitions)
    assert TimerKey(TIMEOUT_KIND, "t") not in h.coord.pending_timers()
    # Markers not yet written: retry keeps getting CONCURRENT_TRANSACTIONS.
    assert h.init().error_code is E.CONCURRENT_TRANSACTIONS
    # The old producer is fenced everywhere.
    assert h.add(pid, epoch, ("orders", 2)) is E.PRODUCER_FENCED
    assert h.end(pid, epoch) is E.PRODUCER_FENCED
    h.write_markers()
    assert h.meta().state is S.COMPLETE_ABORT and h.meta().partitions == set()
    r = h.init()
    assert (r.error_code, r.producer_id, r.producer_epoch) == (E.NONE, pid, epoch + 2)
    assert h.end(pid, epoch + 1, commit=False) is E.PRODUCER_FENCED


# -- AddPartitionsToTxn / AddOffsetsToTxn ----------------------------------------------------------


def test_add_partitions_starts_transaction_and_arms_timeout(h: Harness) -> None:
    pid, epoch = h.ready()
    h.now = 5_000
    assert h.add(pid, epoch, ("a", 0), ("b", 3)) is E.NONE
    meta = h.meta()
    assert (meta.state, meta.start_ms, meta.partitions) == (S.ONGOING, 5_000, {("a", 0), ("b", 3)})
    assert h.coord.pending_timers()[TimerKey(TIMEOUT_KIND, "t")] == 5_000 + TIMEOUT
    v = last_value(h)
    assert (v.state, v.start_ms, v.last_update_ms) == (S.ONGOING, 5_000, 5_000)
    assert v.partitions == (("a", 0), ("b", 3))


def test_add_more_partitions_keeps_start_and_timer(h: Harness) -> None:
    pid, epoch = h.ongoing("t", ("a", 0))
    start = h.meta().start_ms
    h.now += 100
    n = len(h.log)
    assert h.add(pid, epoch, ("a", 0)) is E.NONE
    assert len(h.log) == n  # already there: nothing to persist
    assert h.add(pid, epoch, ("a", 1)) is E.NONE
    assert h.meta().start_ms == start and h.meta().partitions == {("a", 0), ("a", 1)}
    assert h.coord.pending_timers()[TimerKey(TIMEOUT_KIND, "t")] == start + TIMEOUT
    assert last_value(h).last_update_ms == h.now


def test_add_partitions_errors(h: Harness) -> None:
    pid, epoch = h.ready()
    before = h.snapshot()
    assert h.add(pid, epoch, tid="unknown") is E.INVALID_PRODUCER_ID_MAPPING
    assert h.add(pid + 1, epoch) is E.INVALID_PRODUCER_ID_MAPPING
    assert h.add(pid, epoch + 1) is E.PRODUCER_FENCED
    assert h.add(pid, epoch - 1, version=1) is E.INVALID_PRODUCER_EPOCH  # KIP-588: v0-1 never see 90
    assert h.add(pid, epoch, tid="") is E.INVALID_REQUEST
    assert h.snapshot() == before


@pytest.mark.parametrize("commit", [True, False])
def test_add_partitions_while_prepared_is_concurrent_transactions(h: Harness, commit: bool) -> None:
    pid, epoch = h.ongoing()
    h.end(pid, epoch, commit)
    before = h.snapshot()
    assert h.add(pid, epoch, ("other", 0)) is E.CONCURRENT_TRANSACTIONS
    assert h.add_offsets(pid, epoch) is E.CONCURRENT_TRANSACTIONS
    assert h.snapshot() == before
    h.write_markers()
    assert h.add(pid, epoch, ("other", 0)) is E.NONE  # a new transaction after completion
    assert h.meta().partitions == {("other", 0)}


def test_add_offsets_adds_the_groups_offsets_partition(h: Harness) -> None:
    pid, epoch = h.ready()
    assert h.add_offsets(pid, epoch, "group-7") is E.NONE
    assert h.meta().partitions == {(OFFSETS_TOPIC, offsets_partition("group-7"))}
    assert h.add_offsets(pid, epoch + 1, "group-7", version=1) is E.INVALID_PRODUCER_EPOCH
    assert h.add_offsets(pid, epoch + 1, "group-7") is E.PRODUCER_FENCED


def test_verify_and_txn_offset_commit_check(h: Harness) -> None:
    pid, epoch = h.ready()
    check = TxnOffsetCommitCheck("t", pid, epoch, "g")
    assert h.coord.verify("t", pid, epoch, "a", 0) is E.TRANSACTION_ABORTABLE
    assert h.coord.check_txn_offset_commit(check) is E.TRANSACTION_ABORTABLE
    h.add(pid, epoch, ("a", 0))
    h.add_offsets(pid, epoch, "g")
    assert h.coord.verify("t", pid, epoch, "a", 0) is E.NONE
    assert h.coord.check_txn_offset_commit(check) is E.NONE
    assert h.coord.verify("t", pid, epoch, "a", 1) is E.TRANSACTION_ABORTABLE
    assert h.coord.verify("t", pid, epoch - 1, "a", 0) is E.PRODUCER_FENCED
    assert h.coord.verify("t", pid + 1, epoch, "a", 0) is E.INVALID_PRODUCER_ID_MAPPING
    assert h.coord.verify("nope", pid, epoch, "a", 0) is E.INVALID_PRODUCER_ID_MAPPING
    before = h.snapshot()
    req = AddPartitionsToTxn("t", pid, epoch, [("a", 0), ("a", 1)], verify_only=True, api_version=4)
    results = h.apply(h.coord.add_partitions(h.now, req)).response.results
    assert [(r.topic, r.partition, r.error_code) for r in results] == [
        ("a", 0, E.NONE), ("a", 1, E.TRANSACTION_ABORTABLE)]
    assert h.snapshot() == before  # verify-only changes nothing
    h.end(pid, epoch)
    assert h.coord.verify("t", pid, epoch, "a", 0) is E.CONCURRENT_TRANSACTIONS


# -- EndTxn --------------------------------------------------------------------------------------


@pytest.mark.parametrize("commit", [True, False])
def test_end_txn_prepares_replies_then_completes_on_markers(h: Harness, commit: bool) -> None:
    pid, epoch = h.ongoing("t", ("a", 0), (OFFSETS_TOPIC, 3))
    h.now += 10
    assert h.end(pid, epoch, commit) is E.NONE  # answered once Prepare is persisted
    prepared = S.PREPARE_COMMIT if commit else S.PREPARE_ABORT
    assert h.meta().state is prepared and last_value(h).state is prepared
    assert TimerKey(TIMEOUT_KIND, "t") not in h.coord.pending_timers()
    [action] = h.markers
    assert (action.transactional_id, action.producer_id, action.producer_epoch, action.committed) == (
        "t", pid, epoch, commit)  # transaction.version 1: no epoch bump on EndTxn
    assert action.partitions == (("__consumer_offsets", 3), ("a", 0))
    h.now += 10
    h.write_markers()
    complete = S.COMPLETE_COMMIT if commit else S.COMPLETE_ABORT
    v = last_value(h)
    assert (v.state, v.partitions, v.producer_epoch, v.last_update_ms) == (complete, (), epoch, h.now)
    assert v.start_ms == h.meta().start_ms != -1


def test_end_txn_without_transaction_is_invalid_txn_state(h: Harness) -> None:
    pid, epoch = h.ready()
    before = h.snapshot()
    assert h.end(pid, epoch, commit=True) is E.INVALID_TXN_STATE
    assert h.end(pid, epoch, commit=False) is E.INVALID_TXN_STATE
    assert h.snapshot() == before and h.markers == []


def test_end_txn_identity_errors(h: Harness) -> None:
    pid, epoch = h.ongoing()
    assert h.end(pid, epoch, tid="unknown") is E.INVALID_PRODUCER_ID_MAPPING
    assert h.end(pid + 1, epoch) is E.INVALID_PRODUCER_ID_MAPPING
    assert h.end(pid, epoch + 1) is E.PRODUCER_FENCED  # a newer epoch is refused too (strict equality)
    assert h.end(pid, epoch - 1, version=1) is E.INVALID_PRODUCER_EPOCH
    assert h.end(pid, epoch, tid="") is E.INVALID_REQUEST
    assert h.meta().state is S.ONGOING


@pytest.mark.parametrize(
    ("first", "retry", "before_markers", "after_markers"),
    [
        (True, True, E.CONCURRENT_TRANSACTIONS, E.NONE),
        (False, False, E.CONCURRENT_TRANSACTIONS, E.NONE),
        (True, False, E.INVALID_TXN_STATE, E.INVALID_TXN_STATE),
        (False, True, E.INVALID_TXN_STATE, E.INVALID_TXN_STATE),
    ],
)
def test_end_txn_retries(h: Harness, first: bool, retry: bool, before_markers: E, after_markers: E) -> None:
    pid, epoch = h.ongoing()
    assert h.end(pid, epoch, first) is E.NONE
    n = len(h.log)
    assert h.end(pid, epoch, retry) is before_markers
    h.write_markers()
    assert h.end(pid, epoch, retry) is after_markers
    assert len(h.log) == n + 1 and h.markers == []  # only the Complete record; retries write nothing


def test_markers_written_twice_is_harmless(h: Harness) -> None:
    pid, epoch = h.ongoing()
    h.end(pid, epoch)
    h.write_markers()
    n = len(h.log)
    h.apply(h.coord.markers_written(h.now, "t"))
    h.apply(h.coord.markers_written(h.now, "unknown"))
    assert len(h.log) == n and h.meta().state is S.COMPLETE_COMMIT


def test_two_transactional_ids_are_independent(h: Harness) -> None:
    p1, e1 = h.ongoing("t1", ("a", 0))
    p2, e2 = h.ongoing("t2", ("a", 0))
    assert p1 != p2
    h.end(p1, e1, tid="t1")
    assert h.coord.txns["t2"].state is S.ONGOING
    assert h.add(p2, e2, ("a", 1), tid="t2") is E.NONE
    assert [m.transactional_id for m in h.markers] == ["t1"]
