"""``qloop dashboard``: a live HTML page over the configured ClickHouse.

Every request runs the page's queries (through the sink's owner process when it holds chDB,
like ``qloop query``) and renders plotly charts with plotly.js inlined from the Python package,
because no CDN need be reachable; the page reloads itself. What it shows: the SLI table with
burn rates, throughput and latency over time, the batch-size histogram, canary drift per
backend with the threshold, budgets per tenant, the last dead letters, and the convergence
curve of each recent experiment.
"""

from __future__ import annotations

import html
import logging
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import plotly.graph_objects as go
from plotly.io import to_html
from plotly.offline import get_plotlyjs

from sinks.query import query
from streams.config import Settings
from streams.local.reports import sli_rows

log = logging.getLogger(__name__)

QUERIES: dict[str, str] = {
    "throughput": "SELECT minute, sum(results) FROM qloop.sli_results_minute "
    "WHERE minute >= now() - toIntervalSecond({s:UInt32}) GROUP BY minute ORDER BY minute",
    "latency": "SELECT minute, quantilesExactInclusiveMerge(0.5, 0.95, 0.99)(end_to_end_q) "
    "FROM qloop.sli_results_minute WHERE minute >= now() - toIntervalSecond({s:UInt32}) "
    "GROUP BY minute ORDER BY minute",
    "batches": "SELECT num_parameter_sets FROM qloop.jobs FINAL "
    "WHERE submitted_at >= now() - toIntervalSecond({s:UInt32})",
    "drift": "SELECT run_at, concat(backend, '/', template), "
    "0.5 * arraySum(arrayMap(k -> abs(counts[k] / shots - ideal[k]), "
    "arrayDistinct(arrayConcat(mapKeys(counts), mapKeys(ideal))))) FROM qloop.canary_runs "
    "WHERE run_at >= now() - toIntervalSecond({s:UInt32}) ORDER BY run_at",
    "budgets": "SELECT tenant, sum(shots), sum(cost) FROM qloop.sli_results_minute "
    "WHERE minute >= now() - toIntervalSecond({s:UInt32}) GROUP BY tenant ORDER BY tenant",
    "dead_letters": "SELECT occurred_at, stage, error_code, error_message FROM qloop.dead_letters "
    "ORDER BY occurred_at DESC LIMIT 20",
    "experiments": "SELECT experiment_id, iteration, avg(expectation_values[1]) "
    "FROM qloop.results FINAL WHERE length(expectation_values) > 0 AND experiment_id IN ("
    "SELECT experiment_id FROM qloop.results WHERE completed_at >= now() - toIntervalSecond("
    "{s:UInt32}) GROUP BY experiment_id ORDER BY max(completed_at) DESC LIMIT 8) "
    "GROUP BY experiment_id, iteration ORDER BY experiment_id, iteration",
}


def _rows(settings: Settings, name: str, since: timedelta) -> list[tuple[Any, ...]]:
    _cols, rows = query(settings.dsn, QUERIES[name], {"s": int(since.total_seconds())})
    return rows


def _chart(fig: go.Figure, title: str) -> str:
    fig.update_layout(title=title, height=320, margin={"l": 50, "r": 20, "t": 50, "b": 40})
    div_id = title.split(" ")[0].rstrip(":").lower()
    return str(to_html(fig, full_html=False, include_plotlyjs=False, div_id=div_id))


def _table(title: str, head: list[str], rows: list[tuple[Any, ...]]) -> str:
    cells = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>" for row in rows
    )
    header = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    return f"<h2>{html.escape(title)}</h2><table><tr>{header}</tr>{cells}</table>"


