"""InitProducerId (key 22), versions 0-5.

Without a transactional id every call gets a fresh producer id with epoch 0, as in Kafka (the id is
unique across restarts: see producer_ids.py); for a non-transactional producer Kafka allocates a new id
even when v3+ carries the current one (KIP-360), and so do we. With a transactional id the transaction
coordinator answers (``TransactionCoordinator.handleInitProducerId``): the first call allocates a producer
id with epoch 0, later ones bump the epoch and so fence the previous producer; an open transaction of that
id is aborted first and the caller gets CONCURRENT_TRANSACTIONS until its markers are written; a
``transaction_timeout_ms`` outside 1..``transaction.max.timeout.ms`` is INVALID_TRANSACTION_TIMEOUT; an
empty id is INVALID_REQUEST. The ``__transaction_state`` record is in the log before the reply.
Version notes: v2 flexible, v3 (KIP-360) current producer id/epoch for epoch bumps after an abortable
error, v4 (KIP-588) PRODUCER_FENCED (older versions get INVALID_PRODUCER_EPOCH).
Ignored: v6 two-phase commit fields (KIP-939; not advertised).
"""

from __future__ import annotations

from typing import Any

from pykafka_broker.broker.dispatch import RequestContext, handler, map_reply
from pykafka_broker.broker.txn import InitProducerId
from pykafka_broker.protocol import messages
from pykafka_broker.protocol.api_keys import ApiKey


@handler(ApiKey.INIT_PRODUCER_ID, 0, 5)
def handle_init_producer_id(ctx: RequestContext, req: Any) -> Any:
    v = ctx.api_version
    if req.transactional_id is None:
        pid = ctx.broker.producer_ids.next_id()
        return _response(v, 0, pid, 0)
    call = InitProducerId(req.transactional_id, req.transaction_timeout_ms,
                          req.producer_id if v >= 3 else -1, req.producer_epoch if v >= 3 else -1,
                          api_version=v)
    return map_reply(ctx.broker.txns.init_producer_id(call),
                     lambda r: _response(v, int(r.error_code), r.producer_id, r.producer_epoch))


def _response(v: int, error: int, producer_id: int, producer_epoch: int) -> Any:
    return messages.new_response(ApiKey.INIT_PRODUCER_ID, v, throttle_time_ms=0, error_code=error,
                                 producer_id=producer_id, producer_epoch=producer_epoch)
