"""Every qloop topic, defined once: name suffix, record type, partitions and retention.

``qloop topics create`` and the workers create topics from :data:`TOPIC_SPECS` idempotently,
so a fresh cluster and an existing one end in the same state.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

# Re-exported by confluent_kafka.admin without an __all__, so typed from where they are defined.
from confluent_kafka.admin._config import AlterConfigOpType, ConfigEntry, ConfigResource
from confluent_kafka.cimpl import NewTopic

from schemas import (
    Approval,
    BackendStatus,
    CalibrationSnapshot,
    CanaryRun,
    CircuitTemplate,
    CompileRecord,
    DeadLetter,
    ExperimentCheckpoint,
    JobResult,
    JobSubmitted,
    ParameterUpdate,
)
from streams.kafka.probe import with_client_logger

_WEEK_MS = 7 * 24 * 3600 * 1000
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """One topic: its suffix after the prefix, record class, layout and retention."""

    suffix: str
    record: type[Any] | None  # None: internal JSON state, not a public contract
    compacted: bool = False
    retention_ms: int = _WEEK_MS
    partitions: int | None = None  # None: the configured default
    #: Retention is the idempotency window (configurable), in segments of 1/8 of it.
    windowed: bool = False

    def config(self, retention_ms: int | None = None) -> dict[str, str]:
        """Topic-level configs for CreateTopics (``retention_ms`` overrides the spec's)."""
        retention = str(retention_ms or self.retention_ms)
        if self.windowed:  # segments roll at 1/8 of the window, so deletion keeps up with it
            segment = str(max(1000, int(retention) // 8))
            return {"cleanup.policy": "delete", "retention.ms": retention, "segment.ms": segment}
        if self.compacted:
            return {"cleanup.policy": "compact", "min.compaction.lag.ms": "0"}
        return {"cleanup.policy": "delete", "retention.ms": retention}


TOPIC_SPECS: tuple[TopicSpec, ...] = (
    TopicSpec("circuit-templates", CircuitTemplate, compacted=True, partitions=1),
    TopicSpec("parameter-updates", ParameterUpdate),
    # Internal: accepted updates, unchanged, re-keyed by topology key so that templates of one
    # topology reach one worker whatever key their producer used (streams/worker/pipeline.py).
    TopicSpec("updates-by-topology", ParameterUpdate, retention_ms=24 * 3600 * 1000),
    # The interactive lane (priority > 0): its own input and hop-2 topics, so that its sets are
    # never read behind a bulk backlog.
    TopicSpec("parameter-updates.interactive", ParameterUpdate),
    TopicSpec("updates-by-topology.interactive", ParameterUpdate, retention_ms=24 * 3600 * 1000),
    TopicSpec("jobs-submitted", JobSubmitted),
    TopicSpec("job-results", JobResult),
    TopicSpec("compilations", CompileRecord),
    TopicSpec("dead-letters", DeadLetter, retention_ms=4 * _WEEK_MS),
    # The drift canary (streams/canary.py): runs keyed by backend, a week is plenty for the sink
    # to catch up; snapshots keyed by backend/calibration_id, re-sent every round, so compaction
    # keeps one per calibration.
    TopicSpec("canary-runs", CanaryRun),
    TopicSpec("calibrations", CalibrationSnapshot, compacted=True),
    # Hybrid loops' optimizer checkpoints, keyed by experiment id: compaction keeps the latest,
    # which is all a resume reads; the sink keeps every iteration for lineage.
    TopicSpec("experiments", ExperimentCheckpoint, compacted=True),
    # Operators' marks on backends (qloop backends down/up), keyed by backend; every worker
    # reads the whole topic and routes around a backend marked down.
    TopicSpec("backend-status", BackendStatus, compacted=True, partitions=1),
    # The approval gate's log: requests and decisions, one partition so that every reader sees
    # them in one order (the first decision wins), not compacted so that none is lost; a
    # request expires long before the week is over.
    TopicSpec("approvals", Approval, partitions=1),
    # Internal: the submission ledger (idempotency + budget spend), see streams/ledger/journal.py.
    # Its retention is the idempotency window (QLOOP_LEDGER_WINDOW_S, a week by default), and it
    # is not compacted: the cleaner merges old segments with ones holding the budget totals,
    # which are re-written all the time, and a merged segment never ages out.
    TopicSpec("ledger", None, partitions=1, windowed=True),
)


@dataclass(frozen=True, slots=True)
class TopicNames:
    """Resolved topic names for one prefix (``qloop.`` by default; tests use uuids)."""

    prefix: str

    def name(self, suffix: str) -> str:
        """Full name of the topic with ``suffix``."""
        return f"{self.prefix}{suffix}"

    @property
    def templates(self) -> str:
        """Compacted circuit-template topic."""
        return self.name("circuit-templates")

    @property
    def updates(self) -> str:
        """Parameter-update input topic."""
        return self.name("parameter-updates")

    @property
    def by_topology(self) -> str:
        """Accepted updates re-keyed by topology key (internal repartition topic)."""
        return self.name("updates-by-topology")

    @property
    def updates_interactive(self) -> str:
        """The interactive lane's input topic (sets with priority > 0)."""
        return self.name("parameter-updates.interactive")

    @property
    def by_topology_interactive(self) -> str:
        """The interactive lane's hop-2 topic."""
        return self.name("updates-by-topology.interactive")

    @property
    def jobs(self) -> str:
        """JobSubmitted topic."""
        return self.name("jobs-submitted")

    @property
    def results(self) -> str:
        """JobResult topic."""
        return self.name("job-results")

    @property
    def compilations(self) -> str:
        """CompileRecord topic."""
        return self.name("compilations")

    @property
    def dead_letters(self) -> str:
        """Dead-letter topic."""
        return self.name("dead-letters")

    @property
    def canary_runs(self) -> str:
        """CanaryRun topic (drift canary results)."""
        return self.name("canary-runs")

    @property
    def calibrations(self) -> str:
        """Compacted CalibrationSnapshot topic, keyed by ``backend/calibration_id``."""
        return self.name("calibrations")

    @property
    def experiments(self) -> str:
        """Compacted ExperimentCheckpoint topic, keyed by experiment id."""
        return self.name("experiments")

    @property
    def backend_status(self) -> str:
        """Compacted BackendStatus topic, keyed by backend name."""
        return self.name("backend-status")

    @property
    def approvals(self) -> str:
        """The approval gate's requests and decisions (one partition, in order)."""
        return self.name("approvals")

    def tenant_updates(self, tenant: str) -> str:
        """A tenant's own input topic (multi-tenant mode)."""
        return self.name(f"tenant.{tenant}.parameter-updates")

    def tenant_results(self, tenant: str) -> str:
        """A tenant's own result topic (multi-tenant mode)."""
        return self.name(f"tenant.{tenant}.job-results")

    def tenant_of(self, topic: str) -> str | None:
        """The tenant whose input topic ``topic`` is, or None for a shared topic."""
        head = self.name("tenant.")
        if not topic.startswith(head) or not topic.endswith(".parameter-updates"):
            return None
        return topic[len(head) : -len(".parameter-updates")] or None

    @property
    def ledger(self) -> str:
        """Internal compacted submission ledger."""
        return self.name("ledger")

    def record_types(self) -> dict[str, type[Any]]:
        """Topic name -> record class, for every topic."""
        return {self.name(s.suffix): s.record for s in TOPIC_SPECS if s.record is not None}


def tenant_specs(tenants: tuple[str, ...]) -> tuple[TopicSpec, ...]:
    """Each tenant's input and result topics (multi-tenant mode)."""
    return tuple(
        spec
        for t in tenants
        for spec in (
            TopicSpec(f"tenant.{t}.parameter-updates", ParameterUpdate),
            TopicSpec(f"tenant.{t}.job-results", JobResult),
        )
    )


def create_topics(
    conf: dict[str, Any],
    prefix: str,
    partitions: int = 3,
    timeout_s: float = 30.0,
    tenants: tuple[str, ...] = (),
    ledger_window_s: float | None = None,
) -> dict[str, str]:
    """Create every topic that does not exist yet; return name -> "created" | "exists".

    ``tenants`` adds each tenant's own input and result topics (multi-tenant mode).
    ``ledger_window_s`` is a new ledger's retention (the idempotency window); the ledger store
    aligns an existing one (:func:`align_config`) once its budget totals are written.
    """
    window_ms = int(ledger_window_s * 1000) if ledger_window_s else None
    admin = AdminClient(with_client_logger(conf))
    wanted = [
        NewTopic(
            f"{prefix}{spec.suffix}",
            num_partitions=spec.partitions or partitions,
            replication_factor=1 if _single_node(admin, timeout_s) else -1,
            config=spec.config(window_ms if spec.windowed else None),
        )
        for spec in (*TOPIC_SPECS, *tenant_specs(tenants))
    ]
    outcome: dict[str, str] = {}
    for name, future in admin.create_topics(wanted, request_timeout=timeout_s).items():
        try:
            future.result(timeout=timeout_s)
            outcome[name] = "created"
        except KafkaException as exc:
            if exc.args and exc.args[0].name() == "TOPIC_ALREADY_EXISTS":
                outcome[name] = "exists"
            else:
                raise
    _wait_for_leaders(admin, list(outcome), timeout_s)
    return outcome


def ledger_config(window_s: float) -> dict[str, str]:
    """The ledger topic's configs for an idempotency window of ``window_s`` seconds."""
    (spec,) = (s for s in TOPIC_SPECS if s.windowed)
    return spec.config(int(window_s * 1000))


def align_config(
    conf: dict[str, Any], name: str, wanted: dict[str, str], timeout_s: float = 30.0
) -> bool:
    """Set ``wanted`` on the existing topic ``name`` where it differs; return whether it did.

    A principal without ALTER_CONFIGS leaves the topic as it is, with a warning: the worker
    still bounds its memory by the window, only its start-up replay is not.
    """
    admin = AdminClient(with_client_logger(conf))
    resource = ConfigResource(ConfigResource.Type.TOPIC, name)
    try:
        (described,) = admin.describe_configs([resource], request_timeout=timeout_s).values()
        current = {k: v.value for k, v in described.result(timeout_s).items()}
        changes = [
            ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET)
            for k, v in wanted.items()
            if current.get(k) != v
        ]
        if not changes:
            return False
        resource = ConfigResource(ConfigResource.Type.TOPIC, name, incremental_configs=changes)
        for future in admin.incremental_alter_configs([resource]).values():
            future.result(timeout_s)
    except KafkaException as exc:
        log.warning("could not align %s with %s: %s", name, wanted, exc)
        return False
    return True


def partition_count(conf: dict[str, Any], topic: str, timeout_s: float = 10.0) -> int:
    """How many partitions ``topic`` has now, or 0.

    0 when the broker does not know the topic or does not answer within ``timeout_s``: callers
    then fall back to what needs no count.
    """
    admin = AdminClient(with_client_logger(conf))
    try:
        meta = admin.list_topics(topic, timeout=timeout_s).topics.get(topic)
    except KafkaException as exc:
        log.warning("could not read the partitions of %s: %s", topic, exc)
        return 0
    return len(meta.partitions) if meta is not None and meta.error is None else 0


def _single_node(admin: AdminClient, timeout_s: float) -> bool:
    return len(admin.list_topics(timeout=timeout_s).brokers) == 1


def _wait_for_leaders(admin: AdminClient, names: list[str], timeout_s: float) -> None:
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        meta = admin.list_topics(timeout=timeout_s).topics
        if all(
            n in meta
            and meta[n].partitions
            and all(p.leader >= 0 for p in meta[n].partitions.values())
            for n in names
        ):
            return
        time.sleep(0.1)


__all__ = [
    "TOPIC_SPECS",
    "TopicNames",
    "TopicSpec",
    "align_config",
    "create_topics",
    "ledger_config",
    "partition_count",
    "tenant_specs",
]
