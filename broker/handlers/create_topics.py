"""CreateTopics (key 19), versions 2-7.

Creates each topic with its configs (validated: unknown names and bad values are INVALID_CONFIG),
``num_partitions``/``replication_factor`` -1 meaning the broker defaults. A replication factor
above 1 cannot be met on a single node: INVALID_REPLICATION_FACTOR with a message saying so.
``validate_only`` checks everything and creates nothing. v5+ answers the resulting configs, v7+
the topic id. Ignored: ``timeout_ms`` (creation is synchronous), explicit assignments beyond
checking that they name only this broker.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from pykafka_broker.broker.dispatch import RequestContext, handler
from pykafka_broker.broker.topics import (
    effective_topic_configs,
    validate_topic_configs,
    validate_topic_name,
)
from pykafka_broker.protocol import messages
from pykafka_broker.protocol.api_keys import ApiKey
from pykafka_broker.protocol.errors import ErrorCode, KafkaError


@handler(ApiKey.CREATE_TOPICS, 2, 7)
def handle_create_topics(ctx: RequestContext, req: Any) -> Any:
    cls = messages.response_type(ApiKey.CREATE_TOPICS)
    counts = Counter(t.name for t in req.topics)
    results = []
    for t in req.topics:
        if counts[t.name] > 1:
            results.append(_result(cls, t.name, ErrorCode.INVALID_REQUEST,
                                   f"Create topics request from client `{ctx.header.client_id}` contains "
                                   f"multiple entries for the following topics: {t.name}"))
            continue
        try:
            results.append(_create_one(ctx, cls, t, bool(req.validate_only)))
        except KafkaError as exc:
            results.append(_result(cls, t.name, exc.code, exc.message))
    return messages.new_response(ApiKey.CREATE_TOPICS, ctx.api_version, throttle_time_ms=0, topics=results)


def _result(cls: Any, name: str, code: ErrorCode, message: str | None) -> Any:
    return cls.CreatableTopicResult(name=name, error_code=int(code), error_message=message,
                                    num_partitions=-1, replication_factor=-1, configs=None)


def _create_one(ctx: RequestContext, cls: Any, t: Any, validate_only: bool) -> Any:
    broker = ctx.broker
    validate_topic_name(t.name)
    if t.name in broker.logs.topics:
        raise KafkaError(ErrorCode.TOPIC_ALREADY_EXISTS, f"Topic '{t.name}' already exists.")
    partitions = t.num_partitions
    rf = t.replication_factor
    if t.assignments:
        if partitions != -1 or rf != -1:
            raise KafkaError(ErrorCode.INVALID_REQUEST, "Both numPartitions or replicationFactor and "
                             "replicasAssignments were set. Both cannot be used at the same time.")
        for a in t.assignments:
            if any(b != broker.node_id for b in a.broker_ids) or len(a.broker_ids) != 1:
                raise KafkaError(ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                                 f"Replica assignment {list(a.broker_ids)} for partition {a.partition_index} "
                                 f"names brokers other than the only one, {broker.node_id}")
        indexes = sorted(a.partition_index for a in t.assignments)
        if indexes != list(range(len(indexes))):
            raise KafkaError(ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                             "Partitions should be a consecutive 0-based integer sequence")
        partitions, rf = len(indexes), 1
    if partitions == -1:
        partitions = broker.config.get_int("num.partitions")
    if rf == -1:
        rf = broker.config.get_int("default.replication.factor")
    if partitions <= 0:
        raise KafkaError(ErrorCode.INVALID_PARTITIONS,
                         "Number of partitions was set to an invalid non-positive value.")
    if rf <= 0:
        raise KafkaError(ErrorCode.INVALID_REPLICATION_FACTOR,
                         "Replication factor must be larger than 0, or -1 to use the default value.")
    if rf > 1:
        raise KafkaError(ErrorCode.INVALID_REPLICATION_FACTOR,
                         f"Unable to replicate the partition {rf} time(s): The target replication factor "
                         f"of {rf} cannot be reached because only 1 broker(s) are registered "
                         "(pykafka-broker is a single node).")
    configs = {c.name: c.value for c in t.configs if c.value is not None}
    validate_topic_configs(configs)
    topic_id = None
    if not validate_only:
        topic_id = broker.logs.create_topic(t.name, partitions, configs).topic_id
    return cls.CreatableTopicResult(
        name=t.name, topic_id=topic_id, error_code=0, error_message=None, num_partitions=partitions,
        replication_factor=rf, configs=[
            cls.CreatableTopicResult.CreatableTopicConfigs(
                name=name, value=value, read_only=False, config_source=source, is_sensitive=False)
            for name, (value, source) in sorted(effective_topic_configs(broker.config, configs).items())
        ])
