"""What LogManager fsyncs, and that its metadata writes can run off the loop in any order."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from pykafka_broker.storage.files import FileIO, use_io
from pykafka_broker.storage.manager import (
    RECOVERY_POINT_CHECKPOINT,
    TOPICS_FILE,
    LogManager,
    read_offset_checkpoint,
)

NOW = 1_700_000_000_000


class CountingIO(FileIO):
    def __init__(self) -> None:
        self.fsynced: list[str] = []

    def fsync(self, fd: int) -> None:
        self.fsynced.append(os.readlink(f"/proc/self/fd/{fd}"))
        os.fsync(fd)


def test_creating_partitions_fsyncs_only_the_topics_file(tmp_path: Path) -> None:
    manager = LogManager(tmp_path, now_ms=NOW)
    manager.load({})
    counting = CountingIO()
    with use_io(counting):
        manager.create_topic("many", 20, {})
        manager.add_partitions("many", 30)
    # topics.json (file and data dir) once per call; nothing per partition.
    assert len(counting.fsynced) == 4
    assert all(TOPICS_FILE in p or p == str(tmp_path) for p in counting.fsynced)
    # The first flush of a new partition makes its directory entries durable.
    plog = manager.get_log("many", 25)
    assert plog is not None
    counting = CountingIO()
    with use_io(counting):
        plog.flush()
    assert str(plog.dir) in counting.fsynced and str(tmp_path) in counting.fsynced
    manager.close()


def test_topics_and_checkpoint_snapshots_written_off_the_loop_never_go_backwards(tmp_path: Path) -> None:
    manager = LogManager(tmp_path, now_ms=NOW)
    manager.load({})
    manager.create_topic("a", 1, {}, write_topics=False)
    older = manager.topics_snapshot()
    manager.create_topic("b", 1, {}, write_topics=False)
    newer = manager.topics_snapshot()
    assert not (tmp_path / TOPICS_FILE).exists()
    thread = threading.Thread(target=manager.write_topics_snapshot, args=(newer,))
    thread.start()
    thread.join()
    manager.write_topics_snapshot(older)  # late: skipped
    names = [t["name"] for t in json.loads((tmp_path / TOPICS_FILE).read_text())["topics"]]
    assert names == ["a", "b"]

    first = manager.checkpoint_snapshot()
    plog = manager.get_log("a", 0)
    assert plog is not None
    plog.recovery_point = 7  # as a completed flush would
    second = manager.checkpoint_snapshot()
    manager.write_checkpoints(second)
    manager.write_checkpoints(first)  # late: skipped
    assert read_offset_checkpoint(tmp_path / RECOVERY_POINT_CHECKPOINT)[("a", 0)] == 7
    plog.recovery_point = 0
    manager.close()


class SyncfsIO(CountingIO):
    def __init__(self, fail: bool = False) -> None:
        super().__init__()
        self.syncfs_calls = 0
        self.fail = fail

    def syncfs(self, fd: int) -> None:
        self.syncfs_calls += 1
        if self.fail:
            raise OSError(5, "Input/output error")
        super().syncfs(fd)


def _filled(tmp_path: Path, partitions: int) -> LogManager:
    from storage_helpers import append, make_batch
    manager = LogManager(tmp_path, now_ms=NOW)
    manager.load({})
    manager.create_topic("t", partitions, {})
    for p in range(partitions):
        append(manager.get_log("t", p), make_batch(2))
    return manager


def test_shutdown_syncs_the_filesystem_once_not_every_file(tmp_path: Path) -> None:
    manager = _filled(tmp_path, 30)
    io = SyncfsIO()
    with use_io(io):
        manager.close()
    assert io.syncfs_calls == 1
    # Only the checkpoint files and the clean-shutdown marker (each with its directory).
    assert len(io.fsynced) <= 8 and not any("/t-" in p for p in io.fsynced), io.fsynced
    points = read_offset_checkpoint(tmp_path / RECOVERY_POINT_CHECKPOINT)
    assert points == {("t", p): 2 for p in range(30)}
    again = LogManager(tmp_path, now_ms=NOW)
    again.load({})
    assert all(again.get_log("t", p).log_end_offset == 2 for p in range(30))
    again.close()


def test_failed_shutdown_sync_leaves_the_dir_unclean(tmp_path: Path) -> None:
    manager = _filled(tmp_path, 3)
    with use_io(SyncfsIO(fail=True)):
        manager.close()
    assert not (tmp_path / ".kafka_cleanshutdown").exists()
    points = read_offset_checkpoint(tmp_path / RECOVERY_POINT_CHECKPOINT)
    assert all(v == 0 for v in points.values())  # never advanced past unsynced data
    again = LogManager(tmp_path, now_ms=NOW)
    again.load({})  # rescans from the recovery points
    assert all(again.get_log("t", p).log_end_offset == 2 for p in range(3))
    again.close()
