"""Transaction timeouts, transactional-id expiration, replay after a restart, ListTransactions and
DescribeTransactions, and the state table itself."""

from __future__ import annotations

import pytest
from txn_harness import TIMEOUT, Harness

from pykafka_broker.broker.coordinator.result import EXPIRATION_KEY, TimerKey
from pykafka_broker.broker.txn import DescribeTransactions, ListTransactions
from pykafka_broker.broker.txn.api import TIMEOUT as TIMEOUT_KIND
from pykafka_broker.broker.txn.state import VALID_PREVIOUS, IllegalTransition, TxnMetadata, TxnState
from pykafka_broker.protocol.errors import ErrorCode as E

S = TxnState


# -- timeout -------------------------------------------------------------------------------------


def test_timeout_aborts_with_bumped_epoch_fencing_the_zombie(h: Harness) -> None:
    pid, epoch = h.ongoing("t", ("a", 0))
    start = h.now
    h.advance(TIMEOUT - 1)
    assert h.meta().state is S.ONGOING and h.markers == []
    h.advance(1)
    meta = h.meta()
    assert (meta.state, meta.producer_epoch) == (S.PREPARE_ABORT, epoch + 1)
    [action] = h.markers
    assert (action.producer_id, action.producer_epoch, action.committed, action.partitions) == (
        pid, epoch + 1, False, (("a", 0),))
    assert h.now == start + TIMEOUT
    h.write_markers()
    assert h.meta().state is S.COMPLETE_ABORT
    # The zombie wakes up: fenced on every request.
    assert h.add(pid, epoch, ("a", 1)) is E.PRODUCER_FENCED
    assert h.end(pid, epoch) is E.PRODUCER_FENCED
    assert h.end(pid, epoch, version=0) is E.INVALID_PRODUCER_EPOCH
    # A new instance takes over with the next epoch.
    assert h.init().producer_epoch == epoch + 2


def test_timer_is_cancelled_by_end_txn_and_stale_fires_are_ignored(h: Harness) -> None:
    pid, epoch = h.ongoing()
    key = TimerKey(TIMEOUT_KIND, "t")
    h.end(pid, epoch)
    h.write_markers()
    assert key not in h.coord.pending_timers()
    n = len(h.log)
    assert h.coord.fire_timer(h.now + TIMEOUT, key).records == ()  # never armed now: ignored
    h.add(pid, epoch)  # the next transaction re-arms the key for its own start
    assert h.coord.pending_timers()[key] == h.now + TIMEOUT
    assert h.coord.fire_timer(h.now + 1, key).records == ()  # not due yet
    assert len(h.log) == n + 1


