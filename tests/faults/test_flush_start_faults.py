"""A flush that cannot start (ENOSPC on the active segment's final time-index entry, EMFILE opening
a rolled segment's file) changes nothing: the rolled segments stay pending, so no later flush moves
the recovery point past files that were never fsynced, no descriptor leaks, and the log stays
online. In the flusher only that log's waiters fail (KAFKA_STORAGE_ERROR), and the periodic task
keeps flushing once the disk has room again."""

from __future__ import annotations

import asyncio
import errno
import os
import time
from pathlib import Path

import pytest
from fault_helpers import ENOSPC, NOW, FaultyIO, append, batch

from pykafka_broker.broker import flusher as flusher_mod
from pykafka_broker.broker.clock import now_ms
from pykafka_broker.broker.config import BrokerConfig
from pykafka_broker.broker.server import open_broker
from pykafka_broker.protocol.errors import ErrorCode, KafkaError
from pykafka_broker.protocol.records import build_batch, read_batch_header
from pykafka_broker.storage.files import use_io
from pykafka_broker.storage.log import LogConfig, PartitionLog


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _rolled_log(tmp_path: Path) -> PartitionLog:
    plog = PartitionLog.open(tmp_path / "t-0", "t", 0, LogConfig(segment_bytes=600),
                             recovery_point=None, now_ms=NOW)
    for tag in range(8):
        append(plog, batch(tag))
    assert len(plog.segments) > 2
    return plog


def _stamped(ts: int) -> bytearray:
    return build_batch([(b"k", b"v", [], ts)])


def _roll_flush_syncs_every_rolled_log(plog: PartitionLog) -> None:
    spy = FaultyIO()
    with use_io(spy):
        ticket = plog.begin_flush(rolled_only=True)
        ticket.sync()
        plog.complete_flush(ticket)
    synced = {os.path.basename(p) for p in spy.synced}
    rolled = {s.log_path.name for s in plog.segments[:-1]}
    assert rolled <= synced, f"rolled but never fsynced: {rolled - synced}"
    assert plog.recovery_point == plog.active.base_offset


def test_enospc_on_final_time_entry_keeps_rolled_segments_pending(tmp_path: Path) -> None:
    plog = _rolled_log(tmp_path)
    pending = list(plog._pending_sync)
    data = _stamped(NOW + 10_000)  # a larger timestamp: the flush must write a final time entry
    plog.append(data, read_batch_header(data), NOW)
    fds = _open_fds()
    with use_io(FaultyIO(".timeindex")) as io:
        io.pwrite_errno = ENOSPC
        with pytest.raises(OSError) as raised:
            plog.begin_flush()
    assert raised.value.errno == ENOSPC
    assert plog.offline is None and _open_fds() == fds
    assert plog._pending_sync == pending and plog._unflushed_messages > 0
    _roll_flush_syncs_every_rolled_log(plog)


def test_emfile_opening_a_rolled_file_leaks_nothing_and_keeps_them_pending(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plog = _rolled_log(tmp_path)
    pending = list(plog._pending_sync)
    fds = _open_fds()
    real_open = os.open

    def failing_open(path: object, *args: object, **kwargs: object) -> int:
        if str(path).endswith(".snapshot"):  # after the rolled .log and index files were opened
            raise OSError(errno.EMFILE, os.strerror(errno.EMFILE))
        return real_open(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", failing_open)
    with pytest.raises(OSError):
        plog.begin_flush(rolled_only=True)
    monkeypatch.setattr(os, "open", real_open)
    assert plog.offline is None and _open_fds() == fds
    assert plog._pending_sync == pending
    # More rolls meanwhile; the next roll flush still syncs the earlier ones before passing them.
    for tag in range(8, 12):
        append(plog, batch(tag))
    _roll_flush_syncs_every_rolled_log(plog)


async def _until(predicate: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_flusher_fails_only_the_waiters_and_keeps_flushing_after_enospc(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(flusher_mod, "TIME_FLUSH_CHECK_S", 0.05)
    broker = open_broker(BrokerConfig(data_dir=tmp_path, props={"log.flush.interval.messages": "1"}))
    try:
        broker.logs.create_topic("t", 2, {})
        a, b = broker.logs.get_log("t", 0), broker.logs.get_log("t", 1)
        io = FaultyIO(f"{os.sep}t-0{os.sep}")
        with use_io(io):
            io.pwrite_errno = ENOSPC
            ts = now_ms()
            for log_ in (a, b):
                data = _stamped(ts)
                log_.append(data, read_batch_header(data), ts)
            fut_a = broker.flusher.after_append(a)
            fut_b = broker.flusher.after_append(b)
            assert fut_a is not None and fut_b is not None
            with pytest.raises(KafkaError) as failed:
                await fut_a
            assert failed.value.code is ErrorCode.KAFKA_STORAGE_ERROR
            await fut_b  # the other log of the round is acknowledged
            assert a.offline is None and b.recovery_point == b.log_end_offset
            broker.flusher.start(broker)
            calls = []
            real = a.begin_flush
            monkeypatch.setattr(a, "begin_flush", lambda *x, **k: calls.append(1) or real(*x, **k))
            await _until(lambda: len(calls) >= 2)  # the periodic pass retried, still failing
            assert broker.flusher._task is not None and not broker.flusher._task.done()
            io.pwrite_errno = None
        await _until(lambda: a.recovery_point == a.log_end_offset)  # the disk has room again
        assert a.offline is None
    finally:
        await broker.flusher.stop()
        broker.logs.close()


async def test_waiter_of_a_log_gone_offline_in_the_previous_round_is_not_acknowledged(
        tmp_path: Path) -> None:
    broker = open_broker(BrokerConfig(data_dir=tmp_path, props={"log.flush.interval.messages": "1"}))
    try:
        broker.logs.create_topic("t", 1, {})
        plog = broker.logs.get_log("t", 0)
        io = FaultyIO(f"{os.sep}t-0{os.sep}")
        with use_io(io):
            io.fsync_errno = errno.EIO
            first, second = _stamped(now_ms()), _stamped(now_ms())
            plog.append(first, read_batch_header(first), now_ms())
            fut1 = broker.flusher.after_append(plog)
            plog.append(second, read_batch_header(second), now_ms())  # while the fsync runs
            fut2 = broker.flusher.after_append(plog)
            assert fut1 is not None and fut2 is not None and fut1 is not fut2
            for fut in (fut1, fut2):
                with pytest.raises(KafkaError) as failed:
                    await fut
                assert failed.value.code is ErrorCode.KAFKA_STORAGE_ERROR
        assert plog.offline is not None
    finally:
        await broker.flusher.stop()
        broker.logs.close()


def test_synchronous_flush_that_cannot_start_answers_storage_error(tmp_path: Path) -> None:
    plog = _rolled_log(tmp_path)
    data = _stamped(NOW + 10_000)
    plog.append(data, read_batch_header(data), NOW)
    with use_io(FaultyIO(".timeindex")) as io:
        io.pwrite_errno = ENOSPC
        with pytest.raises(KafkaError) as failed:
            plog.flush()
    assert failed.value.code is ErrorCode.KAFKA_STORAGE_ERROR and plog.offline is None
    plog.flush()
    assert plog.recovery_point == plog.log_end_offset
