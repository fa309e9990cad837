"""DeleteTopics (key 20), versions 1-6.

Removes each topic's partitions (broker/log_lifecycle.py renames the directories at once and
deletes the files off the event loop after ``log.segment.delete.delay.ms``) and wakes any Fetch
long-polling on them. v6 may name topics by id.
Errors: UNKNOWN_TOPIC_OR_PARTITION / UNKNOWN_TOPIC_ID; TOPIC_DELETION_DISABLED when
``delete.topic.enable`` is false. Ignored: ``timeout_ms`` (deletion is immediate).
"""

from __future__ import annotations

import uuid
from typing import Any

from pykafka_broker.broker.dispatch import RequestContext, handler
from pykafka_broker.protocol import messages
from pykafka_broker.protocol.api_keys import ApiKey
from pykafka_broker.protocol.errors import ErrorCode

ZERO_UUID = uuid.UUID(int=0)


@handler(ApiKey.DELETE_TOPICS, 1, 6)
def handle_delete_topics(ctx: RequestContext, req: Any) -> Any:
    broker = ctx.broker
    cls = messages.response_type(ApiKey.DELETE_TOPICS)
    v = ctx.api_version
    if v >= 6:
        wanted = [(t.name, t.topic_id) for t in req.topics]
    else:
        wanted = [(name, None) for name in req.topic_names]
    results = []
    for name, tid in wanted:
        error, message = ErrorCode.NONE, None
        if name is None and tid is not None and tid != ZERO_UUID:
            name = broker.logs.topic_name(tid)
            if name is None:
                error, message = ErrorCode.UNKNOWN_TOPIC_ID, "This server does not host this topic ID."
        info = broker.logs.topics.get(name) if name else None
        if error == ErrorCode.NONE and info is None:
            error = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
            message = "This server does not host this topic-partition."
        if error == ErrorCode.NONE and not broker.config.get_bool("delete.topic.enable"):
            error, message = ErrorCode.TOPIC_DELETION_DISABLED, "Topic deletion is disabled."
        if error == ErrorCode.NONE and info is not None:
            tid = info.topic_id
            partitions = info.partitions
            if broker.lifecycle is not None:
                broker.lifecycle.delete_topic(name)  # files go off the event loop
            else:
                broker.logs.delete_topic(name)
            for p in range(partitions):
                broker.waiters.notify(name, p, 1 << 62)  # answer long-polls on it now
        results.append(cls.DeletableTopicResult(name=name, topic_id=tid or ZERO_UUID, error_code=int(error),
                                                error_message=message))
    return messages.new_response(ApiKey.DELETE_TOPICS, v, throttle_time_ms=0, responses=results)
