"""A secured local broker: SASL_SSL with SCRAM users, a local CA, the StandardAuthorizer, ACLs.

For tests and for people who want to try qloop as it runs in production. ``qloop broker start
--security sasl_ssl`` generates, once per data dir (``<data-dir>/security``, mode 0700):

* a CA and a broker certificate for ``127.0.0.1``/``localhost`` (the ``cryptography`` package;
  PEM files, which Kafka reads directly);
* a random password per principal, SCRAM-SHA-512 credentials created at format time;
* ``clients/<principal>.env``: the ``QLOOP_KAFKA_*`` variables that principal's clients need.

The broker listens with SASL_SSL only (the KRaft controller listener is SASL/PLAIN on loopback),
authorizes with the StandardAuthorizer (no ACL: denied) and gets ACLs per principal after start.
"""

from __future__ import annotations

import datetime as dt
import importlib
import ipaddress
import json
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ADMIN, WORKER, SINK, CONTROLLER = "qloop-admin", "qloop-worker", "qloop-sink", "qloop-controller"
#: Decides approval requests: reads and writes the approvals topic, nothing else.
APPROVER = "qloop-approver"
MECHANISM = "SCRAM-SHA-512"


@dataclass(frozen=True, slots=True)
class SecurityFiles:
    """Where a secured broker's PKI and client settings live, and the principals' passwords."""

    root: Path
    passwords: dict[str, str]

    @property
    def ca(self) -> Path:
        """The CA certificate every client trusts."""
        return self.root / "ca.pem"

    @property
    def keystore(self) -> Path:
        """The broker's private key and certificate chain (PEM)."""
        return self.root / "broker.pem"

    def env_file(self, principal: str) -> Path:
        """``clients/<principal>.env``."""
        return self.root / "clients" / f"{principal}.env"


def _private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)


def _pki(root: Path, hostnames: tuple[str, ...] = ("localhost",)) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "qloop local CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=825))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [x509.DNSName(h) for h in hostnames]
    names.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=825))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    _private(root / "ca.pem", ca.public_bytes(pem).decode())
    unencrypted = serialization.NoEncryption()
    key_pem = key.private_bytes(pem, serialization.PrivateFormat.PKCS8, unencrypted).decode()
    chain = cert.public_bytes(pem).decode() + ca.public_bytes(pem).decode()
    _private(root / "broker.pem", key_pem + chain)


def prepare(
    data_dir: Path, tenants: Iterable[str] = (), hostnames: tuple[str, ...] = ("localhost",)
) -> SecurityFiles:
    """Create (once) the PKI and the principals' passwords of a secured broker in ``data_dir``.

    ``hostnames``: the names clients reach the broker by (its certificate's SANs, with
    127.0.0.1), e.g. ``kafka`` inside compose.
    """
    root = data_dir / "security"
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    stored = root / "passwords.json"
    passwords: dict[str, str] = json.loads(stored.read_text()) if stored.exists() else {}
    for principal in (ADMIN, WORKER, SINK, APPROVER, CONTROLLER, *(f"tenant-{t}" for t in tenants)):
        passwords.setdefault(principal, secrets.token_hex(24))
    _private(stored, json.dumps(passwords, indent=2))
    if not (root / "broker.pem").exists():
        _pki(root, hostnames)
    return SecurityFiles(root, passwords)


