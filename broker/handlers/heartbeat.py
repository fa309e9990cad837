"""Heartbeat (key 12), versions 0-4.

Keeps a member's session alive. The coordinator answers REBALANCE_IN_PROGRESS while a rebalance is
under way (the client then rejoins), UNKNOWN_MEMBER_ID for an unknown group or member,
ILLEGAL_GENERATION for a stale generation, FENCED_INSTANCE_ID for a replaced static member.
Version notes: v1 throttle_time_ms, v3 (KIP-345) group_instance_id, v4 flexible.
"""

from __future__ import annotations

from typing import Any

from pykafka_broker.broker.dispatch import RequestContext, handler, map_reply
from pykafka_broker.broker.groups import Heartbeat
from pykafka_broker.protocol import messages
from pykafka_broker.protocol.api_keys import ApiKey


@handler(ApiKey.HEARTBEAT, 0, 4)
def handle_heartbeat(ctx: RequestContext, req: Any) -> Any:
    v = ctx.api_version
    beat = Heartbeat(req.group_id, req.generation_id, req.member_id or "",
                     req.group_instance_id if v >= 3 else None)
    return map_reply(ctx.broker.groups.heartbeat(beat),
                     lambda r: messages.new_response(ApiKey.HEARTBEAT, v, throttle_time_ms=0,
                                                     error_code=int(r.error_code)))
