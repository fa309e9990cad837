"""Batch builders and small helpers shared by the storage tests."""

from __future__ import annotations

from pathlib import Path

from kafka.record.default_records import DefaultRecordBatchBuilder

from pykafka_broker.protocol.records import read_batch_header
from pykafka_broker.storage.log import LogConfig, PartitionLog

NOW = 1_700_000_000_000


def make_batch(count: int = 1, *, ts: int = NOW, value: bytes = b"v", producer_id: int = -1,
               epoch: int = -1, seq: int = -1) -> bytearray:
    builder = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=False,
                                        producer_id=producer_id, producer_epoch=epoch,
                                        base_sequence=seq, batch_size=1 << 20)
    for i in range(count):
        builder.append(i, timestamp=ts + i, key=None, value=value, headers=[])
    return bytearray(builder.build())


def append(plog: PartitionLog, batch: bytearray, now_ms: int = NOW):
    return plog.append(batch, read_batch_header(batch), now_ms)


def open_log(path: Path, config: LogConfig | None = None, *, recovery_point: int | None = 0,
             now_ms: int = NOW) -> PartitionLog:
    return PartitionLog.open(path, "t", 0, config or LogConfig(), recovery_point=recovery_point,
                             now_ms=now_ms)


def batches_of(result) -> list:
    """Headers of the batches in a ReadResult."""
    from pykafka_broker.protocol.records import iter_batches
    data = b"".join(bytes(c) for c in result.chunks)
    return [h for _, h in iter_batches(data)]
