"""Built-in hybrid workloads: the classical optimizer half of the control loop.

Pure logic: a workload proposes parameter sets in batches, an evaluator (the pipeline, or
:mod:`processors.workloads.local` in tests) returns results, and the workload reports progress
and a summary. Nothing here knows about Kafka.
"""

from processors.workloads.base import (
    EvaluationError,
    EvaluationResult,
    Evaluator,
    IterationCallback,
    IterationReport,
    ParameterSet,
    UnknownWorkloadError,
    Workload,
    WorkloadError,
    WorkloadSummary,
)
from processors.workloads.optimizer import DescentSettings, OptimizationResult, minimize_batched
from processors.workloads.qaoa_maxcut import DEFAULT_GRAPH, QaoaMaxCut, WeightedGraph
from processors.workloads.registry import WORKLOADS, WorkloadFactory, get_workload
from processors.workloads.vqe_h2 import VqeH2, exact_ground_energy, h2_hamiltonian

__all__ = [
    "DEFAULT_GRAPH",
    "WORKLOADS",
    "DescentSettings",
    "EvaluationError",
    "EvaluationResult",
    "Evaluator",
    "IterationCallback",
    "IterationReport",
    "OptimizationResult",
    "ParameterSet",
    "QaoaMaxCut",
    "UnknownWorkloadError",
    "VqeH2",
    "WeightedGraph",
    "Workload",
    "WorkloadError",
    "WorkloadFactory",
    "WorkloadSummary",
    "exact_ground_energy",
    "get_workload",
    "h2_hamiltonian",
    "minimize_batched",
]
