"""Broker configuration with Kafka's property names.

Sources, lowest to highest precedence: Kafka's defaults (with the overrides Kafka's own shipped
single-node ``server.properties`` makes), a YAML file of ``name: value`` pairs, repeatable
``--override name=value``, then the explicit CLI flags (``--host``, ``--port``, ``--data-dir``).
Values are kept as strings, as Kafka's properties are, and parsed by typed accessors.

Dynamic broker configs (KIP-226, changed by AlterConfigs/IncrementalAlterConfigs, persisted by
broker/dynamic_configs.py) sit above all of those: this node's own (``dynamic_broker``, resource name
"1") before the cluster-wide default (``dynamic_default``, resource name ""), as in Kafka's
DynamicBrokerConfig.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from pykafka_broker.broker.config_defs import BROKER_CONFIGS, ConfigError, validate_value


@dataclass(slots=True)
class BrokerConfig:
    host: str = "localhost"
    port: int = 9092
    advertised_host: str | None = None
    data_dir: Path = field(default_factory=lambda: Path("kafka-data"))
    node_id: int = 1
    props: dict[str, str] = field(default_factory=dict)  # explicitly set Kafka properties (static)
    dynamic_broker: dict[str, str] = field(default_factory=dict)  # this node's dynamic configs
    dynamic_default: dict[str, str] = field(default_factory=dict)  # cluster-wide dynamic defaults

    def layers(self) -> tuple[tuple[dict[str, str], str], ...]:
        """The explicitly set values, highest precedence first, each with its ConfigSource name."""
        return ((self.dynamic_broker, "DYNAMIC_BROKER_CONFIG"),
                (self.dynamic_default, "DYNAMIC_DEFAULT_BROKER_CONFIG"),
                (self.props, "STATIC_BROKER_CONFIG"))

    def get(self, name: str) -> str | None:
        for values, _source in self.layers():
            if name in values:
                return values[name]
        cd = BROKER_CONFIGS.get(name)
        return None if cd is None else cd.default

    def get_int(self, name: str) -> int:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return int(value)

    def get_bool(self, name: str) -> bool:
        return str(self.get(name)).strip().lower() == "true"

    def source(self, name: str) -> str:
        return next((source for values, source in self.layers() if name in values), "DEFAULT_CONFIG")

    @property
    def max_request_bytes(self) -> int:
        return self.get_int("socket.request.max.bytes")

    @classmethod
    def load(cls, *, config_file: Path | None = None, overrides: Iterable[str] = (),
             host: str | None = None, port: int | None = None, data_dir: Path | None = None,
             advertised_host: str | None = None) -> BrokerConfig:
        props: dict[str, str] = {}
        if config_file is not None:
            props.update(_read_yaml(config_file))
        for item in overrides:
            name, sep, value = item.partition("=")
            if not sep or not name.strip():
                raise ConfigError(f"--override expects key=value, got {item!r}")
            props[name.strip()] = value.strip()
        for name, value in props.items():
            validate_value(name, value)
        cfg = cls(props=props)
        # Kafka-style listener properties are honoured when given in the file/overrides.
        if "pykafka.host" in props:
            cfg.host = props["pykafka.host"]
        if "port" in props:
            cfg.port = int(props["port"])
        if "log.dirs" in props:
            cfg.data_dir = Path(props["log.dirs"].split(",")[0])
        elif "log.dir" in props:
            cfg.data_dir = Path(props["log.dir"])
        if "node.id" in props:
            cfg.node_id = int(props["node.id"])
        if "advertised.host.name" in props:
            cfg.advertised_host = props["advertised.host.name"]
        if host is not None:
            cfg.host = host
        if port is not None:
            cfg.port = port
        if data_dir is not None:
            cfg.data_dir = data_dir
        if advertised_host is not None:
            cfg.advertised_host = advertised_host
        return cfg


def _read_yaml(path: Path) -> Mapping[str, str]:
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must be a mapping of Kafka property names to values")
    out: dict[str, str] = {}
    for key, value in data.items():
        if isinstance(value, bool):
            value = "true" if value else "false"
        out[str(key)] = "" if value is None else str(value)
    return out
