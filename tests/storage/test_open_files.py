"""The bounded cache of append descriptors (storage/open_files.py): many partitions hold at most
``max_open`` segment files open, appends after an eviction land at the right place, a flush whose
descriptor is evicted meanwhile still syncs the right file, and a failed write after a reopen is
still truncated back."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from storage_helpers import append, batches_of, make_batch, open_log

from pykafka_broker.protocol.errors import KafkaError
from pykafka_broker.storage import open_files
from pykafka_broker.storage.files import FileIO, use_io
from pykafka_broker.storage.log import PartitionLog

LIMIT = 4


def open_fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture
def small_cache() -> Iterator[open_files.OpenFiles]:
    saved = open_files.SHARED.max_open
    open_files.SHARED.max_open = LIMIT
    try:
        yield open_files.SHARED
    finally:
        open_files.SHARED.max_open = saved


def logs(tmp_path: Path, count: int) -> list[PartitionLog]:
    return [open_log(tmp_path / f"t-{i}") for i in range(count)]


def test_many_partitions_hold_a_bounded_number_of_files(tmp_path: Path,
                                                       small_cache: open_files.OpenFiles) -> None:
    before = open_fd_count()
    plogs = logs(tmp_path, 30)
    for round_ in range(3):
        for i, plog in enumerate(plogs):
            append(plog, make_batch(2, value=b"%d-%d" % (i, round_)))
            assert open_fd_count() - before <= LIMIT
    assert len(small_cache) == LIMIT
    for plog in plogs:
        assert plog.log_end_offset == 6
        values = [h.base_offset for h in batches_of(plog.read(0, 1 << 20))]
        assert values == [0, 2, 4]
        assert plog.active.size == os.path.getsize(plog.active.log_path)
        plog.close()
    assert open_fd_count() <= before  # (descriptors earlier tests left in the cache were evicted too)
    for i in range(30):  # what is on disk is what was acknowledged, in order
        again = open_log(tmp_path / f"t-{i}", recovery_point=None)
        assert again.log_end_offset == 6
        again.close()


def test_flush_of_an_evicted_descriptor_syncs_the_right_file(tmp_path: Path,
                                                             small_cache: open_files.OpenFiles) -> None:
    plogs = logs(tmp_path, LIMIT + 2)
    append(plogs[0], make_batch(3))
    ticket = plogs[0].begin_flush()
    for plog in plogs[1:]:  # evicts plogs[0]'s descriptor; its number may be reused
        append(plog, make_batch(1))
    assert plogs[0].active.fd is None
    assert os.path.samestat(os.fstat(ticket.fds[0]), os.stat(plogs[0].active.log_path))
    ticket.sync()
    plogs[0].complete_flush(ticket)
    assert plogs[0].recovery_point == 3
    for plog in plogs:
        plog.close()


class FailOnce(FileIO):
    """A short write then ENOSPC, once."""

    def __init__(self) -> None:
        self.failed = False

    def write(self, fd: int, data: memoryview) -> int:
        if not self.failed:
            self.failed = True
            os.write(fd, data[: len(data) // 2])
            raise OSError(errno.ENOSPC, "No space left on device")
        return os.write(fd, data)


def test_failed_write_after_reopen_is_truncated_back(tmp_path: Path,
                                                     small_cache: open_files.OpenFiles) -> None:
    plogs = logs(tmp_path, LIMIT + 2)
    append(plogs[0], make_batch(2))
    for plog in plogs[1:]:
        append(plog, make_batch(1))
    assert plogs[0].active.fd is None
    size = plogs[0].active.size
    with use_io(FailOnce()), pytest.raises(KafkaError):
        append(plogs[0], make_batch(2))
    assert os.path.getsize(plogs[0].active.log_path) == size and plogs[0].offline is None
    assert append(plogs[0], make_batch(2)).base_offset == 2
    assert [h.base_offset for h in batches_of(plogs[0].read(0, 1 << 20))] == [0, 2]
    for plog in plogs:
        plog.close()
