"""Definitions of the broker and topic configs we know: Kafka's names, types, defaults, docs.

Defaults are Kafka's, except where Kafka's shipped single-node ``config/server.properties``
overrides them (noted inline). Topic configs name their broker-level synonym (Kafka's
``LogConfig`` / ``ServerTopicConfigSynonyms``), whose value is the topic default.
"""

from __future__ import annotations

from dataclasses import dataclass


class ConfigError(ValueError):
    """A config name or value that is not acceptable (INVALID_CONFIG on the wire)."""


@dataclass(frozen=True, slots=True)
class ConfigDef:
    name: str
    type: str  # BOOLEAN STRING INT SHORT LONG DOUBLE LIST CLASS PASSWORD (DescribeConfigs v3+ types)
    default: str | None
    doc: str = ""
    read_only: bool = True
    synonym: str | None = None  # for topic configs: the broker property supplying the default
    min_value: int | None = None


def _b(name: str, type_: str, default: str | None, doc: str = "", read_only: bool = True,
       min_value: int | None = None) -> ConfigDef:
    return ConfigDef(name, type_, default, doc, read_only, None, min_value)


BROKER_CONFIGS: dict[str, ConfigDef] = {c.name: c for c in [
    _b("node.id", "INT", "1", "The node id of this server."),
    _b("broker.id", "INT", "1", "The broker id of this server."),
    _b("auto.create.topics.enable", "BOOLEAN", "true", "Enable auto creation of topic on the server."),
    _b("num.partitions", "INT", "1", "The default number of log partitions per topic.", min_value=1),
    _b("default.replication.factor", "INT", "1", "The replication factor for automatically created topics."),
    _b("delete.topic.enable", "BOOLEAN", "true", "Enables delete topic."),
    _b("socket.request.max.bytes", "INT", "104857600",
       "The maximum number of bytes in a socket request.", min_value=1),
    _b("message.max.bytes", "INT", "1048588",
       "The largest record batch size allowed by Kafka (after compression if compression is enabled).",
       read_only=False, min_value=0),
    _b("log.segment.bytes", "INT", "1073741824", "The maximum size of a single log file.",
       read_only=False, min_value=1048576),
    _b("log.roll.ms", "LONG", None, "The maximum time before a new log segment is rolled out (in "
       "milliseconds). If not set, the value in log.roll.hours is used.", read_only=False, min_value=1),
    _b("log.roll.hours", "INT", "168", "The maximum time before a new log segment is rolled out (in hours).",
       min_value=1),
    _b("log.index.interval.bytes", "INT", "4096",
       "The interval with which we add an entry to the offset index.", read_only=False, min_value=0),
    _b("log.index.size.max.bytes", "INT", "10485760", "The maximum size in bytes of the offset index.",
       read_only=False, min_value=4),
    _b("log.flush.interval.messages", "LONG", "9223372036854775807",
       "The number of messages accumulated on a log partition before messages are flushed to disk.",
       read_only=False, min_value=1),
    _b("log.flush.interval.ms", "LONG", None,
       "The maximum time in ms that a message in any topic is kept in memory before flushed to disk. "
       "If not set, the value in log.flush.scheduler.interval.ms is used.", read_only=False, min_value=0),
    _b("log.flush.scheduler.interval.ms", "LONG", "9223372036854775807",
       "The frequency in ms that the log flusher checks whether any log needs to be flushed to disk."),
    _b("log.message.timestamp.type", "STRING", "CreateTime",
       "Define whether the timestamp in the message is message create time or log append time.",
       read_only=False),
    _b("log.retention.hours", "INT", "168",
       "The number of hours to keep a log file before deleting it (in hours)."),
    _b("log.retention.ms", "LONG", None, "The number of milliseconds to keep a log file before deleting it.",
       read_only=False),
    _b("log.retention.bytes", "LONG", "-1", "The maximum size of the log before deleting it.",
       read_only=False),
    _b("log.cleanup.policy", "LIST", "delete",
       "The default cleanup policy for segments beyond the retention window.", read_only=False),
    _b("compression.type", "STRING", "producer",
       "Specify the final compression type for a given topic.", read_only=False),
    _b("offsets.topic.replication.factor", "SHORT", "1",
       "The replication factor for the offsets topic (1 in Kafka's shipped single-node config)."),
    _b("offsets.topic.num.partitions", "INT", "50", "The number of partitions for the offset commit topic."),
    _b("transaction.state.log.replication.factor", "SHORT", "1",
       "The replication factor for the transaction topic (1 in Kafka's shipped single-node config)."),
    _b("group.initial.rebalance.delay.ms", "INT", "0",
       "The amount of time the group coordinator will wait for more consumers to join a new group "
       "(0 in Kafka's shipped single-node config)."),
    _b("producer.id.expiration.ms", "INT", "86400000",
       "The time in ms that a topic partition leader will wait before expiring producer IDs."),
]}


