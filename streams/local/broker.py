"""The project-managed Kafka broker: Apache Kafka 4.x, KRaft, one combined node on loopback.

The jars come from Maven Central through ``mvn dependency:copy-dependencies`` into a cache;
storage is formatted once per data dir; the JVM runs in its own session so it outlives the
CLI call that started it, and is tracked by a pid file in the data dir.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streams.local import security
from streams.local.broker_config import LOG4J2, kraft_cluster_id, server_properties
from streams.local.kafka_runtime import (
    KAFKA_VERSION,
    BrokerError,
    cache_dir,
    check_java,
    fetch_jars,
)

_PID_FILE = "broker.pid"
_PORT_FILE = "broker.port"
_LOG_FILE = "broker.log"
_SECURITY_FILE = "broker.security"


@dataclass(frozen=True, slots=True)
class ClusterNode:
    """One node of a local KRaft cluster: its id, its controller port, and the whole quorum."""

    node_id: int
    controller_port: int
    voters: str
    cluster_id: str
    size: int


@dataclass(frozen=True, slots=True)
class BrokerStatus:
    """What ``qloop broker status`` reports."""

    running: bool
    pid: int | None
    port: int | None
    data_dir: Path
    answering: bool


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """True when something already listens on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def free_port() -> int:
    """An unused loopback port (for tests and the controller listener)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child counts as gone
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ")[-1][:1] != "Z"
    except OSError:
        return True


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


class LocalBroker:
    """Start, stop and inspect the single-node broker that lives in ``data_dir``."""

    def __init__(
        self,
        data_dir: Path,
        port: int = 9092,
        heap: str = "512m",
        *,
        security: str | None = None,
        tenants: tuple[str, ...] = (),
        topic_prefix: str = "qloop.",
        node: ClusterNode | None = None,
    ) -> None:
        self.data_dir = Path(data_dir).absolute()
        #: This broker's place in a local cluster (None: a cluster of one).
        self.node = node
        self.port = port
        self.heap = heap
        recorded = self.data_dir / _SECURITY_FILE
        #: "none" or "sasl_ssl"; None means what the data dir was started with last.
        self.security = security or (recorded.read_text().strip() if recorded.exists() else "none")
        self.tenants = tenants
        self.topic_prefix = topic_prefix

    def admin_conf(self) -> dict[str, Any]:
        """Librdkafka settings that reach this broker as its administrator."""
        conf: dict[str, Any] = {"bootstrap.servers": f"127.0.0.1:{self.port}"}
        if self.security == "sasl_ssl":
            files = security.prepare(self.data_dir, self.tenants)
            env = security.client_env(files, security.ADMIN, conf["bootstrap.servers"])
            conf.update(
                {
                    "security.protocol": "SASL_SSL",
                    "sasl.mechanisms": security.MECHANISM,
                    "sasl.username": security.ADMIN,
                    "sasl.password": env["QLOOP_KAFKA_SASL_PASSWORD"],
                    "ssl.ca.location": env["QLOOP_KAFKA_SSL_CA_LOCATION"],
                }
            )
        return conf

    @property
    def log_path(self) -> Path:
        """The broker's own log file."""
        return self.data_dir / _LOG_FILE

    def status(self) -> BrokerStatus:
        """Running means the recorded pid is alive; answering means metadata comes back."""
        pid = _read_int(self.data_dir / _PID_FILE)
        port = _read_int(self.data_dir / _PORT_FILE)
        running = pid is not None and _pid_alive(pid)
        if port is not None:
            self.port = port
        answering = running and port is not None and metadata_ok(self.admin_conf(), 2.0)
        return BrokerStatus(running, pid if running else None, port, self.data_dir, answering)

    def start(self, timeout_s: float = 90.0, *, wait: bool = True) -> BrokerStatus:
        """Start the broker and wait until it answers a metadata request.

        ``wait=False`` returns once the JVM is launched: a cluster's nodes answer only when a
        quorum of them runs, so :class:`~streams.local.cluster.LocalCluster` launches all first.
        """
        java = check_java()
        current = self.status()
        if current.running:
            raise BrokerError(
                f"a broker is already running from {self.data_dir} (pid {current.pid}, "
                f"port {current.port}); stop it with `qloop broker stop`."
            )
        if port_in_use(self.port):
            raise BrokerError(
                f"port {self.port} is already in use; pick another with --port "
                "or stop what listens there."
            )
        self._ensure_writable()
        libs = fetch_jars()
        node = self.node
        controller_port = node.controller_port if node is not None else free_port()
        props = self.data_dir / "server.properties"
        files = None
        if self.security == "sasl_ssl":
            files = security.prepare(self.data_dir, self.tenants)
        lines = security.server_properties(files, self.port, controller_port) if files else None
        text = server_properties(self.data_dir, self.port, controller_port, lines)
        if node is not None:
            text = server_properties(
                self.data_dir, self.port, controller_port, lines,
                node_id=node.node_id, voters=node.voters, replication=node.size,
            )  # fmt: skip
        props.write_text(text)
        props.chmod(0o600)  # with security on it holds the broker's own credentials
        (self.data_dir / _SECURITY_FILE).write_text(self.security)
        (self.data_dir / "log4j2.properties").write_text(LOG4J2.format(log=self.log_path))
        classpath = f"{libs}/*"
        jvm = [java, f"-Xmx{self.heap}", "-Xms128m", "-XX:+UseSerialGC", "-Xshare:auto"]
        jvm += [f"-Dlog4j2.configurationFile={self.data_dir / 'log4j2.properties'}"]
        jvm += ["-cp", classpath]
        if not (self.data_dir / "logs" / "meta.properties").exists():
            cluster_id = node.cluster_id if node is not None else kraft_cluster_id()
            fmt = [*jvm, "kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}"]
            fmt += [f"--config={props}", *(security.scram_format_args(files) if files else [])]
            proc = subprocess.run(fmt, capture_output=True, text=True, check=False)  # noqa: S603
            if proc.returncode != 0:
                raise BrokerError("formatting KRaft storage failed:\n" + proc.stdout + proc.stderr)
        with open(self.data_dir / "broker.out", "ab") as out:
            child = subprocess.Popen(  # noqa: S603 - fixed argv
                [*jvm, "kafka.Kafka", str(props)],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        (self.data_dir / _PID_FILE).write_text(str(child.pid))
        (self.data_dir / _PORT_FILE).write_text(str(self.port))
        if not wait:
            return self.status()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if child.poll() is not None:
                raise BrokerError(
                    f"the broker exited with code {child.returncode} during start; "
                    f"last lines of {self.log_path}:\n{self._tail()}"
                )
            if metadata_ok(self.admin_conf(), 2.0):
                if files is not None:
                    bootstrap = f"127.0.0.1:{self.port}"
                    tenants = security.tenants_of(files)
                    security.ensure_users(self.admin_conf(), files)
                    security.apply_acls(self.admin_conf(), self.topic_prefix, tenants)
                    security.write_client_envs(files, bootstrap)
                return self.status()
            time.sleep(0.25)
        self.stop()
        raise BrokerError(f"the broker did not answer within {timeout_s:.0f}s:\n{self._tail()}")

    def stop(self, timeout_s: float = 30.0) -> bool:
        """SIGTERM, then SIGKILL after ``timeout_s``; return whether a broker was running."""
        pid = _read_int(self.data_dir / _PID_FILE)
        if pid is None or not _pid_alive(pid):
            (self.data_dir / _PID_FILE).unlink(missing_ok=True)
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and _pid_alive(pid):
            _reap(pid)
            time.sleep(0.1)
        if _pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
            while _pid_alive(pid):
                _reap(pid)
                time.sleep(0.05)
        _reap(pid)
        (self.data_dir / _PID_FILE).unlink(missing_ok=True)
        return True

    def kill(self) -> bool:
        """SIGKILL the broker (a crash, for fault tests); return whether one was running."""
        pid = _read_int(self.data_dir / _PID_FILE)
        if pid is None or not _pid_alive(pid):
            return False
        os.kill(pid, signal.SIGKILL)
        while _pid_alive(pid):
            _reap(pid)
            time.sleep(0.05)
        (self.data_dir / _PID_FILE).unlink(missing_ok=True)
        return True

    def _ensure_writable(self) -> None:
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            probe = self.data_dir / f".write-probe-{os.getpid()}"
            probe.write_text("ok")
            probe.unlink()
        except OSError as exc:
            raise BrokerError(f"data dir {self.data_dir} is not writable: {exc}") from exc

    def _tail(self, lines: int = 20) -> str:
        chunks = []
        for name in (_LOG_FILE, "broker.out"):
            path = self.data_dir / name
            if path.exists():
                chunks += path.read_text(errors="replace").splitlines()[-lines:]
        return "\n".join(chunks[-lines:])


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def metadata_ok(target: str | dict[str, Any], timeout_s: float) -> bool:
    """True when a broker (bootstrap servers, or a client config) answers metadata in time."""
    from confluent_kafka.admin import AdminClient

    conf = {"bootstrap.servers": target} if isinstance(target, str) else dict(target)
    admin = AdminClient({**conf, "log_level": 0, "logger": quiet_logger()})
    try:
        return bool(admin.list_topics(timeout=timeout_s).brokers)
    except Exception:  # noqa: BLE001 - any failure means "not answering yet"
        return False


def quiet_logger() -> Any:
    """A logger that drops librdkafka's lines: a probe expects refusals while it waits."""
    import logging

    logger = logging.getLogger("qloop.broker.probe")
    logger.addHandler(logging.NullHandler())
    logger.propagate = False
    return logger


__all__ = [
    "KAFKA_VERSION",
    "BrokerError",
    "BrokerStatus",
    "ClusterNode",
    "LocalBroker",
    "cache_dir",
    "check_java",
    "fetch_jars",
    "free_port",
    "metadata_ok",
    "port_in_use",
    "quiet_logger",
]
