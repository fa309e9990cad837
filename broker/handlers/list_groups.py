"""ListGroups (key 16), versions 0-5.

Every group this coordinator knows, with its protocol type ("consumer" for consumers, "" for groups
that only hold committed offsets). ``states_filter`` (v4+, KIP-518) keeps groups in the named states
(case-insensitive, as Kafka); ``types_filter`` (v5+, KIP-848) keeps the named group types: all groups
here are "classic".
Version notes: v1 throttle_time_ms, v3 flexible, v4 group_state, v5 group_type.
"""

from __future__ import annotations

from typing import Any

from pykafka_broker.broker.dispatch import RequestContext, handler, map_reply
from pykafka_broker.broker.groups import ListGroups
from pykafka_broker.broker.groups.api import ListGroupsResponse
from pykafka_broker.protocol import messages
from pykafka_broker.protocol.api_keys import ApiKey


@handler(ApiKey.LIST_GROUPS, 0, 5)
def handle_list_groups(ctx: RequestContext, req: Any) -> Any:
    v = ctx.api_version
    states = list(req.states_filter or []) if v >= 4 else []
    types = list(req.types_filter or []) if v >= 5 else []
    return map_reply(ctx.broker.groups.list_groups(ListGroups(states, types)), lambda r: _response(v, r))


def _response(v: int, r: ListGroupsResponse) -> Any:
    cls = messages.response_type(ApiKey.LIST_GROUPS)
    groups = [cls.ListedGroup(group_id=g.group_id, protocol_type=g.protocol_type, group_state=g.state,
                              group_type=g.group_type) for g in r.groups]
    return messages.new_response(ApiKey.LIST_GROUPS, v, throttle_time_ms=0, error_code=int(r.error_code),
                                 groups=groups)
