"""The drift canary's records travel through Kafka now: their contracts round-trip exactly."""

from __future__ import annotations

from datetime import UTC, datetime

from samples import all_samples

from schemas import (
    AvroCodec,
    CalibrationSnapshot,
    CanaryRun,
    QubitCalibration,
    contract_for,
)
from schemas.contracts import CONTRACT_FILES

AT = datetime(2026, 5, 4, 3, 2, 1, 654321, tzinfo=UTC)
codec = AvroCodec()


def test_canary_run_round_trips_with_optional_observables() -> None:
    full = CanaryRun("r1", "fake_manila", "ghz2", "cal-1", 2000, {"00": 990, "11": 1010},
                     {"00": 0.5, "11": 0.5}, AT, 1.0, 1.0)  # fmt: skip
    bare = CanaryRun("r2", "aer_simulator", "ghz3", "none", 4, {"111": 4}, {"111": 0.5}, AT)
    for run in (full, bare):
        back = codec.decode(CanaryRun, codec.encode(run))
        assert back == run and back.run_at.tzinfo is not None
    assert bare.expectation is None and bare.ideal_expectation is None


def test_calibration_snapshot_round_trips_its_qubits_in_order() -> None:
    snapshot = CalibrationSnapshot(
        "fake_manila",
        "cal-1",
        tuple(QubitCalibration(q, 100.0 - q, 80.5, 0.01 * q) for q in (4, 0, 2)),
        AT,
    )
    back = codec.decode(CalibrationSnapshot, codec.encode(snapshot))
    assert back == snapshot
    assert isinstance(back.qubits, tuple) and [q.qubit for q in back.qubits] == [4, 0, 2]
    empty = CalibrationSnapshot("fake_manila", "cal-0", (), AT)
    assert codec.decode(CalibrationSnapshot, codec.encode(empty)) == empty


def test_canary_contracts_live_in_the_qloop_namespace() -> None:
    assert contract_for(CanaryRun).name == "io.qloop.v1.CanaryRun"
    assert contract_for(CalibrationSnapshot).name == "io.qloop.v1.CalibrationSnapshot"


def test_every_contract_has_a_sample() -> None:
    """So the generic round-trip and cross-implementation tests cover every record."""
    assert {type(r) for r in all_samples()} == set(CONTRACT_FILES)
