"""The C summary walk (protocol/_recordwalk.c) against the pure-Python walker: on valid record
sections and on thousands of seeded mutations of them (bit flips, truncations, insertions, lying
varints), both accept or both refuse, and an accepted section gives the same summary."""

from __future__ import annotations

import random

import pytest

from pykafka_broker.protocol.errors import KafkaError
from pykafka_broker.protocol.record_walk import iter_record_spans
from pykafka_broker.protocol.records import varint_bytes

_recordwalk = pytest.importorskip("pykafka_broker.protocol._recordwalk",
                                  reason="the _recordwalk extension was not built (no C compiler)")

BASE_TS = 1_700_000_000_000


def record(i: int, rng: random.Random) -> bytes:
    key = None if rng.random() < 0.2 else rng.randbytes(rng.randrange(0, 8))
    value = rng.randbytes(rng.randrange(0, 20))
    headers = [(rng.randbytes(rng.randrange(0, 4)), None if rng.random() < 0.3 else rng.randbytes(3))
               for _ in range(rng.randrange(0, 3))]
    body = b"\x00" + varint_bytes(rng.randrange(-5, 1000)) + varint_bytes(i if rng.random() < 0.9 else i + 1)
    body += b"\x01" if key is None else varint_bytes(len(key)) + key
    body += varint_bytes(len(value)) + value + varint_bytes(len(headers))
    for hk, hv in headers:
        body += varint_bytes(len(hk)) + hk + (b"\x01" if hv is None else varint_bytes(len(hv)) + hv)
    return varint_bytes(len(body)) + body


def python_summary(section: bytes, count: int) -> tuple | None:
    try:
        spans = list(iter_record_spans(section, count))
    except KafkaError:
        return None
    stamps = [BASE_TS + s.timestamp_delta for s in spans]
    stamps = [t for t in stamps if t != -1]
    return (all(s.offset_delta == i for i, s in enumerate(spans)), len(stamps),
            min(stamps) if stamps else -1, max(stamps) if stamps else -1,
            sum(1 for s in spans if s.key_length < 0))


def c_summary(section: bytes, count: int) -> tuple | None:
    try:
        return _recordwalk.summarize(section, count, BASE_TS)
    except ValueError as exc:
        assert str(exc).startswith(("Invalid record at index", "Incorrect declared batch size"))
        return None


def mutate(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    kind = rng.randrange(5)
    if kind == 0 and out:
        out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
    elif kind == 1:
        del out[rng.randrange(len(out) + 1):]
    elif kind == 2:
        pos = rng.randrange(len(out) + 1)
        out[pos:pos] = rng.randbytes(rng.randrange(1, 4))
    elif kind == 3 and out:
        out[rng.randrange(len(out))] = rng.choice([0x7F, 0x80, 0xFF, 0x01, 0x00])
    else:  # a lying varint: 5 to 11 continuation bytes
        pos = rng.randrange(len(out) + 1)
        out[pos:pos] = b"\xff" * rng.randrange(4, 11) + b"\x01"
    return bytes(out)


def test_valid_sections_agree() -> None:
    rng = random.Random(7)
    for _ in range(300):
        count = rng.randrange(1, 12)
        section = b"".join(record(i, rng) for i in range(count))
        expected = python_summary(section, count)
        assert expected is not None
        assert c_summary(section, count) == expected


def test_mutated_sections_agree() -> None:
    rng = random.Random(11)
    refused = 0
    for _ in range(5000):
        count = rng.randrange(1, 6)
        section = b"".join(record(i, rng) for i in range(count))
        for _ in range(rng.randrange(1, 3)):
            section = mutate(section, rng)
        claimed = count if rng.random() < 0.8 else rng.randrange(0, 8)
        c, py = c_summary(section, claimed), python_summary(section, claimed)
        assert c == py, (section.hex(), claimed)
        refused += c is None
    assert refused > 1000  # the mutations do reach the refusals


def test_varints_follow_java_limits() -> None:
    """Kafka's ByteUtils: a varint spans at most 5 bytes, a varlong at most 10."""
    ok = record(0, random.Random(1))
    assert ok[0] < 0x80  # a one-byte length
    overlong_length = bytes([ok[0] | 0x80]) + b"\x80" * 4 + b"\x00" + ok[1:]  # the same length in 6 bytes
    assert c_summary(overlong_length, 1) is None
    assert python_summary(overlong_length, 1) is None
    in_five = bytes([ok[0] | 0x80]) + b"\x80" * 3 + b"\x00" + ok[1:]  # 5 bytes: still a varint
    assert c_summary(in_five, 1) == python_summary(in_five, 1) == python_summary(ok, 1)
