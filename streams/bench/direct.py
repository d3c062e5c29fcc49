"""The two no-Kafka ways: the raw simulator limit and the naive per-set loop."""

from __future__ import annotations

import time
from typing import Any

from qiskit import transpile
from qiskit.circuit import QuantumCircuit
from qiskit_aer import AerSimulator
from qiskit_aer.primitives import EstimatorV2 as AerEstimator

from schemas import Primitive
from streams.bench.workloads import SHOTS, BenchCase, Values

#: Aer run options tried for the limit (measured on a 2-core box: runtime binding is the big win).
LIMIT_OPTIONS: tuple[dict[str, Any], ...] = (
    {"runtime_parameter_bind_enable": True},
    {"runtime_parameter_bind_enable": True, "max_parallel_experiments": 0},
)
SEED_TRANSPILER = 1234


class DirectRunner:
    """The two no-Kafka ways: the limit (compile once, one call) and the naive loop."""

    def __init__(self) -> None:
        self.simulator = AerSimulator(method="automatic")
        self.estimator = AerEstimator(options={"backend_options": {"method": "automatic"}})
        self._compiled: dict[str, QuantumCircuit] = {}

    def compiled(self, workload: BenchCase) -> QuantumCircuit:
        """The transpiled circuit (estimator: with one exact ``save_expectation_value``)."""
        circuit = self._compiled.get(workload.name)
        if circuit is None:
            circuit = transpile(
                workload.circuit,
                self.simulator,
                optimization_level=1,
                seed_transpiler=SEED_TRANSPILER,
            )
            if workload.observable is not None:
                observable = workload.observable.apply_layout(circuit.layout)
                circuit = circuit.copy()
                circuit.save_expectation_value(observable, range(circuit.num_qubits), label="ev")
            self._compiled[workload.name] = circuit
        return circuit

    def limit(self, workload: BenchCase, values: Values, options: dict[str, Any]) -> float:
        """Seconds for one Aer call over all of ``values`` (results read out)."""
        circuit = self.compiled(workload)
        binds = [{p: values[:, j].tolist() for j, p in enumerate(circuit.parameters)}]
        started = time.perf_counter()
        result = self.simulator.run(
            [circuit], parameter_binds=binds, shots=workload.shots or 1, seed_simulator=1, **options
        ).result()
        if workload.primitive is Primitive.SAMPLER:
            out: list[Any] = [r.data.counts for r in result.results]
        else:
            out = [result.data(k)["ev"] for k in range(len(values))]
        elapsed = time.perf_counter() - started
        if len(out) != len(values) or not result.success:
            raise RuntimeError(f"limit run of {workload.name} returned {len(out)} results")
        return elapsed

    def naive(self, workload: BenchCase, values: Values, overhead_s: float = 0.0) -> float:
        """Seconds for the per-set loop: bind, transpile, run one job, wait (plus overhead)."""
        started = time.perf_counter()
        for row in values:
            bound = workload.circuit.assign_parameters(row)
            circuit = transpile(bound, self.simulator, optimization_level=1)
            if overhead_s:
                time.sleep(overhead_s)
            if workload.observable is None:
                self.simulator.run(circuit, shots=SHOTS).result().get_counts()
            else:
                pub = (circuit, workload.observable.apply_layout(circuit.layout))
                self.estimator.run([pub]).result()
        return time.perf_counter() - started


__all__ = ["LIMIT_OPTIONS", "SEED_TRANSPILER", "DirectRunner"]
