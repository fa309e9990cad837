"""ElectLeaders (key 43), versions 0-2.

This node is the only replica and already leads every partition, so each named partition answers
ELECTION_NOT_NEEDED; unknown ones UNKNOWN_TOPIC_OR_PARTITION. When the request names no partitions
(all of them), Kafka leaves the ELECTION_NOT_NEEDED ones out of the response, so the answer is empty.
Ignored: election type (preferred/unclean: neither can change anything), timeout.
"""

from __future__ import annotations

from typing import Any

from pykafka_broker.broker.dispatch import RequestContext, handler
from pykafka_broker.protocol import messages
from pykafka_broker.protocol.api_keys import ApiKey
from pykafka_broker.protocol.errors import ErrorCode


@handler(ApiKey.ELECT_LEADERS, 0, 2)
def handle_elect_leaders(ctx: RequestContext, req: Any) -> Any:
    logs = ctx.broker.logs
    cls = messages.response_type(ApiKey.ELECT_LEADERS)
    results = []
    for t in req.topic_partitions or []:
        parts = []
        for p in t.partitions:
            if logs.get_log(t.topic, p) is None:
                code, message = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, "The partition does not exist."
            else:
                code = ErrorCode.ELECTION_NOT_NEEDED
                message = "Leader election not needed for topic partition."
            parts.append(cls.ReplicaElectionResult.PartitionResult(partition_id=p, error_code=int(code),
                                                                   error_message=message))
        results.append(cls.ReplicaElectionResult(topic=t.topic, partition_result=parts))
    return messages.new_response(ApiKey.ELECT_LEADERS, ctx.api_version, throttle_time_ms=0, error_code=0,
                                 replica_election_results=results)
