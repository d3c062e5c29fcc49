"""One valid sample of every record type, for round-trip and contract tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from schemas import (
    Approval,
    ApprovalStatus,
    BackendStatus,
    CalibrationSnapshot,
    CanaryRun,
    CircuitTemplate,
    CompileRecord,
    DeadLetter,
    ExperimentCheckpoint,
    JobResult,
    JobSubmitted,
    ParameterUpdate,
    PauliTerm,
    Primitive,
    QubitCalibration,
    Reproducibility,
    ResultStatus,
    Timings,
)

NOW = datetime(2026, 11, 24, 12, 0, 0, 123456, tzinfo=UTC)


def parameter_update(**overrides: Any) -> ParameterUpdate:
    values: dict[str, Any] = dict(
        event_id="ev-1",
        experiment_id="exp-1",
        iteration=3,
        tenant="acme",
        template_id="sha256:abc",
        parameters=(0.1, -2.5, 3.0),
        primitive=Primitive.SAMPLER,
        produced_at=NOW,
        shots=1024,
        backend="aer_simulator",
        labels={"team": "chem"},
        trace_context={"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
    )
    values.update(overrides)
    return ParameterUpdate(**values)


def all_samples() -> list[Any]:
    repro = Reproducibility(
        package_versions={"qiskit": "2.6.2"},
        code_version="0.1.0",
        transpiler_settings={"optimization_level": "1"},
        backend_name="aer_simulator",
        seed_simulator=42,
        seed_transpiler=7,
        calibration_id=None,
        noise_model_id="aer-noise:0123456789abcdef",
        compile_key="sha256:abc|aer:1|O1/seed1234|-|sampler",
        precision=None,
    )
    return [
        CircuitTemplate(
            template_id="sha256:abc",
            name="bell",
            qasm3="OPENQASM 3.0;",
            qpy=b"QISKIT\x00\x01",
            parameter_names=("a", "b", "c"),
            num_qubits=2,
            topology_key="topo:1",
            created_at=NOW,
            observables=(PauliTerm("ZZ", 1.0), PauliTerm("XI", -0.5)),
        ),
        parameter_update(),
        parameter_update(
            primitive=Primitive.ESTIMATOR, shots=None, precision=0.01, seed=9, deadline=NOW
        ),
        JobSubmitted(
            job_id="job-1",
            backend="aer_simulator",
            primitive=Primitive.SAMPLER,
            event_ids=("ev-1", "ev-2"),
            template_ids=("sha256:abc",),
            topology_keys=("topo:1",),
            tenants=("acme",),
            num_parameter_sets=2,
            total_shots=2048,
            compile_cache_hit=True,
            queued_at=NOW,
            submitted_at=NOW,
            estimated_cost=0.25,
        ),
        JobResult(
            event_id="ev-1",
            experiment_id="exp-1",
            iteration=3,
            tenant="acme",
            template_id="sha256:abc",
            topology_key="topo:1",
            backend="aer_simulator",
            primitive=Primitive.SAMPLER,
            status=ResultStatus.SUCCEEDED,
            parameters=(0.1, 0.2),
            shots=1024,
            timings=Timings(1.0, 2.0, 3.0, 6.5),
            produced_at=NOW,
            completed_at=NOW,
            reproducibility=repro,
            job_id="job-1",
            counts={"00": 500, "11": 524},
            cost=0.1,
        ),
        JobResult(
            event_id="ev-2",
            experiment_id="exp-1",
            iteration=3,
            tenant="acme",
            template_id="sha256:abc",
            topology_key="topo:1",
            backend="aer_simulator",
            primitive=Primitive.ESTIMATOR,
            status=ResultStatus.BUDGET_EXCEEDED,
            parameters=(0.1,),
            shots=0,
            timings=Timings(),
            produced_at=NOW,
            completed_at=NOW,
            reproducibility=repro,
            expectation_values=(-1.13,),
            standard_errors=(0.0,),
            error_code="budget_exceeded",
            error_message="tenant acme is out of shots",
        ),
        DeadLetter(
            error_code="deserialization_error",
            error_message="bad magic",
            stage="decode",
            source_topic="qloop.parameter-updates",
            source_partition=1,
            source_offset=42,
            raw_bytes=b"\x00\xffjunk",
            occurred_at=NOW,
            schema_fingerprint=None,
        ),
        CompileRecord(
            compile_key="ck",
            template_id="sha256:abc",
            topology_key="topo:1",
            backend="aer_simulator",
            transpiler_settings={"optimization_level": "1"},
            depth=5,
            two_qubit_gates=2,
            size=9,
            duration_ms=12.5,
            compiled_at=NOW,
        ),
        CanaryRun(
            run_id="0123abcd",
            backend="fake_manila",
            template="ghz2",
            calibration_id="2021-10-15T11:23:08+noise*3",
            shots=2000,
            counts={"00": 961, "01": 20, "10": 31, "11": 988},
            ideal={"00": 0.5, "11": 0.5},
            run_at=NOW,
            expectation=0.949,
            ideal_expectation=1.0,
        ),
        CanaryRun("r2", "aer_simulator", "ghz3", "none", 10, {"000": 10}, {"000": 0.5}, NOW),
        CalibrationSnapshot(
            backend="fake_manila",
            calibration_id="2021-10-15T11:23:08",
            qubits=(QubitCalibration(0, 120.5, 90.25, 0.02), QubitCalibration(3, 60.0, 40.0, 0.5)),
            captured_at=NOW,
        ),
        ExperimentCheckpoint(
            experiment_id="exp-1",
            iteration=5,
            workload="vqe-h2",
            tenant="acme",
            optimizer="momentum-descent/shift-rule",
            optimizer_settings={"learning_rate": "1.0", "momentum": "0.3"},
            template_ids=("sha256:abc",),
            state={"x": [0.5, -1.25], "velocity": [0.0, 0.125]},
            parameter_sets=65,
            recorded_at=NOW,
            seed=7,
            value=-1.13,
            best_value=-1.135,
        ),
        BackendStatus(
            backend="fake_manila",
            available=False,
            reason="maintenance window",
            changed_by="ops",
            changed_at=NOW,
        ),
        Approval(
            request_id="ev-9",
            status=ApprovalStatus.APPROVED,
            tenant="acme",
            backend="ibm_torino",
            experiment_id="exp-1",
            template_id="sha256:abc",
            shots=100_000,
            estimated_cost=12.5,
            rule="acme on ibm_*: any real hardware",
            requested_at=NOW,
            expires_at=NOW,
            update=b"\xc3\x01raw",
            decided_by="alice",
            decided_at=NOW,
            reason="budgeted",
        ),
    ]


def qpy_of_ry_without_cx() -> bytes:
    """QPY of RY(a), RY(b) and measurements: the hand-written RY_CX circuit minus its CX."""
    import io

    from qiskit import qpy
    from qiskit.circuit import Parameter, QuantumCircuit

    circuit = QuantumCircuit(2, 2)
    circuit.ry(Parameter("a"), 0)
    circuit.ry(Parameter("b"), 1)
    circuit.measure([0, 1], [0, 1])
    buffer = io.BytesIO()
    qpy.dump(circuit, buffer)
    return buffer.getvalue()
