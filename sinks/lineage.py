"""An experiment's lineage: everything behind its final answer, read from ClickHouse as one object.

What a person attaches to a report: the optimizer and its settings, every iteration (from the
loop's checkpoints when it wrote them, else from the results), every parameter set with the job
that ran it, every job, the compilations whose circuits ran (joined by the results' compile
keys), the templates, the backends and the calibration snapshots in force. Every value is bound
by the engine, and every read goes through :func:`sinks.query.query`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sinks.query import query


class ExperimentNotFoundError(LookupError):
    """Nothing is stored for this experiment id."""


_CHECKPOINTS_SQL = """
SELECT iteration, workload, tenant, optimizer, optimizer_settings, seed, template_ids, state,
       value, best_value, parameter_sets, finished, recorded_at
FROM qloop.experiment_checkpoints FINAL
WHERE experiment_id = {e:String}
ORDER BY iteration
"""
_SETS_SQL = """
SELECT event_id, iteration, job_id, status, template_id, backend, parameters,
       expectation_values, counts, seed_simulator, compile_key, calibration_id,
       noise_model_id, code_version, package_versions, completed_at
FROM qloop.results FINAL
WHERE experiment_id = {e:String}
ORDER BY iteration, event_id
"""
_JOBS_SQL = """
SELECT job_id, backend, primitive, num_parameter_sets, total_shots, compile_cache_hit,
       submitted_at, estimated_cost
FROM qloop.jobs FINAL
WHERE job_id IN {ids:Array(String)}
ORDER BY submitted_at
"""
_COMPILATIONS_SQL = """
SELECT compile_key, template_id, backend, calibration_id, transpiler_settings, depth,
       two_qubit_gates, size, duration_ms, compiled_at
FROM qloop.compilations
WHERE compile_key IN {keys:Array(String)}
   OR (has({templates:Array(String)}, template_id) AND has({backends:Array(String)}, backend)
       AND {by_template:Bool})
ORDER BY compiled_at
LIMIT 1 BY compile_key
"""
_TEMPLATES_SQL = """
SELECT template_id, name, num_qubits, topology_key, parameter_names
FROM qloop.templates FINAL
WHERE template_id IN {ids:Array(String)}
"""
_CALIBRATIONS_SQL = """
SELECT backend, calibration_id, count(), avg(t1_us), avg(t2_us), avg(readout_error),
       max(captured_at)
