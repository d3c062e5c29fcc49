"""What the benchmark reports: the machine, the targets and the summary table."""

from __future__ import annotations

import os
import platform
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from streams.bench.stats import ratio


def machine_info() -> dict[str, Any]:
    """nproc, CPU model, memory, versions."""
    import psutil

    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for name in ("qiskit", "qiskit-aer", "faust-streaming", "confluent-kafka", "chdb"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": model,
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
    }


def targets(out: dict[str, Any]) -> dict[str, Any]:
    """The issue's targets, with the measured value and whether it is met."""
    w = out["workloads"]
    checks: dict[str, Any] = {}

    def check(name: str, value: float | None, ok: Callable[[float], bool]) -> None:
        if value is not None:
            checks[name] = {"value": value, "met": bool(ok(value))}

    s8 = w.get("sampler_8q", {}).get("1000")
    est = w.get("estimator_8q", {}).get("1000")
    check("efficiency_sampler_8q_n1000>=0.8", s8 and s8["efficiency"], lambda v: v >= 0.8)
    check("efficiency_estimator_8q_n1000>=0.5", est and est["efficiency"], lambda v: v >= 0.5)
    check("speedup_sampler_8q>=5", s8 and s8["speedup_vs_naive"], lambda v: v >= 5)
    check("speedup_estimator_8q>=12", est and est["speedup_vs_naive"], lambda v: v >= 12)
    check(
        "pipeline_cpu_us_per_set_estimator_8q<=100",
        est and est.get("pipeline_cpu_us_per_set"),
        lambda v: v <= 100,
    )
    remote = out.get("remote")
    if remote:
        check(
            "remote_speedup/sets_per_submission>=0.5",
            ratio(remote["speedup_vs_naive"], remote["sets_per_submission"]),
            lambda v: v >= 0.5,
        )
    inter = out.get("interactive_latency_ms")
    check("interactive_p99<=100ms", inter and inter["p99"], lambda v: v <= 100)
    small, large = w.get("sampler_8q", {}).get("1000"), w.get("sampler_8q", {}).get("10000")
    if small and large:
        growth = large["peak_rss_mib"].get("worker", 0) - small["peak_rss_mib"].get("worker", 0)
        check("worker_rss_growth_1k_to_10k_mib<=100", round(growth, 1), lambda v: v <= 100)
    return checks


def table_rows(out: dict[str, Any]) -> list[list[str]]:
    """Rows of the summary table (also used for BENCHMARKS.md)."""
    rows = []
    for name, by_n in out["workloads"].items():
        for n, e in by_n.items():
            sps, lat, rss = e["sets_per_s"], e["latency_ms"], e["peak_rss_mib"]
            naive = f"{sps['naive']}" + ("*" if e["naive_extrapolated_from"] else "")
            rows.append(
                [
                    name,
                    n,
                    f"{sps['limit']}",
                    f"{sps['qloop']}",
                    naive,
                    f"{e['efficiency']} ({e['efficiency_to_last_result']})",
                    f"{e['speedup_vs_naive']}",
                    f"{lat['p50']}/{lat['p95']}/{lat['p99']}",
                    f"{e['backend_submissions']} ({e['compile_cache_hits']} hits)",
                    "{:.0f}/{:.0f}".format(rss.get("worker", 0), rss.get("bench", 0)),
                ]
            )
    return rows


HEADERS = [
    "workload",
    "N",
    "limit sets/s",
    "qloop sets/s",
    "naive sets/s",
    "efficiency (to last result)",
    "speedup vs naive",
    "latency p50/p95/p99 ms",
    "submissions (cache hits)",
    "peak RSS MiB worker/bench",
]


def print_table(out: dict[str, Any]) -> None:
    """Print the summary as a rich table on stdout."""
    table = Table(*HEADERS, title="qloop bench (medians)")
    for row in table_rows(out):
        table.add_row(*row)
    stdout = Console()
    stdout.print(table)
    stdout.print("* naive extrapolated from a sample of sets")
    stdout.print(f"remote: {out.get('remote')}")
    stdout.print(f"interactive: {out.get('interactive_latency_ms')}")
    stdout.print(f"targets: {out.get('targets')}")


def markdown_table(out: dict[str, Any]) -> str:
    """The summary table as GitHub markdown."""
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    lines += ["| " + " | ".join(row) + " |" for row in table_rows(out)]
    return "\n".join(lines)


__all__ = [
    "HEADERS",
    "machine_info",
    "markdown_table",
    "print_table",
    "table_rows",
    "targets",
]
