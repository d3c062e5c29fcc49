"""The writer buffers a record's rows together: a calibration snapshot is one row per qubit,
all in its offset's block, under that block's deduplication token (no engine needed)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from schemas import CalibrationSnapshot, CanaryRun, QubitCalibration
from sinks.writer import ClickHouseSink

AT = datetime(2025, 1, 1, tzinfo=UTC)


class _Result:
    result_rows: list[tuple[Any, ...]] = []


class FakeClient:
    """Records inserts; the batch log is empty (a first run)."""

    def __init__(self) -> None:
        self.inserts: list[tuple[str, list[Any], dict[str, Any]]] = []

    def query(self, _sql: str, parameters: dict[str, Any] | None = None) -> _Result:
        return _Result()

    def insert(self, table: str, rows: list[Any], **kwargs: Any) -> None:
        self.inserts.append((table, list(rows), kwargs))


def test_snapshot_rows_and_an_empty_snapshot_share_the_block_token() -> None:
    client = FakeClient()
    sink = ClickHouseSink(client)  # type: ignore[arg-type]
    qubits = tuple(QubitCalibration(q, 100.0, 80.0, 0.01) for q in range(3))
    sink.add("q.calibrations", 0, 7, CalibrationSnapshot("fake_manila", "c1", qubits, AT))
    sink.add("q.calibrations", 0, 8, CalibrationSnapshot("fake_manila", "c0", (), AT))
    run = CanaryRun("r1", "fake_manila", "ghz2", "c1", 10, {"00": 10}, {"00": 0.5}, AT)
    sink.add("q.canary-runs", 1, 3, run)
    assert sink.buffered_rows == 4
    commits = sink.flush()
    assert commits == {("q.calibrations", 0): 9, ("q.canary-runs", 1): 4}
    by_table = {t: (rows, kw) for t, rows, kw in client.inserts if t != "qloop.sink_batches"}
    rows, kw = by_table["qloop.calibrations"]
    assert [r[2] for r in rows] == [0, 1, 2]
    assert kw["settings"] == {
        "insert_deduplication_token": "qloop:calibrations:q.calibrations:0:7-8"
    }
    rows, kw = by_table["qloop.canary_runs"]
    assert rows[0][0] == "r1"
    assert kw["settings"] == {"insert_deduplication_token": "qloop:canary_runs:q.canary-runs:1:3-3"}
    assert sink.buffered_rows == 0
