"""AlterPartitionReassignments (key 45), versions 0-1.

With one broker the only possible replica set is [this node]: asking for it is accepted (it is
already the assignment, so nothing moves); cancelling (null replicas) gets
NO_REASSIGNMENT_IN_PROGRESS; any other broker id is INVALID_REPLICA_ASSIGNMENT, and a different
replica count INVALID_REPLICATION_FACTOR unless v1's allow_replication_factor_change is set (it is
still invalid here, as the other brokers do not exist). Unknown partitions:
UNKNOWN_TOPIC_OR_PARTITION.
"""

from __future__ import annotations

from typing import Any

from pykafka_broker.broker.dispatch import RequestContext, handler
from pykafka_broker.protocol import messages
from pykafka_broker.protocol.api_keys import ApiKey
from pykafka_broker.protocol.errors import ErrorCode


@handler(ApiKey.ALTER_PARTITION_REASSIGNMENTS, 0, 1)
def handle_alter_partition_reassignments(ctx: RequestContext, req: Any) -> Any:
    broker = ctx.broker
    cls = messages.response_type(ApiKey.ALTER_PARTITION_REASSIGNMENTS)
    pcls = cls.ReassignableTopicResponse.ReassignablePartitionResponse
    responses = []
    for t in req.topics:
        parts = []
        for p in t.partitions:
            code, message = _check(broker, t.name, p.partition_index, p.replicas)
            parts.append(pcls(partition_index=p.partition_index, error_code=int(code), error_message=message))
        responses.append(cls.ReassignableTopicResponse(name=t.name, partitions=parts))
    return messages.new_response(ApiKey.ALTER_PARTITION_REASSIGNMENTS, ctx.api_version, throttle_time_ms=0,
                                 allow_replication_factor_change=bool(
                                     getattr(req, "allow_replication_factor_change", True)),
                                 error_code=0, error_message=None, responses=responses)


def _check(broker: Any, topic: str, partition: int,
           replicas: list[int] | None) -> tuple[ErrorCode, str | None]:
    if broker.logs.get_log(topic, partition) is None:
        return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, "The partition does not exist."
    if replicas is None:
        return ErrorCode.NO_REASSIGNMENT_IN_PROGRESS, "No ongoing reassignment for this partition."
    unknown = [r for r in replicas if r != broker.node_id]
    if unknown:
        return (ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                f"The manual partition assignment includes broker(s) {unknown} that are not registered; "
                f"the only broker is {broker.node_id}.")
    if len(replicas) != 1:
        return ErrorCode.INVALID_REPLICATION_FACTOR, "The replication factor of a partition here is 1."
    return ErrorCode.NONE, None
