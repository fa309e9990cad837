"""The retention task, delayed file removal and topic deletion, driven in-process with a fake clock."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from pykafka_broker.broker.config import BrokerConfig
from pykafka_broker.broker.context import Broker
from pykafka_broker.broker.log_lifecycle import LogLifecycle
from pykafka_broker.broker.server import open_broker
from pykafka_broker.protocol.records import build_batch, read_batch_header
from pykafka_broker.storage.manager import read_offset_checkpoint

NOW = 1_700_000_000_000
HOUR = 3_600_000
SEGMENT_MS = "1000"  # with timestamps an hour apart, every batch starts a segment


def _open(tmp_path: Path, *, delay: int | None, **props: str) -> tuple[Broker, LogLifecycle, list[int]]:
    clock = [NOW]
    broker = open_broker(BrokerConfig(data_dir=tmp_path, props=dict(props)))
    lifecycle = LogLifecycle(broker.config, broker.logs, clock=lambda: clock[0], file_delete_delay_ms=delay)
    broker.lifecycle = lifecycle
    return broker, lifecycle, clock


def _fill(broker: Broker, topic: str, timestamps: list[int]) -> None:
    plog = broker.logs.get_log(topic, 0)
    assert plog is not None
    for ts in timestamps:
        batch = build_batch([(b"k", b"v", [], ts)])
        plog.append(batch, read_batch_header(batch), NOW)


def _files(directory: Path, suffix: str) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(suffix))


async def test_retention_pass_deletes_expired_segments_and_checkpoints(tmp_path: Path) -> None:
    broker, lifecycle, clock = _open(tmp_path, delay=0)
    try:
        broker.logs.create_topic("t", 1, {"retention.ms": str(2 * HOUR), "segment.ms": SEGMENT_MS})
        broker.logs.create_topic("keep", 1, {"retention.ms": "-1", "segment.ms": SEGMENT_MS})
        old = [NOW - 5 * HOUR, NOW - 4 * HOUR, NOW - 3 * HOUR, NOW]
        _fill(broker, "t", old)
        _fill(broker, "keep", old)
        assert lifecycle.check_retention() == 3
        await lifecycle.drain()
        plog = broker.logs.get_log("t", 0)
        assert plog is not None and plog.log_start_offset == 3
        assert _files(tmp_path / "t-0", ".log") == ["00000000000000000003.log"]
        assert _files(tmp_path / "t-0", ".deleted") == []
        assert read_offset_checkpoint(tmp_path / "log-start-offset-checkpoint")[("t", 0)] == 3
        assert len(_files(tmp_path / "keep-0", ".log")) == 4
        # A config change applies at the next check; time moving on expires the active segment too.
        broker.logs.alter_topic_configs("keep", {"retention.ms": str(6 * HOUR + 30 * 60_000)})
        clock[0] = NOW + 3 * HOUR
        assert lifecycle.check_retention() == 2 + 1  # keep: 2 oldest; t: the rolled active one
        assert broker.logs.get_log("keep", 0).log_start_offset == 2  # type: ignore[union-attr]
        assert (plog.log_start_offset, plog.log_end_offset) == (4, 4)
    finally:
        await lifecycle.stop()
        broker.logs.close()


async def test_compact_only_topic_keeps_old_segments(tmp_path: Path) -> None:
    broker, lifecycle, _clock = _open(tmp_path, delay=0)
    try:
        broker.logs.create_topic("c", 1, {"cleanup.policy": "compact", "retention.ms": "1",
                                          "segment.ms": SEGMENT_MS})
        _fill(broker, "c", [NOW - 5 * HOUR, NOW - 4 * HOUR, NOW])
        assert lifecycle.check_retention() == 0
        plog = broker.logs.get_log("c", 0)
        assert plog is not None
        plog.increment_log_start_offset(2)
        assert lifecycle.apply_retention(plog) == 2
    finally:
        await lifecycle.stop()
        broker.logs.close()


async def test_delayed_removal_left_for_the_next_start(tmp_path: Path) -> None:
    broker, lifecycle, _clock = _open(tmp_path, delay=None)  # file.delete.delay.ms: Kafka's 60000
    broker.logs.create_topic("t", 1, {"retention.ms": str(HOUR), "segment.ms": SEGMENT_MS})
    _fill(broker, "t", [NOW - 5 * HOUR, NOW])
    assert lifecycle.check_retention() == 1
    deleted = _files(tmp_path / "t-0", ".deleted")
    assert "00000000000000000000.log.deleted" in deleted
    await lifecycle.stop()  # the removal was not due yet: dropped
    assert _files(tmp_path / "t-0", ".deleted") == deleted
    broker.logs.close()
    again = open_broker(BrokerConfig(data_dir=tmp_path))
    assert _files(tmp_path / "t-0", ".deleted") == []
    assert again.logs.get_log("t", 0).log_start_offset == 1  # type: ignore[union-attr]
    again.logs.close()


async def test_delete_topic_renames_now_and_removes_off_the_loop(tmp_path: Path) -> None:
    broker, lifecycle, _clock = _open(tmp_path, delay=0)
    try:
        broker.logs.create_topic("gone", 2, {})
        _fill(broker, "gone", [NOW])
        lifecycle.delete_topic("gone")
        assert not (tmp_path / "gone-0").exists() and "gone" not in broker.logs.topics
        await lifecycle.drain()
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith("gone")] == []
    finally:
        await lifecycle.stop()
        broker.logs.close()


async def test_periodic_task_runs_every_check_interval(tmp_path: Path) -> None:
    broker = open_broker(BrokerConfig(data_dir=tmp_path, props={"log.retention.check.interval.ms": "20",
                                                                "log.segment.delete.delay.ms": "0"}))
    lifecycle = broker.lifecycle
    assert lifecycle is not None and lifecycle.check_interval_ms == 20
    broker.logs.create_topic("t", 1, {"retention.ms": "1000", "segment.ms": SEGMENT_MS})
    now = int(time.time() * 1000)
    _fill(broker, "t", [now - 5 * HOUR, now - 4 * HOUR, now])
    lifecycle.start()
    try:
        deadline = time.monotonic() + 5
        while broker.logs.get_log("t", 0).log_start_offset < 2:  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "retention task did not run"
            await asyncio.sleep(0.01)
        await lifecycle.drain()
        assert _files(tmp_path / "t-0", ".deleted") == []
    finally:
        await lifecycle.stop()
        broker.logs.close()
