"""Re-execute a stored job from its reproducibility bundle and compare with what was stored.

The worker records, per set, the simulator seed that replays that set on its own (Aer seeds
each experiment of a run separately and reports it), the transpiler settings with their seed,
and the compile key. A replay recompiles each template with those settings, submits every set
with its recorded seed, and compares: a seeded simulator job must come back bit-identical. A
noisy or hardware job, or one replayed with fresh seeds, is compared statistically instead:
total variation distance (TVD) of the counts against what two independent samples of the same
distribution would show, and a z-score for expectation values.

Input is structural (:class:`ReplayableJob`) so that this module needs nothing from the
storage layer; ``sinks.replay_source.StoredJob`` is one such job.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from processors.backends.base import BackendAdapter, EstimatorTask, SamplerTask
from processors.compile_cache import CompileCache, TranspilerSettings
from processors.results import package_versions
from processors.submission import bind_order, laid_out
from schemas import CircuitTemplate, Primitive

#: A statistical replay agrees when its distance is within this many standard deviations of
#: what shot noise alone gives (TVD), or when its z-score is below it (expectation values).
SIGMAS = 4.0


class ReplayableSet(Protocol):
    """What a replay reads of one stored set."""

    @property
    def event_id(self) -> str: ...  # noqa: D102
    @property
    def template_id(self) -> str: ...  # noqa: D102
    @property
    def parameters(self) -> tuple[float, ...]: ...  # noqa: D102
    @property
    def shots(self) -> int: ...  # noqa: D102
    @property
    def seed_simulator(self) -> int | None: ...  # noqa: D102
    @property
    def precision(self) -> float | None: ...  # noqa: D102
    @property
    def counts(self) -> dict[str, int] | None: ...  # noqa: D102
    @property
    def expectation_values(self) -> tuple[float, ...]: ...  # noqa: D102
    @property
    def standard_errors(self) -> tuple[float, ...]: ...  # noqa: D102
    @property
    def compile_key(self) -> str | None: ...  # noqa: D102


class ReplayableJob(Protocol):
    """What a replay reads of one stored job."""

    @property
    def job_id(self) -> str: ...  # noqa: D102
    @property
    def primitive(self) -> Primitive: ...  # noqa: D102
    @property
    def transpiler_settings(self) -> dict[str, str]: ...  # noqa: D102
    @property
    def package_versions(self) -> dict[str, str]: ...  # noqa: D102
    @property
    def sets(self) -> Sequence[ReplayableSet]: ...  # noqa: D102
    @property
    def templates(self) -> Mapping[str, CircuitTemplate]: ...  # noqa: D102


@dataclass(frozen=True, slots=True)
class SetComparison:
    """One set: stored against replayed."""

    event_id: str
    identical: bool
    tvd: float | None = None
    tvd_bound: float | None = None
    abs_ev_diff: float | None = None
    z_score: float | None = None

    @property
    def within_shot_noise(self) -> bool:
        """Identical, or different by no more than shot noise explains."""
        if self.identical:
            return True
        if self.tvd is not None and self.tvd_bound is not None:
            return self.tvd <= self.tvd_bound
        return self.z_score is not None and self.z_score <= SIGMAS


@dataclass(frozen=True, slots=True)
class ReplayReport:
    """The outcome of one replay; :meth:`summary` is ``qloop replay --json``."""

    job_id: str
    backend: str
    primitive: Primitive
    fresh_seeds: bool
    sets: tuple[SetComparison, ...]
    compile_keys_match: bool
    version_differences: dict[str, dict[str, str]] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """The JSON object: counts, worst distances, and whether the versions matched."""
        tvds = [s.tvd for s in self.sets if s.tvd is not None]
        diffs = [s.abs_ev_diff for s in self.sets if s.abs_ev_diff is not None]
        zs = [s.z_score for s in self.sets if s.z_score is not None]
        return {
            "job_id": self.job_id,
            "sets": len(self.sets),
            "identical": sum(s.identical for s in self.sets),
            "max_tvd": max(tvds) if tvds else None,
            "max_abs_ev_diff": max(diffs) if diffs else None,
            "versions_match": not self.version_differences,
            "backend": self.backend,
            "primitive": str(self.primitive),
            "fresh_seeds": self.fresh_seeds,
            "max_z_score": max(zs) if zs else None,
            "within_shot_noise": sum(s.within_shot_noise for s in self.sets),
            "compile_keys_match": self.compile_keys_match,
            "version_differences": self.version_differences,
        }


def replay_job(
    job: ReplayableJob, backend: BackendAdapter, *, fresh_seeds: bool = False, seed: int = 1
) -> ReplayReport:
    """Re-execute every set of ``job`` on ``backend`` and compare with the stored outcome.

    Args:
        job: The stored job (sets, templates, bundle).
        backend: The adapter for the job's backend, as this installation builds it.
        fresh_seeds: Ignore the recorded seeds (a statistical re-run rather than a replay).
        seed: Base seed for sets without a recorded seed (hardware, or ``fresh_seeds``).

    """
    settings = job.transpiler_settings
    cache = CompileCache(
        settings=TranspilerSettings(
            optimization_level=int(settings.get("optimization_level", 1)),
            seed_transpiler=int(settings.get("seed_transpiler", 1234)),
        )
    )
    estimator = job.primitive is Primitive.ESTIMATOR
    groups: dict[tuple[str, int, float | None], list[ReplayableSet]] = {}
    for item in job.sets:
        groups.setdefault((item.template_id, item.shots, item.precision), []).append(item)
    compiled = {
        key: cache.get(job.templates[key[0]], backend, strip_measurements=estimator)
        for key in groups
    }
    keys_match = all(
        s.compile_key is None or s.compile_key == compiled[key].record.compile_key
        for key, members in groups.items()
        for s in members
    )
    estimator_tasks: list[EstimatorTask] = []
    sampler_tasks: list[SamplerTask] = []
    for (template_id, shots, precision), members in groups.items():
        template, circuit = job.templates[template_id], compiled[template_id, shots, precision]
        rows = [m.parameters for m in members]
        values = bind_order(template.parameter_names, circuit.circuit, rows)
        seeds = tuple(None if fresh_seeds else m.seed_simulator for m in members)
        if estimator:
            observable = laid_out(template, circuit.circuit)
            estimator_tasks.append(
                EstimatorTask(circuit.circuit, observable, values, precision, seeds)
            )
        else:
            sampler_tasks.append(SamplerTask(circuit.circuit, values, shots, seeds))
    comparisons: list[SetComparison] = []
    if estimator:
        estimated = backend.run_estimator(estimator_tasks, seed)
        for g, members in enumerate(groups.values()):
            for k, stored in enumerate(members):
                evs, stds = estimated.evs[g][k], estimated.stds[g][k]
                comparisons.append(compare_estimate(stored, evs, stds))
    else:
        sampled = backend.run_sampler(sampler_tasks, seed)
        for g, members in enumerate(groups.values()):
            for k, stored in enumerate(members):
                comparisons.append(compare_counts(stored, sampled.counts[g][k]))
    return ReplayReport(
        job_id=job.job_id,
        backend=backend.name,
        primitive=job.primitive,
        fresh_seeds=fresh_seeds,
        sets=tuple(comparisons),
        compile_keys_match=keys_match,
        version_differences=version_differences(job.package_versions),
    )


def compare_counts(stored: ReplayableSet, replayed: Mapping[str, int]) -> SetComparison:
    """TVD between the stored and replayed counts, and the bound shot noise allows."""
    before = dict(stored.counts or {})
    n_a, n_b = sum(before.values()), sum(replayed.values())
    if before == dict(replayed):
        return SetComparison(stored.event_id, True, tvd=0.0, tvd_bound=0.0)
    if n_a == 0 or n_b == 0:
        return SetComparison(stored.event_id, False, tvd=1.0, tvd_bound=0.0)
    keys = set(before) | set(replayed)
    tvd = 0.5 * sum(abs(before.get(k, 0) / n_a - replayed.get(k, 0) / n_b) for k in keys)
    return SetComparison(stored.event_id, False, tvd=tvd, tvd_bound=tvd_bound(before, replayed))


def tvd_bound(a: Mapping[str, int], b: Mapping[str, int], sigmas: float = SIGMAS) -> float:
    """The TVD two independent samples of one distribution stay under, ``sigmas`` deviations up.

    Per outcome the difference of frequencies is about normal with variance
    ``p(1-p)(1/n_a + 1/n_b)`` (``p`` pooled); TVD is half the sum of their absolute values,
    whose mean is ``sqrt(2/pi)`` sigma each and whose variance is ``(1 - 2/pi)`` sigma squared.
    """
    n_a, n_b = sum(a.values()), sum(b.values())
    scale = 1.0 / n_a + 1.0 / n_b
    variances = []
    for k in set(a) | set(b):
        p = (a.get(k, 0) + b.get(k, 0)) / (n_a + n_b)
        variances.append(p * (1.0 - p) * scale)
    mean = 0.5 * math.sqrt(2.0 / math.pi) * sum(math.sqrt(v) for v in variances)
    std = 0.5 * math.sqrt((1.0 - 2.0 / math.pi) * sum(variances))
    return mean + sigmas * std


def compare_estimate(stored: ReplayableSet, ev: float, std: float) -> SetComparison:
    """Absolute difference of the expectation values and its z-score under both errors."""
    before = stored.expectation_values[0] if stored.expectation_values else math.nan
    before_std = stored.standard_errors[0] if stored.standard_errors else 0.0
    diff = abs(before - ev)
    if diff == 0.0:
        return SetComparison(stored.event_id, True, abs_ev_diff=0.0, z_score=0.0)
    scale = math.hypot(before_std, std)
    z = diff / scale if scale > 0 else None
    return SetComparison(stored.event_id, False, abs_ev_diff=diff, z_score=z)


def version_differences(stored: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """Packages whose installed version differs from the one that produced the job."""
    installed = package_versions()
    return {
        name: {"stored": version, "installed": installed.get(name, "absent")}
        for name, version in sorted(stored.items())
        if installed.get(name, "absent") != version
    }


__all__ = [
    "SIGMAS",
    "ReplayReport",
    "ReplayableJob",
    "ReplayableSet",
    "SetComparison",
    "compare_counts",
    "compare_estimate",
    "replay_job",
    "tvd_bound",
    "version_differences",
]
