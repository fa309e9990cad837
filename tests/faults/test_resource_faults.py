"""Running out of descriptors (EMFILE, ENFILE: e.g. many client connections) or of memory for an
index map (ENOMEM) is not a disk failure: the request that hit it gets KAFKA_STORAGE_ERROR (clients
retry it) and the log stays online, serving again as soon as the resource is back. A real I/O
error (EIO) still takes the log offline."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from fault_helpers import NOW, append, batch, open_log, read_all, values

from pykafka_broker.protocol.errors import ErrorCode, KafkaError
from pykafka_broker.storage import index as index_mod
from pykafka_broker.storage.log import LogConfig, PartitionLog

CONFIG = LogConfig(segment_bytes=600, index_interval_bytes=100)


def _filled(tmp_path: Path) -> tuple[PartitionLog, list[bytes]]:
    plog = open_log(tmp_path / "t-0", CONFIG)
    acked = []
    for tag in range(8):
        data = batch(tag)
        acked.append(bytes(data))
        append(plog, data)
    assert len(plog.segments) > 2
    return plog, acked


def _failing_open(monkeypatch: pytest.MonkeyPatch, code: int, suffix: str) -> None:
    real_open = os.open

    def fake(path: object, *args: object, **kwargs: object) -> int:
        if str(path).endswith(suffix):
            raise OSError(code, os.strerror(code), str(path))
        return real_open(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", fake)


def _refused(call: Callable[[], object]) -> None:
    with pytest.raises(KafkaError) as refused:
        call()
    assert refused.value.code == ErrorCode.KAFKA_STORAGE_ERROR


@pytest.mark.parametrize("code", [errno.EMFILE, errno.ENFILE])
def test_out_of_fds_refuses_reads_and_appends_but_keeps_the_log(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int) -> None:
    plog, acked = _filled(tmp_path)
    plog.active._close_fd()  # evicted from the descriptor cache: the next append must open it
    real_open = os.open
    _failing_open(monkeypatch, code, ".log")
    _refused(lambda: plog.read(0, 1 << 20))  # an old segment: opened to be read
    _refused(lambda: append(plog, batch(100)))
    _refused(lambda: plog.offset_for_timestamp(NOW))
    assert plog.offline is None
    monkeypatch.setattr(os, "open", real_open)
    more = batch(8)
    append(plog, more)
    acked.append(bytes(more))
    assert values(read_all(plog)) == values(acked)
    assert plog.offline is None


def test_no_memory_for_an_index_map_keeps_the_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plog, acked = _filled(tmp_path)
    for segment in plog.segments:
        segment._drop_maps()

    def no_memory(*args: object) -> None:
        raise OSError(errno.ENOMEM, os.strerror(errno.ENOMEM))

    monkeypatch.setattr(index_mod, "FileMap", no_memory)
    target = plog.segments[0].offset_index.last_entry[0] - 1  # below the last entry: a map lookup
    _refused(lambda: plog.read(target, 1 << 20))
    assert plog.offline is None
    monkeypatch.undo()
    assert values(read_all(plog)) == values(acked)


def test_a_real_read_error_still_takes_the_log_offline(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    plog, _ = _filled(tmp_path)
    _failing_open(monkeypatch, errno.EIO, ".log")
    _refused(lambda: plog.read(0, 1 << 20))
    assert plog.offline is not None
