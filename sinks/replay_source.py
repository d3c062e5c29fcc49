"""What ClickHouse holds about one backend job, shaped for a replay: its sets and circuits.

A replay must work from ClickHouse alone (Kafka topics expire; the tables are the record), so
everything a re-execution needs is read here: each executed set's parameters, shots, seeds,
precision and transpiler settings from ``results``, and the circuits from ``templates``.
Results are read with FINAL so that a set ingested twice counts once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from schemas import CircuitTemplate, PauliTerm, Primitive
from sinks.query import query


class StoredJobNotFoundError(LookupError):
    """No executed set of this job is stored; the message names the job and what to check."""


@dataclass(frozen=True, slots=True)
class StoredSet:
    """One executed parameter set of a job, as stored (the bundle included)."""

    event_id: str
    template_id: str
    parameters: tuple[float, ...]
    shots: int
    seed_simulator: int | None
    precision: float | None
    counts: dict[str, int] | None
    expectation_values: tuple[float, ...]
    standard_errors: tuple[float, ...]
    compile_key: str | None
    noise_model_id: str | None


@dataclass(frozen=True, slots=True)
class StoredJob:
    """A job's executed sets, their circuits and the shared part of their bundle."""

    job_id: str
    backend: str
    primitive: Primitive
    transpiler_settings: dict[str, str]
    package_versions: dict[str, str]
    code_version: str
    sets: tuple[StoredSet, ...]
    templates: dict[str, CircuitTemplate]


_SETS_SQL = """
SELECT event_id, template_id, parameters, shots, seed_simulator, precision, counts, has_counts,
       expectation_values, standard_errors, compile_key, noise_model_id, backend, primitive,
       transpiler_settings, package_versions, code_version
FROM qloop.results FINAL
WHERE job_id = {job_id:String} AND status IN ('SUCCEEDED', 'DEGRADED')
ORDER BY event_id
"""
# The order the worker submitted the sets in: a backend that seeds a whole job (IBM's) draws
# each set's samples by its position, so a replay must keep it.
_ORDER_SQL = """
SELECT event_ids FROM qloop.jobs FINAL WHERE job_id = {job_id:String} LIMIT 1
"""
_TEMPLATES_SQL = """
SELECT template_id, name, qasm3, parameter_names, num_qubits, topology_key, observables,
       created_at
FROM qloop.templates FINAL
WHERE template_id IN {ids:Array(String)}
"""


#: Shown to the user, never executed.
_HINT = 'qloop query "SELECT DISTINCT {column} FROM qloop.results"'


def stored_job(dsn: str, job_id: str) -> StoredJob:
    """Read job ``job_id``'s executed sets and their templates.

    Raises:
        StoredJobNotFoundError: no succeeded set of the job is stored, or a template is missing.

    """
    _columns, rows = query(dsn, _SETS_SQL, {"job_id": job_id})
    if not rows:
        raise StoredJobNotFoundError(
            f"no executed set of job {job_id!r} is stored in qloop.results "
            f"(known jobs: {_HINT.format(column='job_id')})"
        )
    first = rows[0]
    sets = tuple(
        StoredSet(
            event_id=r[0],
            template_id=r[1],
            parameters=tuple(float(v) for v in r[2]),
            shots=int(r[3]),
            seed_simulator=None if r[4] is None else int(r[4]),
            precision=None if r[5] is None else float(r[5]),
            counts={k: int(v) for k, v in r[6].items()} if r[7] else None,
            expectation_values=tuple(float(v) for v in r[8]),
            standard_errors=tuple(float(v) for v in r[9]),
            compile_key=r[10],
            noise_model_id=r[11],
        )
        for r in rows
    )
    _columns, order_rows = query(dsn, _ORDER_SQL, {"job_id": job_id})
    if order_rows:
        position = {event_id: i for i, event_id in enumerate(order_rows[0][0])}
        last = len(position)
        sets = tuple(sorted(sets, key=lambda s: (position.get(s.event_id, last), s.event_id)))
    ids = sorted({s.template_id for s in sets})
    _columns, template_rows = query(dsn, _TEMPLATES_SQL, {"ids": ids})
    templates = {row[0]: _template(row) for row in template_rows}
    missing = [t for t in ids if t not in templates]
    if missing:
        raise StoredJobNotFoundError(
            f"job {job_id!r} ran template(s) {', '.join(missing)} that qloop.templates lacks "
            "(stored results before templates were stored cannot be replayed)"
        )
    return StoredJob(
        job_id=job_id,
        backend=first[12],
        primitive=Primitive(first[13]),
        transpiler_settings=dict(first[14]),
        package_versions=dict(first[15]),
        code_version=first[16],
        sets=sets,
        templates=templates,
    )


def _term(term: Any) -> tuple[Any, Any]:
    """A named tuple column reads back as a mapping or a tuple, depending on the interface."""
    return (term["pauli"], term["coeff"]) if isinstance(term, dict) else tuple(term)


def _template(row: tuple[Any, ...]) -> CircuitTemplate:
    terms = tuple(PauliTerm(str(p), float(c)) for p, c in map(_term, row[6]))
    created_at = row[7]
    assert isinstance(created_at, datetime)  # noqa: S101 - the column type guarantees it
    return CircuitTemplate(
        template_id=str(row[0]),
        name=str(row[1]),
        qasm3=str(row[2]),
        qpy=b"",
        parameter_names=tuple(row[3]),
        num_qubits=int(row[4]),
        topology_key=str(row[5]),
        created_at=created_at,
        observables=terms or None,
    )


__all__ = ["StoredJob", "StoredJobNotFoundError", "StoredSet", "stored_job"]
