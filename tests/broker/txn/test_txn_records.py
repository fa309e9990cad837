"""``__transaction_state`` key and value formats: golden bytes laid out by hand from Kafka's JSON schemas."""

from __future__ import annotations

import struct

import pytest

from pykafka_broker.broker.txn.records import (
    RecordFormatError,
    TxnLogValue,
    decode_key,
    decode_value,
    encode_key,
    encode_value,
)
from pykafka_broker.broker.txn.state import TxnState

S = TxnState
ONGOING = TxnLogValue(5, 1, 60_000, S.ONGOING, (("a", 0), ("a", 1)), 10, 7)


def q(n: int) -> bytes:
    return struct.pack(">q", n)


def test_key_v0() -> None:
    assert encode_key("tx-1") == b"\x00\x00\x00\x04tx-1"
    assert decode_key(b"\x00\x00\x00\x04tx-1") == "tx-1"
    assert decode_key(b"\x00\x05\x00\x01x") is None


def test_value_v1_golden() -> None:
    expected = (b"\x00\x01" + q(5) + b"\x00\x01" + b"\x00\x00\xea\x60" + b"\x01"
                + b"\x02" + b"\x02a" + b"\x03" + b"\x00\x00\x00\x00\x00\x00\x00\x01" + b"\x00"
                + q(10) + q(7) + b"\x00")
    assert encode_value(ONGOING) == expected
    assert decode_value(expected) == ONGOING


def test_value_v0_golden() -> None:
    expected = (b"\x00\x00" + q(5) + b"\x00\x01" + b"\x00\x00\xea\x60" + b"\x01"
                + b"\x00\x00\x00\x01" + b"\x00\x01a"
                + b"\x00\x00\x00\x02" + b"\x00\x00\x00\x00\x00\x00\x00\x01"
                + q(10) + q(7))
    assert encode_value(ONGOING, version=0) == expected
    assert decode_value(expected) == ONGOING


def test_empty_writes_null_partitions() -> None:
    empty = TxnLogValue(5, 0, 1000, S.EMPTY, (), 3, -1)
    raw = encode_value(empty)
    assert raw[2 + 8 + 2 + 4 + 1] == 0  # compact null array
    assert encode_value(empty, version=0)[17:21] == b"\xff\xff\xff\xff"
    assert decode_value(raw) == empty
    with pytest.raises(ValueError):
        encode_value(TxnLogValue(5, 0, 1000, S.EMPTY, (("a", 0),), 3, -1))


def test_complete_writes_empty_partition_array() -> None:
    done = TxnLogValue(5, 0, 1000, S.COMPLETE_COMMIT, (), 3, 2)
    assert encode_value(done)[17] == 1  # compact empty array, not null
    assert decode_value(encode_value(done)) == done


def test_tagged_fields_round_trip_and_unknown_tags_are_skipped() -> None:
    v = TxnLogValue(9, 0, 1000, S.EMPTY, (), 3, -1, previous_producer_id=4)
    raw = encode_value(v)
    assert raw.endswith(b"\x01\x00\x08" + q(4))
    assert decode_value(raw) == v
    with_unknown = raw[:-11] + b"\x02\x00\x08" + q(4) + b"\x09\x02zz"
    assert decode_value(with_unknown) == v


BAD_STATUS = b"\x00\x01" + q(5) + b"\x00\x01" + b"\x00\x00\x00\x01" + b"\x63"


@pytest.mark.parametrize("raw", [b"\x00\x07" + b"\x00" * 30, b"\x00\x01" + q(5), BAD_STATUS])
def test_corrupt_values_are_refused(raw: bytes) -> None:
    with pytest.raises(RecordFormatError):
        decode_value(raw)
