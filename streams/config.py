"""One frozen settings object for every qloop process, read from ``QLOOP_*`` variables.

Secrets (SASL password, IBM token) are ``SecretStr``: they never show in ``repr()``, logs or
exception text, only in the client configs built here.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_TENANT_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


class DataDirError(Exception):
    """The data directory cannot be created or written (one line for the user)."""


class Settings(BaseSettings):
    """qloop configuration. Every field maps to ``QLOOP_<FIELD>`` (upper case)."""

    model_config = SettingsConfigDict(env_prefix="QLOOP_", frozen=True, extra="ignore")

    data_dir: Path = Field(default=Path(".qloop"), description="Local state: broker, chDB.")
    kafka_bootstrap: str | None = Field(
        default=None, description="Kafka bootstrap servers; unset means the local broker."
    )
    kafka_port: int = Field(default=9092, description="Port of the project-managed broker.")
    topic_prefix: str = "qloop."
    topic_partitions: int = 3
    #: Replication of faust's internal topics (qloop's own topics take the cluster default);
    #: 3 on a production cluster.
    replication_factor: int = Field(default=1, ge=1)
    clickhouse_dsn: str | None = Field(
        default=None, description="chdb:///path (embedded) or http(s)://… (server)."
    )
    schema_registry_url: str | None = None
    #: Extra writer schemas (.avsc paths, JSON list) accepted with single-object framing, for
    #: producers on an older or newer contract; each is checked against ours at start.
    writer_schemas: tuple[Path, ...] = ()
    # Kafka security, passed through to librdkafka and aiokafka.
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: str | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_ca_location: str | None = None
    #: Tenants the secured local broker creates a principal for (JSON list), e.g. ["acme"];
    #: with ``tenant_topics`` also the tenants that get their own input and result topics.
    tenants: tuple[str, ...] = ()
    #: Multi-tenant mode: each tenant produces to ``<prefix>tenant.<name>.parameter-updates``
    #: and reads ``<prefix>tenant.<name>.job-results``; the worker takes the tenant from the
    #: topic (which ACLs tie to the tenant's principal), never from the payload.
    tenant_topics: bool = False
    #: The tenant a client process acts as in multi-tenant mode.
    tenant: str | None = None
    # Prometheus /metrics of the worker and the sink (unset: off), and the address they bind.
    worker_metrics_port: int | None = None
    sink_metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    # IBM Quantum: only from the environment or a secret store.
    ibm_token: SecretStr | None = None
    ibm_instance: str | None = None
    # Processing.
    max_batch: int = 256
    max_wait_ms: int = 50
    max_in_flight: int = 2
    # Submissions per backend that only the interactive lane (priority > 0) may use, on top.
    interactive_in_flight: int = Field(default=1, ge=1)
    default_shots: int = 1024
    max_shots: int = 100_000
    max_message_bytes: int = 512 * 1024
    allowed_backends: tuple[str, ...] = (
        "aer_simulator",
        "aer_simulator_noisy",
        "fake_manila",
        "fake_brisbane",
    )
    # Backend classes a set may ask for instead of one backend: the members, in order of
    # preference; the worker places each set on the cheapest member that is up, wide enough
    # and predicted to meet its deadline (processors/placement.py).
    backend_classes: dict[str, tuple[str, ...]] = Field(
        default_factory=lambda: {
            "simulator": ("aer_simulator",),
            "hardware:ibm": ("fake_brisbane", "fake_manila"),
        }
    )
    template_wait_ms: int = 5_000
    # How long the ledger remembers an event id (seconds): a re-send within it is not run
    # again, one after it is new work. It is also the ledger topic's retention, so a worker's
    # memory and start-up replay hold this window, not the whole history. A week by default.
    ledger_window_s: float = Field(default=7 * 86_400.0, ge=1.0)
    # A ClickHouse cluster (its name in remote_servers): migrations then run ON CLUSTER with
    # Replicated tables; unset for one server or the embedded engine.
    clickhouse_cluster: str | None = None
    # Tenants whose sets may run on a simulator with the device's noise while their backend is
    # marked down (results DEGRADED); "*" for every tenant. Others fail as backend_unavailable.
    degrade_tenants: tuple[str, ...] = ()
    # Job-level retries of transient backend failures (timeouts, 429, 5xx, IBM 3458): attempts
    # in all, a bound on their total time, and the first backoff (doubling, with jitter).
    retry_attempts: int = Field(default=5, ge=1)
    retry_max_total_s: float = Field(default=120.0, gt=0)
    retry_initial_ms: float = Field(default=500.0, gt=0)
    # Throttling (429, IBM 3458) is waited out, holding the slot (backpressure), for this long
    # in all before the submission fails; it does not use up the attempts above.
    retry_throttled_max_s: float = Field(default=3600.0, gt=0)
    # The approval gate: rules ({"tenant", "backend", "cost_over", "shots_over"}; patterns
    # like "ibm_*"), who may decide (empty: anyone who can write the approvals topic), and how
    # long a request waits before it expires as rejected (less than the topic's week).
    approval_rules: list[dict[str, Any]] = Field(default_factory=list)
    approvers: tuple[str, ...] = ()
    approval_ttl_s: float = Field(default=86_400.0, gt=0, le=6 * 86_400)
    # IBM execution mode per backend ("job", "batch" or "session"; "*" for the rest; default
    # job). A batch or session opens with a busy period and is closed once idle for
    # ibm_session_idle_s, and when the worker stops. The provider cancels a job that runs
    # longer than ibm_max_execution_s (unset: its default).
    ibm_modes: dict[str, str] = Field(default_factory=dict)
    ibm_max_execution_s: int | None = Field(default=None, gt=0)
    ibm_session_idle_s: float = Field(default=10.0, ge=0)
    # A fake IBM runtime service's directory (tests, drills): fake_* backends submit there and
    # their jobs outlive the worker, like IBM's. Unset: local testing mode.
    ibm_fake_service: Path | None = None
    # Failure drills: {"backend": "transient:N" | "permanent:N"} fails its first N submissions.
    drill_backend_failures: dict[str, str] = Field(default_factory=dict)
    # Re-key accepted updates by topology key through an internal topic, so templates of one
    # topology share a worker and its submissions whatever key their producer used. Off: each
    # update is batched by the worker that owns its input partition (one hop less).
    route_by_topology: bool = True
    # With routing on, a bulk update whose topology's partition this worker reads anyway is
    # batched where it enters instead of going through the internal topic (a third of the
    # CPU per set, measured). Off: every update takes the hop.
    route_shortcut: bool = True
    compile_cache_size: int = 256
    # ClickHouse sink: a block is inserted at this many rows or this age, whichever comes first,
    # and as soon as the consumer is caught up when ``sink_flush_when_idle`` (low latency to
    # storage; set it false for a slow trickle of events to favour fewer, larger parts).
    sink_batch_rows: int = Field(default=5000, gt=0)
    sink_batch_ms: int = Field(default=500, ge=0)
    sink_flush_when_idle: bool = True
    # Budgets per tenant, e.g. QLOOP_BUDGETS='{"acme": {"shots": 1e6, "cost": 50}}'.
    budgets: dict[str, dict[str, float]] = Field(default_factory=dict)
    # Provider concurrency for the whole worker group: {"fake_brisbane": 3} submissions at once,
    # held as slot leases on the ledger topic; a crashed holder's lease lasts lease_ttl_s.
    provider_concurrency: dict[str, int] = Field(default_factory=dict)
    lease_ttl_s: float = Field(default=900.0, gt=0)
    # Of each such limit, the slots only the interactive lane may take, so an interactive set
    # never waits behind the group's bulk jobs (a limit of 1 keeps none back).
    interactive_leases: int = Field(default=1, ge=0)
    # Per-tenant rate limits per worker: {"acme": {"sets_per_s": 20, "shots_per_min": 1e6,
    # "burst_s": 1}}, "*" for every other tenant; excess waits in Kafka (consumer lag).
    rate_limits: dict[str, dict[str, float]] = Field(default_factory=dict)
    default_budget_shots: float | None = None
    default_budget_cost: float | None = None
    # Price per backend, e.g. QLOOP_PRICES='{"fake_brisbane": {"per_shot": 1e-4, "per_job": 1}}'.
    prices: dict[str, dict[str, float]] = Field(
        default_factory=lambda: {
            "aer_simulator": {"per_shot": 0.0, "per_job": 0.0},
            "fake_manila": {"per_shot": 1e-5, "per_job": 0.01},
            "fake_brisbane": {"per_shot": 1e-4, "per_job": 0.1},
        }
    )
    # SLOs evaluated by `qloop sli` (see sinks/sli.py for indicators and thresholds).
    slos: list[dict[str, Any]] = Field(
        default_factory=lambda: [
            {
                "name": "simulator results within 2 s",
                "backend_pattern": "aer_*",
                "indicator": "latency_end_to_end",
                "objective": 0.99,
                "threshold_ms": 2000,
            },
            {
                "name": "success rate",
                "backend_pattern": "*",
                "indicator": "success_rate",
                "objective": 0.999,
            },
            {
                "name": "queue under 1 s",
                "backend_pattern": "*",
                "indicator": "latency_queue",
                "objective": 0.95,
                "threshold_ms": 1000,
            },
        ]
    )
    # Drift canary and thresholds.
    canary_backends: tuple[str, ...] = ("aer_simulator", "fake_manila")
    drift_tv_threshold: float = 0.05
    drift_hellinger_threshold: float = 0.05
    drift_z_threshold: float = 3.0
    drift_min_baseline_runs: int = 3
    #: Backends expected to reproduce ideal distributions (distance to ideal alone is drift).
    drift_ideal_backends: tuple[str, ...] = ("aer_simulator",)
    #: Distance to ideal flagged on every backend, baseline or not.
    drift_max_tv_to_ideal: float = 0.25
    #: A fixed per-submission delay added to every backend (stands in for a cloud queue).
    backend_overhead_ms: float = 0.0

    @field_validator("tenants")
    @classmethod
    def _tenant_names(cls, tenants: tuple[str, ...]) -> tuple[str, ...]:
        bad = [t for t in tenants if not _TENANT_NAME.fullmatch(t)]
        if bad:
            raise ValueError(f"tenant names may hold letters, digits, '_' and '-' only: {bad}")
        return tenants

    @property
    def topic_tenants(self) -> tuple[str, ...]:
        """Tenants with their own topics: ``tenants`` in multi-tenant mode, else none."""
        return self.tenants if self.tenant_topics else ()

    def ensure_data_dir(self) -> Path:
        """Create the data directory if needed and prove it writable, before anything uses it.

        Raises:
            DataDirError: it cannot be created or written, with the reason.

        """
        probe = self.data_dir / f".qloop-write-test-{os.getpid()}"
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise DataDirError(
                f"data dir {self.data_dir} is not writable ({reason}); "
                "set QLOOP_DATA_DIR to a directory this user can write"
            ) from None
        return self.data_dir

    @property
    def kafka_data_dir(self) -> Path:
        """Where the project-managed broker keeps its log and KRaft storage."""
        return self.data_dir / "kafka"

    @property
    def bootstrap(self) -> str:
        """The bootstrap servers in effect (configured, else the local broker)."""
        return self.kafka_bootstrap or f"127.0.0.1:{self.kafka_port}"

    @property
    def dsn(self) -> str:
        """The ClickHouse DSN in effect (configured, else embedded chDB in the data dir)."""
        if self.clickhouse_dsn:
            return self.clickhouse_dsn
        return f"chdb://{(self.data_dir / 'clickhouse').resolve()}"

    def sink_tuning(self) -> dict[str, Any]:
        """Keyword arguments of ``run_sink`` that come from settings."""
        return {
            "batch_size": self.sink_batch_rows,
            "batch_ms": self.sink_batch_ms,
            "flush_when_idle": self.sink_flush_when_idle,
        }

    def librdkafka_config(self) -> dict[str, Any]:
        """Common confluent-kafka settings, security included."""
        conf: dict[str, Any] = {
            "bootstrap.servers": self.bootstrap,
            "security.protocol": self.kafka_security_protocol,
            "log_level": 3,  # librdkafka logs errors only; reconnect chatter is not news
        }
        if self.kafka_sasl_mechanism:
            conf["sasl.mechanisms"] = self.kafka_sasl_mechanism
        if self.kafka_sasl_username:
            conf["sasl.username"] = self.kafka_sasl_username
        if self.kafka_sasl_password is not None:
            conf["sasl.password"] = self.kafka_sasl_password.get_secret_value()
        if self.kafka_ssl_ca_location:
            conf["ssl.ca.location"] = self.kafka_ssl_ca_location
        return conf


def load_settings(**overrides: Any) -> Settings:
    """Read the environment once; keyword overrides win (used by the CLI and tests)."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


__all__ = ["DataDirError", "Settings", "load_settings"]