def server_properties(files: SecurityFiles, port: int, controller_port: int) -> list[str]:
    """The listener, SASL, SSL and authorizer lines of ``server.properties``."""
    admin, controller = files.passwords[ADMIN], files.passwords[CONTROLLER]
    scram = "org.apache.kafka.common.security.scram.ScramLoginModule required"
    plain = "org.apache.kafka.common.security.plain.PlainLoginModule required"
    return [
        f"listeners=SASL_SSL://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        f"advertised.listeners=SASL_SSL://127.0.0.1:{port}",
        "listener.security.protocol.map=SASL_SSL:SASL_SSL,CONTROLLER:SASL_PLAINTEXT",
        "inter.broker.listener.name=SASL_SSL",
        f"sasl.enabled.mechanisms={MECHANISM}",
        f"sasl.mechanism.inter.broker.protocol={MECHANISM}",
        f'listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config={scram} username="{ADMIN}" '
        f'password="{admin}";',
        "sasl.mechanism.controller.protocol=PLAIN",
        "listener.name.controller.sasl.enabled.mechanisms=PLAIN",
        f'listener.name.controller.plain.sasl.jaas.config={plain} username="{CONTROLLER}" '
        f'password="{controller}" user_{CONTROLLER}="{controller}";',
        "ssl.keystore.type=PEM",
        f"ssl.keystore.location={files.keystore}",
        "ssl.truststore.type=PEM",
        f"ssl.truststore.location={files.ca}",
        "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        f"super.users=User:{ADMIN};User:{CONTROLLER}",
        "allow.everyone.if.no.acl.found=false",
    ]


def scram_format_args(files: SecurityFiles) -> list[str]:
    """``kafka-storage format`` arguments that create every principal's SCRAM credential."""
    args = []
    for principal, password in sorted(files.passwords.items()):
        if principal != CONTROLLER:
            args += ["--add-scram", f"{MECHANISM}=[name={principal},password={password}]"]
    return args


def client_env(files: SecurityFiles, principal: str, bootstrap: str) -> dict[str, str]:
    """The ``QLOOP_KAFKA_*`` variables for ``principal``'s clients (and a tenant's name)."""
    tenant = principal.removeprefix("tenant-") if principal.startswith("tenant-") else None
    return {
        **({"QLOOP_TENANT": tenant, "QLOOP_TENANT_TOPICS": "true"} if tenant else {}),
        "QLOOP_KAFKA_BOOTSTRAP": bootstrap,
        "QLOOP_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "QLOOP_KAFKA_SASL_MECHANISM": MECHANISM,
        "QLOOP_KAFKA_SASL_USERNAME": principal,
        "QLOOP_KAFKA_SASL_PASSWORD": files.passwords[principal],
        "QLOOP_KAFKA_SSL_CA_LOCATION": str(files.ca),
    }


def write_client_envs(files: SecurityFiles, bootstrap: str) -> None:
    """``clients/<principal>.env`` for every principal but the controller (mode 0600)."""
    for principal in files.passwords:
        if principal == CONTROLLER:
            continue
        env = client_env(files, principal, bootstrap)
        _private(files.env_file(principal), "".join(f"{k}={v}\n" for k, v in env.items()))


def _acl_api() -> Any:
    """confluent-kafka's ACL types (its admin module does not re-export them for type checkers)."""
    return importlib.import_module("confluent_kafka.admin")


def _bindings(prefix: str, principal: str, grants: list[tuple[str, str, str]]) -> list[Any]:
    """ACL bindings; a name ending in ``$`` is one exact topic, others are prefixes."""
    k = _acl_api()

    out = []
    for resource, name, operation in grants:
        exact = resource == "BROKER" or name.endswith("$")
        out.append(
            k.AclBinding(
                k.ResourceType[resource],
                name if resource == "BROKER" else prefix + name.removesuffix("$"),
                k.ResourcePatternType.LITERAL if exact else k.ResourcePatternType.PREFIXED,
                f"User:{principal}",
                "*",
                k.AclOperation[operation],
                k.AclPermissionType.ALLOW,
            )
        )
    return out


def tenants_of(files: SecurityFiles) -> list[str]:
    """The tenants ``files`` holds a principal for."""
    return [p.removeprefix("tenant-") for p in files.passwords if p.startswith("tenant-")]


