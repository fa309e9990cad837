"""The shared coordinator runtime in process: a failed append reverts (groups and transactions), a failed
fsync too, and requests during replay get COORDINATOR_LOAD_IN_PROGRESS. Failures are injected through the
runtime's ``append`` seam, never by touching storage."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from driver_harness import WAIT_S, close, opened, settle

from pykafka_broker.broker.context import Broker
from pykafka_broker.broker.coordinator.runtime import CoordinatorRuntime, append_error
from pykafka_broker.broker.group_driver import GroupDriver
from pykafka_broker.broker.groups import JoinGroup, OffsetCommit, OffsetFetch, SyncGroup
from pykafka_broker.broker.groups import records as rec
from pykafka_broker.broker.txn import AddPartitionsToTxn, DescribeTransactions, EndTxn, InitProducerId
from pykafka_broker.broker.txn_driver import TxnDriver
from pykafka_broker.protocol.errors import ErrorCode, KafkaError
from pykafka_broker.protocol.records import iter_batches

E = ErrorCode
TOPIC = "orders"


class FailingAppend:
    """Stands in for the runtime's append: raises ``exc`` (nothing reaches the log) while armed."""

    def __init__(self, runtime: CoordinatorRuntime, exc: BaseException, armed: bool = True) -> None:
        self.runtime, self.exc, self.real = runtime, exc, runtime.append
        self.calls = 0
        if armed:
            self.arm()

    def arm(self) -> None:
        self.runtime.append = self

    def __call__(self, *args: Any) -> Any:
        self.calls += 1
        raise self.exc

    def disarm(self) -> None:
        self.runtime.append = self.real


def commit(group: str, offsets: dict[int, int]) -> OffsetCommit:
    return OffsetCommit(group, -1, "", None, -1, {TOPIC: [(p, o, -1, "") for p, o in offsets.items()]})


async def fetched(broker: Broker, group: str = "g") -> dict[int, int]:
    resp = await settle(broker.groups.offset_fetch(OffsetFetch([(group, [(TOPIC, [0, 1])])])))
    return {p.partition: p.offset for t in resp.groups[0].topics for p in t.partitions}


def errors(resp: Any) -> set[ErrorCode]:
    return {p.error_code for t in resp.topics for p in t.partitions}


def test_append_errors_map_as_kafka() -> None:
    assert append_error(OSError("disk")) is E.NOT_COORDINATOR  # KAFKA_STORAGE_ERROR
    assert append_error(KafkaError(E.KAFKA_STORAGE_ERROR)) is E.NOT_COORDINATOR
    assert append_error(KafkaError(E.NOT_ENOUGH_REPLICAS)) is E.COORDINATOR_NOT_AVAILABLE
    assert append_error(KafkaError(E.UNKNOWN_TOPIC_OR_PARTITION)) is E.COORDINATOR_NOT_AVAILABLE
    assert append_error(KafkaError(E.MESSAGE_TOO_LARGE)) is E.UNKNOWN_SERVER_ERROR
    assert append_error(RuntimeError("bug")) is E.UNKNOWN_SERVER_ERROR


async def test_failed_offset_commit_leaves_no_offset_now_or_after_restart(tmp_path: Path) -> None:
    broker = opened(tmp_path)
    try:
        broker.logs.create_topic(TOPIC, 2, {})
        assert errors(await settle(broker.groups.offset_commit(commit("g", {0: 3})))) == {E.NONE}
        failing = FailingAppend(broker.groups.runtime, OSError("injected disk error"))
        resp = await settle(broker.groups.offset_commit(commit("g", {0: 9, 1: 4})))
        assert failing.calls == 1 and errors(resp) == {E.NOT_COORDINATOR}
        assert await fetched(broker) == {0: 3, 1: -1}  # the earlier offset stays; the failed one is not there
        # A failed commit of a new "simple" group does not leave the group behind either.
        resp = await settle(broker.groups.offset_commit(commit("fresh", {0: 1})))
        assert errors(resp) == {E.NOT_COORDINATOR} and "fresh" not in broker.groups.coordinator.groups
        failing.disarm()
    finally:
        close(broker)
    broker = opened(tmp_path)
    try:
        assert await fetched(broker) == {0: 3, 1: -1}
        assert "fresh" not in broker.groups.coordinator.groups
    finally:
        close(broker)


