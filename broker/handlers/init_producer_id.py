"""InitProducerId (key 22), versions 0-5, for idempotent producers (no transactional id).

Without a transactional id every call gets a fresh producer id with epoch 0, as in Kafka (the
id is unique across restarts: see producer_ids.py). v3+ may carry the current id/epoch (KIP-360);
for a non-transactional producer Kafka allocates a new id regardless, and so do we.
A transactional id is not served yet: the transaction coordinator is a later feature, so such a
request gets COORDINATOR_NOT_AVAILABLE rather than a half-working transaction.
Ignored: v6 two-phase commit fields (not advertised).
"""

from __future__ import annotations

from typing import Any

from pykafka_broker.broker.dispatch import RequestContext, handler
from pykafka_broker.protocol import messages
from pykafka_broker.protocol.api_keys import ApiKey
from pykafka_broker.protocol.errors import ErrorCode


@handler(ApiKey.INIT_PRODUCER_ID, 0, 5)
def handle_init_producer_id(ctx: RequestContext, req: Any) -> Any:
    v = ctx.api_version
    if req.transactional_id is not None:
        return messages.new_response(ApiKey.INIT_PRODUCER_ID, v, throttle_time_ms=0,
                                     error_code=int(ErrorCode.COORDINATOR_NOT_AVAILABLE),
                                     producer_id=-1, producer_epoch=-1)
    pid = ctx.broker.producer_ids.next_id()
    return messages.new_response(ApiKey.INIT_PRODUCER_ID, v, throttle_time_ms=0, error_code=0,
                                 producer_id=pid, producer_epoch=0)
