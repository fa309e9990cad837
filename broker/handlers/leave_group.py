"""LeaveGroup (key 13), versions 0-5.

Removes members and triggers a rebalance for the rest (or empties the group). v0-2 name one member by
``member_id``; v3+ (KIP-345) carry a batch of members, each by member id and/or group instance id,
with an error per member. For v0-2 the single member's error is the response's error, as in Kafka's
``LeaveGroupResponse`` for old versions.
Version notes: v1 throttle_time_ms, v3 batched members, v4 flexible, v5 (KIP-800) a reason per member
(logged by Kafka; kept in nothing here).
"""

from __future__ import annotations

from typing import Any

from pykafka_broker.broker.dispatch import RequestContext, handler, map_reply
from pykafka_broker.broker.groups import LeaveGroup
from pykafka_broker.broker.groups.api import LeaveGroupResponse
from pykafka_broker.protocol import messages
from pykafka_broker.protocol.api_keys import ApiKey
from pykafka_broker.protocol.errors import ErrorCode

BATCHED_VERSION = 3


@handler(ApiKey.LEAVE_GROUP, 0, 5)
def handle_leave_group(ctx: RequestContext, req: Any) -> Any:
    v = ctx.api_version
    if v >= BATCHED_VERSION:
        members = [(m.member_id or "", m.group_instance_id, m.reason if v >= 5 else None)
                   for m in req.members or []]
    else:
        members = [(req.member_id or "", None, None)]
    leave = LeaveGroup(req.group_id, members, api_version=v)
    return map_reply(ctx.broker.groups.leave_group(leave), lambda r: _response(v, r))


def _response(v: int, r: LeaveGroupResponse) -> Any:
    if v < BATCHED_VERSION:
        error = r.error_code
        if error == ErrorCode.NONE and r.members:
            error = r.members[0].error_code
        return messages.new_response(ApiKey.LEAVE_GROUP, v, throttle_time_ms=0, error_code=int(error))
    cls = messages.response_type(ApiKey.LEAVE_GROUP)
    members = [cls.MemberResponse(member_id=m.member_id, group_instance_id=m.group_instance_id,
                                  error_code=int(m.error_code)) for m in r.members]
    return messages.new_response(ApiKey.LEAVE_GROUP, v, throttle_time_ms=0, error_code=int(r.error_code),
                                 members=members)
