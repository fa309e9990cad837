"""DescribeCluster (key 60), versions 0-2.

This node is the whole cluster: the only broker and the (KRaft) controller id answered. v1 endpoint
type 1 (brokers) is the only one served; asking for controllers (2) gets UNSUPPORTED_ENDPOINT_TYPE,
as a broker listener does in Kafka. v2 IsFenced is always false.
"""

from __future__ import annotations

from typing import Any

from pykafka_broker.broker.dispatch import RequestContext, handler
from pykafka_broker.protocol import messages
from pykafka_broker.protocol.api_keys import ApiKey
from pykafka_broker.protocol.errors import ErrorCode

ENDPOINT_BROKERS = 1


@handler(ApiKey.DESCRIBE_CLUSTER, 0, 2)
def handle_describe_cluster(ctx: RequestContext, req: Any) -> Any:
    broker = ctx.broker
    cls = messages.response_type(ApiKey.DESCRIBE_CLUSTER)
    v = ctx.api_version
    endpoint_type = getattr(req, "endpoint_type", ENDPOINT_BROKERS) if v >= 1 else ENDPOINT_BROKERS
    if endpoint_type != ENDPOINT_BROKERS:
        return messages.new_response(
            ApiKey.DESCRIBE_CLUSTER, v, throttle_time_ms=0,
            error_code=int(ErrorCode.UNSUPPORTED_ENDPOINT_TYPE),
            error_message="The target does not support the requested endpoint type",
            endpoint_type=endpoint_type, cluster_id=broker.cluster_id, controller_id=-1, brokers=[],
            authorized_operations=None)
    brokers = [cls.DescribeClusterBroker(broker_id=broker.node_id, host=broker.advertised_host,
                                         port=broker.advertised_port, rack=None, is_fenced=False)]
    return messages.new_response(ApiKey.DESCRIBE_CLUSTER, v, throttle_time_ms=0, error_code=0,
                                 error_message=None, endpoint_type=ENDPOINT_BROKERS,
                                 cluster_id=broker.cluster_id, controller_id=broker.node_id,
                                 brokers=brokers, authorized_operations=None)
