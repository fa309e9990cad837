"""Dynamic broker configs (KIP-226): validated, persisted in the data dir, loaded at startup.

Two scopes, as in Kafka's DynamicBrokerConfig: this node's own configs (BROKER resource named by
the node id, "1") and the cluster-wide defaults (BROKER resource ""). Precedence, highest first:
per-broker dynamic, cluster-default dynamic, static (file / ``--override``), Kafka's default — see
``BrokerConfig.layers``. Only configs Kafka can update dynamically are accepted (``read_only=False``
in config_defs.BROKER_CONFIGS).

Kafka keeps these as ConfigRecords in the KRaft metadata log; one node keeps them in
``<data-dir>/dynamic-broker-configs.json``::

    {"version": 1, "broker": {"log.retention.ms": "60000"}, "default": {"message.max.bytes": "2000000"}}

written atomically (tmp, fsync, rename), so a crash leaves the old or the new file.

Error codes follow Kafka's ConfigAdminManager: a config that cannot change dynamically or a bad
value is INVALID_REQUEST with the ConfigException's message (KAFKA-13609 keeps it so for
compatibility), a wrong broker id is INVALID_REQUEST; a name that is not a broker config at all is
INVALID_CONFIG (Kafka accepts and ignores unknown names; we refuse them rather than store them).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pykafka_broker.broker.config import BrokerConfig
from pykafka_broker.broker.config_defs import BROKER_CONFIGS, ConfigError, canonical_value, validate_value
from pykafka_broker.broker.topics import log_properties
from pykafka_broker.protocol.errors import ErrorCode, KafkaError
from pykafka_broker.storage.files import atomic_write

log = logging.getLogger(__name__)

DYNAMIC_CONFIGS_FILE = "dynamic-broker-configs.json"


def is_per_broker(config: BrokerConfig, resource_name: str) -> bool:
    """True for this node's id, False for "" (the cluster default); anything else is refused with
    ConfigAdminManager.validateResourceNameIsCurrentNodeId's messages."""
    if not resource_name:
        return False
    try:
        node_id = int(resource_name)
    except ValueError:
        raise KafkaError(ErrorCode.INVALID_REQUEST,
                         f"Node id must be an integer, but it is: {resource_name}") from None
    if node_id != config.node_id:
        raise KafkaError(ErrorCode.INVALID_REQUEST,
                         f"Unexpected broker id, expected {config.node_id}, but received {resource_name}")
    return True


def current(config: BrokerConfig, per_broker: bool) -> dict[str, str]:
    return dict(config.dynamic_broker if per_broker else config.dynamic_default)


def check_names(names: list[str]) -> None:
    unknown = [name for name in names if name not in BROKER_CONFIGS]
    if unknown:
        raise KafkaError(ErrorCode.INVALID_CONFIG, f"Unknown broker config name: {unknown[0]}")


def validate_dynamic_configs(values: Mapping[str, str]) -> dict[str, str]:
    """Kafka's DynamicBrokerConfig.validate for one scope's complete new set; returns the values in
    canonical form."""
    check_names(list(values))
    fixed = sorted(name for name in values if BROKER_CONFIGS[name].read_only)
    if fixed:
        raise KafkaError(ErrorCode.INVALID_REQUEST,
                         f"Cannot update these configs dynamically: Set({', '.join(fixed)})")
    out = {}
    for name, value in values.items():
        try:
            validate_value(name, value)
        except ConfigError as exc:
            raise KafkaError(ErrorCode.INVALID_REQUEST, str(exc)) from None
        out[name] = canonical_value(name, value)
    return out


def apply_dynamic_configs(broker: Any, per_broker: bool, values: Mapping[str, str]) -> None:
    """Persist one scope's new (validated) set, then make it live: the broker config and the
    topic-level defaults of every open log (topic overrides still win)."""
    config: BrokerConfig = broker.config
    new_broker = dict(values) if per_broker else dict(config.dynamic_broker)
    new_default = dict(config.dynamic_default) if per_broker else dict(values)
    save(Path(broker.logs.data_dir), new_broker, new_default)
    config.dynamic_broker, config.dynamic_default = new_broker, new_default
    broker.logs.set_default_config(log_properties(config, {}))


def save(data_dir: Path, per_broker: Mapping[str, str], default: Mapping[str, str]) -> None:
    data = {"version": 1, "broker": dict(per_broker), "default": dict(default)}
    atomic_write(data_dir / DYNAMIC_CONFIGS_FILE, json.dumps(data, indent=1, sort_keys=True).encode())


def load_dynamic_configs(config: BrokerConfig, data_dir: Path) -> None:
    """Read the persisted dynamic configs into ``config``. Entries that are no longer valid are
    skipped with a warning, as Kafka's DynamicBrokerConfig ignores invalid persisted configs."""
    path = Path(data_dir) / DYNAMIC_CONFIGS_FILE
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable %s: %s", path, exc)
        return
    config.dynamic_broker = _valid_entries(data.get("broker", {}), path)
    config.dynamic_default = _valid_entries(data.get("default", {}), path)


def _valid_entries(values: Mapping[str, Any], path: Path) -> dict[str, str]:
    out = {}
    for name, value in values.items():
        try:
            out.update(validate_dynamic_configs({str(name): str(value)}))
        except KafkaError as exc:
            log.warning("ignoring dynamic broker config %s=%s in %s: %s", name, value, path, exc.message)
    return out
