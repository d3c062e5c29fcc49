"""What every command prints through: one console, one error line, one exit code.

A user-fixable failure is one red line on stderr and exit code 1, never a traceback.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import typer
from rich import box
from rich.console import Console
from rich.table import Table

console = Console()
err_console = Console(stderr=True, soft_wrap=True)


class LogFormatOpt(StrEnum):
    """How a long-running command writes its log."""

    json = "json"
    console = "console"


#: Exit status after Ctrl-C (128 + SIGINT), the shell convention.
INTERRUPTED = 130


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``message`` as an error and return the exit to raise."""
    err_console.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code)


def render_sli(rows: list[dict[str, Any]]) -> Table:
    """SLI rows as a rich table (fits 80 columns: numbers never wrap, the SLO name may)."""
    table = Table(title="SLIs", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("SLO", overflow="fold", ratio=1)
    for name in ("backend", "SLI", "obj.", "burn", "met", "p50/95/99 ms", "n"):
        table.add_column(name, no_wrap=True)

    def fmt(value: float | None, spec: str = ".4f") -> str:
        return "-" if value is None else format(value, spec)

    for r in rows:
        table.add_row(
            r["slo"],
            r["backend"],
            fmt(r["sli"]),
            f"{r['objective']:g}",
            fmt(r["burn_rate"], ".2f"),
            {True: "yes", False: "NO"}.get(r["met"], "-"),
            "/".join(fmt(r[k], ".0f") for k in ("p50_ms", "p95_ms", "p99_ms")),
            str(r["total"]),
        )
    return table


__all__ = ["console", "err_console", "fail", "render_sli"]
