"""A coordinator's internal topic: its name and config properties, and which partition an id lives on."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class InternalTopic:
    """A coordinator's compacted topic: created on first use with these properties' values."""

    name: str
    partitions_property: str  # e.g. offsets.topic.num.partitions
    segment_bytes_property: str  # e.g. offsets.topic.segment.bytes


def java_string_hash(text: str) -> int:
    """Java's ``String.hashCode``: 31-polynomial over UTF-16 code units, as a signed 32-bit int."""
    h = 0
    raw = text.encode("utf-16-be", "surrogatepass")
    for i in range(0, len(raw), 2):
        h = (31 * h + (raw[i] << 8 | raw[i + 1])) & 0xFFFFFFFF
    return h - (1 << 32) if h & 0x80000000 else h


def partition_for(owner: str, partitions: int) -> int:
    """Kafka's ``Utils.abs(id.hashCode()) % partitions`` (``Utils.abs(MIN_VALUE)`` is 0)."""
    h = java_string_hash(owner)
    return (0 if h == -(1 << 31) else abs(h)) % partitions
