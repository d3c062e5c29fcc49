"""qloop on a SASL_SSL broker: TLS with a local CA, SCRAM users and the StandardAuthorizer.

One broker started with ``--security sasl_ssl`` serves the module. The worker's principal runs the
whole pipeline through its ACLs (not as the super user); wrong credentials, an untrusted CA and a
plaintext client are each refused, and the CLI says so in one line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from streams.local import security
from streams.local.broker import LocalBroker, free_port

pytestmark = pytest.mark.integration
PREFIX = f"sec{uuid.uuid4().hex[:6]}."
CHEMICAL_ACCURACY_HA = 1.6e-3


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker]:
    broker = LocalBroker(
        tmp_path_factory.mktemp("secured"),
        port=free_port(),
        security="sasl_ssl",
        tenants=("acme",),
        topic_prefix=PREFIX,
    )
    broker.start(timeout_s=120)
    try:
        yield broker
    finally:
        broker.stop()


def client_env(broker: LocalBroker, principal: str) -> dict[str, str]:
    """What ``clients/<principal>.env`` says, as a user would source it."""
    path = broker.data_dir / "security" / "clients" / f"{principal}.env"
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if line)
    return dict(pairs)


def qloop(env: dict[str, str], *args: str, timeout: int = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streams", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "QLOOP_TOPIC_PREFIX": PREFIX, **env},
        timeout=timeout,
    )


def test_status_names_the_security_mode(secured: LocalBroker) -> None:
    env = {"QLOOP_KAFKA_PORT": str(secured.port)}
    done = qloop(env, "broker", "status", "--json", "--data-dir", str(secured.data_dir))
    assert done.returncode == 0, done.stderr
    status = json.loads(done.stdout)
    assert status["security"] == "sasl_ssl" and status["answering"] is True


def test_the_worker_principal_runs_the_whole_loop(secured: LocalBroker, tmp_path: Path) -> None:
    env = {**client_env(secured, security.WORKER), "QLOOP_DATA_DIR": str(tmp_path)}
    done = qloop(env, "run", "vqe-h2", "--json", timeout=400)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout)
    assert out["error"] <= CHEMICAL_ACCURACY_HA
    assert out["results_stored"] == out["parameter_sets"]


def test_a_wrong_password_is_one_line(secured: LocalBroker, tmp_path: Path) -> None:
    env = {**client_env(secured, security.WORKER), "QLOOP_DATA_DIR": str(tmp_path)}
    env["QLOOP_KAFKA_SASL_PASSWORD"] = "not-the-password"  # noqa: S105
    done = qloop(env, "topics", "create")
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1
    assert len(lines) == 1 and "refused qloop" in lines[0], done.stderr
    assert "uthentication" in lines[0]


def test_an_untrusted_ca_is_one_line(secured: LocalBroker, tmp_path: Path) -> None:
    other = security.prepare(tmp_path / "other")  # another CA, valid but not the broker's
    env = {**client_env(secured, security.WORKER), "QLOOP_DATA_DIR": str(tmp_path)}
    env["QLOOP_KAFKA_SSL_CA_LOCATION"] = str(other.ca)
    done = qloop(env, "topics", "list")
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1
    assert len(lines) == 1 and "refused qloop" in lines[0], done.stderr
    assert "certificate verify failed" in lines[0]


def test_a_plaintext_client_cannot_connect(secured: LocalBroker, tmp_path: Path) -> None:
    admin = AdminClient({"bootstrap.servers": f"127.0.0.1:{secured.port}", "log_level": 0})
    with pytest.raises(Exception):  # noqa: B017, PT011 - any failure: it must not get metadata
        admin.list_topics(timeout=5)
    env = {"QLOOP_KAFKA_BOOTSTRAP": f"127.0.0.1:{secured.port}", "QLOOP_DATA_DIR": str(tmp_path)}
    done = qloop(env, "topics", "create")
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1 and len(lines) == 1 and "refused qloop" in lines[0], done.stderr
    assert "QLOOP_KAFKA_SECURITY_PROTOCOL" in lines[0]


def test_a_tenant_cannot_act_as_the_worker(secured: LocalBroker, tmp_path: Path) -> None:
    """ACLs: a tenant may produce updates but not write results or read the ledger."""
    from confluent_kafka import Consumer, Producer, TopicPartition

    env = client_env(secured, "tenant-acme")
    conf = {
        "bootstrap.servers": env["QLOOP_KAFKA_BOOTSTRAP"],
        "security.protocol": "SASL_SSL",
        "sasl.mechanisms": security.MECHANISM,
        "sasl.username": env["QLOOP_KAFKA_SASL_USERNAME"],
        "sasl.password": env["QLOOP_KAFKA_SASL_PASSWORD"],
        "ssl.ca.location": env["QLOOP_KAFKA_SSL_CA_LOCATION"],
    }
    worker_env = {**client_env(secured, security.WORKER), "QLOOP_DATA_DIR": str(tmp_path)}
    assert qloop(worker_env, "topics", "create").returncode == 0
    delivered: list[object] = []

    def report(err: object, _msg: object) -> None:
        delivered.append(err)

    producer = Producer({**conf, "message.timeout.ms": 10_000})
    producer.produce(f"{PREFIX}parameter-updates", b"x", on_delivery=report)
    producer.produce(f"{PREFIX}job-results", b"forged", on_delivery=report)
    producer.flush(20)
    allowed, forged = delivered
    assert allowed is None
    assert forged is not None and "TOPIC_AUTHORIZATION_FAILED" in str(forged)

    consumer = Consumer({**conf, "group.id": f"qloop-client-{uuid.uuid4().hex}"})
    consumer.assign([TopicPartition(f"{PREFIX}ledger", 0, 0)])
    msg = consumer.poll(10)
    consumer.close()
    assert msg is not None and msg.error() is not None
    assert "TOPIC_AUTHORIZATION_FAILED" in msg.error().name()
