"""CreatePartitions through real admin clients: grow only, Kafka's errors otherwise."""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewPartitions, NewTopic


def test_grow_partitions_then_produce_to_the_new_one(broker_factory: Any) -> None:
    b = broker_factory()
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    admin.create_topics([NewTopic("g", 1, 1)])["g"].result()
    admin.create_partitions([NewPartitions("g", 3)])["g"].result()
    assert len(admin.list_topics("g", timeout=10).topics["g"].partitions) == 3
    p = Producer({"bootstrap.servers": b.bootstrap})
    acked: list[Any] = []
    p.produce("g", b"v", partition=2, on_delivery=lambda e, m: acked.append((e, m.partition(), m.offset())))
    p.flush(10)
    assert acked == [(None, 2, 0)]
    for count, code in [(2, 37), (3, 37)]:
        with pytest.raises(KafkaException) as info:
            admin.create_partitions([NewPartitions("g", count)])["g"].result()
        assert info.value.args[0].code() == code
    with pytest.raises(KafkaException) as info:
        admin.create_partitions([NewPartitions("missing", 2)])["missing"].result()
    assert info.value.args[0].code() == 3
    admin.create_partitions([NewPartitions("g", 5)], validate_only=True)["g"].result()
    assert len(admin.list_topics("g", timeout=10).topics["g"].partitions) == 3
    assert b.stop() == 0
    b2 = broker_factory(data_dir=b.data_dir)
    admin2 = AdminClient({"bootstrap.servers": b2.bootstrap})
    assert len(admin2.list_topics("g", timeout=10).topics["g"].partitions) == 3
