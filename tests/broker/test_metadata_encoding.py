"""The Metadata response spliced from cached per-topic encodings (broker/handlers/metadata.py) is
byte for byte the library's encoding of the same response, at every version, for existing topics,
unknown ones and topics that grow."""

from __future__ import annotations

import uuid
from types import SimpleNamespace
from typing import Any

import pytest

from pykafka_broker.broker.handlers import metadata as md
from pykafka_broker.protocol import messages
from pykafka_broker.protocol.api_keys import ApiKey

TOPIC_A = uuid.uuid4()


def _response(v: int, topics: list[tuple[str, int, int]]) -> Any:
    cls = messages.response_type(ApiKey.METADATA)
    entries = []
    for name, count, error in topics:
        parts = [cls.MetadataResponseTopic.MetadataResponsePartition(
            error_code=0, partition_index=p, leader_id=1, leader_epoch=0, replica_nodes=[1],
            isr_nodes=[1], offline_replicas=[]) for p in range(count)]
        entries.append(cls.MetadataResponseTopic(
            error_code=error, name=name, topic_id=TOPIC_A if error == 0 else uuid.UUID(int=0),
            is_internal=name.startswith("__"), partitions=parts, authorized_operations=None))
    brokers = [cls.MetadataResponseBroker(node_id=1, host="127.0.0.1", port=9092, rack=None)]
    return messages.new_response(ApiKey.METADATA, v, throttle_time_ms=0, brokers=brokers,
                                 cluster_id="cluster", controller_id=1, topics=entries,
                                 authorized_operations=None)


@pytest.mark.parametrize("v", range(13))
@pytest.mark.parametrize("count", [0, 1, 3, 200])
def test_splice_equals_library_encoding(monkeypatch: pytest.MonkeyPatch, v: int, count: int) -> None:
    topics = [(f"t{i}", 1 + i % 5, 0) for i in range(count)]
    if count:
        topics += [("missing", 0, 3), ("__consumer_offsets", 50, 0)]
    expected = messages.encode_response(ApiKey.METADATA, v, _response(v, topics))
    monkeypatch.setattr(md, "handle_metadata", lambda ctx, req: _response(v, topics))
    monkeypatch.setattr(md.messages, "decode_request", lambda *a: None)
    ctx = SimpleNamespace(api_version=v, header=None)
    for _ in range(2):  # the second time from the cache
        got = b"".join(bytes(b) for b in md.handle_metadata_raw(ctx, memoryview(b"")))  # type: ignore[arg-type]
        assert got == bytes(expected)
    grown = [(name, n + 1, e) for name, n, e in topics]  # more partitions: a new cache entry
    monkeypatch.setattr(md, "handle_metadata", lambda ctx, req: _response(v, grown))
    got = b"".join(bytes(b) for b in md.handle_metadata_raw(ctx, memoryview(b"")))  # type: ignore[arg-type]
    assert got == bytes(messages.encode_response(ApiKey.METADATA, v, _response(v, grown)))
