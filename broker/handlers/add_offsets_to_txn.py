"""AddOffsetsToTxn (key 25), versions 0-4.

Adds the group's ``__consumer_offsets`` partition to the producer's transaction, so a following
TxnOffsetCommit may write there and the transaction's marker reaches it
(``KafkaApis.handleAddOffsetsToTxnRequest``). Errors as AddPartitionsToTxn: CONCURRENT_TRANSACTIONS,
INVALID_PRODUCER_ID_MAPPING, PRODUCER_FENCED (INVALID_PRODUCER_EPOCH before v2, KIP-588); an empty
transactional id is INVALID_REQUEST.
Version notes: v1 same as v0, v2 PRODUCER_FENCED, v3 flexible, v4 (KIP-890) may answer
TRANSACTION_ABORTABLE (this coordinator never needs to). Transaction-version-1 clients send up to v4.
"""

from __future__ import annotations

from typing import Any

from pykafka_broker.broker.dispatch import RequestContext, handler, map_reply
from pykafka_broker.broker.txn import AddOffsetsToTxn
from pykafka_broker.protocol import messages
from pykafka_broker.protocol.api_keys import ApiKey


@handler(ApiKey.ADD_OFFSETS_TO_TXN, 0, 4)
def handle_add_offsets_to_txn(ctx: RequestContext, req: Any) -> Any:
    v = ctx.api_version
    call = AddOffsetsToTxn(req.transactional_id, req.producer_id, req.producer_epoch, req.group_id,
                           api_version=v)
    ctx.broker.groups.ensure_topic()  # the marker must find the group's partition
    return map_reply(ctx.broker.txns.add_offsets(call), lambda r: messages.new_response(
        ApiKey.ADD_OFFSETS_TO_TXN, v, throttle_time_ms=0, error_code=int(r.error_code)))