def charts(settings: Settings, since: timedelta) -> list[str]:
    """The page's chart fragments, in order (each a plotly div)."""
    out = []
    throughput = _rows(settings, "throughput", since)
    fig = go.Figure(go.Scatter(x=[r[0] for r in throughput], y=[r[1] for r in throughput],
                               mode="lines+markers", name="results"))  # fmt: skip
    out.append(_chart(fig, "Throughput (results per minute)"))
    latency = _rows(settings, "latency", since)
    fig = go.Figure()
    for i, label in enumerate(("p50", "p95", "p99")):
        fig.add_trace(go.Scatter(x=[r[0] for r in latency], y=[r[1][i] for r in latency],
                                 mode="lines+markers", name=label))  # fmt: skip
    out.append(_chart(fig, "Latency end to end (ms)"))
    sizes = [r[0] for r in _rows(settings, "batches", since)]
    out.append(
        _chart(go.Figure(go.Histogram(x=sizes, name="jobs")), "Batches: sets per submission")
    )
    drift = _rows(settings, "drift", since)
    fig = go.Figure()
    for series in sorted({r[1] for r in drift}):
        points = [r for r in drift if r[1] == series]
        fig.add_trace(go.Scatter(x=[r[0] for r in points], y=[r[2] for r in points],
                                 mode="lines+markers", name=series))  # fmt: skip
    fig.add_hline(y=settings.drift_tv_threshold, line_dash="dash", annotation_text="threshold")
    out.append(_chart(fig, "Drift: canary distance to ideal"))
    budgets = _rows(settings, "budgets", since)
    fig = go.Figure(go.Bar(x=[r[0] for r in budgets], y=[r[1] for r in budgets], name="shots"))
    out.append(_chart(fig, "Budgets: shots per tenant"))
    experiments = _rows(settings, "experiments", since)
    fig = go.Figure()
    for experiment in sorted({r[0] for r in experiments}):
        points = [r for r in experiments if r[0] == experiment]
        fig.add_trace(go.Scatter(x=[r[1] for r in points], y=[r[2] for r in points],
                                 mode="lines+markers", name=experiment))  # fmt: skip
    out.append(_chart(fig, "Experiments: expectation value per iteration"))
    return out


def page(settings: Settings, since: timedelta, refresh_s: int = 15) -> str:
    """The whole page (plotly.js inlined once)."""
    sli = sli_rows(settings, since)
    sli_table = _table(
        "SLIs",
        ["SLO", "backend", "SLI", "objective", "burn rate", "met"],
        [(r["slo"], r["backend"], r["sli"], r["objective"], r["burn_rate"], r["met"]) for r in sli],
    )
    letters = _table(
        "Last dead letters", ["when", "stage", "code", "message"],
        _rows(settings, "dead_letters", since),
    )  # fmt: skip
    body = "".join(f'<div class="chart">{c}</div>' for c in charts(settings, since))
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        + (f"<meta http-equiv='refresh' content='{refresh_s}'>" if refresh_s > 0 else "")
        + "<title>qloop</title>"
        "<style>body{font-family:sans-serif;margin:1em}.chart{width:48%;display:inline-block}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px}</style>"
        f"<script>{get_plotlyjs()}</script></head><body><h1>qloop</h1>"
        f"{sli_table}{body}{letters}</body></html>"
    )


def serve(settings: Settings, port: int, since: timedelta) -> ThreadingHTTPServer:
    """Serve the page on ``127.0.0.1:port`` from a daemon thread; return the server."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            # ?refresh=N sets the reload period; 0 turns it off (a static snapshot).
            asked = parse_qs(urlparse(self.path).query).get("refresh", ["15"])[0]
            refresh_s = int(asked) if asked.isdigit() else 15
            try:
                body, status = page(settings, since, refresh_s).encode(), 200
            except Exception as exc:  # noqa: BLE001 - a broken query shows, it does not kill the page
                log.exception("dashboard page failed")
                body, status = f"<pre>{html.escape(str(exc))}</pre>".encode(), 500
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            log.debug(format, *args)

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, name="dashboard", daemon=True).start()
    return server


__all__ = ["QUERIES", "charts", "page", "serve"]
