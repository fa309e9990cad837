"""``pykafka-broker topics``: Kafka's kafka-topics.sh (TopicCommand) over the wire.

Output follows Kafka 4.x: ``--list`` one name per line; ``--describe`` a topic line
``Topic: X<TAB>TopicId: ...<TAB>PartitionCount: N<TAB>ReplicationFactor: R<TAB>Configs: k=v,...``
(only configs whose source is not the default) then one line per partition
``<TAB>Topic: X<TAB>Partition: P<TAB>Leader: L<TAB>Replicas: ...<TAB>Isr: ...<TAB>Elr: N/A``
``<TAB>LastKnownElr: N/A``
(ELR comes only from DescribeTopicPartitions, which this broker does not serve, so Kafka's tool would
print N/A too).
"""

from __future__ import annotations

import base64
import uuid
from typing import Any

import click

from pykafka_broker.cli.common import (
    INTERNAL_TOPICS,
    bootstrap_option,
    describe_error,
    fail,
    handle_errors,
    make_admin,
    parse_props,
    topic_filter,
)

_TOPIC_HELP = (
    "The topic to create, alter, describe or delete. It also accepts a regular expression, except "
    "for --create option. Put topic name in double quotes and use the '\\' prefix to escape regular "
    'expression symbols; e.g. "test\\.topic".'
)


def kafka_uuid(topic_id: Any) -> str:
    """Kafka prints a Uuid as URL-safe base64 without padding (Uuid.toString)."""
    if topic_id is None:
        return "AAAAAAAAAAAAAAAAAAAAAA"
    raw = topic_id.bytes if isinstance(topic_id, uuid.UUID) else uuid.UUID(str(topic_id)).bytes
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _matching_topics(admin: Any, pattern: str | None, exclude_internal: bool) -> list[str]:
    allowed = topic_filter(pattern)
    names = sorted(admin.list_topics())
    return [n for n in names if allowed(n) and not (exclude_internal and n in INTERNAL_TOPICS)]


def _ensure_exists(found: list[str], requested: str | None, if_exists: bool) -> None:
    if requested and not if_exists and not found:
        raise fail(f"Topic '{requested}' does not exist as expected")


def _topic_error(resp: dict[str, Any], key: str = "topics") -> None:
    from kafka import errors as kerr

    for t in resp.get(key, []):
        code = t.get("error_code", 0)
        if code:
            err = kerr.for_code(code)
            raise fail(f"{err.__name__}: {t.get('error_message') or err.description}")


def _create(
    admin: Any,
    topic: str,
    partitions: int | None,
    rf: int | None,
    configs: dict[str, str],
    if_not_exists: bool,
) -> None:
    from kafka import errors as kerr

    if rf is not None and not 1 <= rf <= 32767:
        raise fail("The replication factor must be between 1 and 32767 inclusive")
    if partitions is not None and partitions < 1:
        raise fail("The partitions must be greater than 0")
    spec = {
        "num_partitions": partitions if partitions is not None else -1,
        "replication_factor": rf if rf is not None else -1,
        "configs": configs,
    }
    resp = admin.create_topics({topic: spec}, raise_errors=False)
    for t in resp.get("topics", []):
        if t.get("error_code") == kerr.TopicAlreadyExistsError.errno and if_not_exists:
            return
    _topic_error(resp)
    if "." in topic or "_" in topic:
        click.echo(
            "WARNING: Due to limitations in metric names, topics with a period ('.') or underscore "
            "('_') could collide. To avoid issues it is best to use either, but not both."
        )
    click.echo(f"Created topic {topic}.")


def _config_string(admin: Any, topic: str) -> str:
    from kafka.admin import ConfigResource

    described = admin.describe_configs([ConfigResource("TOPIC", topic)], config_filter="all")
    entries = described.get("topic", {}).get(topic, {})
    return ",".join(
        f"{name}={e.get('value')}"
        for name, e in entries.items()
        if e.get("config_source") not in ("DEFAULT_CONFIG", None)
    )


def _ids(nodes: list[int] | None) -> str:
    return ",".join(str(n) for n in nodes or [])


def _describe(admin: Any, topics: list[str], only_overrides: bool) -> None:
    if not topics:
        return
    for td in admin.describe_topics(topics):
        if td.get("error_code"):
            from kafka import errors as kerr

            raise fail(f"{kerr.for_code(td['error_code']).__name__}: topic {td.get('name')}")
        name = td["name"]
        parts = sorted(td.get("partitions", []), key=lambda p: p["partition_index"])
        configs = _config_string(admin, name)
        if only_overrides and not configs:
            continue
        rf = len(parts[0].get("replica_nodes") or []) if parts else 0
        click.echo(
            f"Topic: {name}\tTopicId: {kafka_uuid(td.get('topic_id'))}\tPartitionCount: {len(parts)}"
            f"\tReplicationFactor: {rf}\tConfigs: {configs}"
        )
        if only_overrides:
            continue
        for p in parts:
            leader = p.get("leader_id", -1)
            click.echo(
                f"\tTopic: {name}\tPartition: {p['partition_index']}"
                f"\tLeader: {leader if leader is not None and leader >= 0 else 'none'}"
                f"\tReplicas: {_ids(p.get('replica_nodes'))}\tIsr: {_ids(p.get('isr_nodes'))}"
                f"\tElr: N/A\tLastKnownElr: N/A"
            )


