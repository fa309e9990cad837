"""Shared helpers for the protocol codec tests: real record batches from kafka-python's builder."""

from __future__ import annotations

import pytest
from kafka.record.default_records import DefaultRecordBatchBuilder

Headers = list[tuple[str, bytes | None]]


def kafka_python_batch(
    records: list[tuple[bytes | None, bytes | None, Headers, int]],
    codec: int = 0,
    *,
    producer_id: int = -1,
    producer_epoch: int = -1,
    base_sequence: int = -1,
    transactional: bool = False,
) -> bytes:
    """A batch written by kafka-python's DefaultRecordBatchBuilder (the client-side reference)."""
    builder = DefaultRecordBatchBuilder(
        magic=2,
        compression_type=codec,
        is_transactional=transactional,
        producer_id=producer_id,
        producer_epoch=producer_epoch,
        base_sequence=base_sequence,
        batch_size=1 << 24,
    )
    for offset, (key, value, headers, ts) in enumerate(records):
        builder.append(offset, timestamp=ts, key=key, value=value, headers=headers)
    return bytes(builder.build())


@pytest.fixture
def make_batch():
    return kafka_python_batch
