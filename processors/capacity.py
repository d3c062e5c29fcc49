"""Capacity checks before execution: refuse what the backend cannot run, never crash on it.

These produce a ``REJECTED`` result for the set (not a dead letter): the input was well-formed,
the chosen backend just cannot take it.
"""

from __future__ import annotations

from processors.backends.base import BackendAdapter
from processors.validation import Limits, Rejection
from schemas import CircuitTemplate, CompileRecord, ErrorCode


def check_width(
    template: CircuitTemplate, backend: BackendAdapter, limits: Limits
) -> Rejection | None:
    """Qubits above the backend's size, or above what the simulator memory cap allows."""
    if template.num_qubits > backend.num_qubits:
        return Rejection(
            ErrorCode.QUBITS_OVER_CAPACITY,
            f"{template.num_qubits} qubits on {backend.name} with {backend.num_qubits}",
        )
    if backend.is_simulator and template.num_qubits > limits.max_qubits_statevector:
        return Rejection(
            ErrorCode.QUBITS_OVER_CAPACITY,
            f"{template.num_qubits} qubits need more than the simulator memory cap of "
            f"{limits.memory_cap_bytes} bytes ({limits.max_qubits_statevector} qubits)",
        )
    return None


def check_shots(shots: int, backend: BackendAdapter, limits: Limits) -> Rejection | None:
    """Shots above the configured cap or the backend's own."""
    cap = min(limits.max_shots, backend.max_shots)
    if not 0 < shots <= cap:
        return Rejection(ErrorCode.SHOTS_OUT_OF_RANGE, f"shots={shots} outside 1..{cap}")
    return None


def check_compiled(record: CompileRecord, limits: Limits) -> Rejection | None:
    """Compiled depth or two-qubit gate count over the configured limits."""
    if record.depth > limits.max_depth:
        return Rejection(
            ErrorCode.CIRCUIT_OVER_LIMITS,
            f"compiled depth {record.depth} over limit {limits.max_depth}",
        )
    if record.two_qubit_gates > limits.max_two_qubit_gates:
        return Rejection(
            ErrorCode.CIRCUIT_OVER_LIMITS,
            f"{record.two_qubit_gates} two-qubit gates over limit {limits.max_two_qubit_gates}",
        )
    return None


__all__ = ["check_compiled", "check_shots", "check_width"]