def test_timeout_timer_is_rearmed_per_transaction(h: Harness) -> None:
    pid, epoch = h.ongoing()
    h.advance(TIMEOUT // 2)
    h.end(pid, epoch)
    h.write_markers()
    h.add(pid, epoch)
    h.advance(TIMEOUT - 1)
    assert h.meta().state is S.ONGOING  # the first transaction's deadline passed without effect
    h.advance(1)
    assert h.meta().state is S.PREPARE_ABORT


# -- transactional id expiration ----------------------------------------------------------------


def test_idle_transactional_ids_expire_with_a_tombstone() -> None:
    h = Harness(transactional_id_expiration_ms=10_000, remove_expired_interval_ms=1_000)
    h.apply(h.coord.on_loaded(h.now))
    h.ready("idle")
    pid, epoch = h.ongoing("busy")
    h.advance(TIMEOUT + 20_000)  # busy times out and aborts; its markers stay outstanding
    assert "idle" not in h.coord.txns
    assert (b"\x00\x00\x00\x04idle", None) in h.log
    assert h.coord.txns["busy"].state is S.PREPARE_ABORT  # never expires while markers are pending
    assert h.coord.pending_timers()[EXPIRATION_KEY] > h.now - 1_000
    assert h.init("idle").producer_epoch == 0  # a brand-new id again


# -- replay and loading -------------------------------------------------------------------------


def restart(h: Harness) -> Harness:
    fresh = Harness()
    fresh.now, fresh.pids = h.now, h.pids  # the producer-id block survives restarts
    for key, value in h.log:
        fresh.coord.replay(key, value)
    fresh.log = list(h.log)
    return fresh


def test_replay_rebuilds_every_state(h: Harness) -> None:
    h.ready("empty")
    pid, epoch = h.ongoing("ongoing", ("a", 0), ("b", 1))
    p2, e2 = h.ongoing("committed")
    h.end(p2, e2, tid="committed")
    h.write_markers()
    p3, e3 = h.ongoing("aborted")
    h.end(p3, e3, commit=False, tid="aborted")
    h.write_markers()
    before = {t: (m.state, m.producer_id, m.producer_epoch, m.timeout_ms, m.partitions, m.start_ms,
                  m.last_update_ms) for t, m in h.coord.txns.items()}
    r = restart(h)
    after = {t: (m.state, m.producer_id, m.producer_epoch, m.timeout_ms, m.partitions, m.start_ms,
                 m.last_update_ms) for t, m in r.coord.txns.items()}
    assert after == before


def test_on_loaded_resumes_prepared_and_rearms_ongoing(h: Harness) -> None:
    p1, e1 = h.ongoing("committing", ("a", 0))
    h.end(p1, e1, tid="committing")
    p2, e2 = h.ongoing("aborting", ("b", 0))
    h.end(p2, e2, commit=False, tid="aborting")
    h.ongoing("open", ("c", 0))
    start = h.now
    h.markers.clear()  # the broker died before writing any marker
    h.now += 1_000
    r = restart(h)
    r.apply(r.coord.on_loaded(r.now))
    assert {(m.transactional_id, m.committed, m.partitions) for m in r.markers} == {
        ("committing", True, (("a", 0),)), ("aborting", False, (("b", 0),))}
    assert r.coord.pending_timers()[TimerKey(TIMEOUT_KIND, "open")] == start + TIMEOUT
    assert EXPIRATION_KEY in r.coord.pending_timers()
    assert r.init("committing").error_code is E.CONCURRENT_TRANSACTIONS
    assert r.end(p1, e1, tid="committing") is E.CONCURRENT_TRANSACTIONS
    r.write_markers()
    assert r.coord.txns["committing"].state is S.COMPLETE_COMMIT
    assert r.coord.txns["aborting"].state is S.COMPLETE_ABORT
    assert r.end(p1, e1, tid="committing") is E.NONE  # the client's retry after the crash
    r.advance(TIMEOUT)
    assert r.coord.txns["open"].state is S.PREPARE_ABORT


def test_loaded_transaction_past_its_deadline_aborts_at_once(h: Harness) -> None:
    h.ongoing("open")
    h.now += 10 * TIMEOUT
    r = restart(h)
    r.apply(r.coord.on_loaded(r.now))
    r.advance(0)
    assert r.coord.txns["open"].state is S.PREPARE_ABORT and len(r.markers) == 1


def test_replayed_producer_can_continue(h: Harness) -> None:
    pid, epoch = h.ready()
    r = restart(h)
    assert r.add(pid, epoch) is E.NONE
    assert r.end(pid, epoch) is E.NONE
    r.write_markers()
    assert r.init().producer_epoch == epoch + 1


def test_replay_tombstone_and_unknown_key_version(h: Harness) -> None:
    h.ready()
    r = restart(h)
    r.coord.replay(b"\x00\x01\x00\x01t", b"junk")  # a key version we do not know: skipped like Kafka
    assert "t" in r.coord.txns
    r.coord.replay(b"\x00\x00\x00\x01t", None)
    assert r.coord.txns == {}


# -- admin ---------------------------------------------------------------------------------------


def listed(h: Harness, **kw) -> tuple[set[tuple[str, str]], tuple[str, ...]]:  # type: ignore[no-untyped-def]
    resp = h.coord.list_transactions(h.now, ListTransactions(**kw)).response
    assert resp is not None and resp.error_code is E.NONE
    return {(t.transactional_id, t.state) for t in resp.transactions}, resp.unknown_state_filters


def test_list_transactions_filters(h: Harness) -> None:
    h.ready("empty")
    pid, _ = h.ongoing("old")
    h.now += 5_000
    h.ongoing("young")
    everything = {("empty", "Empty"), ("old", "Ongoing"), ("young", "Ongoing")}
    assert listed(h) == (everything, ())
    assert listed(h, state_filters=["Ongoing"]) == ({("old", "Ongoing"), ("young", "Ongoing")}, ())
    assert listed(h, state_filters=["Ongoing", "Bogus"]) == ({("old", "Ongoing"), ("young", "Ongoing")},
                                                             ("Bogus",))
    assert listed(h, state_filters=["Bogus"]) == (set(), ("Bogus",))
    assert listed(h, producer_id_filters=[pid]) == ({("old", "Ongoing")}, ())
    assert listed(h, producer_id_filters=[pid], state_filters=["Empty"]) == (set(), ())
    h.now += 1
    running, _ = listed(h, duration_filter_ms=3_000, state_filters=["Ongoing"])
    assert running == {("old", "Ongoing")}
    assert listed(h, duration_filter_ms=-1)[0] == everything


def test_describe_transactions(h: Harness) -> None:
    pid, epoch = h.ongoing("t", ("b", 2), ("a", 1), ("a", 0))
    start = h.now
    resp = h.coord.describe_transactions(h.now, DescribeTransactions(["t", "missing", ""])).response
    assert resp is not None
    t, missing, empty = resp.transactions
    assert (t.error_code, t.state, t.producer_id, t.producer_epoch, t.timeout_ms, t.start_ms) == (
        E.NONE, "Ongoing", pid, epoch, TIMEOUT, start)
    assert t.topics == (("a", (0, 1)), ("b", (2,)))
    assert (missing.error_code, missing.transactional_id) == (E.TRANSACTIONAL_ID_NOT_FOUND, "missing")
    assert empty.error_code is E.INVALID_REQUEST


# -- the state table ----------------------------------------------------------------------------


LEGAL = {
    (S.EMPTY, S.EMPTY), (S.COMPLETE_COMMIT, S.EMPTY), (S.COMPLETE_ABORT, S.EMPTY),
    (S.EMPTY, S.ONGOING), (S.ONGOING, S.ONGOING), (S.COMPLETE_COMMIT, S.ONGOING),
    (S.COMPLETE_ABORT, S.ONGOING),
    (S.ONGOING, S.PREPARE_COMMIT),
    (S.ONGOING, S.PREPARE_ABORT), (S.PREPARE_EPOCH_FENCE, S.PREPARE_ABORT), (S.EMPTY, S.PREPARE_ABORT),
    (S.COMPLETE_COMMIT, S.PREPARE_ABORT), (S.COMPLETE_ABORT, S.PREPARE_ABORT),
    (S.PREPARE_COMMIT, S.COMPLETE_COMMIT), (S.PREPARE_ABORT, S.COMPLETE_ABORT),
    (S.EMPTY, S.DEAD), (S.COMPLETE_COMMIT, S.DEAD), (S.COMPLETE_ABORT, S.DEAD),
    (S.ONGOING, S.PREPARE_EPOCH_FENCE),
}


@pytest.mark.parametrize("source", list(S))
@pytest.mark.parametrize("target", list(S))
def test_every_transition_and_its_legal_predecessors(source: TxnState, target: TxnState) -> None:
    meta = TxnMetadata("t", 1, 0, TIMEOUT, source, 0)
    assert (source in VALID_PREVIOUS[target]) == ((source, target) in LEGAL)
    if (source, target) in LEGAL:
        meta.transit(target, 5)
        assert (meta.state, meta.last_update_ms) == (target, 5)
    else:
        with pytest.raises(IllegalTransition):
            meta.transit(target, 5)
        assert meta.state is source


def test_state_names_match_kafka() -> None:
    assert [s.display_name for s in S] == ["Empty", "Ongoing", "PrepareCommit", "PrepareAbort",
                                           "CompleteCommit", "CompleteAbort", "Dead", "PrepareEpochFence"]
    assert all(S.from_name(s.display_name) is s for s in S)
