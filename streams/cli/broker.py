"""Local infrastructure commands: the project-managed broker, topics and the worker."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from streams.cli.cluster import cluster_start, cluster_status
from streams.cli.output import LogFormatOpt, console, fail
from streams.config import Settings, load_settings
from streams.kafka.probe import check_kafka
from streams.local.broker import BrokerError, LocalBroker, fetch_jars
from streams.local.cluster import LocalCluster

broker_app = typer.Typer(
    help="The project-managed Kafka broker (KRaft, loopback).", no_args_is_help=True
)
topics_app = typer.Typer(help="Topics, created from one definition.", no_args_is_help=True)


class Security(StrEnum):
    """How the local broker listens."""

    none = "none"
    sasl_ssl = "sasl_ssl"


def _settings(data_dir: Path | None = None, port: int | None = None) -> Settings:
    return load_settings(data_dir=data_dir, kafka_port=port)


DataDirOpt = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Broker data dir (default: <QLOOP_DATA_DIR>/kafka)."),
]
PortOpt = Annotated[int | None, typer.Option("--port", help="Broker port (default 9092).")]


def _broker(data_dir: Path | None, port: int | None, security: str | None = None) -> LocalBroker:
    settings = _settings(port=port)
    return LocalBroker(
        data_dir or settings.kafka_data_dir,
        port=settings.kafka_port,
        security=security,
        tenants=settings.tenants,
        topic_prefix=settings.topic_prefix,
    )


SecurityOpt = Annotated[
    Security,
    typer.Option(
        "--security",
        help="none: PLAINTEXT on loopback. sasl_ssl: TLS with a local CA, SCRAM users, ACLs; "
        "writes <data-dir>/security/clients/<principal>.env for each principal.",
    ),
]


@broker_app.command("fetch")
def broker_fetch() -> None:
    """Resolve the Kafka jars from Maven Central into the cache (done by start too)."""
    try:
        libs = fetch_jars()
    except BrokerError as exc:
        raise fail(str(exc)) from None
    console.print(f"Kafka runtime ready in {libs}")


NodesOpt = Annotated[
    int,
    typer.Option(
        "--nodes",
        min=1,
        max=9,
        help="Combined KRaft nodes. More than one starts a local cluster on ports PORT, PORT+1, "
        "...: replication factor and min.insync.replicas follow from its size.",
    ),
]


@broker_app.command("start")
def broker_start(
    port: PortOpt = None,
    data_dir: DataDirOpt = None,
    security: SecurityOpt = Security.none,
    nodes: NodesOpt = 1,
) -> None:
    """Start the broker (or a local cluster) and wait until it answers a metadata request."""
    if nodes > 1:
        settings = _settings(port=port)
        cluster_start(data_dir or settings.kafka_data_dir, settings.kafka_port, security, nodes)
        return
    broker = _broker(data_dir, port, security.value)
    try:
        with console.status(f"starting Kafka on 127.0.0.1:{broker.port} …"):
            status = broker.start()
    except BrokerError as exc:
        raise fail(str(exc)) from None
    console.print(
        f"broker running: pid {status.pid}, bootstrap 127.0.0.1:{status.port}, "
        f"security {broker.security}, log {broker.log_path}"
    )
    if broker.security != "none":
        console.print(
            f"client settings: {broker.data_dir / 'security' / 'clients'}/<principal>.env"
        )


@broker_app.command("stop")
def broker_stop(data_dir: DataDirOpt = None) -> None:
    """Stop the broker, or every node of a local cluster (SIGTERM, then SIGKILL)."""
    cluster = LocalCluster.existing(data_dir or _settings().kafka_data_dir)
    if cluster is not None:
        stopped = cluster.stop()
        console.print(f"cluster stopped ({stopped} node(s) were running)")
        return
    broker = _broker(data_dir, None)
    console.print("broker stopped" if broker.stop() else "no broker was running")


@broker_app.command("status")
def broker_status(
    data_dir: DataDirOpt = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Show whether the broker (or cluster) runs and answers; exit 3 when it is not running."""
    cluster = LocalCluster.existing(data_dir or _settings().kafka_data_dir)
    if cluster is not None:
        cluster_status(cluster, as_json)
        return
    status = _broker(data_dir, None).status()
    if as_json:
        print(
            json.dumps(
                {
                    "running": status.running,
                    "answering": status.answering,
                    "pid": status.pid,
                    "port": status.port,
                    "security": _broker(data_dir, None).security,
                    "data_dir": str(status.data_dir),
                }
            )
        )
    elif status.running:
        state = "answering" if status.answering else "not answering yet"
        mode = _broker(data_dir, None).security
        console.print(f"running: pid {status.pid}, port {status.port}, security {mode}, {state}")
    else:
        console.print(f"not running (data dir {status.data_dir})")
    if not status.running:
        raise typer.Exit(3)


