"""DescribeTransactions (key 65), version 0 (KIP-664).

Per transactional id, the coordinator's view (``TransactionCoordinator.handleDescribeTransactions``):
state name as Kafka spells it (Empty, Ongoing, PrepareCommit, ...), timeout, start time (-1 when no
transaction is open), producer id and epoch, and the partitions of the open transaction grouped by topic.
An unknown id is TRANSACTIONAL_ID_NOT_FOUND, an empty one INVALID_REQUEST.
"""

from __future__ import annotations

from typing import Any

from pykafka_broker.broker.dispatch import RequestContext, handler, map_reply
from pykafka_broker.broker.txn import DescribeTransactions
from pykafka_broker.protocol import messages
from pykafka_broker.protocol.api_keys import ApiKey


@handler(ApiKey.DESCRIBE_TRANSACTIONS, 0, 0)
def handle_describe_transactions(ctx: RequestContext, req: Any) -> Any:
    v = ctx.api_version
    call = DescribeTransactions(list(req.transactional_ids or []))
    return map_reply(ctx.broker.txns.describe_transactions(call), lambda r: _response(v, r))


def _response(v: int, r: Any) -> Any:
    scls = messages.response_type(ApiKey.DESCRIBE_TRANSACTIONS).TransactionState
    states = [scls(error_code=int(t.error_code), transactional_id=t.transactional_id,
                   transaction_state=t.state, transaction_timeout_ms=t.timeout_ms,
                   transaction_start_time_ms=t.start_ms,
                   producer_id=t.producer_id, producer_epoch=t.producer_epoch,
                   topics=[scls.TopicData(topic=topic, partitions=list(parts)) for topic, parts in t.topics])
              for t in r.transactions]
    return messages.new_response(ApiKey.DESCRIBE_TRANSACTIONS, v, throttle_time_ms=0,
                                 transaction_states=states)