@click.command("topics", context_settings={"help_option_names": ["-h", "--help"]})
@bootstrap_option()
@click.option("--create", "action", flag_value="create", help="Create a new topic.")
@click.option("--list", "action", flag_value="list", help="List all available topics.")
@click.option("--describe", "action", flag_value="describe", help="List details for the given topics.")
@click.option("--delete", "action", flag_value="delete", help="Delete a topic.")
@click.option(
    "--alter",
    "action",
    flag_value="alter",
    help="Alter the number of partitions and replica assignment. (To alter topic configurations, "
    "the configs command can be used.)",
)
@click.option("--topic", metavar="TOPIC", help=_TOPIC_HELP)
@click.option(
    "--partitions",
    type=int,
    metavar="NUM",
    help="The number of partitions for the topic being created or altered. If not supplied with "
    "--create, the topic uses the cluster default. (WARNING: If partitions are increased for a "
    "topic that has a key, the partition logic or ordering of the messages will be affected).",
)
@click.option(
    "--replication-factor",
    type=int,
    metavar="RF",
    help="The replication factor for each partition in the topic being created. If not supplied, "
    "the topic uses the cluster default.",
)
@click.option(
    "--config",
    "configs",
    multiple=True,
    metavar="NAME=VALUE",
    help="A topic configuration override for the topic being created. Repeatable. It is supported "
    "only in combination with --create. (To alter topic configurations, the configs command "
    "can be used.)",
)
@click.option(
    "--if-exists",
    is_flag=True,
    help="If set when altering or deleting or describing topics, the action will only execute if "
    "the topic exists.",
)
@click.option(
    "--if-not-exists",
    is_flag=True,
    help="If set when creating topics, the action will only execute if the topic does not already exist.",
)
@click.option(
    "--exclude-internal",
    is_flag=True,
    help="Exclude internal topics when listing or describing topics. By default, the internal "
    "topics are included.",
)
@click.option(
    "--topics-with-overrides",
    is_flag=True,
    help="If set when describing topics, only show topics that have overridden configs.",
)
@handle_errors
def topics(
    bootstrap_server: str,
    action: str | None,
    topic: str | None,
    partitions: int | None,
    replication_factor: int | None,
    configs: tuple[str, ...],
    if_exists: bool,
    if_not_exists: bool,
    exclude_internal: bool,
    topics_with_overrides: bool,
) -> None:
    """Create, delete, describe, or change a topic."""
    if action is None:
        raise click.UsageError(
            "Command must include exactly one action: --list, --describe, --create, --alter or --delete"
        )
    if action not in ("list", "describe") and not topic:
        raise click.UsageError('Missing required argument "[topic]"')
    if configs and action != "create":
        raise click.UsageError('Option "[config]" can\'t be used with option "[' + action + ']"')
    if partitions is not None and action not in ("create", "alter"):
        raise click.UsageError('Option "[partitions]" can\'t be used with option "[' + action + ']"')
    if replication_factor is not None and action != "create":
        raise click.UsageError('Option "[replication-factor]" can\'t be used with option "[' + action + ']"')
    if if_not_exists and action != "create":
        raise click.UsageError('Option "[if-not-exists]" can\'t be used with option "[' + action + ']"')
    if if_exists and action not in ("alter", "delete", "describe"):
        raise click.UsageError('Option "[if-exists]" can\'t be used with option "[' + action + ']"')
    if action == "alter" and partitions is None:
        raise click.UsageError('Missing required argument "[partitions]"')
    config_map = parse_props(configs, "topic config")

    admin = make_admin(bootstrap_server)
    try:
        if action == "create":
            assert topic is not None
            _create(admin, topic, partitions, replication_factor, config_map, if_not_exists)
        elif action == "list":
            for name in _matching_topics(admin, topic, exclude_internal):
                click.echo(name)
        elif action == "describe":
            found = _matching_topics(admin, topic, exclude_internal)
            _ensure_exists(found, topic, if_exists)
            _describe(admin, found, topics_with_overrides)
        elif action == "delete":
            found = _matching_topics(admin, topic, False)
            _ensure_exists(found, topic, if_exists)
            if found:
                _topic_error(admin.delete_topics(found, raise_errors=False))
        elif action == "alter":
            found = _matching_topics(admin, topic, False)
            _ensure_exists(found, topic, if_exists)
            if found:
                _alter_partitions(admin, found, int(partitions or 0))
    finally:
        admin.close()


def _alter_partitions(admin: Any, names: list[str], count: int) -> None:
    from kafka import errors as kerr

    try:
        resp = admin.create_partitions({name: count for name in names}, raise_errors=False)
    except kerr.IncompatibleBrokerVersion as exc:
        raise fail(f"The broker does not support CreatePartitions: {describe_error(exc)}") from None
    _topic_error(resp.to_dict() if hasattr(resp, "to_dict") else resp, "results")
