"""AlterReplicaLogDirs (key 34), versions 1-2.

There is one log dir. Asking for a partition to live in it is a no-op success; any other path is
LOG_DIR_NOT_FOUND, as Kafka answers for a dir it does not have; an unknown partition is
UNKNOWN_TOPIC_OR_PARTITION.
"""

from __future__ import annotations

import os
from typing import Any

from pykafka_broker.broker.dispatch import RequestContext, handler
from pykafka_broker.protocol import messages
from pykafka_broker.protocol.api_keys import ApiKey
from pykafka_broker.protocol.errors import ErrorCode


@handler(ApiKey.ALTER_REPLICA_LOG_DIRS, 1, 2)
def handle_alter_replica_log_dirs(ctx: RequestContext, req: Any) -> Any:
    logs = ctx.broker.logs
    cls = messages.response_type(ApiKey.ALTER_REPLICA_LOG_DIRS)
    ours = os.path.realpath(logs.data_dir)
    by_topic: dict[str, list[Any]] = {}
    for d in req.dirs:
        known_dir = os.path.realpath(d.path) == ours
        for t in d.topics:
            for p in t.partitions:
                if logs.get_log(t.name, p) is None:
                    code = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
                elif not known_dir:
                    code = ErrorCode.LOG_DIR_NOT_FOUND
                else:
                    code = ErrorCode.NONE
                by_topic.setdefault(t.name, []).append(
                    cls.AlterReplicaLogDirTopicResult.AlterReplicaLogDirPartitionResult(
                        partition_index=p, error_code=int(code)))
    results = [cls.AlterReplicaLogDirTopicResult(topic_name=name, partitions=parts)
               for name, parts in by_topic.items()]
    return messages.new_response(ApiKey.ALTER_REPLICA_LOG_DIRS, ctx.api_version, throttle_time_ms=0,
                                 results=results)