def _t(name: str, type_: str, synonym: str | None, default: str | None, doc: str = "",
       min_value: int | None = None) -> ConfigDef:
    return ConfigDef(name, type_, default, doc, False, synonym, min_value)


TOPIC_CONFIGS: dict[str, ConfigDef] = {c.name: c for c in [
    _t("cleanup.policy", "LIST", "log.cleanup.policy", "delete", "A string that is either \"delete\" or "
       "\"compact\" or both."),
    _t("compression.type", "STRING", "compression.type", "producer",
       "Specify the final compression type for a given topic."),
    _t("max.message.bytes", "INT", "message.max.bytes", "1048588",
       "The largest record batch size allowed by Kafka (after compression if compression is enabled).",
       min_value=0),
    _t("message.timestamp.type", "STRING", "log.message.timestamp.type", "CreateTime",
       "Define whether the timestamp in the message is message create time or log append time."),
    _t("retention.ms", "LONG", "log.retention.ms", "604800000",
       "The maximum time we will retain a log before we will discard old log segments."),
    _t("retention.bytes", "LONG", "log.retention.bytes", "-1",
       "The maximum size a partition can grow to before we will discard old log segments."),
    _t("segment.bytes", "INT", "log.segment.bytes", "1073741824", "The segment file size for the log.",
       min_value=1048576),
    _t("segment.ms", "LONG", "log.roll.ms", "604800000",
       "The period of time after which Kafka will force the log to roll.", min_value=1),
    _t("segment.index.bytes", "INT", "log.index.size.max.bytes", "10485760",
       "The size of the index that maps offsets to file positions.", min_value=4),
    _t("index.interval.bytes", "INT", "log.index.interval.bytes", "4096",
       "How frequently Kafka adds an index entry to its offset index.", min_value=0),
    _t("flush.messages", "LONG", "log.flush.interval.messages", "9223372036854775807",
       "The interval of messages written to a log partition after which we force an fsync.", min_value=1),
    _t("flush.ms", "LONG", "log.flush.interval.ms", "9223372036854775807",
       "The time interval after which we force an fsync of data written to the log.", min_value=0),
    _t("min.insync.replicas", "INT", "min.insync.replicas", "1",
       "The minimum number of replicas that must acknowledge a write with acks=all."),
]}


def validate_value(name: str, value: str) -> None:
    """Check a typed value; unknown names pass (Kafka accepts and ignores unknown broker props)."""
    cd = BROKER_CONFIGS.get(name) or TOPIC_CONFIGS.get(name)
    if cd is None:
        return
    if cd.type in ("INT", "LONG", "SHORT"):
        try:
            number = int(value)
        except ValueError:
            raise ConfigError(f"Invalid value {value} for configuration {name}: Not a number of type "
                              f"{cd.type}") from None
        if cd.min_value is not None and number < cd.min_value:
            raise ConfigError(f"Invalid value {value} for configuration {name}: Value must be at least "
                              f"{cd.min_value}")
    elif cd.type == "BOOLEAN" and value.lower() not in ("true", "false"):
        raise ConfigError(f"Invalid value {value} for configuration {name}: Expected value to be either "
                          "true or false")
