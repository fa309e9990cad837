"""The small files of a data directory beside the partition logs, in Kafka's formats: topic ids as
Kafka prints them, ``partition.metadata`` (PartitionMetadataFile v0) and the offset checkpoints
(OffsetCheckpointFile: ``0``, the entry count, then ``topic partition offset`` lines), with the
snapshots LogManager takes on the loop and writes from any thread."""

from __future__ import annotations

import base64
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .files import atomic_write

log = logging.getLogger("pykafka_broker.storage.manager")


def uuid_to_kafka(value: uuid.UUID) -> str:
    """Kafka's Uuid.toString(): URL-safe base64 of the 16 bytes, no padding."""
    return base64.urlsafe_b64encode(value.bytes).rstrip(b"=").decode("ascii")


def uuid_from_kafka(text: str) -> uuid.UUID:
    return uuid.UUID(bytes=base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))


def _partition_metadata(topic_id: uuid.UUID) -> bytes:
    """The content of ``partition.metadata`` (Kafka's PartitionMetadataFile, version 0)."""
    return f"version: 0\ntopic_id: {uuid_to_kafka(topic_id)}\n".encode()


def read_offset_checkpoint(path: Path) -> dict[tuple[str, int], int]:
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return {}
    try:
        if lines[0].strip() != "0":
            raise ValueError(f"unknown version {lines[0]!r}")
        count = int(lines[1])
        entries = {}
        for line in lines[2 : 2 + count]:
            topic, partition, offset = line.split()
            entries[(topic, int(partition))] = int(offset)
        if len(entries) != count:
            raise ValueError("entry count mismatch")
        return entries
    except (IndexError, ValueError) as exc:
        log.warning("ignoring malformed checkpoint %s: %s", path, exc)
        return {}


def write_offset_checkpoint(path: Path, entries: Mapping[tuple[str, int], int]) -> None:
    lines = ["0", str(len(entries))]
    lines += [f"{topic} {partition} {offset}" for (topic, partition), offset in sorted(entries.items())]
    atomic_write(path, ("\n".join(lines) + "\n").encode())


@dataclass(frozen=True, slots=True)
class TopicsSnapshot:
    seq: int
    data: bytes


@dataclass(frozen=True, slots=True)
class CheckpointSnapshot:
    seq: int
    recovery_points: dict[tuple[str, int], int]
    log_start_offsets: dict[tuple[str, int], int]
