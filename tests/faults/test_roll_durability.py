"""Rolled segments are fsynced asynchronously when they roll (UnifiedLog.roll's ``flush-log``),
the recovery point advances to the new segment and the checkpoint is rewritten, all off the loop,
with no produce waiting for it; a crash afterwards rescans only the active segment. And an fsync
that fails in the flusher takes that one log offline: its waiters get KAFKA_STORAGE_ERROR, the
other logs of the same round are acknowledged."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from fault_helpers import EIO, FaultyIO, batch, read_all, values

from pykafka_broker.broker.clock import now_ms
from pykafka_broker.broker.config import BrokerConfig
from pykafka_broker.broker.server import open_broker
from pykafka_broker.protocol.errors import ErrorCode, KafkaError
from pykafka_broker.protocol.records import read_batch_header
from pykafka_broker.storage.files import use_io
from pykafka_broker.storage.manager import RECOVERY_POINT_CHECKPOINT, LogManager, read_offset_checkpoint
from pykafka_broker.storage.segment import LogSegment


async def _until(predicate: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def _append(plog: object, tag: int) -> None:
    data = batch(tag)
    plog.append(data, read_batch_header(data), now_ms())  # type: ignore[attr-defined]


async def test_crash_after_rolls_rescans_only_past_the_advanced_recovery_point(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    broker = open_broker(BrokerConfig(data_dir=tmp_path))  # default policy: no forced flushes
    broker.flusher.start(broker)
    size = len(batch(0))
    try:
        broker.logs.create_topic("t", 1, {"segment.bytes": str(size * 2)})
        plog = broker.logs.get_log("t", 0)
        assert plog is not None
        for i in range(7):  # segments 0, 6, 12 rolled; 18 active
            _append(plog, i)
            assert broker.flusher.after_append(plog) is None  # nobody waits for a roll flush
        assert [s.base_offset for s in plog.segments] == [0, 6, 12, 18]
        checkpoint = tmp_path / RECOVERY_POINT_CHECKPOINT
        await _until(lambda: read_offset_checkpoint(checkpoint).get(("t", 0)) == 18)
        assert plog.recovery_point == 18
    finally:
        await broker.flusher.stop()
    # kill -9: no close, no clean-shutdown marker; release the fds the dead process held.
    for lg in broker.logs.all_logs():
        for segment in lg.segments:
            segment.release()

    recovered: list[int] = []
    original = LogSegment.recover

    def spy(self: LogSegment, describe: str) -> int:
        recovered.append(self.base_offset)
        return original(self, describe)

    monkeypatch.setattr(LogSegment, "recover", spy)
    again = LogManager(tmp_path, now_ms=now_ms())
    again.load({})
    try:
        assert recovered == [18]  # segments 0, 6 and 12 lie below the recovery point
        reopened = again.get_log("t", 0)
        assert reopened is not None
        assert values(read_all(reopened)) == values([bytes(batch(i)) for i in range(7)])
    finally:
        again.close()


async def test_failed_fsync_in_the_flusher_fails_only_that_logs_waiters(tmp_path: Path) -> None:
    broker = open_broker(BrokerConfig(data_dir=tmp_path, props={"log.flush.interval.messages": "1"}))
    broker.flusher.start(broker)
    try:
        broker.logs.create_topic("a", 1, {})
        broker.logs.create_topic("b", 1, {})
        a, b = broker.logs.get_log("a", 0), broker.logs.get_log("b", 0)
        assert a is not None and b is not None
        _append(a, 0)
        await broker.flusher.after_append(a)  # type: ignore[misc]
        assert a.recovery_point == 3
        faults = FaultyIO(match="/a-0/")
        faults.fsync_errno = EIO
        with use_io(faults):
            _append(a, 1)
            fa = broker.flusher.after_append(a)
            _append(b, 2)
            fb = broker.flusher.after_append(b)
            assert fa is not None and fb is not None
            results = await asyncio.gather(fa, fb, return_exceptions=True)
        assert isinstance(results[0], KafkaError) and results[0].code == ErrorCode.KAFKA_STORAGE_ERROR
        assert results[1] is None and b.recovery_point == 3
        assert a.offline is not None and a.recovery_point == 3  # never past the unsynced batch
        with pytest.raises(KafkaError):
            _append(a, 3)
        _append(b, 4)  # the neighbour keeps serving
        await broker.flusher.after_append(b)  # type: ignore[misc]
        assert b.recovery_point == 6
    finally:
        await broker.flusher.stop()
        broker.logs.close()
