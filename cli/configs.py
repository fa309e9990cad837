"""``pykafka-broker configs``: Kafka's kafka-configs.sh (ConfigCommand) for topics and brokers.

``--describe`` prints, like Kafka, ``Dynamic configs for topic X are:`` (or ``All configs ...`` with
``--all``) then ``  name=value sensitive=false synonyms={SOURCE:name=value, ...}`` per entry.
``--alter`` sends IncrementalAlterConfigs (SET for --add-config, DELETE for --delete-config) and
prints ``Completed updating config for topic X.``
"""

from __future__ import annotations

import re
from typing import Any

import click

from pykafka_broker.cli.common import bootstrap_option, describe_error, fail, handle_errors, make_admin

_DYNAMIC_SOURCE = {"topics": "DYNAMIC_TOPIC_CONFIG", "brokers": "DYNAMIC_BROKER_CONFIG"}
_RESOURCE = {"topics": "TOPIC", "brokers": "BROKER"}


def parse_add_config(text: str) -> dict[str, str]:
    """``k1=v1,k2=[v1,v2],k3=v3``: square brackets group values that contain commas."""
    out: dict[str, str] = {}
    for m in re.finditer(r"\s*([^=,]+)=(\[[^\]]*\]|[^,]*)\s*(?:,|$)", text):
        key, value = m.group(1).strip(), m.group(2)
        if value.startswith("[") and value.endswith("]"):
            value = value[1:-1]
        out[key] = value
    if not out and text.strip():
        raise fail(f"Invalid --add-config '{text}': expected k1=v1,k2=[v1,v2,v2],k3=v3")
    return out


def _entries(admin: Any, entity_type: str, name: str, include_all: bool) -> list[tuple[str, dict[str, Any]]]:
    from kafka.admin import ConfigResource

    described = admin.describe_configs(
        [ConfigResource(_RESOURCE[entity_type], name)], include_synonyms=True, config_filter="all"
    )
    entries = described.get(_RESOURCE[entity_type].lower(), {}).get(name, {})
    if include_all:
        return list(entries.items())
    dynamic = _DYNAMIC_SOURCE[entity_type]
    return [(k, e) for k, e in entries.items() if e.get("config_source") == dynamic]


def _describe(admin: Any, entity_type: str, names: list[str], include_all: bool) -> None:
    for name in names:
        kind = "All" if include_all else "Dynamic"
        click.echo(f"{kind} configs for {entity_type[:-1]} {name} are:")
        for key, e in _entries(admin, entity_type, name, include_all):
            value = None if e.get("is_sensitive") else e.get("value")
            synonyms = ", ".join(
                f"{s.get('source')}:{s.get('name')}={s.get('value')}" for s in e.get("synonyms") or []
            )
            click.echo(
                f"  {key}={value} sensitive={str(bool(e.get('is_sensitive'))).lower()} "
                f"synonyms={{{synonyms}}}"
            )


def _alter(admin: Any, entity_type: str, name: str, add: dict[str, str], delete: list[str]) -> None:
    from kafka.admin import AlterConfigOp, ConfigResource

    current = dict(_entries(admin, entity_type, name, include_all=False))
    missing = [k for k in delete if k not in current]
    if missing:
        raise fail(f"Invalid config(s): {','.join(missing)}")
    ops: dict[str, Any] = {k: (AlterConfigOp.SET, v) for k, v in add.items()}
    ops.update({k: (AlterConfigOp.DELETE, None) for k in delete})
    resource = ConfigResource(_RESOURCE[entity_type], name, ops)
    from kafka import errors as kerr

    try:
        result = admin.alter_configs([resource], raise_on_unknown=False, incremental=True)
    except kerr.IncompatibleBrokerVersion as exc:
        raise fail(f"The broker does not support IncrementalAlterConfigs: {describe_error(exc)}") from None
    outcome = result.get(_RESOURCE[entity_type].lower(), {}).get(name, "OK")
    if outcome != "OK":
        raise fail(str(outcome))
    click.echo(f"Completed updating config for {entity_type[:-1]} {name}.")


@click.command("configs", context_settings={"help_option_names": ["-h", "--help"]})
@bootstrap_option()
@click.option("--describe", "action", flag_value="describe", help="List configs for the given entity.")
@click.option("--alter", "action", flag_value="alter", help="Alter the configuration for the entity.")
@click.option(
    "--all",
    "include_all",
    is_flag=True,
    help="List all configs for the given entity, including static configs if available.",
)
@click.option(
    "--entity-type",
    type=click.Choice(["topics", "brokers"]),
    metavar="TYPE",
    help="Type of entity (topics/brokers).",
)
@click.option("--entity-name", metavar="NAME", help="Name of entity (topic name/broker id).")
@click.option(
    "--topic",
    metavar="TOPIC",
    help="The topic's name (shorthand for --entity-type topics --entity-name TOPIC).",
)
@click.option(
    "--broker",
    metavar="BROKER_ID",
    help="The broker's ID (shorthand for --entity-type brokers --entity-name ID).",
)
@click.option(
    "--add-config",
    metavar="K=V,...",
    help="Key Value pairs of configs to add. Square brackets can be used to group values which "
    "contain commas: 'k1=v1,k2=[v1,v2,v2],k3=v3'.",
)
@click.option("--delete-config", metavar="K1,K2", help="config keys to remove 'k1,k2'")
@handle_errors
def configs(
    bootstrap_server: str,
    action: str | None,
    include_all: bool,
    entity_type: str | None,
    entity_name: str | None,
    topic: str | None,
    broker: str | None,
    add_config: str | None,
    delete_config: str | None,
) -> None:
    """Add, delete or describe configurations of topics and brokers."""
    if action is None:
        raise click.UsageError("Command must include exactly one action: --describe, --alter")
    if topic is not None or broker is not None:
        if entity_type or entity_name or (topic is not None and broker is not None):
            raise click.UsageError(
                "Only one entity is allowed: --entity-type/--entity-name, --topic or --broker"
            )
        entity_type, entity_name = ("topics", topic) if topic is not None else ("brokers", broker)
    if entity_type is None:
        raise click.UsageError("--entity-type must be specified")
    if action == "alter":
        if not entity_name:
            raise click.UsageError("an entity name must be specified with --alter")
        if not add_config and not delete_config:
            raise click.UsageError(
                "At least one of --add-config or --delete-config must be specified with --alter"
            )
    elif add_config or delete_config:
        raise click.UsageError("--add-config and --delete-config can only be used with --alter")
    if entity_type == "brokers" and entity_name is not None and not entity_name.isdigit():
        raise fail(f"The entity name for brokers must be a valid integer broker id, found: {entity_name}")

    admin = make_admin(bootstrap_server)
    try:
        if action == "describe":
            if entity_name is not None:
                names = [entity_name]
            elif entity_type == "topics":
                names = sorted(admin.list_topics())
            else:
                names = [str(b.node_id) for b in admin._manager.cluster.brokers()]  # noqa: SLF001
            if entity_type == "topics" and entity_name is not None and entity_name not in admin.list_topics():
                raise fail(f"Topic '{entity_name}' does not exist")
            _describe(admin, entity_type, names, include_all)
        else:
            assert entity_name is not None
            add = parse_add_config(add_config or "")
            delete = [k.strip() for k in (delete_config or "").split(",") if k.strip()]
            _alter(admin, entity_type, entity_name, add, delete)
    finally:
        admin.close()
