"""DescribeGroups (key 15), versions 0-5 (Kafka 4.0's range).

State, protocol type, the selected protocol and the members of each group, with each member's
subscription metadata and assignment once the group is Stable (as Kafka's ``ClassicGroup.describe``).
An unknown group is described as Dead with no members and no error (v6, KIP-1043, would make it
GROUP_ID_NOT_FOUND); an empty group id is INVALID_GROUP_ID. With ``include_authorized_operations``
(v3+) every group operation is authorized (READ, DELETE, DESCRIBE: there are no ACLs); otherwise the
field keeps Kafka's "not requested" value.
Version notes: v1 throttle_time_ms, v3 authorized operations, v4 (KIP-345) group_instance_id, v5
flexible.
"""

from __future__ import annotations

from typing import Any

from pykafka_broker.broker.dispatch import RequestContext, handler, map_reply
from pykafka_broker.broker.groups import DescribeGroups
from pykafka_broker.broker.groups.api import DescribedGroup, DescribeGroupsResponse
from pykafka_broker.protocol import messages
from pykafka_broker.protocol.api_keys import ApiKey
from pykafka_broker.protocol.errors import ErrorCode

# AclOperation READ, DELETE, DESCRIBE as the codec's bitfield; None encodes Kafka's "not requested"
# (Integer.MIN_VALUE).
GROUP_OPERATIONS = frozenset({3, 6, 8})


@handler(ApiKey.DESCRIBE_GROUPS, 0, 5)
def handle_describe_groups(ctx: RequestContext, req: Any) -> Any:
    v = ctx.api_version
    asked = list(req.groups or [])
    ops = set(GROUP_OPERATIONS) if v >= 3 and req.include_authorized_operations else None
    describe = DescribeGroups([g for g in asked if g], api_version=v)
    return map_reply(ctx.broker.groups.describe_groups(describe), lambda r: _response(v, asked, ops, r))


def _response(v: int, asked: list[str], ops: set[int] | None, r: DescribeGroupsResponse) -> Any:
    by_id = {g.group_id: g for g in r.groups}
    invalid = DescribedGroup(ErrorCode.INVALID_GROUP_ID, "", "", "", "", ())
    cls = messages.response_type(ApiKey.DESCRIBE_GROUPS)
    mcls = cls.DescribedGroup.DescribedGroupMember
    groups = []
    for group_id in asked:
        g = by_id.get(group_id, invalid) if group_id else invalid
        members = [mcls(member_id=m.member_id, group_instance_id=m.group_instance_id, client_id=m.client_id,
                        client_host=m.client_host, member_metadata=m.metadata, member_assignment=m.assignment)
                   for m in g.members]
        groups.append(cls.DescribedGroup(error_code=int(g.error_code), group_id=group_id, group_state=g.state,
                                         protocol_type=g.protocol_type, protocol_data=g.protocol_data,
                                         members=members, authorized_operations=ops))
    return messages.new_response(ApiKey.DESCRIBE_GROUPS, v, throttle_time_ms=0, groups=groups)