async def test_failed_fsync_reverts_the_commit_and_the_writes_after_it(tmp_path: Path) -> None:
    broker = opened(tmp_path, **{"log.flush.interval.messages": "1"})
    try:
        broker.logs.create_topic(TOPIC, 2, {})
        runtime = broker.groups.runtime
        real = runtime.append
        gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def append_then_fail_flush(*args: Any) -> asyncio.Future[None]:
            real(*args)  # the bytes reach the log; the fsync is what fails
            return gate
        runtime.append = append_then_fail_flush
        first = broker.groups.offset_commit(commit("g", {0: 5}))
        second = broker.groups.offset_commit(commit("g", {1: 6}))
        assert isinstance(first, asyncio.Future) and isinstance(second, asyncio.Future)
        assert await fetched(broker) == {0: -1, 1: -1}  # not visible before it is durable
        gate.set_exception(OSError("injected fsync error"))
        assert errors(await settle(first)) == errors(await settle(second)) == {E.NOT_COORDINATOR}
        assert await fetched(broker) == {0: -1, 1: -1}
        runtime.append = real
        assert errors(await settle(broker.groups.offset_commit(commit("g", {0: 7})))) == {E.NONE}
        assert (await fetched(broker))[0] == 7
    finally:
        close(broker)


def join(member_id: str = "") -> JoinGroup:
    return JoinGroup("g", member_id, None, "consumer", [("range", rec.encode_subscription([TOPIC]))],
                     10_000, 30_000, client_id="c", client_host="/127.0.0.1")


async def test_failed_group_record_reverts_membership(tmp_path: Path) -> None:
    broker = opened(tmp_path)
    try:
        groups = broker.groups
        failing = FailingAppend(groups.runtime, OSError("injected"))
        # JoinGroup creates the group and writes its empty record: refused, the group never existed.
        refused = await settle(groups.join_group(join()))
        assert refused.error_code is E.NOT_COORDINATOR and "g" not in groups.coordinator.groups
        assert not [k for k in groups.pending_timers() if k.key == "g"]  # its member timer is gone too
        failing.disarm()
        first = await settle(groups.join_group(join()))
        joined = await settle(groups.join_group(join(first.member_id)))
        assert joined.error_code is E.NONE
        sync = SyncGroup("g", joined.generation_id, first.member_id,
                         assignments=[(first.member_id, b"assignment")])
        # The leader's assignment cannot be written: the group stays CompletingRebalance, unassigned.
        failing = FailingAppend(groups.runtime, OSError("injected"))
        assert (await settle(groups.sync_group(sync))).error_code is E.NOT_COORDINATOR
        group = groups.coordinator.groups["g"]
        assert group.state.value == "CompletingRebalance" and group.members[first.member_id].assignment == b""
        failing.disarm()
        synced = await settle(groups.sync_group(sync))
        assert synced.error_code is E.NONE and synced.assignment == b"assignment"
        assert groups.coordinator.groups["g"].state.value == "Stable"
    finally:
        close(broker)


def batches(broker: Broker, topic: str, partition: int) -> list[Any]:
    plog = broker.logs.get_log(topic, partition)
    assert plog is not None
    data = b"".join(bytes(c) for c in plog.read(plog.log_start_offset, 1 << 20).chunks)
    return [h for _, h in iter_batches(data)]


async def test_failed_prepare_commit_writes_no_marker_and_keeps_the_transaction(tmp_path: Path) -> None:
    broker = opened(tmp_path)
    try:
        broker.logs.create_topic(TOPIC, 3, {})
        init = await settle(broker.txns.init_producer_id(InitProducerId("tx", 60_000)))
        pid, epoch = init.producer_id, init.producer_epoch
        added = await settle(broker.txns.add_partitions(AddPartitionsToTxn("tx", pid, epoch, [(TOPIC, 0)])))
        assert added.results[0].error_code is E.NONE

        async def described() -> Any:
            resp = await settle(broker.txns.describe_transactions(DescribeTransactions(["tx"])))
            return resp.transactions[0]
        before = await described()
        failing = FailingAppend(broker.txns.runtime, OSError("injected"))
        ended = await settle(broker.txns.end_txn(EndTxn("tx", pid, epoch, True)))
        assert failing.calls == 1 and ended.error_code is E.NOT_COORDINATOR
        assert batches(broker, TOPIC, 0) == []  # no COMMIT marker
        assert await described() == before and before.state == "Ongoing"
        assert [k for k in broker.txns.pending_timers() if k.key == "tx"]  # its timeout is still armed
        failing.disarm()
        # The client retries EndTxn: now it commits, markers and all.
        assert (await settle(broker.txns.end_txn(EndTxn("tx", pid, epoch, True)))).error_code is E.NONE
        (marker,) = batches(broker, TOPIC, 0)
        assert marker.is_control and marker.producer_id == pid
        assert (await described()).state == "CompleteCommit"
    finally:
        close(broker)


