from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from storage_helpers import NOW, append, batches_of, make_batch

from pykafka_broker.storage.manager import (
    CLEAN_SHUTDOWN_MARKER,
    LogManager,
    read_offset_checkpoint,
    uuid_from_kafka,
)


def test_cluster_id_is_stable(tmp_path: Path) -> None:
    first = LogManager(tmp_path, now_ms=NOW).cluster_id
    assert len(first) == 22 and "=" not in first
    assert LogManager(tmp_path, now_ms=NOW).cluster_id == first
    props = (tmp_path / "meta.properties").read_text()
    assert "version=1" in props and f"cluster.id={first}" in props and "node.id=1" in props


def test_create_append_close_reload(tmp_path: Path) -> None:
    mgr = LogManager(tmp_path, now_ms=NOW)
    mgr.load({"log.segment.bytes": "100000"})
    tid = uuid.uuid4()
    info = mgr.create_topic("orders", 2, {"segment.bytes": "5000"}, topic_id=tid)
    assert info.topic_id == tid and info.configs == {"segment.bytes": "5000"}
    meta = (tmp_path / "orders-1" / "partition.metadata").read_text().splitlines()
    assert meta[0] == "version: 0" and uuid_from_kafka(meta[1].split(": ")[1]) == tid
    assert mgr.effective_config("orders").segment_bytes == 5000
    plog = mgr.get_log("orders", 1)
    assert plog is not None and mgr.get_log("orders", 2) is None
    for _ in range(3):
        append(plog, make_batch(2))
    mgr.close()
    assert (tmp_path / CLEAN_SHUTDOWN_MARKER).exists()
    assert read_offset_checkpoint(tmp_path / "recovery-point-offset-checkpoint") == {
        ("orders", 0): 0, ("orders", 1): 6}
    lines = (tmp_path / "recovery-point-offset-checkpoint").read_text().splitlines()
    assert lines[:2] == ["0", "2"] and "orders 1 6" in lines

    again = LogManager(tmp_path, now_ms=NOW)
    again.load({})
    assert not (tmp_path / CLEAN_SHUTDOWN_MARKER).exists()
    assert again.topics["orders"].topic_id == tid
    reloaded = again.get_log("orders", 1)
    assert reloaded is not None and reloaded.log_end_offset == 6
    assert len(batches_of(reloaded.read(0, 1 << 20))) == 3


def test_unclean_restart_recovers(tmp_path: Path) -> None:
    mgr = LogManager(tmp_path, now_ms=NOW)
    mgr.load({})
    mgr.create_topic("t", 1, {})
    plog = mgr.get_log("t", 0)
    assert plog is not None
    append(plog, make_batch(2))
    plog.flush(NOW)
    mgr.checkpoint()
    append(plog, make_batch(2))
    # crash: no close, no marker; the tail since the checkpoint gets rescanned
    again = LogManager(tmp_path, now_ms=NOW)
    again.load({})
    reloaded = again.get_log("t", 0)
    assert reloaded is not None and reloaded.log_end_offset == 4


def test_delete_topic(tmp_path: Path) -> None:
    mgr = LogManager(tmp_path, now_ms=NOW)
    mgr.load({})
    mgr.create_topic("a", 2, {})
    mgr.create_topic("b", 1, {})
    mgr.delete_topic("a")
    assert not (tmp_path / "a-0").exists() and not (tmp_path / "a-1").exists()
    assert mgr.get_log("a", 0) is None
    again = LogManager(tmp_path, now_ms=NOW)
    again.load({})
    assert list(again.topics) == ["b"]
    with pytest.raises(KeyError):
        again.delete_topic("a")


def test_topic_defaults_overlaid_by_topic_overrides(tmp_path: Path) -> None:
    # The broker layer resolves broker synonyms (log.roll.hours, ...) into topic-level names.
    mgr = LogManager(tmp_path, now_ms=NOW)
    mgr.load({"segment.ms": "3600000", "index.interval.bytes": "10", "max.message.bytes": "99",
              "message.timestamp.type": "LogAppendTime", "flush.messages": "1", "unrelated": "x"})
    mgr.create_topic("t", 1, {"segment.ms": "5"})
    config = mgr.effective_config("t")
    assert (config.segment_ms, config.index_interval_bytes, config.max_message_bytes) == (5, 10, 99)
    assert config.message_timestamp_type == "LogAppendTime" and config.flush_interval_messages == 1
    assert mgr.effective_config("unknown").segment_ms == 3600000
    mgr.close()
