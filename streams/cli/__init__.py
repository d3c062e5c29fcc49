"""The ``qloop`` command line: the one place that imports every stage, imported by none.

Lives here: the root typer app and its explicit command table (this module), what commands
print through (:mod:`~streams.cli.output`), and one module per command family: local
infrastructure (:mod:`~streams.cli.broker`), the public contract
(:mod:`~streams.cli.contract`), operations (:mod:`~streams.cli.ops`) and the main
job and benchmark (:mod:`~streams.cli.run`). Command modules import :mod:`streams.cli.output`
only, never each other's registration; every command reads the same
:class:`~streams.config.Settings`, and a user-fixable failure prints one line and exits 1.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from streams.cli import approvals, backends, broker, contract, experiments, ops, run
from streams.cli.output import err_console
from streams.config import DataDirError
from streams.kafka.probe import BrokerUnreachableError
from streams.local.broker import BrokerError

app = typer.Typer(
    help="qloop: streaming plumbing for hybrid quantum-classical loops.",
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(show: bool) -> None:
    if show:
        from importlib.metadata import version

        print(f"qloop {version('qloop')}")
        raise typer.Exit


@app.callback()
def _root(
    _version_flag: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
    bootstrap: Annotated[
        str | None,
        typer.Option("--bootstrap", help="Kafka bootstrap servers (QLOOP_KAFKA_BOOTSTRAP)."),
    ] = None,
    dsn: Annotated[
        str | None,
        typer.Option(
            "--dsn", help="ClickHouse DSN, chdb:///path or http(s)://… (QLOOP_CLICKHOUSE_DSN)."
        ),
    ] = None,
) -> None:
    """Options for every command; settings otherwise come from QLOOP_* variables."""
    # Every command reads one Settings object from the environment (child processes too).
    if bootstrap:
        os.environ["QLOOP_KAFKA_BOOTSTRAP"] = bootstrap
    if dsn:
        os.environ["QLOOP_CLICKHOUSE_DSN"] = dsn


app.add_typer(broker.broker_app, name="broker")
broker.topics_app.command("tail")(contract.tail_cmd)
app.add_typer(broker.topics_app, name="topics")
app.command("worker")(broker.worker_cmd)
app.command("sink")(ops.sink_cmd)
app.command("canary")(ops.canary_cmd)
app.command("query")(ops.query_cmd)
app.command("sli")(ops.sli_cmd)
app.command("drift")(ops.drift_cmd)
db_app = typer.Typer(help="ClickHouse administration.", no_args_is_help=True)
db_app.command("roles")(ops.db_roles_cmd)
app.add_typer(db_app, name="db")
app.command("dashboard")(ops.dashboard_cmd)
app.command("schemas")(contract.schemas_cmd)
app.command("run")(run.run_cmd)
app.command("bench")(run.bench_cmd)
app.add_typer(backends.backends_app, name="backends")
app.add_typer(approvals.approvals_app, name="approvals")
app.command("replay")(experiments.replay_cmd)
app.command("lineage")(experiments.lineage_cmd)

#: Errors a user can fix: shown as one line, exit code 1.
USER_ERRORS: tuple[type[Exception], ...] = (BrokerError, BrokerUnreachableError, DataDirError)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except USER_ERRORS as exc:
        err_console.print(f"[bold red]error:[/] {exc}")
        sys.exit(1)


__all__ = ["app", "main"]
