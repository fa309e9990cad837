"""Shared data and assertions for the real-client round-trip tests (no client imports here).

Every client test produces the same shape of data — keyed records with headers, values numbered in
produce order — and checks what it reads back with :func:`assert_roundtrip`, so the five clients are
held to exactly the same standard.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

N_KEYS = 37


@dataclass(frozen=True, slots=True)
class Rec:
    key: bytes
    value: bytes
    headers: tuple[tuple[str, bytes], ...]


@dataclass(frozen=True, slots=True)
class Got:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]


def make_records(n: int, tag: str = "r", value_pad: int = 0) -> list[Rec]:
    """``n`` records over ``N_KEYS`` keys; value ``<tag>-<i>`` makes produce order checkable."""
    out = []
    for i in range(n):
        headers = (("idx", str(i).encode()), ("tag", tag.encode()), ("bin", bytes([i % 256, 0, 255])))
        out.append(Rec(f"key-{i % N_KEYS}".encode(), f"{tag}-{i}".encode() + b"." * value_pad, headers))
    return out


def norm_headers(headers: Any) -> tuple[tuple[str, bytes], ...]:
    """Clients return headers as a list of (str, bytes) tuples, or None when there are none."""
    if not headers:
        return ()
    return tuple((str(k), bytes(v) if v is not None else b"") for k, v in headers)


def assert_roundtrip(produced: Sequence[Rec], got: Sequence[Got], partitions: int) -> None:
    """Exact records back, offsets 0..n-1 per partition, and produce order kept per key."""
    assert len(got) == len(produced), f"read {len(got)} records, produced {len(produced)}"
    by_partition: dict[int, list[Got]] = defaultdict(list)
    for g in got:
        by_partition[g.partition].append(g)
    assert set(by_partition) <= set(range(partitions)), sorted(by_partition)
    if len(produced) >= 10 * partitions:
        assert len(by_partition) == partitions, "keyed records should spread over every partition"
    for p, recs in by_partition.items():
        offsets = [g.offset for g in recs]
        assert offsets == list(range(len(recs))), f"partition {p}: offsets not consecutive from 0"
    # Exactly the same multiset of records.
    want = sorted((r.key, r.value, r.headers) for r in produced)
    have = sorted((g.key or b"", g.value or b"", g.headers) for g in got)
    assert have == want
    # Per key: a single partition, values in produce order (values are unique, so index them).
    produce_index = {r.value: i for i, r in enumerate(produced)}
    key_partition: dict[bytes | None, int] = {}
    last_index: dict[bytes | None, int] = {}
    for p in sorted(by_partition):
        for g in by_partition[p]:
            assert key_partition.setdefault(g.key, p) == p, f"key {g.key!r} in two partitions"
            i = produce_index[g.value or b""]
            assert i > last_index.get(g.key, -1), f"key {g.key!r}: {g.value!r} out of produce order"
            last_index[g.key] = i


def poll_until(step: Callable[[], bool], timeout: float, what: str) -> None:
    """Call ``step`` (which itself blocks briefly, e.g. a consumer poll) until it returns True."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if step():
            return
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


# Explicit timestamps for the ListOffsets-by-time tests, strictly increasing, one record each.
TIMESTAMPS = [1_000, 2_000, 3_000, 4_000, 5_000]
# (query timestamp, expected offset or None): exact hits, between two records -> the later one,
# before the first -> 0, beyond the last -> none.
TIME_QUERIES = [(1_000, 0), (3_000, 2), (2_500, 2), (0, 0), (5_000, 4), (4_001, 4), (6_000, None)]

BIG_VALUE_SIZE = 1_000_000
BIG_TOPIC_CONFIG = {"max.message.bytes": "2000000"}