@broker_app.command("secrets")
def broker_secrets(
    out: Annotated[Path, typer.Option("--out", help="Directory for the CA, key and .env file.")],
    hostname: Annotated[
        list[str], typer.Option("--hostname", help="A name clients reach the broker by.")
    ] = ["kafka", "localhost"],  # noqa: B006 - typer reads the default, never mutates it
    mount: Annotated[
        str, typer.Option(help="Where the broker container sees these files.")
    ] = "/etc/kafka/qloop",
) -> None:
    """Generate what a secured cluster needs: CA, broker key and certificate, passwords.

    For compose's secured variant: ``ca.pem`` and ``broker.pem`` go to the broker, and ``.env``
    (mode 0600) holds one QLOOP_*_PASSWORD per principal for compose to substitute.
    """
    from streams.local import security

    settings = load_settings()
    files = security.prepare(out, settings.tenants, tuple(hostname))
    lines = [
        f"QLOOP_{p.removeprefix('qloop-').upper().replace('-', '_')}_PASSWORD={pw}\n"
        for p, pw in sorted(files.passwords.items())
    ]
    env = files.root / ".env"
    env.write_text("".join(lines))
    env.chmod(0o600)
    # The broker container's own admin client (its healthcheck) reads this.
    admin = files.root / "admin.properties"
    admin.write_text(
        "security.protocol=SASL_SSL\nsasl.mechanism=PLAIN\n"
        "sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required "
        f'username="qloop-admin" password="{files.passwords["qloop-admin"]}";\n'
        f"ssl.truststore.type=PEM\nssl.truststore.location={mount}/ca.pem\n"
    )
    admin.chmod(0o600)
    console.print(f"wrote {files.ca}, {files.keystore}, {admin} and {env}")


@broker_app.command("acls")
def broker_acls() -> None:
    """Grant qloop's principals their ACLs under the topic prefix (run as a super user)."""
    from streams.local import security

    settings = load_settings()
    check_kafka(settings)
    count = security.apply_acls(
        settings.librdkafka_config(), settings.topic_prefix, settings.tenants
    )
    console.print(f"{count} ACL bindings in place under {settings.topic_prefix}")


@topics_app.command("create")
def topics_create(
    prefix: Annotated[str | None, typer.Option(help="Topic prefix (default qloop.).")] = None,
    partitions: Annotated[int | None, typer.Option(help="Partitions per topic.")] = None,
) -> None:
    """Create every qloop topic idempotently."""
    from confluent_kafka import KafkaException

    from streams.kafka.topics import create_topics

    settings = load_settings(topic_prefix=prefix, topic_partitions=partitions)
    check_kafka(settings)
    try:
        outcome = create_topics(
            settings.librdkafka_config(),
            settings.topic_prefix,
            settings.topic_partitions,
            tenants=settings.topic_tenants,
            ledger_window_s=settings.ledger_window_s,
        )
    except KafkaException as exc:
        raise fail(f"could not create topics on {settings.bootstrap}: {exc}") from None
    for name, state in sorted(outcome.items()):
        console.print(f"{state:8} {name}")


@topics_app.command("list")
def topics_list() -> None:
    """List the qloop topics as the cluster has them; mark the ones it lacks."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    from streams.kafka.probe import with_client_logger
    from streams.kafka.topics import TOPIC_SPECS

    settings = load_settings()
    check_kafka(settings)
    admin = AdminClient(with_client_logger(settings.librdkafka_config()))
    try:
        present = admin.list_topics(timeout=10).topics
    except KafkaException as exc:
        raise fail(f"could not list topics on {settings.bootstrap}: {exc}") from None
    table = Table("topic", "record", "cleanup", "partitions", "on the cluster")
    missing = 0
    for spec in TOPIC_SPECS:
        name = settings.topic_prefix + spec.suffix
        found = present.get(name)
        missing += found is None
        table.add_row(
            name,
            spec.record.__name__ if spec.record else "(internal ledger)",
            spec.config()["cleanup.policy"],
            str(len(found.partitions) if found else spec.partitions or settings.topic_partitions),
            "yes" if found else "[bold red]missing[/] (qloop topics create)",
        )
    console.print(table)
    if missing:
        raise typer.Exit(1)


def worker_cmd(
    log_level: Annotated[str, typer.Option(help="Python log level.")] = "WARNING",
    metrics_port: Annotated[
        int | None,
        typer.Option(help="Serve Prometheus /metrics here (QLOOP_WORKER_METRICS_PORT)."),
    ] = None,
    log_format: Annotated[
        LogFormatOpt | None,
        typer.Option(help="json or console (default: console on a terminal, else json)."),
    ] = None,
) -> None:
    """Run a processing worker (faust): batch by topology, execute, publish results."""
    from streams.logs import configure_logging
    from streams.worker.app import run_worker

    configure_logging(log_level, log_format.value if log_format else None)
    from processors.errors import ConfigurationError
    from schemas import ContractError

    settings = load_settings(worker_metrics_port=metrics_port)
    settings.ensure_data_dir()
    try:
        run_worker(settings)
    except (ContractError, ConfigurationError) as exc:
        raise fail(f"refusing to start: {exc}") from None


__all__ = ["broker_app", "topics_app", "worker_cmd"]
