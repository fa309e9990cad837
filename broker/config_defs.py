"""Definitions of the broker and topic configs we know: Kafka's names, types, defaults, ranges.

Mirrors Kafka 4.1's ``LogConfig`` (topic configs), ``ServerLogConfigs``/``KafkaConfig`` (broker
configs) and ``ServerTopicConfigSynonyms`` (which broker properties supply a topic config's
default, in priority order; ``*.minutes``/``*.hours`` synonyms are converted to milliseconds).
Defaults are Kafka's, except where Kafka's shipped single-node ``config/server.properties``
overrides them (marked "server.properties" inline). ``read_only=False`` marks the broker configs
Kafka can change dynamically (``DynamicBrokerConfig``), as DescribeConfigs reports them.
Validation messages follow Kafka's ``ConfigException`` wording: "Invalid value X for configuration
Y: reason".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

LONG_MAX = "9223372036854775807"
INT_MAX = "2147483647"
_BOUNDS = {"SHORT": (-(1 << 15), (1 << 15) - 1), "INT": (-(1 << 31), (1 << 31) - 1),
           "LONG": (-(1 << 63), (1 << 63) - 1)}

# DescribeConfigs v3+ ConfigType codes (KIP-569).
CONFIG_TYPE_CODES = {"BOOLEAN": 1, "STRING": 2, "INT": 3, "SHORT": 4, "LONG": 5, "DOUBLE": 6,
                     "LIST": 7, "CLASS": 8, "PASSWORD": 9}

# Unit conversion of broker synonyms into a topic config's milliseconds (ConfigSynonym converters).
SYNONYM_TO_MS = {"log.retention.minutes": 60_000, "log.retention.hours": 3_600_000,
                 "log.roll.hours": 3_600_000, "log.roll.jitter.hours": 3_600_000}


class ConfigError(ValueError):
    """A config name or value that is not acceptable (INVALID_CONFIG on the wire)."""


@dataclass(frozen=True, slots=True)
class ConfigDef:
    name: str
    type: str  # BOOLEAN STRING INT SHORT LONG DOUBLE LIST CLASS PASSWORD (DescribeConfigs v3+ types)
    default: str | None
    doc: str = ""
    read_only: bool = True
    synonyms: tuple[str, ...] = ()  # topic configs: broker properties supplying the default, in order
    min_value: int | float | None = None
    max_value: int | float | None = None
    valid_values: tuple[str, ...] = ()  # STRING: one of these; LIST: every element one of these
    check: str | None = None  # a special rule: "gzip_level", "throttled_replicas"

    @property
    def type_code(self) -> int:
        return CONFIG_TYPE_CODES[self.type]


def _b(name: str, type_: str, default: str | None, doc: str, *, dynamic: bool = False,
       min_value: int | float | None = None, max_value: int | float | None = None,
       valid: tuple[str, ...] = (), check: str | None = None) -> ConfigDef:
    return ConfigDef(name, type_, default, doc, not dynamic, (), min_value, max_value, valid, check)


_COMPRESSION = ("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer")
_TIMESTAMP_TYPES = ("CreateTime", "LogAppendTime")
_POLICIES = ("compact", "delete")

BROKER_CONFIGS: dict[str, ConfigDef] = {c.name: c for c in [
    # identity and topic creation
    _b("node.id", "INT", "1", "The id of this node."),
    _b("broker.id", "INT", "1", "The id of this broker (same as node.id in KRaft mode)."),
    _b("broker.rack", "STRING", None, "The rack of this broker, for rack-aware assignment."),
    _b("auto.create.topics.enable", "BOOLEAN", "true", "Create unknown topics on metadata requests."),
    _b("num.partitions", "INT", "1", "Partition count of topics created without one "
       "(1, also in server.properties).", min_value=1),
    _b("default.replication.factor", "INT", "1", "Replication factor of topics created without one."),
    _b("delete.topic.enable", "BOOLEAN", "true", "Allow topics to be deleted."),
    _b("min.insync.replicas", "INT", "1", "Replicas that must have a write for acks=all to succeed.",
       dynamic=True, min_value=1),
    _b("unclean.leader.election.enable", "BOOLEAN", "false",
       "Allow an out-of-sync replica to become leader.", dynamic=True),
    # network and request handling
    _b("socket.request.max.bytes", "INT", "104857600", "Largest request frame accepted.", min_value=1),
    _b("socket.send.buffer.bytes", "INT", "102400", "SO_SNDBUF of server sockets (-1: OS default)."),
    _b("socket.receive.buffer.bytes", "INT", "102400", "SO_RCVBUF of server sockets (-1: OS default)."),
    _b("num.network.threads", "INT", "3", "Threads receiving requests and sending responses.",
       dynamic=True, min_value=1),
    _b("num.io.threads", "INT", "8", "Threads processing requests.", dynamic=True, min_value=1),
    _b("queued.max.requests", "INT", "500", "Requests queued before reading from sockets stops.",
       min_value=1),
    _b("connections.max.idle.ms", "LONG", "600000", "Idle connections are closed after this long."),
    _b("max.connections", "INT", INT_MAX, "Most connections the broker accepts.", dynamic=True,
       min_value=0),
    _b("max.connections.per.ip", "INT", INT_MAX, "Most connections accepted from one address.",
       dynamic=True, min_value=0),
    _b("max.connections.per.ip.overrides", "STRING", "", "Per-address limits, host:count,...",
       dynamic=True),
    _b("fetch.max.bytes", "INT", "57671680", "Most bytes returned for one fetch request.", min_value=1024),
    _b("max.incremental.fetch.session.cache.slots", "INT", "1000",
       "Most incremental fetch sessions kept.", min_value=0),
    _b("message.max.bytes", "INT", "1048588", "Largest record batch accepted, after compression.",
       dynamic=True, min_value=0),
    _b("compression.type", "STRING", "producer", "Compression of stored batches; 'producer' keeps "
       "the producer's codec.", dynamic=True, valid=_COMPRESSION),
    _b("compression.gzip.level", "INT", "-1", "gzip level when compression.type is gzip.",
       dynamic=True, check="gzip_level"),
    _b("compression.lz4.level", "INT", "9", "lz4 level when compression.type is lz4.", dynamic=True,
       min_value=1, max_value=17),
    _b("compression.zstd.level", "INT", "3", "zstd level when compression.type is zstd.", dynamic=True,
       min_value=-131072, max_value=22),
    # log segments, retention, flushing
    _b("log.segment.bytes", "INT", "1073741824", "Size at which a segment is rolled "
       "(1 GiB, also in server.properties).", dynamic=True, min_value=1048576),
    _b("log.roll.ms", "LONG", None, "Age at which a segment is rolled; log.roll.hours when unset.",
       dynamic=True),
    _b("log.roll.hours", "INT", "168", "Age in hours at which a segment is rolled.", dynamic=True,
       min_value=1),
    _b("log.roll.jitter.ms", "LONG", None, "Most random jitter subtracted from the roll age; "
       "log.roll.jitter.hours when unset.", dynamic=True),
    _b("log.roll.jitter.hours", "INT", "0", "Roll jitter in hours.", dynamic=True, min_value=0),
    _b("log.retention.ms", "LONG", None, "Age after which segments are deleted; "
       "log.retention.minutes when unset; -1: no limit.", dynamic=True),
    _b("log.retention.minutes", "INT", None, "Retention in minutes; log.retention.hours when unset.",
       dynamic=True),
    _b("log.retention.hours", "INT", "168", "Retention in hours (168, also in server.properties).",
       dynamic=True),
    _b("log.retention.bytes", "LONG", "-1", "Size per partition beyond which old segments are "
       "deleted; -1: no limit.", dynamic=True),
    _b("log.retention.check.interval.ms", "LONG", "300000", "How often retention is checked "
       "(300000, also in server.properties).", min_value=1),
    _b("log.cleanup.policy", "LIST", "delete", "Default cleanup policy: delete, compact or both.",
       dynamic=True, valid=_POLICIES),
    _b("log.index.size.max.bytes", "INT", "10485760", "Largest offset index file.", dynamic=True,
       min_value=4),
    _b("log.index.interval.bytes", "INT", "4096", "Bytes between offset index entries.", dynamic=True,
       min_value=0),
    _b("log.flush.interval.messages", "LONG", LONG_MAX, "Messages appended before a forced fsync.",
       dynamic=True, min_value=1),
    _b("log.flush.interval.ms", "LONG", None, "Age of unflushed data that forces an fsync; "
       "log.flush.scheduler.interval.ms when unset.", dynamic=True),
    _b("log.flush.scheduler.interval.ms", "LONG", LONG_MAX, "How often logs are checked for a "
       "needed flush.", dynamic=True),
    _b("log.flush.offset.checkpoint.interval.ms", "INT", "60000", "How often the recovery point "
       "checkpoint is written.", min_value=0),
    _b("log.flush.start.offset.checkpoint.interval.ms", "INT", "60000", "How often the log start "
       "offset checkpoint is written.", min_value=0),
    _b("log.segment.delete.delay.ms", "LONG", "60000", "Delay before a deleted segment's files are "
       "removed.", dynamic=True, min_value=0),
    _b("log.preallocate", "BOOLEAN", "false", "Preallocate segment files.", dynamic=True),
    _b("log.message.timestamp.type", "STRING", "CreateTime", "Timestamp stored in batches: the "
       "producer's (CreateTime) or the broker's (LogAppendTime).", dynamic=True, valid=_TIMESTAMP_TYPES),
    _b("log.message.timestamp.before.max.ms", "LONG", LONG_MAX, "How far in the past a CreateTime "
       "timestamp may be.", dynamic=True, min_value=0),
    _b("log.message.timestamp.after.max.ms", "LONG", "3600000", "How far in the future a CreateTime "
       "timestamp may be (1 hour since Kafka 4.0, KIP-1030).", dynamic=True, min_value=0),
    _b("log.local.retention.ms", "LONG", "-2", "Local retention with tiered storage; -2: "
       "log.retention.ms.", dynamic=True, min_value=-2),
    _b("log.local.retention.bytes", "LONG", "-2", "Local size limit with tiered storage; -2: "
       "log.retention.bytes.", dynamic=True, min_value=-2),
    _b("num.recovery.threads.per.data.dir", "INT", "2", "Threads per data dir for recovery and "
       "shutdown flushing.", dynamic=True, min_value=1),
    # log cleaner (compaction)
    _b("log.cleaner.enable", "BOOLEAN", "true", "Run the log cleaner (needed for compacted topics)."),
    _b("log.cleaner.threads", "INT", "1", "Log cleaner threads.", dynamic=True, min_value=0),
    _b("log.cleaner.io.max.bytes.per.second", "DOUBLE", "1.7976931348623157E308",
       "Cleaner I/O throttle.", dynamic=True),
    _b("log.cleaner.dedupe.buffer.size", "LONG", "134217728", "Memory for the cleaner's key map.",
       dynamic=True),
    _b("log.cleaner.io.buffer.size", "INT", "524288", "Cleaner read/write buffer size.", dynamic=True,
       min_value=0),
    _b("log.cleaner.io.buffer.load.factor", "DOUBLE", "0.9", "Fill ratio of the cleaner's key map.",
       dynamic=True),
    _b("log.cleaner.backoff.ms", "LONG", "15000", "Sleep when there is nothing to clean.",
       dynamic=True, min_value=0),
    _b("log.cleaner.min.cleanable.ratio", "DOUBLE", "0.5", "Dirty ratio at which a log is compacted.",
       dynamic=True, min_value=0, max_value=1),
    _b("log.cleaner.delete.retention.ms", "LONG", "86400000", "How long tombstones are kept in "
       "compacted logs.", dynamic=True, min_value=0),
    _b("log.cleaner.min.compaction.lag.ms", "LONG", "0", "Youngest a record can be and be compacted.",
       dynamic=True, min_value=0),
    _b("log.cleaner.max.compaction.lag.ms", "LONG", LONG_MAX, "Oldest a record can be and stay "
       "uncompacted.", dynamic=True, min_value=1),
    # consumer groups and offsets
    _b("group.initial.rebalance.delay.ms", "INT", "0", "Wait for more members before the first "
       "rebalance of a new group (Kafka 3000; 0 in server.properties)."),
    _b("group.min.session.timeout.ms", "INT", "6000", "Smallest session timeout a member may ask for."),
    _b("group.max.session.timeout.ms", "INT", "1800000", "Largest session timeout a member may ask for."),
    _b("group.max.size", "INT", INT_MAX, "Most members of a classic group.", min_value=1),
    _b("offsets.topic.replication.factor", "SHORT", "1", "Replication factor of __consumer_offsets "
       "(Kafka 3; 1 in server.properties).", min_value=1),
    _b("offsets.topic.num.partitions", "INT", "50", "Partitions of __consumer_offsets.", min_value=1),
    _b("offsets.topic.segment.bytes", "INT", "104857600", "Segment size of __consumer_offsets.",
       min_value=1),
    _b("offsets.retention.minutes", "INT", "10080", "How long committed offsets of an empty group "
       "are kept.", min_value=1),
    _b("offsets.retention.check.interval.ms", "LONG", "600000", "How often stale offsets are "
       "checked for.", min_value=1),
    _b("offsets.commit.timeout.ms", "INT", "5000", "Most time an offset commit waits to be written.",
       min_value=1),
    _b("offsets.load.buffer.size", "INT", "5242880", "Read batch size when loading offsets.",
       min_value=1),
    _b("offset.metadata.max.bytes", "INT", "4096", "Largest metadata string of a committed offset."),
    # transactions and producer ids
    _b("transaction.state.log.replication.factor", "SHORT", "1", "Replication factor of "
       "__transaction_state (Kafka 3; 1 in server.properties).", min_value=1),
    _b("transaction.state.log.min.isr", "INT", "1", "min.insync.replicas of __transaction_state "
       "(Kafka 2; 1 in server.properties).", min_value=1),
    _b("transaction.state.log.num.partitions", "INT", "50", "Partitions of __transaction_state.",
       min_value=1),
    _b("transaction.state.log.segment.bytes", "INT", "104857600", "Segment size of "
       "__transaction_state.", min_value=1),
    _b("transaction.max.timeout.ms", "INT", "900000", "Largest transaction timeout a producer may "
       "ask for.", min_value=1),
    _b("transactional.id.expiration.ms", "INT", "604800000", "Idle time after which a transactional "
       "id expires.", min_value=1),
    _b("transaction.abort.timed.out.transaction.cleanup.interval.ms", "INT", "10000",
       "How often timed-out transactions are aborted.", min_value=1),
    _b("transaction.remove.expired.transaction.cleanup.interval.ms", "INT", "3600000",
       "How often expired transactional ids are removed.", min_value=1),
    _b("transaction.partition.verification.enable", "BOOLEAN", "true", "Verify that a partition "
       "was added to the transaction before a transactional write (KIP-890).", dynamic=True),
    _b("producer.id.expiration.ms", "INT", "86400000", "Idle time after which a producer id's "
       "state is dropped.", dynamic=True, min_value=1),
    _b("producer.id.expiration.check.interval.ms", "INT", "600000", "How often expired producer "
       "ids are removed.", min_value=1),
]}


def _t(name: str, type_: str, default: str, synonyms: tuple[str, ...], doc: str, *,
       min_value: int | float | None = None, max_value: int | float | None = None,
       valid: tuple[str, ...] = (), check: str | None = None) -> ConfigDef:
    return ConfigDef(name, type_, default, doc, False, synonyms, min_value, max_value, valid, check)


# Kafka 4.1's topic configs (LogConfig). Not listed: message.format.version,
# message.timestamp.difference.max.ms and message.downconversion.enable (gone or no-ops since 4.0).
TOPIC_CONFIGS: dict[str, ConfigDef] = {c.name: c for c in [
    _t("cleanup.policy", "LIST", "delete", ("log.cleanup.policy",),
       "delete (drop old segments), compact (keep the last record per key), or both.", valid=_POLICIES),
    _t("compression.type", "STRING", "producer", ("compression.type",),
       "Compression of stored batches; 'producer' keeps the producer's codec.", valid=_COMPRESSION),
    _t("compression.gzip.level", "INT", "-1", ("compression.gzip.level",),
       "gzip level (1-9, -1 for the codec default).", check="gzip_level"),
    _t("compression.lz4.level", "INT", "9", ("compression.lz4.level",), "lz4 level (1-17).",
       min_value=1, max_value=17),
    _t("compression.zstd.level", "INT", "3", ("compression.zstd.level",), "zstd level (-131072-22).",
       min_value=-131072, max_value=22),
    _t("delete.retention.ms", "LONG", "86400000", ("log.cleaner.delete.retention.ms",),
       "How long tombstones stay readable in a compacted topic.", min_value=0),
    _t("file.delete.delay.ms", "LONG", "60000", ("log.segment.delete.delay.ms",),
       "Delay before a deleted segment's files are removed.", min_value=0),
    _t("flush.messages", "LONG", LONG_MAX, ("log.flush.interval.messages",),
       "Messages appended before a forced fsync.", min_value=1),
    _t("flush.ms", "LONG", LONG_MAX, ("log.flush.interval.ms", "log.flush.scheduler.interval.ms"),
       "Age of unflushed data that forces an fsync.", min_value=0),
    _t("follower.replication.throttled.replicas", "LIST", "", (),
       "Replicas throttled on the follower side: partition:broker pairs or *.",
       check="throttled_replicas"),
    _t("index.interval.bytes", "INT", "4096", ("log.index.interval.bytes",),
       "Bytes between offset index entries.", min_value=0),
    _t("leader.replication.throttled.replicas", "LIST", "", (),
       "Replicas throttled on the leader side: partition:broker pairs or *.",
       check="throttled_replicas"),
    _t("local.retention.bytes", "LONG", "-2", ("log.local.retention.bytes",),
       "Local size limit with tiered storage; -2: retention.bytes.", min_value=-2),
    _t("local.retention.ms", "LONG", "-2", ("log.local.retention.ms",),
       "Local retention with tiered storage; -2: retention.ms.", min_value=-2),
    _t("max.compaction.lag.ms", "LONG", LONG_MAX, ("log.cleaner.max.compaction.lag.ms",),
       "Oldest a record can be and stay uncompacted.", min_value=1),
    _t("max.message.bytes", "INT", "1048588", ("message.max.bytes",),
       "Largest record batch accepted, after compression.", min_value=0),
    _t("message.timestamp.after.max.ms", "LONG", "3600000", ("log.message.timestamp.after.max.ms",),
       "How far in the future a CreateTime timestamp may be.", min_value=0),
    _t("message.timestamp.before.max.ms", "LONG", LONG_MAX, ("log.message.timestamp.before.max.ms",),
       "How far in the past a CreateTime timestamp may be.", min_value=0),
    _t("message.timestamp.type", "STRING", "CreateTime", ("log.message.timestamp.type",),
       "Timestamp stored in batches: CreateTime or LogAppendTime.", valid=_TIMESTAMP_TYPES),
    _t("min.cleanable.dirty.ratio", "DOUBLE", "0.5", ("log.cleaner.min.cleanable.ratio",),
       "Dirty ratio at which the log is compacted.", min_value=0, max_value=1),
    _t("min.compaction.lag.ms", "LONG", "0", ("log.cleaner.min.compaction.lag.ms",),
       "Youngest a record can be and be compacted.", min_value=0),
    _t("min.insync.replicas", "INT", "1", ("min.insync.replicas",),
       "Replicas that must have a write for acks=all to succeed.", min_value=1),
    _t("preallocate", "BOOLEAN", "false", ("log.preallocate",), "Preallocate segment files."),
    _t("remote.log.copy.disable", "BOOLEAN", "false", (),
       "Stop copying segments to tiered storage (tiered topic becomes read-only remotely)."),
    _t("remote.log.delete.on.disable", "BOOLEAN", "false", (),
       "Delete remote data when tiered storage is turned off for the topic."),
    _t("remote.storage.enable", "BOOLEAN", "false", (), "Use tiered storage for this topic."),
    _t("retention.bytes", "LONG", "-1", ("log.retention.bytes",),
       "Size per partition beyond which old segments are deleted; -1: no limit."),
    _t("retention.ms", "LONG", "604800000",
       ("log.retention.ms", "log.retention.minutes", "log.retention.hours"),
       "Age after which segments are deleted; -1: no limit.", min_value=-1),
    _t("segment.bytes", "INT", "1073741824", ("log.segment.bytes",), "Size at which a segment is rolled.",
       min_value=1048576),
    _t("segment.index.bytes", "INT", "10485760", ("log.index.size.max.bytes",),
       "Largest offset index file.", min_value=4),
    _t("segment.jitter.ms", "LONG", "0", ("log.roll.jitter.ms", "log.roll.jitter.hours"),
       "Most random jitter subtracted from segment.ms.", min_value=0),
    _t("segment.ms", "LONG", "604800000", ("log.roll.ms", "log.roll.hours"),
       "Age at which a segment is rolled.", min_value=1),
    _t("unclean.leader.election.enable", "BOOLEAN", "false", ("unclean.leader.election.enable",),
       "Allow an out-of-sync replica to become leader."),
]}


def _invalid(name: str, value: str, reason: str) -> ConfigError:
    return ConfigError(f"Invalid value {value} for configuration {name}: {reason}")


def _java_double(x: float) -> str:
    """Double.toString-like text ("0.5", "1.0", "1.7976931348623157E308")."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0 or 1e-3 <= abs(x) < 1e7:
        text = repr(x)
        return text if "." in text else text + ".0"
    candidate = repr(x)
    for precision in range(17):  # the shortest mantissa that round-trips
        candidate = f"{x:.{precision}e}"
        if float(candidate) == x:
            break
    mantissa, _, exponent = candidate.partition("e")
    mantissa = mantissa.rstrip("0") if "." in mantissa else mantissa + "."
    return f"{mantissa}{'0' if mantissa.endswith('.') else ''}E{int(exponent)}"


