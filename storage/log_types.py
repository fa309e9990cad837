"""The small value types of a partition log: its config (Kafka topic-level names), and the results
of append, read and flush."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .files import fsync_fd

_LONG_MAX = 9223372036854775807


@dataclass(frozen=True, slots=True)
class LogConfig:
    segment_bytes: int = 1073741824  # segment.bytes
    segment_ms: int = 604800000  # segment.ms
    segment_jitter_ms: int = 0  # segment.jitter.ms
    index_interval_bytes: int = 4096  # index.interval.bytes
    segment_index_bytes: int = 10485760  # segment.index.bytes
    max_message_bytes: int = 1048588  # max.message.bytes
    message_timestamp_type: str = "CreateTime"  # message.timestamp.type
    flush_interval_messages: int = _LONG_MAX  # flush.messages
    flush_interval_ms: int = _LONG_MAX  # flush.ms
    compact: bool = False  # cleanup.policy includes "compact" (keyless records refused; storage/cleaner.py)
    compression_type: str = "producer"  # compression.type: "producer" keeps batches as sent
    compression_gzip_level: int = -1  # compression.gzip.level (-1: the codec's default, 6)
    compression_lz4_level: int = 9  # compression.lz4.level
    compression_zstd_level: int = 3  # compression.zstd.level
    timestamp_before_max_ms: int = _LONG_MAX  # message.timestamp.before.max.ms (produce validation)
    timestamp_after_max_ms: int = 3600000  # message.timestamp.after.max.ms (KIP-1030)

    @classmethod
    def from_topic_configs(cls, configs: Mapping[str, str]) -> LogConfig:
        """Build from Kafka topic-level config names; unknown keys are ignored."""
        kwargs: dict[str, int | str] = {}
        for key, attr in _TOPIC_KEYS.items():
            if key in configs:
                kwargs[attr] = int(configs[key])
        if "message.timestamp.type" in configs:
            kwargs["message_timestamp_type"] = configs["message.timestamp.type"]
        if "compression.type" in configs:
            kwargs["compression_type"] = configs["compression.type"]
        if "cleanup.policy" in configs:
            kwargs["compact"] = "compact" in {p.strip() for p in configs["cleanup.policy"].split(",")}
        return cls(**kwargs)  # type: ignore[arg-type]

    @property
    def log_append_time(self) -> bool:
        return self.message_timestamp_type == "LogAppendTime"


_TOPIC_KEYS = {
    "segment.bytes": "segment_bytes",
    "segment.ms": "segment_ms",
    "segment.jitter.ms": "segment_jitter_ms",
    "index.interval.bytes": "index_interval_bytes",
    "segment.index.bytes": "segment_index_bytes",
    "max.message.bytes": "max_message_bytes",
    "flush.messages": "flush_interval_messages",
    "flush.ms": "flush_interval_ms",
    "message.timestamp.before.max.ms": "timestamp_before_max_ms",
    "message.timestamp.after.max.ms": "timestamp_after_max_ms",
    "compression.gzip.level": "compression_gzip_level",
    "compression.lz4.level": "compression_lz4_level",
    "compression.zstd.level": "compression_zstd_level",
}


@dataclass(frozen=True, slots=True)
class AppendResult:
    base_offset: int
    last_offset: int
    log_append_time_ms: int  # -1 unless the topic uses LogAppendTime
    log_start_offset: int
    duplicate: bool = False


@dataclass(frozen=True, slots=True)
class ReadResult:
    chunks: list[bytes | memoryview]
    size: int


@dataclass(frozen=True, slots=True)
class FlushTicket:
    """What one flush must fsync: once every fd in ``fds`` is fsynced, all offsets below ``offset``
    are durable. Every fd belongs to the ticket (``begin_flush`` opened or duplicated it, so a roll,
    a close or the append-fd cache cannot close it meanwhile) and is closed by ``complete_flush`` or
    ``fail_flush`` on the loop; callers fsync them as they are."""

    offset: int
    fds: tuple[int, ...]  # active .log, plus rolled segments' files and index files opened for this flush

    @property
    def opened_fds(self) -> tuple[int, ...]:
        """The fds ``complete_flush``/``fail_flush`` close: all of them, the ticket owns every one."""
        return self.fds

    def sync(self) -> None:
        """Blocking fsync of every fd (tests, shutdown, offline tools)."""
        for fd in self.fds:
            fsync_fd(fd)
