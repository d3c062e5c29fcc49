"""Operational commands: the ClickHouse sink, queries, SLIs, drift and the canary."""

from __future__ import annotations

import json
import logging
import signal
import threading
from datetime import timedelta
from typing import Annotated, Any

import typer
from rich.table import Table

from streams.cli.output import LogFormatOpt, console, fail, render_sli
from streams.config import Settings, load_settings
from streams.kafka.probe import check_kafka
from streams.local.reports import sli_rows

_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> timedelta:
    """``90s``, ``15m``, ``1h``, ``7d`` -> timedelta."""
    try:
        return timedelta(seconds=float(text[:-1]) * _DURATION_UNITS[text[-1]])
    except (KeyError, ValueError, IndexError):
        raise typer.BadParameter(f"{text!r} is not a duration like 90s, 15m, 1h or 7d") from None


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def sink_cmd(
    canary_interval: Annotated[
        float,
        typer.Option(help="Also publish drift-canary rounds every N seconds (0: off)."),
    ] = 0.0,
    log_level: Annotated[str, typer.Option(help="Python log level.")] = "WARNING",
    metrics_port: Annotated[
        int | None,
        typer.Option(help="Serve Prometheus /metrics here (QLOOP_SINK_METRICS_PORT)."),
    ] = None,
    log_format: Annotated[
        LogFormatOpt | None,
        typer.Option(help="json or console (default: console on a terminal, else json)."),
    ] = None,
) -> None:
    """Run the ClickHouse sink: results, jobs, compilations, dead letters, canary -> ClickHouse."""
    from streams.logs import configure_logging
    from streams.sink.launch import run_configured_sink

    configure_logging(log_level, log_format.value if log_format else None)
    settings = load_settings(sink_metrics_port=metrics_port)
    settings.ensure_data_dir()
    stop = _stop_on_signals()
    if canary_interval > 0:
        # Only a convenience: the canary publishes to Kafka like `qloop canary` does, and this
        # sink stores its records; it needs nothing of the sink process.
        threading.Thread(
            target=_canary_thread, args=(settings, canary_interval, stop), daemon=True
        ).start()
    run_configured_sink(settings, stop)


def _canary_thread(settings: Settings, interval: float, stop: threading.Event) -> None:
    from streams.canary import run_canary

    try:
        run_canary(settings, interval, stop)
    except Exception:  # noqa: BLE001 - the canary must never take the sink down
        logging.getLogger(__name__).exception("drift canary stopped")


def canary_cmd(
    interval: Annotated[
        float, typer.Option(help="Seconds between rounds; 0 runs one round.")
    ] = 0.0,
    log_level: Annotated[str, typer.Option(help="Python log level.")] = "WARNING",
) -> None:
    """Publish drift-canary rounds (GHZ/Bell reference circuits) on every canary backend.

    Needs Kafka only: the records go to the canary topics and the sink stores them.
    """
    from confluent_kafka import KafkaException

    from processors.errors import ConfigurationError
    from streams.canary import canary_once, run_canary
    from streams.kafka.clients import PublishError

    logging.basicConfig(level=log_level.upper())
    settings = load_settings()
    check_kafka(settings)
    try:
        if interval > 0:
            run_canary(settings, interval, _stop_on_signals())
            return
        runs, snapshots = canary_once(settings)
    except KafkaException as exc:
        raise fail(f"Kafka at {settings.bootstrap} did not answer: {exc}") from None
    except (PublishError, ConfigurationError) as exc:
        raise fail(str(exc)) from None
    console.print(
        f"published {len(runs)} canary run(s) and {len(snapshots)} calibration snapshot(s)"
    )


def _print_rows(columns: list[str], rows: list[tuple[Any, ...]], fmt: str) -> None:
    if fmt == "json":
        print(json.dumps([dict(zip(columns, r, strict=True)) for r in rows], default=str))
    elif fmt == "csv":
        import csv
        import sys

        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        writer.writerows(rows)
    else:
        table = Table(*columns)
        for row in rows:
            table.add_row(*("" if v is None else str(v) for v in row))
        console.print(table)