async def test_requests_during_replay_get_load_in_progress(tmp_path: Path) -> None:
    broker = opened(tmp_path)
    broker.logs.create_topic(TOPIC, 2, {})
    assert errors(await settle(broker.groups.offset_commit(commit("g", {0: 11})))) == {E.NONE}
    init = await settle(broker.txns.init_producer_id(InitProducerId("tx", 60_000)))
    close(broker)

    broker = opened(tmp_path)  # the logs; its own drivers are replaced by ones that load step by step
    try:
        groups = GroupDriver(broker.config, broker.logs, broker.flusher, broker.waiters)
        broker.groups = groups
        steps = groups.runtime.replay_steps()
        next(steps)  # one batch replayed, the rest still to come
        loading = await settle(groups.offset_fetch(OffsetFetch([("g", [(TOPIC, [0])])])))
        assert loading.groups[0].error_code is E.COORDINATOR_LOAD_IN_PROGRESS
        assert errors(await settle(groups.offset_commit(commit("g", {0: 12})))) == {
            E.COORDINATOR_LOAD_IN_PROGRESS}
        assert (await settle(groups.join_group(join()))).error_code is E.COORDINATOR_LOAD_IN_PROGRESS
        for _ in steps:
            pass
        groups.start()
        assert (await fetched(broker))[0] == 11  # loaded, and the refused commit left nothing

        txns = TxnDriver(broker.config, broker.logs, broker.flusher, broker.waiters, broker.producer_ids,
                         groups)
        steps = txns.runtime.replay_steps()
        next(steps)
        refused = await settle(txns.init_producer_id(InitProducerId("tx", 60_000)))
        assert refused.error_code is E.COORDINATOR_LOAD_IN_PROGRESS
        code, _ = txns.verify_produce("tx", init.producer_id, init.producer_epoch, TOPIC, 0, 9)
        assert code is E.NOT_ENOUGH_REPLICAS  # retriable for the producer, as Kafka maps it
        for _ in steps:
            pass
        txns.start()
        again = await settle(txns.init_producer_id(InitProducerId("tx", 60_000)))
        assert (again.error_code, again.producer_id, again.producer_epoch) == (
            E.NONE, init.producer_id, init.producer_epoch + 1)
        txns.stop()
        groups.stop()
    finally:
        close(broker)


async def open_txn(broker: Broker, timeout_ms: int = 60_000) -> tuple[int, int]:
    broker.logs.create_topic(TOPIC, 3, {})
    init = await settle(broker.txns.init_producer_id(InitProducerId("tx", timeout_ms)))
    added = await settle(broker.txns.add_partitions(
        AddPartitionsToTxn("tx", init.producer_id, init.producer_epoch, [(TOPIC, 0)])))
    assert added.results[0].error_code is E.NONE
    return init.producer_id, init.producer_epoch


async def test_failed_prepare_fsync_writes_no_marker(tmp_path: Path) -> None:
    broker = opened(tmp_path, **{"log.flush.interval.messages": "1"})
    try:
        pid, epoch = await open_txn(broker)
        runtime = broker.txns.runtime
        real = runtime.append
        gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def append_then_fail_flush(*args: Any) -> asyncio.Future[None]:
            real(*args)
            return gate
        runtime.append = append_then_fail_flush
        ended = broker.txns.end_txn(EndTxn("tx", pid, epoch, True))
        assert isinstance(ended, asyncio.Future)
        gate.set_exception(OSError("injected fsync error"))
        assert (await settle(ended)).error_code is E.NOT_COORDINATOR
        assert batches(broker, TOPIC, 0) == []
        assert broker.txns.coordinator.txns["tx"].state.name == "ONGOING"
    finally:
        close(broker)


async def test_timer_whose_write_fails_is_retried(tmp_path: Path) -> None:
    broker = opened(tmp_path)
    try:
        failing = FailingAppend(broker.txns.runtime, OSError("injected"), armed=False)
        pid, epoch = await open_txn(broker, timeout_ms=300)
        failing.arm()  # from now on the timeout's abort cannot be written

        async def until(done: Any) -> None:
            while not done():
                await asyncio.sleep(0.02)
        await asyncio.wait_for(until(lambda: failing.calls >= 1), WAIT_S)
        assert broker.txns.coordinator.txns["tx"].state.name == "ONGOING"
        assert [k for k in broker.txns.pending_timers() if k.key == "tx"]  # re-armed after the back-off
        failing.disarm()
        await asyncio.wait_for(
            until(lambda: broker.txns.coordinator.txns["tx"].state.name == "COMPLETE_ABORT"), WAIT_S)
        (marker,) = batches(broker, TOPIC, 0)
        assert marker.is_control and marker.producer_epoch == epoch + 1  # the zombie is fenced
    finally:
        close(broker)
