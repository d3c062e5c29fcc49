"""Backend adapters: one protocol, Aer and IBM Runtime implementations, a registry."""

from processors.backends.aer import AerAdapter, default_noise_model
from processors.backends.base import (
    BackendAdapter,
    EstimatorOutput,
    EstimatorTask,
    Price,
    SamplerOutput,
    SamplerTask,
    derive_seed,
)
from processors.backends.ibm import IBMRuntimeAdapter
from processors.backends.overhead import OverheadAdapter
from processors.backends.registry import AdapterFactory, BackendRegistry, build_registry

__all__ = [
    "AdapterFactory",
    "AerAdapter",
    "BackendAdapter",
    "BackendRegistry",
    "EstimatorOutput",
    "EstimatorTask",
    "IBMRuntimeAdapter",
    "OverheadAdapter",
    "Price",
    "SamplerOutput",
    "SamplerTask",
    "default_noise_model",
    "build_registry",
    "derive_seed",
]