def query_cmd(
    sql: Annotated[str, typer.Argument(help="One read-only statement (SELECT, SHOW, ...).")],
    fmt: Annotated[str, typer.Option("--format", help="table, json or csv.")] = "table",
) -> None:
    """Run a read-only query on the configured ClickHouse (directly or via the running sink)."""
    from sinks.errors import SinkError
    from sinks.query import query

    if fmt not in {"table", "json", "csv"}:
        raise fail(f"--format must be table, json or csv, not {fmt!r}")
    try:
        columns, rows = query(load_settings().dsn, sql)
    except SinkError as exc:
        raise fail(str(exc)) from None
    except Exception as exc:  # noqa: BLE001 - engine errors (bad SQL) are user errors here
        raise fail(f"query failed: {str(exc).splitlines()[0][:400]}") from None
    _print_rows(columns, rows, fmt)


def dashboard_cmd(
    port: Annotated[int, typer.Option(help="Serve the page on 127.0.0.1:PORT.")] = 8050,
    since: Annotated[str, typer.Option(help="Window shown, e.g. 1h, 24h, 7d.")] = "24h",
) -> None:
    """Serve a live page over the configured ClickHouse: SLIs, throughput, drift, budgets, …."""
    from streams.dashboard import serve

    settings = load_settings()
    try:
        server = serve(settings, port, parse_duration(since))
    except OSError as exc:
        raise fail(f"cannot serve on 127.0.0.1:{port}: {exc.strerror or exc}") from None
    console.print(f"qloop dashboard on http://127.0.0.1:{port}/ (Ctrl-C stops)")
    try:
        _stop_on_signals().wait()
    finally:
        server.shutdown()


def db_roles_cmd() -> None:
    """Create the qloop_ingest_role and qloop_analyst_role on a ClickHouse server (admins)."""
    from sinks.access import apply_roles
    from sinks.connection import chdb_path, connect
    from sinks.errors import SinkError

    settings = load_settings()
    if chdb_path(settings.dsn) is not None:
        raise fail(
            "the embedded engine (chDB) has no users or roles; "
            "point QLOOP_CLICKHOUSE_DSN (or --dsn) at a ClickHouse server"
        )
    try:
        client = connect(settings.dsn)
        try:
            for statement in apply_roles(client):
                console.print(statement)
        finally:
            client.close()
    except SinkError as exc:
        raise fail(str(exc)) from None


def sli_cmd(
    since: Annotated[str, typer.Option(help="Window, e.g. 15m, 1h, 7d.")] = "1h",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """SLIs per backend against the configured SLOs, with error-budget burn rates."""
    from sinks.errors import SinkError

    try:
        rows = sli_rows(load_settings(), parse_duration(since))
    except SinkError as exc:
        raise fail(str(exc)) from None
    if as_json:
        print(json.dumps(rows))
    else:
        console.print(render_sli(rows))


def drift_cmd(
    recent: Annotated[str, typer.Option(help="Window judged for drift.")] = "1h",
    baseline: Annotated[str, typer.Option(help="Rolling baseline before it.")] = "7d",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """What drifted beyond the configured thresholds, and why qloop thinks so."""
    from sinks.drift import DriftThresholds, drift_report
    from sinks.errors import SinkError
    from sinks.query import ReadOnlyClient

    settings = load_settings()
    thresholds = DriftThresholds(
        tv=settings.drift_tv_threshold,
        hellinger=settings.drift_hellinger_threshold,
        z=settings.drift_z_threshold,
        min_baseline_runs=settings.drift_min_baseline_runs,
        ideal_backends=settings.drift_ideal_backends,
        max_tv_to_ideal=settings.drift_max_tv_to_ideal,
    )
    try:
        findings = drift_report(
            ReadOnlyClient(settings.dsn),  # type: ignore[arg-type]
            thresholds,
            recent=parse_duration(recent),
            baseline=parse_duration(baseline),
        )
    except SinkError as exc:
        raise fail(str(exc)) from None
    if as_json:
        print(
            json.dumps(
                [
                    f.__dict__
                    if hasattr(f, "__dict__")
                    else {k: getattr(f, k) for k in f.__slots__}
                    for f in findings
                ],
                default=str,
            )
        )
        return
    if not findings:
        console.print("no drift beyond the thresholds")
    for f in findings:
        console.print(f"[bold]{f.backend}[/] {f.template} {f.metric}={f.value:.4f}: {f.reason}")


__all__ = [
    "canary_cmd",
    "dashboard_cmd",
    "db_roles_cmd",
    "drift_cmd",
    "parse_duration",
    "query_cmd",
    "sink_cmd",
    "sli_cmd",
]
