"""The transaction driver in process (no sockets): __transaction_state, markers, pending transactional
offsets, timeouts, replay after a restart, and the bad-input answers of the transactional APIs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from driver_harness import close, opened, settle

from pykafka_broker.broker.context import Broker
from pykafka_broker.broker.group_driver import OFFSETS_TOPIC
from pykafka_broker.broker.groups import OffsetFetch, TxnOffsetCommit
from pykafka_broker.broker.txn import (
    AddOffsetsToTxn,
    AddPartitionsToTxn,
    DescribeTransactions,
    EndTxn,
    InitProducerId,
    ListTransactions,
)
from pykafka_broker.broker.txn_driver import TXN_TOPIC
from pykafka_broker.protocol.errors import ErrorCode
from pykafka_broker.protocol.records import build_batch, iter_batches, read_batch_header

E = ErrorCode
TOPIC = "orders"


async def init(broker: Broker, tid: str = "tx", timeout_ms: int = 60_000) -> tuple[int, int]:
    r = await settle(broker.txns.init_producer_id(InitProducerId(tid, timeout_ms)))
    assert r.error_code == E.NONE
    return r.producer_id, r.producer_epoch


def produce_txn(
    broker: Broker,
    pid: int,
    epoch: int,
    partition: int,
    values: list[bytes],
    tid: str = "tx",
    version: int = 9,
) -> ErrorCode:
    """What the Produce handler does for a transactional batch: verify, then append."""
    code, _ = broker.txns.verify_produce(tid, pid, epoch, TOPIC, partition, version)
    if code is not E.NONE:
        return code
    plog = broker.logs.get_log(TOPIC, partition)
    assert plog is not None
    batch = build_batch(
        [(None, v, [], 0) for v in values],
        producer_id=pid,
        producer_epoch=epoch,
        base_sequence=0,
        transactional=True,
    )
    plog.append(batch, read_batch_header(batch), 0)
    return E.NONE


def batches(broker: Broker, topic: str, partition: int) -> list[Any]:
    plog = broker.logs.get_log(topic, partition)
    assert plog is not None
    data = b"".join(bytes(c) for c in plog.read(plog.log_start_offset, 1 << 20).chunks)
    return [h for _, h in iter_batches(data)]


def txn_commit(
    pid: int, epoch: int, group: str = "g", offset: int = 7, generation: int = -1
) -> TxnOffsetCommit:
    return TxnOffsetCommit(group, pid, epoch, {TOPIC: [(0, offset, 3, "txn-meta")]}, generation_id=generation)


async def fetched(broker: Broker, require_stable: bool, group: str = "g") -> Any:
    resp = await settle(broker.groups.offset_fetch(OffsetFetch([(group, [(TOPIC, [0])])], require_stable)))
    return resp.groups[0].topics[0].partitions[0]


async def open_txn_with_offsets(broker: Broker) -> tuple[int, int]:
    broker.logs.create_topic(TOPIC, 3, {})
    pid, epoch = await init(broker)
    added = await settle(
        broker.txns.add_partitions(AddPartitionsToTxn("tx", pid, epoch, [(TOPIC, 0), (TOPIC, 1)]))
    )
    assert [r.error_code for r in added.results] == [E.NONE, E.NONE]
    assert produce_txn(broker, pid, epoch, 0, [b"a", b"b"]) is E.NONE
    assert produce_txn(broker, pid, epoch, 1, [b"c"]) is E.NONE
    broker.groups.ensure_topic()
    assert (
        await settle(broker.txns.add_offsets(AddOffsetsToTxn("tx", pid, epoch, "g")))
    ).error_code == E.NONE
    committed = await settle(broker.groups.txn_offset_commit(txn_commit(pid, epoch)))
    assert committed.topics[0].partitions[0].error_code == E.NONE
    return pid, epoch


async def test_commit_writes_markers_and_makes_offsets_visible(tmp_path: Path) -> None:
    broker = opened(tmp_path)
    try:
        pid, epoch = await open_txn_with_offsets(broker)
        plog = broker.logs.get_log(TOPIC, 0)
        assert plog is not None and plog.last_stable_offset == 0  # the open transaction pins the LSO
        unstable = await fetched(broker, require_stable=True)
        assert unstable.error_code == E.UNSTABLE_OFFSET_COMMIT and unstable.offset == -1
        assert (await fetched(broker, require_stable=False)).offset == -1  # pending: not visible yet
        ended = await settle(broker.txns.end_txn(EndTxn("tx", pid, epoch, True)))
        assert ended.error_code == E.NONE
        for partition in (0, 1):
            last = batches(broker, TOPIC, partition)[-1]
            assert last.is_control and last.producer_id == pid and last.producer_epoch == epoch
        assert plog.last_stable_offset == plog.log_end_offset == 3
        assert batches(broker, TOPIC, 2) == []
        offsets_partition = broker.groups.partition_for("g")
        assert batches(broker, OFFSETS_TOPIC, offsets_partition)[-1].is_control
        stable = await fetched(broker, require_stable=True)
        assert (stable.error_code, stable.offset, stable.leader_epoch, stable.metadata) == (
            E.NONE,
            7,
            3,
            "txn-meta",
        )
        described = (
            await settle(broker.txns.describe_transactions(DescribeTransactions(["tx"])))
        ).transactions
        assert described[0].state == "CompleteCommit" and described[0].topics == ()
        # a retry of the same EndTxn succeeds; the other outcome does not
        assert (await settle(broker.txns.end_txn(EndTxn("tx", pid, epoch, True)))).error_code == E.NONE
        assert (
            await settle(broker.txns.end_txn(EndTxn("tx", pid, epoch, False)))
        ).error_code == E.INVALID_TXN_STATE
    finally:
        close(broker)


async def test_abort_drops_pending_offsets(tmp_path: Path) -> None:
    broker = opened(tmp_path)
    try:
        pid, epoch = await open_txn_with_offsets(broker)
        assert (await settle(broker.txns.end_txn(EndTxn("tx", pid, epoch, False)))).error_code == E.NONE
        after = await fetched(broker, require_stable=True)
        assert (after.error_code, after.offset) == (E.NONE, -1)
        plog = broker.logs.get_log(TOPIC, 0)
        assert plog is not None and plog.aborted_transactions(0, plog.last_stable_offset) == [(pid, 0)]
    finally:
        close(broker)


async def test_restart_replays_state_and_pending_offsets_then_timeout_aborts(tmp_path: Path) -> None:
    broker = opened(tmp_path)
    pid, epoch = await open_txn_with_offsets(broker)
    close(broker)

    broker = opened(tmp_path)
    try:
        described = (
            await settle(broker.txns.describe_transactions(DescribeTransactions(["tx"])))
        ).transactions
        assert described[0].state == "Ongoing" and described[0].producer_id == pid
        assert dict(described[0].topics)[TOPIC] == (0, 1)
        unstable = await fetched(broker, require_stable=True)
        assert unstable.error_code == E.UNSTABLE_OFFSET_COMMIT  # the pending offset was replayed
        listed = await settle(
            broker.txns.list_transactions(ListTransactions(state_filters=["Ongoing", "Bogus"]))
        )
        assert [t.transactional_id for t in listed.transactions] == ["tx"]
        assert listed.unknown_state_filters == ("Bogus",)
        # The timeout fires (driven through the coordinator's timer with a clock past the deadline).
        (key,) = [k for k in broker.txns.pending_timers() if k.key == "tx"]
        deadline = broker.txns.coordinator.pending_timers()[key]
        broker.txns.runtime.fire(deadline, key)
        plog = broker.logs.get_log(TOPIC, 0)
        assert plog is not None and plog.last_stable_offset == plog.log_end_offset
        last = batches(broker, TOPIC, 0)[-1]
        assert last.is_control and last.producer_epoch == epoch + 1  # the abort fences the zombie
        assert (await fetched(broker, require_stable=True)).offset == -1
        # the fenced producer is told so
        assert produce_txn(broker, pid, epoch, 0, [b"zombie"]) is E.INVALID_PRODUCER_EPOCH
        stale = await settle(broker.txns.end_txn(EndTxn("tx", pid, epoch, True, api_version=1)))
        assert stale.error_code == E.INVALID_PRODUCER_EPOCH  # before KIP-588 (v2)
        stale = await settle(broker.txns.end_txn(EndTxn("tx", pid, epoch, True, api_version=3)))
        assert stale.error_code == E.PRODUCER_FENCED
    finally:
        close(broker)

    broker = opened(tmp_path)  # the completed abort was persisted too
    try:
        described = (
            await settle(broker.txns.describe_transactions(DescribeTransactions(["tx"])))
        ).transactions
        assert described[0].state == "CompleteAbort"
        assert (await fetched(broker, require_stable=True)).offset == -1
        assert not [k for k in broker.txns.pending_timers() if k.key == "tx"]
    finally:
        close(broker)


async def test_committed_offsets_survive_restart(tmp_path: Path) -> None:
    broker = opened(tmp_path)
    pid, epoch = await open_txn_with_offsets(broker)
    assert (await settle(broker.txns.end_txn(EndTxn("tx", pid, epoch, True)))).error_code == E.NONE
    close(broker)
    broker = opened(tmp_path)
    try:
        stable = await fetched(broker, require_stable=True)
        assert (stable.error_code, stable.offset, stable.metadata) == (E.NONE, 7, "txn-meta")
        assert TXN_TOPIC in broker.logs.topics
    finally:
        close(broker)


async def test_bad_input(tmp_path: Path) -> None:
    broker = opened(tmp_path)
    try:
        broker.logs.create_topic(TOPIC, 3, {})
        pid, epoch = await init(broker)
        # EndTxn without a transaction
        assert (
            await settle(broker.txns.end_txn(EndTxn("tx", pid, epoch, True)))
        ).error_code == E.INVALID_TXN_STATE
        # a transactional produce to a partition never added
        assert produce_txn(broker, pid, epoch, 2, [b"x"], version=9) is E.INVALID_TXN_STATE
        assert produce_txn(broker, pid, epoch, 2, [b"x"], version=11) is E.TRANSACTION_ABORTABLE
        code, _ = broker.txns.verify_produce(None, pid, epoch, TOPIC, 2, 9)
        assert code is E.TRANSACTIONAL_ID_AUTHORIZATION_FAILED
        assert batches(broker, TOPIC, 2) == []
        # a wrong producer id, and a transaction timeout over transaction.max.timeout.ms
        added = await settle(
            broker.txns.add_partitions(AddPartitionsToTxn("tx", pid + 1, epoch, [(TOPIC, 0)]))
        )
        assert added.results[0].error_code == E.INVALID_PRODUCER_ID_MAPPING
        too_long = await settle(broker.txns.init_producer_id(InitProducerId("tx2", 900_001)))
        assert too_long.error_code == E.INVALID_TRANSACTION_TIMEOUT
        # a second InitProducerId fences the first producer
        pid2, epoch2 = await init(broker)
        assert (pid2, epoch2) == (pid, epoch + 1)
        fenced = await settle(broker.txns.add_partitions(AddPartitionsToTxn("tx", pid, epoch, [(TOPIC, 0)])))
        assert fenced.results[0].error_code == E.PRODUCER_FENCED
        # TxnOffsetCommit for an unknown generation
        broker.groups.ensure_topic()
        await settle(broker.txns.add_offsets(AddOffsetsToTxn("tx", pid2, epoch2, "g")))
        bad = await settle(broker.groups.txn_offset_commit(txn_commit(pid2, epoch2, generation=5)))
        assert bad.topics[0].partitions[0].error_code == E.ILLEGAL_GENERATION
        ok = await settle(broker.groups.txn_offset_commit(txn_commit(pid2, epoch2, group="g")))
        assert ok.topics[0].partitions[0].error_code == E.NONE
    finally:
        close(broker)
