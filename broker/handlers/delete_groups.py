"""DeleteGroups (key 42), versions 0-2.

Deletes empty groups: their committed offsets and group metadata get tombstones in
``__consumer_offsets`` (written before the answer). A group with members is NON_EMPTY_GROUP, an
unknown one GROUP_ID_NOT_FOUND, an empty group id INVALID_GROUP_ID (Kafka's
``GroupCoordinatorService.deleteGroups``).
Version notes: v1 only changes throttling behaviour (KIP-219), v2 flexible.
"""

from __future__ import annotations

from typing import Any

from pykafka_broker.broker.dispatch import RequestContext, handler, map_reply
from pykafka_broker.broker.groups import DeleteGroups
from pykafka_broker.broker.groups.api import DeleteGroupsResponse
from pykafka_broker.protocol import messages
from pykafka_broker.protocol.api_keys import ApiKey
from pykafka_broker.protocol.errors import ErrorCode


@handler(ApiKey.DELETE_GROUPS, 0, 2)
def handle_delete_groups(ctx: RequestContext, req: Any) -> Any:
    v = ctx.api_version
    asked = list(req.groups_names or [])
    delete = DeleteGroups(list(dict.fromkeys(g for g in asked if g)))
    return map_reply(ctx.broker.groups.delete_groups(delete), lambda r: _response(v, asked, r))


def _response(v: int, asked: list[str], r: DeleteGroupsResponse) -> Any:
    errors = dict(r.results)
    cls = messages.response_type(ApiKey.DELETE_GROUPS)
    results = [cls.DeletableGroupResult(group_id=g, error_code=int(errors.get(g, ErrorCode.INVALID_GROUP_ID)))
               for g in dict.fromkeys(asked)]
    return messages.new_response(ApiKey.DELETE_GROUPS, v, throttle_time_ms=0, results=results)
