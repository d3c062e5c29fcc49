"""The secured local broker's files and the worker's Kafka credentials, without a broker."""

from __future__ import annotations

import ssl
from pathlib import Path

import faust
from cryptography import x509

from streams.config import Settings
from streams.local import security
from streams.worker.faust_app import faust_credentials


def test_prepare_makes_private_pki_and_a_password_per_principal(tmp_path: Path) -> None:
    files = security.prepare(tmp_path, tenants=("acme",))
    assert set(files.passwords) == {
        "qloop-admin", "qloop-worker", "qloop-sink", "qloop-approver", "qloop-controller",
        "tenant-acme",
    }  # fmt: skip
    assert len(set(files.passwords.values())) == len(files.passwords)
    for path in (files.ca, files.keystore, files.root / "passwords.json"):
        assert oct(path.stat().st_mode & 0o777) == "0o600", path
    chain = x509.load_pem_x509_certificates(files.keystore.read_bytes())
    names = chain[0].extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    again = security.prepare(tmp_path, tenants=("acme",))
    assert again.passwords == files.passwords  # stable across restarts of the same data dir


def test_the_broker_listens_with_sasl_ssl_only_and_denies_by_default(tmp_path: Path) -> None:
    files = security.prepare(tmp_path)
    lines = security.server_properties(files, 19092, 19093)
    props = dict(line.split("=", 1) for line in lines)
    assert props["listeners"] == "SASL_SSL://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert "PLAINTEXT:" not in props["listener.security.protocol.map"].replace("SASL_", "")
    assert props["allow.everyone.if.no.acl.found"] == "false"
    assert props["super.users"] == "User:qloop-admin;User:qloop-controller"
    scram = security.scram_format_args(files)
    assert "qloop-controller" not in " ".join(scram)  # PLAIN on the controller listener only
    assert scram.count("--add-scram") == len(files.passwords) - 1


def test_the_worker_gets_sasl_ssl_credentials(tmp_path: Path) -> None:
    files = security.prepare(tmp_path)
    env = security.client_env(files, security.WORKER, "127.0.0.1:19092")
    settings = Settings(
        data_dir=tmp_path,
        kafka_bootstrap=env["QLOOP_KAFKA_BOOTSTRAP"],
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism=env["QLOOP_KAFKA_SASL_MECHANISM"],
        kafka_sasl_username=env["QLOOP_KAFKA_SASL_USERNAME"],
        kafka_sasl_password=env["QLOOP_KAFKA_SASL_PASSWORD"],
        kafka_ssl_ca_location=env["QLOOP_KAFKA_SSL_CA_LOCATION"],
    )
    credentials = faust_credentials(settings)
    assert isinstance(credentials, faust.SASLCredentials)
    assert credentials.mechanism.value == "SCRAM-SHA-512"
    assert credentials.username == security.WORKER
    assert isinstance(credentials.ssl_context, ssl.SSLContext)
    assert faust_credentials(Settings(data_dir=tmp_path)) is None
