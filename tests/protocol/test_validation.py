"""Append-time validation (protocol/validation.py) on crafted batches: each class of invalid batch gets
Kafka's error code, and every invalid record is listed. Run with the C summary walk, aiokafka's C
record reader and the pure-Python walker, which must agree."""

from __future__ import annotations

import struct
from collections.abc import Iterator

import pytest
import zstandard

from pykafka_broker.protocol import record_walk, validation
from pykafka_broker.protocol.compression import GZIP, ZSTD, compress, decompress
from pykafka_broker.protocol.errors import ErrorCode, KafkaError
from pykafka_broker.protocol.record_walk import iter_record_spans
from pykafka_broker.protocol.records import (
    BATCH_HEADER_SIZE,
    CRC_OFFSET,
    LOG_OVERHEAD,
    build_batch,
    compute_crc,
    read_batch_header,
    varint_bytes,
)
from pykafka_broker.protocol.validation import AppendPolicy, RecordValidationError, validate_batch

NOW = 1_700_000_000_000
TP = "t-0"
YEAR_MS = 365 * 24 * 3600 * 1000
DEFAULT = AppendPolicy()


@pytest.fixture(params=["summary", "c", "python"], autouse=True)
def walker(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """summary: our C summary walk first (protocol/_recordwalk.c); c: aiokafka's C record reader;
    python: the pure-Python walker. All three must give the same answers."""
    if request.param == "summary" and validation._summarize is None:
        pytest.skip("the _recordwalk extension was not built (no C compiler)")
    if request.param == "c" and not record_walk._c_batch_class():
        pytest.skip("aiokafka's C record reader is not installed")
    if request.param != "summary":
        monkeypatch.setattr(validation, "_summarize", None)
    saved = record_walk._C_BATCH
    record_walk._C_BATCH = None if request.param != "python" else False
    yield request.param
    record_walk._C_BATCH = saved


def records(n: int, key: bytes | None = b"k", ts: int = NOW) -> list:
    return [(key, b"value-%d" % i, [("h", b"v")], ts + i) for i in range(n)]


def with_section(section: bytes, count: int, *, codec: int = 0, last_offset_delta: int | None = None,
                 producer_id: int = -1, base_sequence: int = -1, max_ts: int = NOW,
                 attributes: int = 0) -> memoryview:
    """A CRC-valid batch around an arbitrary records section."""
    payload = compress(codec, section) if codec else section
    out = bytearray(BATCH_HEADER_SIZE) + payload
    lod = count - 1 if last_offset_delta is None else last_offset_delta
    struct.pack_into(">qiiBIhiqqqhii", out, 0, 0, len(out) - LOG_OVERHEAD, -1, 2, 0, codec | attributes,
                     lod, NOW, max_ts, producer_id, 0 if producer_id >= 0 else -1, base_sequence, count)
    struct.pack_into(">I", out, CRC_OFFSET, compute_crc(out, 0, len(out)))
    return memoryview(out)


def record_bytes(offset_delta: int, key: bytes | None = b"k", value: bytes = b"v", ts_delta: int = 0,
                 headers: bytes = b"\x00") -> bytes:
    body = b"\x00" + varint_bytes(ts_delta) + varint_bytes(offset_delta)
    body += b"\x01" if key is None else varint_bytes(len(key)) + key
    body += varint_bytes(len(value)) + value + headers
    return varint_bytes(len(body)) + body


def check(batch: bytearray | memoryview, policy: AppendPolicy = DEFAULT) -> validation.ValidatedBatch:
    mv = memoryview(batch)
    return validate_batch(mv, read_batch_header(mv), policy, NOW, TP)


def refused(batch: bytearray | memoryview, policy: AppendPolicy = DEFAULT) -> KafkaError:
    with pytest.raises(KafkaError) as info:
        check(batch, policy)
    return info.value


@pytest.mark.parametrize("codec", [0, 1, 2, 3, 4])
def test_valid_batch_passes_and_reports_max_timestamp(codec: int) -> None:
    recs = records(5)
    recs[2] = (b"k", b"late", [], NOW + 500)
    result = check(build_batch(recs, codec=codec))
    assert result == (NOW + 500, True)


def test_garbage_records_section_is_invalid_record() -> None:
    err = refused(with_section(b"\xff" * 40, 3))
    assert err.code == ErrorCode.INVALID_RECORD


def test_compressed_payload_that_does_not_decompress_is_corrupt_message() -> None:
    batch = with_section(b"", 1)
    raw = bytearray(batch[:BATCH_HEADER_SIZE]) + b"\x28\xb5\x2f\xfd" + b"not zstd at all"
    struct.pack_into(">i", raw, 8, len(raw) - LOG_OVERHEAD)
    struct.pack_into(">h", raw, 21, ZSTD)
    struct.pack_into(">I", raw, CRC_OFFSET, compute_crc(raw, 0, len(raw)))
    assert refused(raw).code == ErrorCode.CORRUPT_MESSAGE


def test_huge_record_length_varint_is_invalid_record() -> None:
    section = varint_bytes(2**31 - 1) + record_bytes(0)[1:]
    assert refused(with_section(section, 1)).code == ErrorCode.INVALID_RECORD


def test_overlong_varint_is_invalid_record() -> None:
    section = b"\xff" * 12 + b"\x01"
    assert refused(with_section(section, 1)).code == ErrorCode.INVALID_RECORD


@pytest.mark.parametrize("present", [2, 4])
def test_record_count_not_matching_the_records_is_invalid_record(present: int) -> None:
    section = b"".join(record_bytes(i) for i in range(present))
    err = refused(with_section(section, 3))
    assert err.code == ErrorCode.INVALID_RECORD


def test_count_and_last_offset_delta_disagree_is_invalid_record() -> None:
    section = b"".join(record_bytes(i) for i in range(3))
    err = refused(with_section(section, 3, last_offset_delta=7))
    assert err.code == ErrorCode.INVALID_RECORD
    assert "Inconsistent batch offset range" in (err.message or "")


def test_negative_header_count_is_invalid_record() -> None:
    section = record_bytes(0, headers=varint_bytes(-2))
    assert refused(with_section(section, 1)).code == ErrorCode.INVALID_RECORD


def test_negative_header_key_size_is_invalid_record() -> None:
    section = record_bytes(0, headers=b"\x02" + varint_bytes(-3) + b"\x00")
    assert refused(with_section(section, 1)).code == ErrorCode.INVALID_RECORD


def test_header_key_not_utf8_is_accepted_as_kafka_does() -> None:
    section = record_bytes(0, headers=b"\x02" + varint_bytes(2) + b"\xff\xfe" + varint_bytes(-1))
    assert check(with_section(section, 1)).offsets_in_order


def test_wrong_offset_deltas_are_reported_for_a_rebuild() -> None:
    section = b"".join(record_bytes(d) for d in (0, 5, 9))
    result = check(with_section(section, 3, codec=GZIP))
    assert result.offsets_in_order is False


def test_idempotent_batch_with_sequence_minus_one_is_invalid_record() -> None:
    err = refused(with_section(record_bytes(0), 1, producer_id=42, base_sequence=-1))
    assert err.code == ErrorCode.INVALID_RECORD
    assert "Invalid sequence number -1" in (err.message or "")


def test_control_batch_from_a_client_is_invalid_record() -> None:
    err = refused(with_section(record_bytes(0), 1, attributes=0x20))
    assert err.code == ErrorCode.INVALID_RECORD


def test_every_keyless_record_on_a_compacted_topic_is_listed() -> None:
    batch = build_batch(records(10, key=None))
    with pytest.raises(RecordValidationError) as info:
        check(batch, AppendPolicy(compacted=True))
    err = info.value
    assert err.code == ErrorCode.INVALID_RECORD
    assert [i for i, _ in err.record_errors] == list(range(10))
    assert all("Compacted topic cannot accept message without key" in (m or "") for _, m in err.record_errors)
    assert "10 record errors" in (err.message or "")


def test_only_the_keyless_records_are_listed() -> None:
    recs = records(4)
    recs[1] = (None, b"x", [], NOW)
    recs[3] = (None, b"y", [], NOW)
    with pytest.raises(RecordValidationError) as info:
        check(build_batch(recs, codec=ZSTD), AppendPolicy(compacted=True))
    assert [i for i, _ in info.value.record_errors] == [1, 3]


def test_timestamps_ten_years_ahead_are_invalid_timestamp() -> None:
    recs = records(3)
    recs[1] = (b"k", b"x", [], NOW + 10 * YEAR_MS)
    with pytest.raises(RecordValidationError) as info:
        check(build_batch(recs))
    assert info.value.code == ErrorCode.INVALID_TIMESTAMP
    assert [i for i, _ in info.value.record_errors] == [1]


def test_timestamp_before_max_ms_is_enforced() -> None:
    batch = build_batch(records(2, ts=NOW - 10_000))
    policy = AppendPolicy(timestamp_before_max_ms=5_000)
    with pytest.raises(RecordValidationError) as info:
        check(batch, policy)
    assert info.value.code == ErrorCode.INVALID_TIMESTAMP
    assert len(info.value.record_errors) == 2
    assert check(batch, AppendPolicy(timestamp_before_max_ms=60_000)).max_timestamp == NOW - 10_000 + 1


def test_log_append_time_topic_ignores_timestamps_but_refuses_a_log_append_time_batch() -> None:
    far = build_batch(records(2, ts=NOW + 10 * YEAR_MS))
    assert check(far, AppendPolicy(log_append_time=True)).offsets_in_order
    claimed = with_section(record_bytes(0), 1, attributes=0x08)
    with pytest.raises(RecordValidationError) as info:
        check(claimed, AppendPolicy(log_append_time=True))
    assert info.value.code == ErrorCode.INVALID_TIMESTAMP


def test_zstd_bomb_is_corrupt_message_without_decompressing_it_all() -> None:
    bomb = zstandard.ZstdCompressor(level=19, write_content_size=False).compress(bytes(200 << 20))
    assert len(bomb) < 20_000
    raw = bytearray(BATCH_HEADER_SIZE) + bomb
    struct.pack_into(">qiiBIhiqqqhii", raw, 0, 0, len(raw) - LOG_OVERHEAD, -1, 2, 0, ZSTD, 0, NOW, NOW,
                     -1, -1, -1, 1)
    struct.pack_into(">I", raw, CRC_OFFSET, compute_crc(raw, 0, len(raw)))
    err = refused(raw)
    assert err.code == ErrorCode.CORRUPT_MESSAGE
    assert "decompresses to more than" in (err.message or "")


@pytest.mark.parametrize("codec", [1, 2, 3, 4])
def test_decompress_refuses_past_its_limit(codec: int) -> None:
    data = bytes(100_000)
    packed = compress(codec, data)
    assert decompress(codec, packed) == data
    with pytest.raises(KafkaError) as info:
        decompress(codec, packed, limit=50_000)
    assert info.value.code == ErrorCode.CORRUPT_MESSAGE


def test_python_walker_spans_match_the_records() -> None:
    batch = build_batch(records(3, key=None))
    spans = list(iter_record_spans(memoryview(batch)[BATCH_HEADER_SIZE:], 3))
    assert [s.offset_delta for s in spans] == [0, 1, 2]
    assert [s.timestamp_delta for s in spans] == [0, 1, 2]
    assert all(s.key_length == -1 and s.header_count == 1 for s in spans)
