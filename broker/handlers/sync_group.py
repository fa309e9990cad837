"""SyncGroup (key 14), versions 0-5.

The leader's SyncGroup carries every member's assignment; followers' syncs are parked until it
arrives (the reply is then a Future), and every member gets its own assignment. The new assignment
is written to ``__consumer_offsets`` before any member hears it. Errors are the coordinator's:
UNKNOWN_MEMBER_ID for a non-member, ILLEGAL_GENERATION, REBALANCE_IN_PROGRESS, and (v5)
INCONSISTENT_GROUP_PROTOCOL when protocol type/name do not match the group's.
Version notes: v3 (KIP-345) group_instance_id, v4 flexible, v5 (KIP-559) protocol type and name in
both request and response.
"""

from __future__ import annotations

from typing import Any

from pykafka_broker.broker.dispatch import RequestContext, handler, map_reply
from pykafka_broker.broker.groups import SyncGroup
from pykafka_broker.broker.groups.api import SyncGroupResponse
from pykafka_broker.protocol import messages
from pykafka_broker.protocol.api_keys import ApiKey


@handler(ApiKey.SYNC_GROUP, 0, 5)
def handle_sync_group(ctx: RequestContext, req: Any) -> Any:
    v = ctx.api_version
    sync = SyncGroup(
        group_id=req.group_id,
        generation_id=req.generation_id,
        member_id=req.member_id or "",
        group_instance_id=req.group_instance_id if v >= 3 else None,
        protocol_type=req.protocol_type if v >= 5 else None,
        protocol_name=req.protocol_name if v >= 5 else None,
        assignments=[(a.member_id, bytes(a.assignment or b"")) for a in req.assignments or []],
        api_version=v,
    )
    return map_reply(ctx.broker.groups.sync_group(sync), lambda r: _response(v, r))


def _response(v: int, r: SyncGroupResponse) -> Any:
    return messages.new_response(ApiKey.SYNC_GROUP, v, throttle_time_ms=0, error_code=int(r.error_code),
                                 protocol_type=r.protocol_type, protocol_name=r.protocol_name,
                                 assignment=r.assignment)
