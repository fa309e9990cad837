"""ListTransactions (key 66), versions 0-1 (KIP-664, KIP-994).

Every transactional id this coordinator knows, with producer id and state, filtered by state names
(unknown names are echoed back in ``unknown_state_filters``), by producer ids and, from v1, by duration:
only transactions running longer than ``duration_filter`` ms (-1: no filter).
Not served: v2 (KIP-1152 transactional id pattern).
"""

from __future__ import annotations

from typing import Any

from pykafka_broker.broker.dispatch import RequestContext, handler, map_reply
from pykafka_broker.broker.txn import ListTransactions
from pykafka_broker.protocol import messages
from pykafka_broker.protocol.api_keys import ApiKey


@handler(ApiKey.LIST_TRANSACTIONS, 0, 1)
def handle_list_transactions(ctx: RequestContext, req: Any) -> Any:
    v = ctx.api_version
    call = ListTransactions(list(req.state_filters or []), list(req.producer_id_filters or []),
                            req.duration_filter if v >= 1 else -1)
    return map_reply(ctx.broker.txns.list_transactions(call), lambda r: _response(v, r))


def _response(v: int, r: Any) -> Any:
    scls = messages.response_type(ApiKey.LIST_TRANSACTIONS).TransactionState
    return messages.new_response(
        ApiKey.LIST_TRANSACTIONS, v, throttle_time_ms=0, error_code=int(r.error_code),
        unknown_state_filters=list(r.unknown_state_filters),
        transaction_states=[scls(transactional_id=t.transactional_id, producer_id=t.producer_id,
                                 transaction_state=t.state) for t in r.transactions])