def _parse(cd: ConfigDef, value: str) -> int | float | bool | str | list[str]:
    text = value.strip()
    if cd.type in _BOUNDS:
        try:
            number = int(text) if "_" not in text else int("x")  # Java's parseLong has no 1_000
        except ValueError:
            raise _invalid(cd.name, value, f"Not a number of type {cd.type}") from None
        low, high = _BOUNDS[cd.type]
        if not low <= number <= high:
            raise _invalid(cd.name, value, f"Not a number of type {cd.type}")
        return number
    if cd.type == "DOUBLE":
        try:
            return float(text)
        except ValueError:
            raise _invalid(cd.name, value, "Not a number of type DOUBLE") from None
    if cd.type == "BOOLEAN":
        if text.lower() not in ("true", "false"):
            raise _invalid(cd.name, value, "Expected value to be either true or false")
        return text.lower() == "true"
    if cd.type == "LIST":
        return [part.strip() for part in text.split(",") if part.strip()] if text else []
    return text


def validate_value(name: str, value: str) -> None:
    """Check a value against its definition; unknown names pass (Kafka ignores unknown broker props)."""
    cd = BROKER_CONFIGS.get(name) or TOPIC_CONFIGS.get(name)
    if cd is None:
        return
    parsed = _parse(cd, value)
    if isinstance(parsed, (int, float)) and not isinstance(parsed, bool):
        if cd.min_value is not None and parsed < cd.min_value:
            raise _invalid(name, value, f"Value must be at least {cd.min_value}")
        if cd.max_value is not None and parsed > cd.max_value:
            raise _invalid(name, value, f"Value must be no more than {cd.max_value}")
    if cd.valid_values:
        for item in parsed if isinstance(parsed, list) else [str(parsed)]:
            if item not in cd.valid_values:
                raise _invalid(name, item, "String must be one of: " + ", ".join(cd.valid_values))
    if cd.check == "gzip_level" and isinstance(parsed, int) and parsed != -1 and not 1 <= parsed <= 9:
        raise _invalid(name, value, "Value must be between 1 and 9, or -1 for the default level")
    if cd.check == "throttled_replicas":
        items = parsed if isinstance(parsed, list) else []
        if items != ["*"] and not all(_is_replica_pair(item) for item in items):
            raise _invalid(name, value, "Must be * or a list of partitionId:brokerId pairs, "
                           "such as 0:1,1:1")


def _is_replica_pair(item: str) -> bool:
    partition, sep, broker = item.partition(":")
    return bool(sep) and partition.strip().isdigit() and broker.strip().isdigit()


def canonical_value(name: str, value: str) -> str:
    """The value as Kafka prints it after parsing ("007" -> "7", "TRUE" -> "true", "a, b" -> "a,b").

    The value must already be valid; names without a definition are returned unchanged.
    """
    cd = TOPIC_CONFIGS.get(name) or BROKER_CONFIGS.get(name)
    if cd is None:
        return value
    parsed = _parse(cd, value)
    if isinstance(parsed, bool):
        return "true" if parsed else "false"
    if isinstance(parsed, float):
        return _java_double(parsed)
    if isinstance(parsed, list):
        return ",".join(parsed)
    return str(parsed)
