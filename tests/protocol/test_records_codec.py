from __future__ import annotations

import struct

import cramjam
import crc32c
import pytest
from kafka.record.default_records import DefaultRecordBatch

from pykafka_broker.protocol.compression import XERIAL_MAGIC, compress, decompress
from pykafka_broker.protocol.errors import ErrorCode, KafkaError
from pykafka_broker.protocol.records import (
    BATCH_HEADER_SIZE,
    Record,
    build_batch,
    crc_matches,
    decode_records,
    patch_base_offset,
    patch_log_append_time,
    read_batch_header,
    read_uvarint,
    read_varint,
    record_offsets_and_timestamps,
    uvarint_bytes,
    varint_bytes,
)

CODECS = [0, 1, 2, 3, 4]
T0 = 1_700_000_000_000
# Compressible values, so kafka-python does not fall back to an uncompressed batch.
RECORDS = [
    (b"key-1", b"value " * 50, [("trace", b"abc"), ("empty", None)], T0),
    (None, b"no key " * 40, [], T0 + 5),
    (b"key-3", None, [("é", b"\x00\xff")], T0 - 3),
    (b"", b"", [], T0 + 1000),
]


def _expected(base_offset: int = 0) -> list[Record]:
    return [Record(base_offset + i, ts, k, v, h) for i, (k, v, h, ts) in enumerate(RECORDS)]


@pytest.mark.parametrize("codec", CODECS)
def test_decode_kafka_python_batches(codec: int, make_batch) -> None:
    batch = make_batch(RECORDS, codec)
    assert read_batch_header(batch).compression == codec
    assert decode_records(batch) == _expected()
    assert list(record_offsets_and_timestamps(batch)) == [(r.offset, r.timestamp) for r in _expected()]


def test_snappy_from_kafka_python_is_xerial(make_batch) -> None:
    batch = make_batch(RECORDS, 2)
    assert batch[BATCH_HEADER_SIZE : BATCH_HEADER_SIZE + 8] == XERIAL_MAGIC


def test_raw_snappy_payload() -> None:
    data = b"hello snappy " * 100
    assert decompress(2, bytes(cramjam.snappy.compress_raw(data))) == data


def test_xerial_snappy_several_blocks() -> None:
    data = bytes(range(256)) * 1000  # > 32 KiB: several xerial blocks
    framed = compress(2, data)
    assert framed.startswith(XERIAL_MAGIC)
    assert decompress(2, memoryview(framed)) == data


@pytest.mark.parametrize("codec", CODECS)
def test_compress_round_trip(codec: int) -> None:
    data = b"some payload " * 300
    assert decompress(codec, compress(codec, data)) == data


@pytest.mark.parametrize("codec", [1, 2, 3, 4])
def test_corrupt_payload(codec: int) -> None:
    with pytest.raises(KafkaError) as info:
        decompress(
            codec,
            b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00\x09garbage!!"
            if codec == 2
            else b"definitely not compressed",
        )
    assert info.value.code == ErrorCode.CORRUPT_MESSAGE


@pytest.mark.parametrize("codec", [5, 6, 7])
def test_unsupported_codec(codec: int) -> None:
    for fn in (compress, decompress):
        with pytest.raises(KafkaError) as info:
            fn(codec, b"x")
        assert info.value.code == ErrorCode.UNSUPPORTED_COMPRESSION_TYPE


@pytest.mark.parametrize("codec", CODECS)
def test_build_batch_round_trip_and_crc(codec: int) -> None:
    batch = build_batch(
        RECORDS,
        base_offset=40,
        codec=codec,
        producer_id=9,
        producer_epoch=2,
        base_sequence=11,
        transactional=True,
    )
    header = read_batch_header(batch)
    assert header.size == len(batch) and header.magic == 2 and header.compression == codec
    assert (header.producer_id, header.producer_epoch, header.base_sequence) == (9, 2, 11)
    assert header.is_transactional and not header.is_control
    assert (header.base_timestamp, header.max_timestamp) == (T0, T0 + 1000)
    assert header.crc == crc32c.crc32c(bytes(batch[21:]))
    assert crc_matches(batch, 0, header)
    assert decode_records(batch) == _expected(40)
    # kafka-python (the client) reads it too and agrees on the CRC.
    theirs = DefaultRecordBatch(bytes(batch))
    assert theirs.validate_crc()
    assert [(r.offset, r.key, r.value, r.timestamp) for r in theirs] == [
        (r.offset, r.key, r.value, r.timestamp) for r in _expected(40)
    ]


def test_control_batch() -> None:
    # EndTxnMarker: key = version int16 + type int16 (1 = commit), value = version int16 + coordinator epoch.
    batch = build_batch(
        [(struct.pack(">hh", 0, 1), struct.pack(">hi", 0, 5), [], T0)],
        control=True,
        transactional=True,
        producer_id=1,
        producer_epoch=0,
    )
    header = read_batch_header(batch)
    assert header.is_control and header.is_transactional
    assert DefaultRecordBatch(bytes(batch)).validate_crc()


def test_log_append_time_overrides_record_timestamps(make_batch) -> None:
    batch = bytearray(make_batch(RECORDS, 1))
    patch_base_offset(batch, 0, 500)
    patch_log_append_time(batch, 0, read_batch_header(batch), T0 + 99_999)
    assert crc_matches(batch, 0, read_batch_header(batch))
    assert [(r.offset, r.timestamp) for r in decode_records(batch)] == [
        (500 + i, T0 + 99_999) for i in range(4)
    ]
    assert list(record_offsets_and_timestamps(batch)) == [(500 + i, T0 + 99_999) for i in range(4)]


def test_several_batches_in_one_buffer(make_batch) -> None:
    first = build_batch(RECORDS[:2], base_offset=0)
    second = build_batch(RECORDS[2:], base_offset=2, codec=4)
    assert decode_records(bytes(first + second)) == _expected()


@pytest.mark.parametrize("cut", [1, 30, BATCH_HEADER_SIZE, -1])
def test_truncated_batch_is_corrupt(cut: int) -> None:
    batch = build_batch(RECORDS)
    with pytest.raises(KafkaError) as info:
        decode_records(batch[:cut])
    assert info.value.code == ErrorCode.CORRUPT_MESSAGE


def test_inconsistent_record_length_is_corrupt() -> None:
    batch = build_batch(RECORDS[:1])
    batch[BATCH_HEADER_SIZE] += 2  # first record's length varint now claims 1 more byte
    with pytest.raises(KafkaError):
        decode_records(batch)


@pytest.mark.parametrize(
    "value", [0, 1, 127, 128, 300, 0x3FFF, 0x4000, 0x1FFFFF, 0x200000, 2**31 - 1, 2**63 - 1]
)
def test_uvarint_round_trip(value: int) -> None:
    assert read_uvarint(uvarint_bytes(value), 0) == (value, len(uvarint_bytes(value)))


@pytest.mark.parametrize("value", [0, -1, 1, -64, 64, -(2**31), 2**31 - 1, -(2**63), 2**63 - 1])
def test_zigzag_round_trip(value: int) -> None:
    encoded = varint_bytes(value)
    assert read_varint(encoded, 0) == (value, len(encoded))