FROM qloop.calibrations FINAL
WHERE calibration_id IN {ids:Array(String)}
GROUP BY backend, calibration_id
"""


#: Shown to the user, never executed.
_HINT = 'qloop query "SELECT DISTINCT experiment_id FROM qloop.results"'


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _records(columns: list[str], rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    return [{c: _iso(v) for c, v in zip(columns, row, strict=True)} for row in rows]


def experiment_lineage(dsn: str, experiment_id: str) -> dict[str, Any]:
    """Return the lineage object of ``experiment_id`` (``qloop lineage --json``).

    Raises:
        ExperimentNotFoundError: no result and no checkpoint is stored for the id.

    """
    e = {"e": experiment_id}
    cols, rows = query(dsn, _CHECKPOINTS_SQL, e)
    checkpoints = _records(cols, rows)
    cols, rows = query(dsn, _SETS_SQL, e)
    sets = _records(cols, rows)
    if not sets and not checkpoints:
        raise ExperimentNotFoundError(
            f"nothing is stored for experiment {experiment_id!r} (no results, no checkpoints); "
            f"list them with: {_HINT}"
        )
    job_ids = sorted({s["job_id"] for s in sets if s["job_id"]})
    cols, rows = query(dsn, _JOBS_SQL, {"ids": job_ids})
    jobs = _records(cols, rows)
    keys = sorted({s["compile_key"] for s in sets if s["compile_key"]})
    templates = sorted({s["template_id"] for s in sets} | _checkpoint_templates(checkpoints))
    backends = sorted({s["backend"] for s in sets})
    cols, rows = query(
        dsn,
        _COMPILATIONS_SQL,
        {
            "keys": keys,
            "templates": templates,
            "backends": backends,
            # Results written before compile keys were recorded: match by template and backend.
            "by_template": any(s["compile_key"] is None for s in sets),
        },
    )
    compilations = _records(cols, rows)
    cols, rows = query(dsn, _TEMPLATES_SQL, {"ids": templates})
    template_rows = _records(cols, rows)
    calibration_ids = sorted({s["calibration_id"] for s in sets if s["calibration_id"]})
    _cols, rows = query(dsn, _CALIBRATIONS_SQL, {"ids": calibration_ids})
    calibrations = [
        {
            "backend": r[0], "calibration_id": r[1], "qubits": int(r[2]), "mean_t1_us": r[3],
            "mean_t2_us": r[4], "mean_readout_error": r[5], "captured_at": _iso(r[6]),
        }
        for r in rows
    ]  # fmt: skip
    return {
        "experiment_id": experiment_id,
        **_loop(checkpoints),
        "iterations": _iterations(checkpoints, sets),
        "parameter_sets": [_set(s) for s in sets],
        "jobs": jobs,
        "compilations": compilations,
        "templates": template_rows,
        "backends": backends,
        "calibrations": calibrations,
        "noise_models": sorted({s["noise_model_id"] for s in sets if s["noise_model_id"]}),
        "code_versions": sorted({s["code_version"] for s in sets}),
        "package_versions": _versions(sets),
    }


def _checkpoint_templates(checkpoints: list[dict[str, Any]]) -> set[str]:
    return {t for c in checkpoints for t in c["template_ids"]}


def _loop(checkpoints: list[dict[str, Any]]) -> dict[str, Any]:
    """The loop's identity and its final answer, from the last checkpoint (None without one)."""
    if not checkpoints:
        return {"workload": None, "optimizer": None, "final": None}
    last = checkpoints[-1]
    return {
        "workload": last["workload"],
        "tenant": last["tenant"],
        "optimizer": {
            "name": last["optimizer"],
            "settings": last["optimizer_settings"],
            "seed": last["seed"],
        },
        "final": {
            "iteration": last["iteration"],
            "finished": last["finished"],
            "value": last["value"],
            "best_value": last["best_value"],
            "parameters": list(last["state"].get("centre", [])),
            "parameter_sets": last["parameter_sets"],
        },
    }


def _iterations(
    checkpoints: list[dict[str, Any]], sets: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    by_iteration: dict[int, list[dict[str, Any]]] = {}
    for s in sets:
        by_iteration.setdefault(int(s["iteration"]), []).append(s)
    values = {int(c["iteration"]): c for c in checkpoints}
    out = []
    for iteration in sorted(set(by_iteration) | {i for i in values if i > 0}):
        members = by_iteration.get(iteration, [])
        checkpoint = values.get(iteration)
        out.append(
            {
                "iteration": iteration,
                "sets": len(members),
                "jobs": sorted({m["job_id"] for m in members if m["job_id"]}),
                "value": None if checkpoint is None else checkpoint["value"],
                "checkpointed_at": None if checkpoint is None else checkpoint["recorded_at"],
            }
        )
    return out


def _set(s: dict[str, Any]) -> dict[str, Any]:
    return {
        "event_id": s["event_id"],
        "iteration": s["iteration"],
        "job_id": s["job_id"],
        "status": s["status"],
        "template_id": s["template_id"],
        "backend": s["backend"],
        "parameters": list(s["parameters"]),
        "expectation_values": list(s["expectation_values"]),
        "counts": dict(s["counts"]) or None,
        "seed_simulator": s["seed_simulator"],
        "compile_key": s["compile_key"],
        "calibration_id": s["calibration_id"],
        "completed_at": s["completed_at"],
    }


def _versions(sets: list[dict[str, Any]]) -> dict[str, list[str]]:
    versions: dict[str, set[str]] = {}
    for s in sets:
        for name, version in s["package_versions"].items():
            versions.setdefault(name, set()).add(version)
    return {name: sorted(v) for name, v in sorted(versions.items())}


__all__ = ["ExperimentNotFoundError", "experiment_lineage"]
