"""processors.canary: one round returns its records and stores nothing; noise scaling shows."""

from __future__ import annotations

from typing import Any

import pytest

from processors.backends.aer import AerAdapter
from processors.backends.base import BackendAdapter
from processors.backends.ibm import IBMRuntimeAdapter, fake_backend
from processors.canary import (
    NOISE_SCALE_ENV,
    calibration_snapshot,
    ghz_circuit,
    ideal_ghz,
    parse_noise_scale,
    run_canary_round,
    support_expectation,
)
from processors.compile_cache import CompileCache
from processors.errors import ConfigurationError
from schemas import AvroCodec, CalibrationSnapshot, CanaryRun


@pytest.fixture(scope="module")
def adapters() -> list[tuple[str, BackendAdapter]]:
    manila = IBMRuntimeAdapter("fake_manila", fake_backend("manila"), simulated=True)
    return [("aer_simulator", AerAdapter("aer_simulator")), ("fake_manila", manila)]


class _Broken(AerAdapter):
    def run_sampler(self, *_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("backend down")


def test_round_returns_runs_and_snapshots_and_touches_no_storage(
    adapters: list[tuple[str, BackendAdapter]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(NOISE_SCALE_ENV, raising=False)
    runs, snapshots = run_canary_round(adapters, shots=500, cache=CompileCache())
    assert [(r.backend, r.template) for r in runs] == [
        ("aer_simulator", "ghz2"),
        ("aer_simulator", "ghz3"),
        ("fake_manila", "ghz2"),
        ("fake_manila", "ghz3"),
    ]
    assert all(isinstance(r, CanaryRun) and sum(r.counts.values()) == 500 for r in runs)
    assert len({r.run_id for r in runs}) == 4
    ideal = {r.template: r for r in runs if r.backend == "aer_simulator"}
    assert ideal["ghz2"].expectation == 1.0 and ideal["ghz2"].calibration_id == "none"
    assert ideal["ghz3"].ideal == ideal_ghz(3)
    noisy = next(r for r in runs if r.backend == "fake_manila")
    assert noisy.expectation is not None and 0.5 < noisy.expectation < 1.0
    # Only the calibrated backend has a snapshot, and it joins the runs on calibration_id.
    assert [s.backend for s in snapshots] == ["fake_manila"]
    (snapshot,) = snapshots
    assert isinstance(snapshot, CalibrationSnapshot) and len(snapshot.qubits) == 5
    assert snapshot.calibration_id == noisy.calibration_id != "none"
    assert all(q.t1_us > 1 and q.t2_us > 1 and 0 <= q.readout_error < 0.5 for q in snapshot.qubits)
    codec = AvroCodec()  # what the stage will publish
    for record in (*runs, snapshot):
        assert codec.decode(type(record), codec.encode(record)) == record


def test_processors_canary_imports_no_storage_or_kafka() -> None:
    """Nothing to store with: no client parameter, and no sink or Kafka import (pure logic)."""
    import processors.canary as module

    source = open(module.__file__ or "").read()
    for forbidden in (
        "from sinks",
        "import sinks",
        "confluent_kafka",
        "clickhouse",
        "from streams",
    ):
        assert forbidden not in source, forbidden
    assert "client" not in run_canary_round.__code__.co_varnames


def test_noise_scale_degrades_calibration_under_a_new_id(
    adapters: list[tuple[str, BackendAdapter]],
) -> None:
    manila = [a for a in adapters if a[0] == "fake_manila"]
    _, (base,) = run_canary_round(manila, sizes=(), noise_scale={})
    runs, (worse,) = run_canary_round(manila, sizes=(2,), shots=200, noise_scale={"*": 3.0})
    assert worse.backend == "fake_manila" and worse.calibration_id.endswith("+noise*3")
    assert runs[0].calibration_id == worse.calibration_id
    before = {q.qubit: q for q in base.qubits}
    for q in worse.qubits:
        assert q.t1_us == pytest.approx(before[q.qubit].t1_us / 3)
        assert q.readout_error >= before[q.qubit].readout_error


def test_a_failing_backend_is_skipped_and_the_others_still_run() -> None:
    adapters: list[tuple[str, BackendAdapter]] = [
        ("broken", _Broken("broken")),
        ("aer_simulator", AerAdapter("aer_simulator")),
    ]
    runs, snapshots = run_canary_round(adapters, sizes=(2,), shots=100, noise_scale={})
    assert [r.backend for r in runs] == ["aer_simulator"] and snapshots == []


def test_noise_scale_parsing() -> None:
    assert parse_noise_scale(None) == {} and parse_noise_scale(" ") == {}
    assert parse_noise_scale("3") == {"*": 3.0}
    assert parse_noise_scale("fake_manila=3, aer_simulator=2") == {
        "fake_manila": 3.0,
        "aer_simulator": 2.0,
    }
    for bad in ("x", "fake_manila=0", "a=-1"):
        with pytest.raises(ConfigurationError):
            parse_noise_scale(bad)


def test_ghz_and_support_expectation() -> None:
    assert ghz_circuit(3).num_qubits == 3 and ghz_circuit(3).count_ops()["cx"] == 2
    assert support_expectation({"00": 5, "11": 5}, ideal_ghz(2)) == 1.0
    assert support_expectation({"01": 5, "10": 5}, ideal_ghz(2)) == -1.0
    assert support_expectation({}, ideal_ghz(2)) == 0.0
    assert calibration_snapshot(AerAdapter("aer_simulator")) == ()
