"""IncrementalAlterConfigs / AlterConfigs through real admin clients: validated, persisted, live."""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
    ResourceType,
)


def _describe(admin: AdminClient, topic: str) -> dict[str, Any]:
    (fut,) = admin.describe_configs([ConfigResource(ResourceType.TOPIC, topic)]).values()
    return fut.result()


def _incremental(admin: AdminClient, topic: str, *entries: ConfigEntry, validate_only: bool = False) -> None:
    res = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=list(entries))
    (fut,) = admin.incremental_alter_configs([res], validate_only=validate_only).values()
    fut.result()


def test_incremental_alter_set_delete_append_persists_across_restart(broker_factory: Any) -> None:
    b = broker_factory()
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    admin.create_topics([NewTopic("t", 1, 1)])["t"].result()
    _incremental(admin, "t", ConfigEntry("retention.ms", "1000", incremental_operation=AlterConfigOpType.SET),
                 ConfigEntry("max.message.bytes", "5000", incremental_operation=AlterConfigOpType.SET))
    _incremental(admin, "t", ConfigEntry("cleanup.policy", "compact",
                                         incremental_operation=AlterConfigOpType.APPEND))
    configs = _describe(admin, "t")
    assert configs["retention.ms"].value == "1000" and not configs["retention.ms"].is_default
    assert configs["cleanup.policy"].value == "delete,compact"
    _incremental(admin, "t", ConfigEntry("retention.ms", "", incremental_operation=AlterConfigOpType.DELETE))
    _incremental(admin, "t", ConfigEntry("segment.ms", "60000", incremental_operation=AlterConfigOpType.SET),
                 validate_only=True)
    configs = _describe(admin, "t")
    assert configs["retention.ms"].is_default and configs["segment.ms"].is_default
    # the new max.message.bytes applies to produce at once
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": b.bootstrap})
    errors: list[Any] = []
    p.produce("t", b"x" * 8000, on_delivery=lambda e, m: errors.append(e))
    p.flush(10)
    assert errors and errors[0] is not None and errors[0].code() == 10  # MSG_SIZE_TOO_LARGE
    assert b.stop() == 0
    b2 = broker_factory(data_dir=b.data_dir)
    configs = _describe(AdminClient({"bootstrap.servers": b2.bootstrap}), "t")
    assert configs["max.message.bytes"].value == "5000"
    assert configs["cleanup.policy"].value == "delete,compact"


def test_alter_configs_errors(broker: Any) -> None:
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic("e", 1, 1)])["e"].result()
    set_ = AlterConfigOpType.SET
    for entry, code in [(ConfigEntry("no.such.config", "1", incremental_operation=set_), 40),
                        (ConfigEntry("retention.ms", "soon", incremental_operation=set_), 40),
                        (ConfigEntry("segment.bytes", "10", incremental_operation=set_), 40),
                        (ConfigEntry("retention.ms", "5",
                                     incremental_operation=AlterConfigOpType.APPEND), 40)]:
        with pytest.raises(KafkaException) as info:
            _incremental(admin, "e", entry)
        assert info.value.args[0].code() == code
    with pytest.raises(KafkaException) as info:
        _incremental(admin, "missing", ConfigEntry("retention.ms", "5", incremental_operation=set_))
    assert info.value.args[0].code() == 3
    assert _describe(admin, "e")["retention.ms"].is_default  # nothing changed
