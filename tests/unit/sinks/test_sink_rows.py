"""Record -> row mapping: column order from one place, nulls mapped the documented way."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from schemas import (
    CalibrationSnapshot,
    CanaryRun,
    CompileRecord,
    DeadLetter,
    JobResult,
    JobSubmitted,
    Primitive,
    QubitCalibration,
    Reproducibility,
    ResultStatus,
    Timings,
)
from sinks.rows import COLUMNS, TABLE_FOR, KafkaPosition, to_row, to_rows

AT = datetime(2025, 1, 1, tzinfo=UTC)
POS = KafkaPosition("t", 2, 41)


def _result(**overrides: object) -> JobResult:
    values: dict[str, object] = {
        "event_id": "e", "experiment_id": "x", "iteration": 3, "tenant": "acme",
        "template_id": "tpl", "topology_key": "line", "backend": "aer_simulator",
        "primitive": Primitive.ESTIMATOR, "status": ResultStatus.REJECTED, "parameters": (0.5,),
        "shots": 0, "timings": Timings(1.0, 2.0, 3.0, 6.0), "produced_at": AT,
        "completed_at": AT,
        "reproducibility": Reproducibility({"qiskit": "2"}, "v1", {}, "aer_simulator"),
    }  # fmt: skip
    values.update(overrides)
    return JobResult(**values)  # type: ignore[arg-type]


def _row_dict(record: object) -> dict[str, object]:
    table, row = to_row(record, POS)
    assert len(row) == len(COLUMNS[table])
    return dict(zip(COLUMNS[table], row, strict=True))


def test_result_nulls_become_empty_containers_and_nullables() -> None:
    row = _row_dict(_result())
    assert row["counts"] == {} and row["has_counts"] is False
    assert row["expectation_values"] == [] and row["standard_errors"] == []
    assert row["job_id"] is None and row["seed_simulator"] is None
    assert row["error_code"] == "" and row["primitive"] == "ESTIMATOR"
    assert row["status"] == "REJECTED"
    assert (row["kafka_topic"], row["kafka_partition"], row["kafka_offset"]) == ("t", 2, 41)


def test_result_timings_and_counts_are_flattened() -> None:
    row = _row_dict(_result(counts={"01": 3}, job_id="j", expectation_values=(0.25,)))
    assert (row["queue_ms"], row["compile_ms"], row["execute_ms"], row["end_to_end_ms"]) == (
        1.0, 2.0, 3.0, 6.0,
    )  # fmt: skip
    assert row["counts"] == {"01": 3} and row["has_counts"] is True
    assert row["expectation_values"] == [0.25] and row["job_id"] == "j"


@pytest.mark.parametrize(
    "cls", [JobResult, JobSubmitted, CompileRecord, DeadLetter, CanaryRun, CalibrationSnapshot]
)
def test_every_record_type_has_a_table_and_all_its_fields_map(cls: type) -> None:
    table, _ = TABLE_FOR[cls]
    assert table in COLUMNS
    assert len(set(COLUMNS[table])) == len(COLUMNS[table])


def test_unknown_record_type_is_a_wiring_bug() -> None:
    with pytest.raises(TypeError, match="no ClickHouse table"):
        to_row(object(), POS)


def test_columns_match_the_migration_ddl() -> None:
    from importlib import resources

    folder = resources.files("sinks").joinpath("migrations")
    files = sorted(folder.iterdir(), key=lambda f: f.name)
    ddl = "\n".join(f.read_text() for f in files if f.name.endswith(".sql"))
    for table, columns in COLUMNS.items():
        body = ddl.split(f"CREATE TABLE IF NOT EXISTS qloop.{table}\n", 1)[1].split("ENGINE", 1)[0]
        declared = [
            line.split()[0] for line in body.splitlines()[1:] if line.strip() not in ("", "(", ")")
        ]
        # Later migrations add columns at the end of the table.
        added = re.findall(rf"ALTER TABLE qloop\.{table} ADD COLUMN IF NOT EXISTS (\w+)", ddl)
        assert [c for c in declared if c != "ingested_at"] + added == list(columns), table


def test_canary_run_is_one_row_without_kafka_coordinates() -> None:
    run = CanaryRun("r1", "fake_manila", "ghz2", "cal-1", 100, {"00": 60, "11": 40},
                    {"00": 0.5, "11": 0.5}, AT, 1.0, 1.0)  # fmt: skip
    row = _row_dict(run)
    assert row == {
        "run_id": "r1", "backend": "fake_manila", "template": "ghz2", "calibration_id": "cal-1",
        "shots": 100, "counts": {"00": 60, "11": 40}, "ideal": {"00": 0.5, "11": 0.5},
        "expectation": 1.0, "ideal_expectation": 1.0, "run_at": AT,
    }  # fmt: skip


def test_calibration_snapshot_is_one_row_per_qubit() -> None:
    qubits = (QubitCalibration(0, 120.0, 90.0, 0.01), QubitCalibration(1, 110.0, 80.0, 0.02))
    table, rows = to_rows(CalibrationSnapshot("fake_manila", "cal-1", qubits, AT), POS)
    assert table == "calibrations"
    assert [dict(zip(COLUMNS[table], r, strict=True)) for r in rows] == [
        {"backend": "fake_manila", "calibration_id": "cal-1", "qubit": q.qubit, "t1_us": q.t1_us,
         "t2_us": q.t2_us, "readout_error": q.readout_error, "captured_at": AT}
        for q in qubits
    ]  # fmt: skip
    assert to_rows(CalibrationSnapshot("fake_manila", "cal-0", (), AT), POS) == ("calibrations", [])
    with pytest.raises(ValueError, match="2 rows"):
        to_row(CalibrationSnapshot("fake_manila", "cal-1", qubits, AT), POS)
