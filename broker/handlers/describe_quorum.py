"""DescribeQuorum (key 55), versions 0-2.

The KRaft metadata quorum of a single-node cluster: one voter, this node, leading partition 0 of
``__cluster_metadata`` with leader epoch 1. There is no metadata log here, so the high watermark and
the voter's log end offset are 0, and its fetch/caught-up timestamps (v1+) are the current time.
v2 lists this node's endpoint under listener name CONTROLLER. Any other topic/partition is
UNKNOWN_TOPIC_OR_PARTITION.
"""

from __future__ import annotations

import uuid
from typing import Any

from pykafka_broker.broker.clock import now_ms
from pykafka_broker.broker.dispatch import RequestContext, handler
from pykafka_broker.protocol import messages
from pykafka_broker.protocol.api_keys import ApiKey
from pykafka_broker.protocol.errors import ErrorCode

METADATA_TOPIC = "__cluster_metadata"


@handler(ApiKey.DESCRIBE_QUORUM, 0, 2)
def handle_describe_quorum(ctx: RequestContext, req: Any) -> Any:
    broker = ctx.broker
    cls = messages.response_type(ApiKey.DESCRIBE_QUORUM)
    pd = cls.TopicData.PartitionData
    now = now_ms()
    topics = []
    for t in req.topics:
        parts = []
        for p in t.partitions:
            if t.topic_name != METADATA_TOPIC or p.partition_index != 0:
                parts.append(pd(partition_index=p.partition_index,
                                error_code=int(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION),
                                error_message=None, leader_id=-1, leader_epoch=-1, high_watermark=-1,
                                current_voters=[], observers=[]))
                continue
            voter = pd.ReplicaState(replica_id=broker.node_id, replica_directory_id=uuid.UUID(int=0),
                                    log_end_offset=0, last_fetch_timestamp=now, last_caught_up_timestamp=now)
            parts.append(pd(partition_index=0, error_code=0, error_message=None, leader_id=broker.node_id,
                            leader_epoch=1, high_watermark=0, current_voters=[voter], observers=[]))
        topics.append(cls.TopicData(topic_name=t.topic_name, partitions=parts))
    nodes = [cls.Node(node_id=broker.node_id, listeners=[cls.Node.Listener(
        name="CONTROLLER", host=broker.advertised_host, port=broker.advertised_port)])]
    return messages.new_response(ApiKey.DESCRIBE_QUORUM, ctx.api_version, error_code=0, error_message=None,
                                 topics=topics, nodes=nodes)
