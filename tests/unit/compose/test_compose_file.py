"""compose/ is validated here (no Docker engine runs): by docker-compose itself, and against
the project's own defaults so the two never drift apart."""

from __future__ import annotations

import shutil
import subprocess
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
    assert "password" not in text.lower().replace("clickhouse_password", "")


def test_canary_needs_only_kafka(resolved: dict[str, Any]) -> None:
    """The canary publishes to Kafka and the sink stores its records: no ClickHouse dependency."""
    canary = resolved["services"]["canary"]
    assert canary["command"][:2] == ["qloop", "canary"]
    assert set(canary["depends_on"]) == {"kafka"}
