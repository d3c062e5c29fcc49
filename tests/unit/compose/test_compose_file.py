"""compose/ is validated here (no Docker engine runs): by docker-compose itself, and against
the project's own defaults so the two never drift apart."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.main import get_command

import streams.cli.ops  # noqa: F401 - registers the operational commands
from streams.cli import app
from streams.config import Settings
from streams.local.broker import KAFKA_VERSION

COMPOSE = Path(__file__).resolve().parents[3] / "compose" / "docker-compose.yml"


@pytest.fixture(scope="module")
def resolved() -> dict[str, Any]:
    tool = shutil.which("docker-compose")
    assert tool, "docker-compose is missing: `make test` installs Debian's docker-compose"
    proc = subprocess.run(
        [tool, "-f", str(COMPOSE), "config"],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stderr
    return yaml.safe_load(proc.stdout)  # type: ignore[no-any-return]


def qloop_services(resolved: dict[str, Any]) -> dict[str, Any]:
    return {n: s for n, s in resolved["services"].items() if s.get("image") == "qloop:latest"}


def test_stack_has_kafka_clickhouse_workers_sink(resolved: dict[str, Any]) -> None:
    assert {"kafka", "clickhouse", "worker", "sink", "grafana"} <= set(resolved["services"])
    assert resolved["services"]["kafka"]["image"] == f"apache/kafka:{KAFKA_VERSION}"


def test_every_qloop_variable_is_a_setting_with_matching_defaults(resolved: dict[str, Any]) -> None:
    fields = Settings.model_fields
    defaults = Settings()
    for name, service in qloop_services(resolved).items():
        for var, value in service["environment"].items():
            assert var.startswith("QLOOP_"), (name, var)
            field = var.removeprefix("QLOOP_").lower()
            assert field in fields, f"{name}: {var} is not a qloop setting"
            if field in {
                "topic_prefix",
                "topic_partitions",
                "max_batch",
                "max_wait_ms",
                "max_in_flight",
            }:
                assert str(getattr(defaults, field)) == str(value), (var, value)


def test_service_commands_exist_in_the_cli(resolved: dict[str, Any]) -> None:
    cli = get_command(app)
    for name, service in qloop_services(resolved).items():
        argv = service["command"]
        assert argv[0] == "qloop", name
        group: Any = cli
        for word in argv[1:]:
            if word.startswith("-"):
                break
            group = group.commands[word] if hasattr(group, "commands") else group
        assert group is not cli, f"{name}: {argv} names no qloop command"


def test_no_secret_is_written_into_the_file() -> None:
    text = COMPOSE.read_text()
    assert "QLOOP_IBM_TOKEN: ${QLOOP_IBM_TOKEN:-}" in text
    # Passwords only ever come from the environment: no "password: <literal>" in the file.
    without_vars = re.sub(r"\$\{[A-Z_]+(:-[^}]*)?\}|[A-Z_]*PASSWORD", "", text)
    assert "password" not in without_vars.lower()


def test_canary_needs_only_kafka(resolved: dict[str, Any]) -> None:
    """The canary publishes to Kafka and the sink stores its records: no ClickHouse dependency."""
    canary = resolved["services"]["canary"]
    assert canary["command"][:2] == ["qloop", "canary"]
    assert set(canary["depends_on"]) == {"kafka"}


ROOT = COMPOSE.parents[1]


def test_long_running_qloop_services_have_healthchecks_on_what_the_code_writes(
    resolved: dict[str, Any],
) -> None:
    from streams.sink.launch import READY_FILE as SINK_READY
    from streams.worker.app import READY_FILE as WORKER_READY

    services = resolved["services"]
    data_dir = services["worker"]["environment"]["QLOOP_DATA_DIR"]
    assert services["worker"]["healthcheck"]["test"] == [
        "CMD",
        "test",
        "-f",
        f"{data_dir}/{WORKER_READY}",
    ]
    assert services["sink"]["healthcheck"]["test"] == [
        "CMD",
        "test",
        "-f",
        f"{data_dir}/{SINK_READY}",
    ]
    for name in ("canary", "kafka", "clickhouse", "grafana"):
        assert services[name].get("healthcheck"), f"{name} has no healthcheck"


def test_the_runtime_user_owns_the_data_dir(resolved: dict[str, Any]) -> None:
    lines = (ROOT / "compose" / "Dockerfile").read_text().splitlines()
    data_dir = resolved["services"]["worker"]["environment"]["QLOOP_DATA_DIR"]
    user = next(i for i, line in enumerate(lines) if line.startswith("USER "))
    runtime = lines[user].split()[1]
    owned = [i for i, line in enumerate(lines) if "chown" in line and data_dir in line]
    assert owned and owned[-1] < user, "the data dir is not given to the runtime user"
    assert f"chown {runtime}:" in lines[owned[-1]]


def test_kafka_advertises_a_host_listener_and_writes_to_its_volume(
    resolved: dict[str, Any],
) -> None:
    kafka = resolved["services"]["kafka"]
    env = kafka["environment"]
    advertised = dict(item.split("://") for item in env["KAFKA_ADVERTISED_LISTENERS"].split(","))
    assert advertised["INTERNAL"] == "kafka:9092"
    assert advertised["EXTERNAL"].startswith("localhost:")
    external_port = int(advertised["EXTERNAL"].split(":")[1])
    # Debian's docker-compose prints ports in the short form host_ip:published:target.
    ports = [str(p).removesuffix("/tcp").split(":") for p in kafka["ports"]]
    assert ports == [["127.0.0.1", str(external_port), str(external_port)]]
    mounts = {str(v).split(":")[1] if isinstance(v, str) else v["target"] for v in kafka["volumes"]}
    assert env["KAFKA_LOG_DIRS"] in mounts


def test_grafana_reads_with_a_read_only_user() -> None:
    source = yaml.safe_load(
        (ROOT / "compose/grafana/provisioning/datasources/clickhouse.yml").read_text()
    )["datasources"][0]
    user = source["jsonData"]["username"]
    init = (ROOT / "compose/clickhouse/initdb/analyst.sh").read_text()
    assert f"CREATE USER IF NOT EXISTS {user}" in init
    assert "readonly = 1" in init
    grants = [line for line in init.splitlines() if line.startswith("GRANT")]
    assert grants == [f"GRANT SELECT ON qloop.* TO {user};"]


def test_images_are_pinned(resolved: dict[str, Any]) -> None:
    for name, service in resolved["services"].items():
        image = service.get("image", "")
        if image == "qloop:latest":  # built from this checkout
            continue
        assert ":" in image and not image.endswith(":latest"), f"{name}: {image} is not pinned"


@pytest.fixture(scope="module")
def secure(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    """The secured variant resolved with the secrets `qloop broker secrets` writes."""
    out = tmp_path_factory.mktemp("secrets")
    made = subprocess.run(
        [sys.executable, "-m", "streams", "broker", "secrets", "--out", str(out)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    tool = shutil.which("docker-compose")
    assert tool
    proc = subprocess.run(
        [tool, "--env-file", str(out / "security" / ".env"), "-f", str(COMPOSE),
         "-f", str(COMPOSE.with_name("docker-compose.secure.yml")), "config"],
        capture_output=True, text=True, check=False, env={"PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return yaml.safe_load(proc.stdout), out / "security"


def test_secure_kafka_listens_with_sasl_ssl_and_denies_by_default(
    secure: tuple[dict[str, Any], Path],
) -> None:
    resolved, secrets = secure
    env = resolved["services"]["kafka"]["environment"]
    protocols = dict(
        item.split(":") for item in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(",")
    )
    assert protocols == {"CONTROLLER": "PLAINTEXT", "INTERNAL": "SASL_SSL", "EXTERNAL": "SASL_SSL"}
    assert "CONTROLLER://localhost:" in env["KAFKA_LISTENERS"]  # the container's own loopback
    assert env["KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND"] == "false"
    assert env["KAFKA_AUTHORIZER_CLASS_NAME"].endswith("StandardAuthorizer")
    mounted = {
        Path(env[k]).name for k in ("KAFKA_SSL_KEYSTORE_LOCATION", "KAFKA_SSL_TRUSTSTORE_LOCATION")
    }
    mounted.add("admin.properties")
    assert mounted <= {p.name for p in secrets.iterdir()}  # what `broker secrets` writes


def test_secure_qloop_services_log_in_as_their_principal(
    secure: tuple[dict[str, Any], Path],
) -> None:
    resolved, secrets = secure
    passwords = dict(
        line.split("=", 1) for line in (secrets / ".env").read_text().splitlines() if line
    )
    expected = {"worker": "qloop-worker", "sink": "qloop-sink", "topics": "qloop-worker",
                "canary": "qloop-worker", "acls": "qloop-admin"}  # fmt: skip
    for name, principal in expected.items():
        env = resolved["services"][name]["environment"]
        assert env["QLOOP_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL", name
        assert env["QLOOP_KAFKA_SASL_USERNAME"] == principal, name
        var = f"QLOOP_{principal.removeprefix('qloop-').upper()}_PASSWORD"
        assert env["QLOOP_KAFKA_SASL_PASSWORD"] == passwords[var], name
        ca = [v for v in resolved["services"][name]["volumes"] if str(v).endswith(":ro")]
        assert any(env["QLOOP_KAFKA_SSL_CA_LOCATION"] in str(v) for v in ca), name
    acls = resolved["services"]["acls"]
    assert acls["command"] == ["qloop", "broker", "acls"]
    cli = get_command(app)
    assert "acls" in cli.commands["broker"].commands  # type: ignore[attr-defined]
    jaas = resolved["services"]["kafka"]["environment"][
        "KAFKA_LISTENER_NAME_INTERNAL_PLAIN_SASL_JAAS_CONFIG"
    ]
    assert passwords["QLOOP_WORKER_PASSWORD"] in jaas


def test_prometheus_scrapes_the_ports_the_services_serve(resolved: dict[str, Any]) -> None:
    env = resolved["services"]["worker"]["environment"]
    assert env["QLOOP_METRICS_HOST"] == "0.0.0.0"  # noqa: S104 - reachable on the compose network
    config = yaml.safe_load((ROOT / "compose/prometheus/prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["qloop-worker"]["dns_sd_configs"][0]["port"] == int(
        env["QLOOP_WORKER_METRICS_PORT"]
    )
    assert jobs["qloop-sink"]["static_configs"][0]["targets"] == [
        f"sink:{env['QLOOP_SINK_METRICS_PORT']}"
    ]
    grafana = resolved["services"]["grafana"]
    assert any("/var/lib/grafana/dashboards" in str(v) for v in grafana["volumes"])
    provider = yaml.safe_load(
        (ROOT / "compose/grafana/provisioning/dashboards/qloop.yml").read_text()
    )
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"


@pytest.fixture(scope="module")
def cluster() -> dict[str, Any]:
    """The ClickHouse-cluster variant resolved over the base file."""
    tool = shutil.which("docker-compose")
    assert tool
    proc = subprocess.run(
        [tool, "-f", str(COMPOSE), "-f", str(COMPOSE.with_name("docker-compose.cluster.yml")),
         "config"],
        capture_output=True, text=True, check=False, env={"PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return yaml.safe_load(proc.stdout)  # type: ignore[no-any-return]


def _xml(name: str) -> Any:
    import xml.etree.ElementTree as ET

    return ET.parse(COMPOSE.parent / "clickhouse" / "cluster" / name).getroot()  # noqa: S314 - our own file


def test_the_cluster_variant_has_two_replicas_of_one_shard_and_keeper(
    cluster: dict[str, Any],
) -> None:
    services = cluster["services"]
    assert {"keeper", "clickhouse", "clickhouse-2"} <= set(services)
    remote = _xml("cluster.xml").find("remote_servers")
    (cluster_xml,) = list(remote)
    (shard,) = cluster_xml.findall("shard")
    hosts = [r.findtext("host") for r in shard.findall("replica")]
    assert hosts == ["clickhouse", "clickhouse-2"]
    assert shard.findtext("internal_replication") == "true"
    # Every qloop service that migrates or writes ClickHouse names that cluster.
    for name in ("worker", "sink", "canary"):
        assert services[name]["environment"]["QLOOP_CLICKHOUSE_CLUSTER"] == cluster_xml.tag
    # Each replica mounts the cluster and its own macros: same shard, distinct replica names.
    macros = {}
    for name, replica in (("clickhouse", "replica-1.xml"), ("clickhouse-2", "replica-2.xml")):
        mounts = " ".join(services[name]["volumes"])
        assert "cluster/cluster.xml:/etc/clickhouse-server/config.d/" in mounts
        assert f"cluster/{replica}:/etc/clickhouse-server/config.d/" in mounts
        macros[name] = (
            _xml(replica).findtext("macros/shard"),
            _xml(replica).findtext("macros/replica"),
        )
    assert macros == {"clickhouse": ("01", "clickhouse"), "clickhouse-2": ("01", "clickhouse-2")}
    # The servers find Keeper where it listens.
    node = _xml("cluster.xml").find("zookeeper/node")
    keeper = _xml("keeper.xml").find("keeper_server")
    assert (node.findtext("host"), node.findtext("port")) == ("keeper", keeper.findtext("tcp_port"))
    assert services["sink"]["depends_on"]["clickhouse-2"]["condition"] == "service_healthy"
