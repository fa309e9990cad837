"""DescribeLogDirs (key 35), versions 1-4.

One log dir — the data dir — with every requested partition's size in bytes (all partitions when
``topics`` is null), offset lag 0 (no future replicas), and from v4 the file system's total and
usable bytes. Partitions the broker does not host are left out, as Kafka does.
Version notes: v3 adds the top-level error code; v5 (KIP-1066 cordoning) is not served.
"""

from __future__ import annotations

import os
from typing import Any

from pykafka_broker.broker.dispatch import RequestContext, handler
from pykafka_broker.protocol import messages
from pykafka_broker.protocol.api_keys import ApiKey


@handler(ApiKey.DESCRIBE_LOG_DIRS, 1, 4)
def handle_describe_log_dirs(ctx: RequestContext, req: Any) -> Any:
    logs = ctx.broker.logs
    cls = messages.response_type(ApiKey.DESCRIBE_LOG_DIRS)
    tcls = cls.DescribeLogDirsResult.DescribeLogDirsTopic
    if req.topics is None:
        wanted = [(name, list(range(info.partitions))) for name, info in sorted(logs.topics.items())]
    else:
        wanted = [(t.topic, list(t.partitions)) for t in req.topics]
    topics = []
    for name, partitions in wanted:
        parts = []
        for p in partitions:
            plog = logs.get_log(name, p)
            if plog is not None:
                parts.append(tcls.DescribeLogDirsPartition(
                    partition_index=p, partition_size=plog.size_bytes(), offset_lag=0, is_future_key=False))
        if parts:
            topics.append(tcls(name=name, partitions=parts))
    stat = os.statvfs(logs.data_dir)
    result = cls.DescribeLogDirsResult(error_code=0, log_dir=str(logs.data_dir), topics=topics,
                                       total_bytes=stat.f_blocks * stat.f_frsize,
                                       usable_bytes=stat.f_bavail * stat.f_frsize, is_cordoned=False)
    return messages.new_response(ApiKey.DESCRIBE_LOG_DIRS, ctx.api_version, throttle_time_ms=0,
                                 error_code=0, results=[result])
