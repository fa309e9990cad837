"""A transaction marker whose append succeeded but whose fsync failed (flush.messages=1) is not
written: the transaction stays PrepareCommit and the marker is retried, never completed unsynced.
A flush that could not start (no space for the final time-index entry) is retried the same way,
and the transaction completes once the disk has room again."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fault_helpers import EIO, ENOSPC, FaultyIO

from pykafka_broker.broker import txn_driver
from pykafka_broker.broker.config import BrokerConfig
from pykafka_broker.broker.context import Broker
from pykafka_broker.broker.server import open_broker
from pykafka_broker.broker.txn import AddPartitionsToTxn, DescribeTransactions, EndTxn, InitProducerId
from pykafka_broker.protocol.errors import ErrorCode
from pykafka_broker.protocol.records import build_batch, read_batch_header
from pykafka_broker.storage.files import use_io

TOPIC = "orders"


async def _settle(reply: Any) -> Any:
    return await asyncio.wait_for(reply, 5.0) if isinstance(reply, asyncio.Future) else reply


async def _until(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def _state(broker: Broker) -> str:
    described = await _settle(broker.txns.describe_transactions(DescribeTransactions(["tx"])))
    return described.transactions[0].state


async def _prepared_commit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                           arm: Callable[[], None]) -> tuple[Broker, list[int]]:
    """A broker with flush.messages=1 and a committed transaction over orders-0 whose marker
    flush meets the fault ``arm`` sets; the list counts the marker writes (first and retries)."""
    monkeypatch.setattr(txn_driver, "MARKER_RETRY_S", 0.02)
    broker = open_broker(BrokerConfig(data_dir=tmp_path, props={"num.partitions": "1",
                                                                "log.flush.interval.messages": "1"}))
    broker.groups.start()
    broker.txns.start()
    broker.logs.create_topic(TOPIC, 1, {})
    r = await _settle(broker.txns.init_producer_id(InitProducerId("tx", 60_000)))
    pid, epoch = r.producer_id, r.producer_epoch
    added = await _settle(broker.txns.add_partitions(AddPartitionsToTxn("tx", pid, epoch, [(TOPIC, 0)])))
    assert [x.error_code for x in added.results] == [ErrorCode.NONE]
    plog = broker.logs.get_log(TOPIC, 0)
    batch = build_batch([(None, b"v", [], 0)], producer_id=pid, producer_epoch=epoch, base_sequence=0,
                        transactional=True)
    plog.append(batch, read_batch_header(batch), 0)
    plog.flush()
    writes: list[int] = []
    real = broker.txns._write_markers

    def counted(m: Any) -> None:
        writes.append(1)
        real(m)

    monkeypatch.setattr(broker.txns, "_write_markers", counted)
    arm()
    ended = await _settle(broker.txns.end_txn(EndTxn("tx", pid, epoch, True)))
    assert ended.error_code == ErrorCode.NONE
    return broker, writes


def _close(broker: Broker) -> None:
    broker.txns.stop()
    broker.groups.stop()
    broker.logs.close()


async def test_marker_whose_fsync_failed_leaves_the_transaction_prepared(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    io = FaultyIO(f"/{TOPIC}-0/")
    with use_io(io):
        broker, writes = await _prepared_commit(tmp_path, monkeypatch,
                                                lambda: setattr(io, "fsync_errno", EIO))
        await _check_prepared_and_offline(broker, writes)


async def _check_prepared_and_offline(broker: Broker, writes: list[int]) -> None:
    try:
        plog = broker.logs.get_log(TOPIC, 0)
        await _until(lambda: len(writes) >= 3)  # the marker is retried (the log is offline now)
        assert plog.offline is not None
        assert await _state(broker) == "PrepareCommit"
    finally:
        _close(broker)


async def test_marker_flush_that_could_not_start_is_retried_until_it_completes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    io = FaultyIO(f"/{TOPIC}-0/")
    with use_io(io):
        # ENOSPC on the flush's final time-index entry (the marker is stamped now, the data at 0).
        broker, writes = await _prepared_commit(tmp_path, monkeypatch,
                                                lambda: setattr(io, "pwrite_errno", ENOSPC))
        await _check_retried_then_completed(broker, writes, io)


async def _check_retried_then_completed(broker: Broker, writes: list[int], io: FaultyIO) -> None:
    try:
        plog = broker.logs.get_log(TOPIC, 0)
        await _until(lambda: len(writes) >= 3)
        assert plog.offline is None
        assert await _state(broker) == "PrepareCommit"
        io.pwrite_errno = None  # room again
        await _until(lambda: plog.recovery_point == plog.log_end_offset)
        for _ in range(500):
            if await _state(broker) == "CompleteCommit":
                break
            await asyncio.sleep(0.01)
        assert await _state(broker) == "CompleteCommit"
    finally:
        _close(broker)
