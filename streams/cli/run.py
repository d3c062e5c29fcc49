"""The main job and the benchmark: ``qloop run`` and ``qloop bench``."""

from __future__ import annotations

import json
import signal
import threading
from types import FrameType
from typing import Annotated, Any

import typer
from rich.table import Table

from streams.cli.output import INTERRUPTED, console, fail, render_sli
from streams.config import load_settings


def run_cmd(
    workload: Annotated[str, typer.Argument(help="vqe-h2 or qaoa-maxcut.")] = "vqe-h2",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    experiment: Annotated[
        str | None,
        typer.Option(help="Experiment id (default: a fresh one, printed in the summary)."),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume", help="Continue --experiment from its last checkpoint (after a crash)."
        ),
    ] = False,
) -> None:
    """Run a built-in hybrid workload through broker, worker and sink, then summarise."""
    from rich.console import Console

    from processors.workloads import WorkloadError
    from streams.local.broker import BrokerError
    from streams.local.run_driver import ResumeError, new_experiment_id, run_workload
    from streams.local.stack import StackError

    if resume and experiment is None:
        raise fail("--resume needs --experiment ID (the id a crashed run printed)")
    experiment_id = experiment or new_experiment_id(workload)
    settings = load_settings()
    settings.ensure_data_dir()
    progress_console = Console(stderr=True) if as_json else console
    interrupted = threading.Event()

    def on_sigint(signum: int, frame: FrameType | None) -> None:
        interrupted.set()
        signal.default_int_handler(signum, frame)

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        summary = run_workload(
            settings,
            workload,
            console=progress_console,
            experiment_id=experiment_id,
            resume=resume,
        )
    except (WorkloadError, StackError, BrokerError, TimeoutError, ResumeError) as exc:
        raise fail(str(exc)) from None
    except (KeyboardInterrupt, SystemError) as exc:
        # Ctrl-C inside a librdkafka call can surface as a SystemError ("returned NULL without
        # setting an exception") instead of KeyboardInterrupt; the flag tells the two apart.
        if isinstance(exc, SystemError) and not interrupted.is_set():
            raise
        raise fail(
            "interrupted; everything this run started was stopped. Continue it with: "
            f"qloop run {workload} --experiment {experiment_id} --resume",
            INTERRUPTED,
        ) from None
    finally:
        signal.signal(signal.SIGINT, previous)
    if as_json:
        print(json.dumps(summary, default=str))
        return
    _print_summary(summary)


def bench_cmd(
    quick: Annotated[
        bool, typer.Option("--quick", help="N = 1,000 only (about 2 minutes).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    backend: Annotated[
        str,
        typer.Option(
            "--backend",
            help="'null': time qloop's plumbing alone against an instant backend "
            "(sets/s, CPU per set and sets per core-second) instead of the simulator.",
        ),
    ] = "aer_simulator",
) -> None:
    """Benchmark qloop against the raw simulator limit and the naive way."""
    if backend not in ("aer_simulator", "null"):
        raise fail(f"--backend must be aer_simulator or null, not {backend!r}", 2)
    if backend == "null":
        from streams.bench.plumbing import bench_plumbing

        report = bench_plumbing(quick)
        print(json.dumps(report, indent=None if as_json else 2))  # noqa: T201 - the output
        return
    from streams.bench import run_bench

    report = run_bench(quick, as_json)
    if as_json:
        print(json.dumps(report, default=str))


def _print_summary(s: dict[str, Any]) -> None:
    table = Table(title=f"qloop run {s['workload']}", show_header=False)
    if "energy" in s:
        table.add_row("energy (Ha)", f"{s['energy']:.6f}")
        table.add_row("exact reference (Ha)", f"{s['reference_energy']:.6f}")
        ok = "within chemical accuracy" if s["error"] <= 1.6e-3 else "NOT within 1.6 mHa"
        table.add_row("error (Ha)", f"{s['error']:.2e} ({ok})")
    else:
        table.add_row("approximation ratio <C>/C_max", f"{s['approximation_ratio']:.4f}")
        table.add_row("expected cut / max cut", f"{s['expected_cut']:.3f} / {s['max_cut']:.3f}")
        table.add_row("best sampled cut", str(s.get("best_bitstring")))
    for key, label in (
        ("iterations", "iterations"),
        ("parameter_sets", "parameter sets"),
        ("results_stored", "result rows in ClickHouse"),
        ("backend_submissions", "backend submissions"),
        ("compile_count", "compilations"),
        ("compile_cache_hits", "submissions served from the compile cache"),
        ("seconds", "wall time (s)"),
    ):
        table.add_row(label, str(s[key]))
    sizes = ", ".join(f"{n}x{size}" for size, n in s["batch_sizes"].items())
    table.add_row("batch sizes (jobs x sets)", sizes)
    table.add_row("experiment id", s["experiment_id"])
    console.print(table)
    console.print(render_sli(s["sli"]))
    hint = (  # shown to the user, never executed here
        'Data stays in ClickHouse: qloop query "SELECT iteration, count() FROM qloop.results '
        "WHERE experiment_id = '{e}' GROUP BY iteration ORDER BY iteration\""
    )
    console.print(hint.format(e=s["experiment_id"]))


__all__ = ["bench_cmd", "run_cmd"]
