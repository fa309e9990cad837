"""ListPartitionReassignments (key 46), version 0.

No reassignment is ever in progress on a single node, so the answer lists none, for any request.
"""

from __future__ import annotations

from typing import Any

from pykafka_broker.broker.dispatch import RequestContext, handler
from pykafka_broker.protocol import messages
from pykafka_broker.protocol.api_keys import ApiKey


@handler(ApiKey.LIST_PARTITION_REASSIGNMENTS, 0, 0)
def handle_list_partition_reassignments(ctx: RequestContext, req: Any) -> Any:
    return messages.new_response(ApiKey.LIST_PARTITION_REASSIGNMENTS, ctx.api_version, throttle_time_ms=0,
                                 error_code=0, error_message=None, topics=[])
