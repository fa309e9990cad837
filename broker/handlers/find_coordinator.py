"""FindCoordinator (key 10), versions 0-6.

This node coordinates everything: a group key (type 0) gets this broker, and the first group lookup
creates ``__consumer_offsets`` (Kafka answers COORDINATOR_NOT_AVAILABLE while it creates the topic in
the background; we create it synchronously, so the first answer already names the coordinator). A
transaction key (type 1) gets this broker too, and creates ``__transaction_state`` the same way.
Other key types are
INVALID_REQUEST, as Kafka's ``CoordinatorType.forId`` refuses them. Kafka sets the error message to
the error's name ("NONE") on success; so do we.
Version notes: v1 adds key_type, v3 flexible, v4 (KIP-699) batches ``coordinator_keys`` and answers
one ``Coordinator`` per key; v5/v6 only add error semantics (KIP-890, KIP-932) that do not apply.
"""

from __future__ import annotations

from typing import Any

from pykafka_broker.broker.dispatch import RequestContext, handler
from pykafka_broker.protocol import messages
from pykafka_broker.protocol.api_keys import ApiKey
from pykafka_broker.protocol.errors import ErrorCode

KEY_TYPE_GROUP, KEY_TYPE_TRANSACTION = 0, 1
BATCHED_VERSION = 4


@handler(ApiKey.FIND_COORDINATOR, 0, 6)
def handle_find_coordinator(ctx: RequestContext, req: Any) -> Any:
    v = ctx.api_version
    key_type = req.key_type if v >= 1 else KEY_TYPE_GROUP
    keys = list(req.coordinator_keys or []) if v >= BATCHED_VERSION else [req.key]
    found = [_lookup(ctx, key_type, key) for key in keys]
    if v >= BATCHED_VERSION:
        cls = messages.response_type(ApiKey.FIND_COORDINATOR)
        coordinators = [cls.Coordinator(key=key, node_id=node, host=host, port=port, error_code=int(err),
                                        error_message=err.name)
                        for key, (node, host, port, err) in zip(keys, found, strict=True)]
        return messages.new_response(ApiKey.FIND_COORDINATOR, v, throttle_time_ms=0,
                                     coordinators=coordinators)
    node, host, port, err = found[0]
    return messages.new_response(ApiKey.FIND_COORDINATOR, v, throttle_time_ms=0, error_code=int(err),
                                 error_message=err.name, node_id=node, host=host, port=port)


def _lookup(ctx: RequestContext, key_type: int, key: str) -> tuple[int, str, int, ErrorCode]:
    broker = ctx.broker
    if key_type not in (KEY_TYPE_GROUP, KEY_TYPE_TRANSACTION):
        return -1, "", -1, ErrorCode.INVALID_REQUEST
    if key_type == KEY_TYPE_GROUP:
        broker.groups.ensure_topic()
    else:
        broker.txns.ensure_topic()
    return broker.node_id, broker.advertised_host, broker.advertised_port, ErrorCode.NONE
