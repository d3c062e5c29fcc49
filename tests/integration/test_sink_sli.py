"""SLI views on the real engine: quantiles equal numpy's, SLO burn rates match a hand count."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
from clickhouse_connect.driver.client import Client
from sink_factories import T0, ch, chdb_dsn, make_job, make_result  # noqa: F401

from schemas import ResultStatus
from sinks import ClickHouseSink
from sinks.sli import SLO, Indicator, sli_report
from sinks.sli_series import sli_series, submission_stats

NOW = T0 + timedelta(minutes=30)


def _load(ch: Client, n: int = 3000) -> tuple[np.ndarray, np.ndarray]:  # noqa: F811
    rng = np.random.default_rng(42)
    e2e = rng.lognormal(mean=6.5, sigma=0.6, size=n)  # ~ 665 ms median, long tail
    statuses = rng.choice(
        [ResultStatus.SUCCEEDED, ResultStatus.FAILED, ResultStatus.REJECTED],
        size=n,
        p=[0.97, 0.02, 0.01],
    )
    sink = ClickHouseSink(ch, max_rows=700)
    for i in range(n):
        sink.add(
            "results",
            i % 3,
            i,
            make_result(
                i,
                tenant=("acme", "globex")[i % 2],
                status=ResultStatus(statuses[i]),
                end_to_end_ms=float(e2e[i]),
                completed_at=T0 + timedelta(seconds=i % 600),  # spread over 10 minutes
            ),
        )
        if sink.should_flush():
            sink.flush()
    sink.flush()
    executed = statuses != ResultStatus.REJECTED
    return np.asarray(e2e[executed]), np.asarray(statuses[executed])


def test_view_quantiles_equal_numpy(ch: Client) -> None:  # noqa: F811
    e2e, _ = _load(ch)
    merged = ch.query(
        "SELECT quantilesExactInclusiveMerge(0.5, 0.95, 0.99)(end_to_end_q),"
        " quantilesExactInclusiveMerge(0.5, 0.95, 0.99)(queue_q) FROM qloop.sli_results_minute"
    ).result_rows[0]
    np.testing.assert_allclose(merged[0], np.quantile(e2e, [0.5, 0.95, 0.99]), rtol=1e-12)
    np.testing.assert_allclose(merged[1], np.quantile(e2e * 0.2, [0.5, 0.95, 0.99]), rtol=1e-12)
    slo = SLO("e2e", "aer_*", Indicator.LATENCY_END_TO_END, 0.99, threshold_ms=2000)
    (row,) = sli_report(ch, timedelta(hours=2), [slo], now=NOW)
    np.testing.assert_allclose(
        [row.p50_ms, row.p95_ms, row.p99_ms], np.quantile(e2e, [0.5, 0.95, 0.99])
    )


def test_slo_report_good_total_and_burn_rate(ch: Client) -> None:  # noqa: F811
    e2e, statuses = _load(ch)
    slos = [
        SLO("sim-2s", "aer_*", Indicator.LATENCY_END_TO_END, 0.99, threshold_ms=2000),
        SLO("success", "*", Indicator.SUCCESS_RATE, 0.999),
        SLO("other-backend", "ibm_*", Indicator.SUCCESS_RATE, 0.999),
    ]
    rows = {r.slo: r for r in sli_report(ch, timedelta(hours=2), slos, now=NOW)}
    assert set(rows) == {"sim-2s", "success"}  # no ibm_* data: no row
    lat = rows["sim-2s"]
    assert (lat.good, lat.total) == (int((e2e <= 2000).sum()), len(e2e))
    expected_burn = (1 - lat.good / lat.total) / (1 - 0.99)
    assert lat.burn_rate is not None and abs(lat.burn_rate - expected_burn) < 1e-9
    ok = rows["success"]
    assert ok.good == int((statuses == ResultStatus.SUCCEEDED).sum()) and ok.total == len(e2e)
    assert ok.met is False and ok.burn_rate is not None and ok.burn_rate > 1


def test_series_per_minute_backend_and_tenant(ch: Client) -> None:  # noqa: F811
    _load(ch)
    points = sli_series(ch, timedelta(hours=2), now=NOW)
    assert {p.tenant for p in points} == {"acme", "globex"}
    assert len({p.minute for p in points}) == 10
    assert sum(p.results for p in points) == 3000
    assert all(p.minute.tzinfo is not None for p in points)


def test_retries_from_job_view(ch: Client) -> None:  # noqa: F811
    sink = ClickHouseSink(ch)
    sink.add("jobs", 0, 0, make_job(0, ("a", "b")))
    sink.add("jobs", 0, 1, make_job(1, ("b", "c")))  # b resubmitted
    sink.flush()
    (stats,) = submission_stats(ch, timedelta(days=1), now=NOW)
    assert (stats.jobs, stats.parameter_sets, stats.distinct_sets, stats.retries) == (2, 4, 3, 1)
