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
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from pipeline_support import sampler_circuit

from processors import make_template
from schemas import AvroCodec, DeadLetter, ResultStatus
from streams.client import QloopClient, new_update
from streams.config import Settings
from streams.kafka.topics import TopicNames
from streams.local import security
from streams.local.broker import LocalBroker, free_port
from streams.local.stack import LocalStack

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


def kafka_conf(env: dict[str, str]) -> dict[str, str]:
    """librdkafka settings from a principal's env file (another team's client would do this)."""
    return {
        "bootstrap.servers": env["QLOOP_KAFKA_BOOTSTRAP"],
        "security.protocol": "SASL_SSL",
        "sasl.mechanisms": security.MECHANISM,
        "sasl.username": env["QLOOP_KAFKA_SASL_USERNAME"],
        "sasl.password": env["QLOOP_KAFKA_SASL_PASSWORD"],
        "ssl.ca.location": env["QLOOP_KAFKA_SSL_CA_LOCATION"],
    }


def settings_for(env: dict[str, str], data_dir: Path, **extra: object) -> Settings:
    values: dict[str, object] = {
        k.removeprefix("QLOOP_").lower(): v for k, v in env.items() if k.startswith("QLOOP_")
    }
    return Settings(**{**values, "data_dir": data_dir, "topic_prefix": PREFIX, **extra})


def read_all(conf: dict[str, str], topic: str) -> list[bytes]:
    consumer = Consumer({**conf, "group.id": f"qloop-client-{uuid.uuid4().hex}"})
    consumer.assign([TopicPartition(topic, p, 0) for p in range(3)])
    values: list[bytes] = []
    idle = 0
    while idle < 4:
        msg = consumer.poll(0.5)
        if msg is None or msg.error() is not None:
            idle += 1
            continue
        idle = 0
        values.append(msg.value())
    consumer.close()
    return values


def test_a_tenant_is_who_it_authenticates_as(secured: LocalBroker, tmp_path: Path) -> None:
    """Multi-tenant mode: own topics per tenant, the tenant taken from the topic, ACLs between."""
    worker = settings_for(
        client_env(secured, security.WORKER),
        tmp_path / "stack",
        tenant_topics=True,
        tenants=("acme", "globex"),
        max_wait_ms=100,
    )
    acme_env = client_env(secured, "tenant-acme")
    acme = settings_for(acme_env, tmp_path / "acme")
    assert acme.tenant_topics and acme.tenant == "acme"  # from the env file
    names = TopicNames(PREFIX)
    template = make_template(sampler_circuit(2, prefix="mt"), "multi-tenant")
    codec = AvroCodec()
    with LocalStack(worker) as stack:
        with QloopClient(acme) as client:
            client.register_template(template)
            mine = new_update(template, [0.2] * 4, experiment_id="mt", tenant="acme", shots=64)
            (result,) = client.evaluate([mine], 120)
        assert result.status is ResultStatus.SUCCEEDED and result.tenant == "acme"

        # Through its own topic, acme names globex in the payload: refused, nobody charged.
        posing = new_update(template, [0.3] * 4, experiment_id="mt", tenant="globex", shots=64)
        producer = Producer(kafka_conf(acme_env))
        producer.produce(names.tenant_updates("acme"), codec.encode(posing), key=b"k")
        assert producer.flush(30) == 0
        worker_conf = kafka_conf(client_env(secured, security.WORKER))

        def refusal() -> list[DeadLetter]:
            letters = [
                codec.decode(DeadLetter, v) for v in read_all(worker_conf, names.dead_letters)
            ]
            return [d for d in letters if d.event_id == posing.event_id]

        deadline = time.monotonic() + 60
        while not refusal() and time.monotonic() < deadline:
            time.sleep(0.5)
        (letter,) = refusal()
        assert letter.error_code == "tenant_not_allowed" and "'acme'" in letter.error_message
        stack.check()
    globex_results = read_all(worker_conf, names.tenant_results("globex"))
    assert globex_results == []

    # ACLs: acme can neither send as globex nor read globex's results, nor forge results.
    delivered: list[object] = []
    producer = Producer({**kafka_conf(acme_env), "message.timeout.ms": 10_000})
    for topic in (names.tenant_updates("globex"), names.tenant_results("acme"), names.results):
        producer.produce(topic, b"x", on_delivery=lambda err, _msg: delivered.append(err))
    producer.flush(30)
    assert len(delivered) == 3
    assert all(e is not None and "TOPIC_AUTHORIZATION_FAILED" in str(e) for e in delivered)
    # Reading: the broker does not even describe these topics to acme.
    consumer = Consumer({**kafka_conf(acme_env), "group.id": f"qloop-client-{uuid.uuid4().hex}"})
    for topic in (names.tenant_results("globex"), names.results, names.ledger):
        error = consumer.list_topics(topic, timeout=10).topics[topic].error
        assert error is not None and error.name() == "TOPIC_AUTHORIZATION_FAILED", topic
    own = consumer.list_topics(names.tenant_results("acme"), timeout=10)
    assert own.topics[names.tenant_results("acme")].error is None
    consumer.close()


def test_only_the_approver_principal_writes_decisions(secured: LocalBroker) -> None:
    """Approvals are decided by ``qloop-approver``: it reads the log and is named in decisions;
    a tenant's client cannot append a forged decision (the broker's ACLs refuse it)."""
    assert qloop(client_env(secured, security.WORKER), "topics", "create").returncode == 0
    approver = client_env(secured, security.APPROVER)
    listed = qloop(approver, "approvals", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == []
    unknown = qloop(approver, "approvals", "approve", "no-such-request")
    assert unknown.returncode == 1
    assert unknown.stderr.strip().splitlines()[-1] == (
        "error: no approval request 'no-such-request' (qloop approvals list)"
    )

    errors: list[str] = []
    producer = Producer(kafka_conf(client_env(secured, "tenant-acme")))
    producer.produce(
        TopicNames(PREFIX).approvals,
        b"forged decision",
        key=b"req-1",
        on_delivery=lambda err, _msg: errors.append(str(err)) if err else None,
    )
    producer.flush(30)
    assert errors and "TOPIC_AUTHORIZATION_FAILED" in errors[0]
    admin = AdminClient(kafka_conf(approver))
    topic = TopicNames(PREFIX).approvals
    assert topic in admin.list_topics(topic, timeout=30).topics
