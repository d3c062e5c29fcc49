"""Experiments after the fact: ``qloop replay`` (re-execute a stored job) and ``qloop lineage``."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from streams.cli.output import console, err_console, fail
from streams.config import load_settings


def replay_cmd(
    job_id: Annotated[str, typer.Argument(help="A job id from qloop.results or qloop.jobs.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    fresh_seeds: Annotated[
        bool,
        typer.Option(
            "--fresh-seeds",
            help="Ignore the recorded seeds: a statistical re-run (TVD, z-scores) instead.",
        ),
    ] = False,
) -> None:
    """Re-execute a stored job from ClickHouse alone and compare with what was stored."""
    from processors.backends.registry import BackendRegistry
    from processors.errors import BackendNotAllowedError, ConfigurationError
    from processors.replay import replay_job
    from sinks.errors import SinkError
    from sinks.replay_source import StoredJobNotFoundError, stored_job

    settings = load_settings()
    try:
        job = stored_job(settings.dsn, job_id)
    except (StoredJobNotFoundError, SinkError) as exc:
        raise fail(str(exc)) from None
    try:
        # No per-submission overhead and no prices: a replay is a check, not a charged run.
        backend = BackendRegistry(settings.allowed_backends).get(job.backend)
    except (BackendNotAllowedError, ConfigurationError) as exc:
        raise fail(f"cannot replay on {job.backend!r} here: {exc}") from None
    report = replay_job(job, backend, fresh_seeds=fresh_seeds)
    summary = report.summary()
    for name, versions in summary["version_differences"].items():
        err_console.print(
            f"[yellow]warning:[/] {name} {versions['installed']} is installed; the job ran "
            f"with {versions['stored']}"
        )
    if as_json:
        print(json.dumps(summary))
        return
    _print_replay(summary, job.code_version)


def _print_replay(s: dict[str, Any], code_version: str) -> None:
    table = Table(title=f"qloop replay {s['job_id']}", show_header=False)
    table.add_row("backend / primitive", f"{s['backend']} / {s['primitive']}")
    table.add_row("sets replayed", str(s["sets"]))
    table.add_row("bit-identical", f"{s['identical']} of {s['sets']}")
    table.add_row("within shot noise", f"{s['within_shot_noise']} of {s['sets']}")
    for key, label in (("max_tvd", "max TVD"), ("max_abs_ev_diff", "max |Δ<O>|")):
        if s[key] is not None:
            table.add_row(label, f"{s[key]:.3g}")
    table.add_row("seeds", "fresh" if s["fresh_seeds"] else "as recorded")
    table.add_row("same compilation", "yes" if s["compile_keys_match"] else "NO")
    table.add_row("package versions", "as recorded" if s["versions_match"] else "DIFFER")
    table.add_row("code that ran it", code_version)
    console.print(table)


def lineage_cmd(
    experiment_id: Annotated[str, typer.Argument(help="The experiment id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Everything behind an experiment's answer: iterations, sets, jobs, compilations, …."""
    from sinks.errors import SinkError
    from sinks.lineage import ExperimentNotFoundError, experiment_lineage

    try:
        lineage = experiment_lineage(load_settings().dsn, experiment_id)
    except (ExperimentNotFoundError, SinkError) as exc:
        raise fail(str(exc)) from None
    if as_json:
        print(json.dumps(lineage, default=str))
        return
    final = lineage["final"] or {}
    optimizer = lineage["optimizer"] or {}
    table = Table(title=f"qloop lineage {experiment_id}", show_header=False)
    table.add_row("workload", str(lineage["workload"]))
    table.add_row("optimizer", f"{optimizer.get('name')} (seed {optimizer.get('seed')})")
    table.add_row("final value", str(final.get("value")))
    table.add_row("iterations", str(len(lineage["iterations"])))
    table.add_row("parameter sets", str(len(lineage["parameter_sets"])))
    table.add_row("jobs", str(len(lineage["jobs"])))
    table.add_row("compilations", str(len(lineage["compilations"])))
    table.add_row("templates", ", ".join(t["name"] for t in lineage["templates"]))
    table.add_row("backends", ", ".join(lineage["backends"]))
    table.add_row("calibrations", str(len(lineage["calibrations"])))
    table.add_row("code versions", ", ".join(lineage["code_versions"]))
    console.print(table)
    console.print(f"The whole object: qloop lineage {experiment_id} --json")


__all__ = ["lineage_cmd", "replay_cmd"]
