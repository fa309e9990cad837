"""Topic compression.type: "producer" keeps batches as sent, a codec rewrites them on append."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from pykafka_broker.protocol.records import iter_batches

CODECS = {"uncompressed": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}


def _stored_codecs(data_dir: Path, topic: str) -> set[int]:
    raw = b"".join(p.read_bytes() for p in sorted((data_dir / f"{topic}-0").glob("*.log")))
    return {h.compression for _pos, h in iter_batches(raw)}


@pytest.mark.parametrize("topic_codec, producer_codec", [("zstd", "none"), ("uncompressed", "gzip"),
                                                         ("producer", "lz4")])
def test_topic_compression_type(broker: Any, topic_codec: str, producer_codec: str) -> None:
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    topic = f"c-{topic_codec}"
    admin.create_topics([NewTopic(topic, 1, 1, config={"compression.type": topic_codec})])[topic].result()
    p = Producer({"bootstrap.servers": broker.bootstrap, "compression.type": producer_codec,
                  "enable.idempotence": True, "linger.ms": 20})
    sent = [(f"k{i}".encode(), f"value-{i}".encode() * 5, [("h", str(i).encode())], 1_700_000_000_000 + i)
            for i in range(300)]
    errors: list[Any] = []
    for key, value, headers, ts in sent:
        p.produce(topic, value, key, partition=0, headers=headers, timestamp=ts,
                  on_delivery=lambda e, m: errors.append(e) if e else None)
    assert p.flush(15) == 0 and not errors
    expected = CODECS["lz4"] if topic_codec == "producer" else CODECS[topic_codec]
    assert _stored_codecs(broker.data_dir, topic) == {expected}
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "unused", "enable.auto.commit": False})
    c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    got = []
    for _ in range(200):
        if len(got) == len(sent):
            break
        for m in c.consume(500, 0.2):
            assert m.error() is None
            got.append((m.key(), m.value(), m.headers(), m.timestamp()[1], m.offset()))
    c.close()
    assert [(k, v, h, ts) for k, v, h, ts, _o in got] == sent
    assert [o for *_rest, o in got] == list(range(len(sent)))