def apply_acls(admin_conf: dict[str, Any], prefix: str, tenants: Iterable[str] = ()) -> int:
    """Grant each principal what its role needs under ``prefix``; return the bindings created.

    ``admin_conf`` reaches the cluster as a super user (any cluster: the local secured broker,
    compose's, a production one); principals are ``User:qloop-worker``, ``User:qloop-sink`` and
    ``User:tenant-<name>``.

    The worker reads and writes every qloop topic and owns its consumer groups; the sink reads
    them. A tenant writes templates and its own input topic and reads its own result topic
    (multi-tenant mode, ``QLOOP_TENANT_TOPICS``): nothing shared but the content-addressed
    templates, so it can neither read another tenant's results nor send as another tenant.
    """
    from confluent_kafka.admin import AdminClient

    worker = [
        ("TOPIC", "", op) for op in ("READ", "WRITE", "DESCRIBE", "CREATE", "DESCRIBE_CONFIGS")
    ]
    worker += [("GROUP", "", "READ")]  # the faust group is <prefix>processor
    worker += [("BROKER", "kafka-cluster", "DESCRIBE"), ("BROKER", "kafka-cluster", "CREATE")]
    sink = [("TOPIC", "", "READ"), ("TOPIC", "", "DESCRIBE"), ("GROUP", "", "READ")]
    bindings = _bindings(prefix, WORKER, worker) + _bindings(prefix, SINK, sink)
    names = list(tenants)
    principals = [f"tenant-{t}" for t in names]
    for principal, name in zip(principals, names, strict=True):
        own = [
            ("TOPIC", "circuit-templates$", "WRITE"),
            ("TOPIC", "circuit-templates$", "DESCRIBE"),
            ("TOPIC", f"tenant.{name}.parameter-updates$", "WRITE"),
            ("TOPIC", f"tenant.{name}.parameter-updates$", "DESCRIBE"),
            ("TOPIC", f"tenant.{name}.job-results$", "READ"),
            ("TOPIC", f"tenant.{name}.job-results$", "DESCRIBE"),
        ]
        bindings += _bindings(prefix, principal, own)
    # Approvers read the requests and write decisions: only they (and the worker, which writes
    # the requests) can write the approvals topic, so a decision's author is its principal.
    approver = [("TOPIC", "approvals$", op) for op in ("READ", "WRITE", "DESCRIBE")]
    bindings += _bindings(prefix, APPROVER, approver)
    # Consumer groups not named after the topic prefix (client listeners, table readers, tail).
    for principal in (WORKER, SINK, APPROVER, *principals):
        bindings += _unprefixed_groups(principal)
    admin = AdminClient(admin_conf)
    for future in admin.create_acls(bindings, request_timeout=30).values():
        future.result()
    return len(bindings)


def ensure_users(admin_conf: dict[str, Any], files: SecurityFiles) -> None:
    """Create (or refresh) every principal's SCRAM credential on a running broker.

    A data dir formatted by an older qloop lacks the principals added since (the approver);
    their credentials are made here, with the passwords in ``files``.
    """
    from confluent_kafka.admin import AdminClient

    k = _acl_api()
    info = k.ScramCredentialInfo(k.ScramMechanism.SCRAM_SHA_512, 8192)
    upserts = [
        k.UserScramCredentialUpsertion(principal, info, password.encode())
        for principal, password in sorted(files.passwords.items())
        if principal != CONTROLLER
    ]
    admin = AdminClient(admin_conf)  # kept referenced until every future has resolved
    for future in admin.alter_user_scram_credentials(upserts).values():
        future.result()


def _unprefixed_groups(principal: str) -> list[Any]:
    k = _acl_api()

    return [
        k.AclBinding(
            k.ResourceType.GROUP,
            group,
            k.ResourcePatternType.PREFIXED,
            f"User:{principal}",
            "*",
            k.AclOperation.READ,
            k.AclPermissionType.ALLOW,
        )
        for group in ("qloop-client-", "qloop-reader-", "qloop-tail-", "qloop-reconcile-")
    ]


__all__ = [
    "ADMIN",
    "APPROVER",
    "MECHANISM",
    "SINK",
    "WORKER",
    "SecurityFiles",
    "apply_acls",
    "tenants_of",
    "client_env",
    "ensure_users",
    "prepare",
    "scram_format_args",
    "server_properties",
    "write_client_envs",
]
