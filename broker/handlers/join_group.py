"""JoinGroup (key 11), versions 0-9.

Turns the request into the coordinator's ``JoinGroup`` and the answer back; the coordinator (classic
protocol) validates, assigns member ids, selects the protocol every member supports, and parks the
join until the rebalance completes — then this handler's reply is a Future. The records it produces
(the new generation) reach ``__consumer_offsets`` before the reply is sent. The client host reported
by DescribeGroups is the peer address as Kafka writes it (``/127.0.0.1``).
Version notes: v1 adds rebalance_timeout_ms (v0 uses the session timeout), v4 (KIP-394) answers a new
member MEMBER_ID_REQUIRED with its id, v5 (KIP-345) group_instance_id (static membership), v6
flexible, v7 (KIP-559) protocol_type in the answer and a nullable protocol name, v8 (KIP-800) reason,
v9 (KIP-814) skip_assignment for a static leader that rejoins.
"""

from __future__ import annotations

from typing import Any

from pykafka_broker.broker.dispatch import RequestContext, handler, map_reply
from pykafka_broker.broker.groups import JoinGroup
from pykafka_broker.broker.groups.api import JoinGroupResponse
from pykafka_broker.protocol import messages
from pykafka_broker.protocol.api_keys import ApiKey


@handler(ApiKey.JOIN_GROUP, 0, 9)
def handle_join_group(ctx: RequestContext, req: Any) -> Any:
    v = ctx.api_version
    join = JoinGroup(
        group_id=req.group_id,
        member_id=req.member_id or "",
        group_instance_id=req.group_instance_id if v >= 5 else None,
        protocol_type=req.protocol_type or "",
        protocols=[(p.name, bytes(p.metadata or b"")) for p in req.protocols or []],
        session_timeout_ms=req.session_timeout_ms,
        rebalance_timeout_ms=req.rebalance_timeout_ms if v >= 1 else -1,
        reason=req.reason if v >= 8 else None,
        client_id=ctx.client_id,
        client_host=ctx.client_host,
        api_version=v,
    )
    return map_reply(ctx.broker.groups.join_group(join), lambda r: _response(v, r))


def _response(v: int, r: JoinGroupResponse) -> Any:
    cls = messages.response_type(ApiKey.JOIN_GROUP)
    members = [cls.JoinGroupResponseMember(member_id=m.member_id, group_instance_id=m.group_instance_id,
                                           metadata=m.metadata) for m in r.members]
    protocol_name = r.protocol_name if v >= 7 or r.protocol_name is not None else ""
    return messages.new_response(
        ApiKey.JOIN_GROUP, v, throttle_time_ms=0, error_code=int(r.error_code), generation_id=r.generation_id,
        protocol_type=r.protocol_type, protocol_name=protocol_name, leader=r.leader,
        skip_assignment=r.skip_assignment, member_id=r.member_id, members=members)
