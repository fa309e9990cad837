"""EndTxn (key 26), versions 0-4.

Commits or aborts the producer's transaction (``KafkaApis.handleEndTxnRequest``). The coordinator
appends PrepareCommit/PrepareAbort to ``__transaction_state``, the driver then writes a COMMIT/ABORT
control batch to every partition of the transaction (making pending transactional offsets visible or
dropping them) and the CompleteCommit/CompleteAbort record — normally all before this reply, so the next
transaction starts at once. Errors: INVALID_TXN_STATE without an open transaction (or a retry asking for
the other outcome), CONCURRENT_TRANSACTIONS while markers are outstanding, INVALID_PRODUCER_ID_MAPPING,
PRODUCER_FENCED (INVALID_PRODUCER_EPOCH before v2, KIP-588). A retry of a completed EndTxn with the same
outcome succeeds.
Version notes: v1 same as v0, v2 PRODUCER_FENCED, v3 flexible, v4 (KIP-890) may answer
TRANSACTION_ABORTABLE. Transaction-version-1 clients send up to v4. Not served: v5 (transaction.version 2:
an epoch bump on every EndTxn, returned in the response).
"""

from __future__ import annotations

from typing import Any

from pykafka_broker.broker.dispatch import RequestContext, handler, map_reply
from pykafka_broker.broker.txn import EndTxn
from pykafka_broker.protocol import messages
from pykafka_broker.protocol.api_keys import ApiKey


@handler(ApiKey.END_TXN, 0, 4)
def handle_end_txn(ctx: RequestContext, req: Any) -> Any:
    v = ctx.api_version
    call = EndTxn(req.transactional_id, req.producer_id, req.producer_epoch, bool(req.committed),
                  api_version=v)
    return map_reply(ctx.broker.txns.end_txn(call), lambda r: messages.new_response(
        ApiKey.END_TXN, v, throttle_time_ms=0, error_code=int(r.error_code)))
