"""Built-in workloads by name: what ``qloop run [WORKLOAD]`` looks up."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Protocol

from processors.workloads.base import UnknownWorkloadError, Workload
from processors.workloads.qaoa_maxcut import QaoaMaxCut
from processors.workloads.vqe_h2 import VqeH2


class WorkloadFactory(Protocol):
    """Builds a workload; every built-in accepts a ``seed`` and has defaults for the rest."""

    def __call__(self, *, seed: int = ...) -> Workload:
        """Return a fresh workload seeded with ``seed``."""
        ...


#: Registry name -> factory (the workload classes themselves). Read-only.
WORKLOADS: Mapping[str, WorkloadFactory] = MappingProxyType(
    {VqeH2.name: VqeH2, QaoaMaxCut.name: QaoaMaxCut}
)


def get_workload(name: str, *, seed: int = 7) -> Workload:
    """Build the workload registered as ``name``, with its defaults and this seed.

    Raises:
        UnknownWorkloadError: ``name`` is not registered; the message lists what is.

    """
    try:
        factory = WORKLOADS[name]
    except KeyError:
        known = ", ".join(sorted(WORKLOADS))
        raise UnknownWorkloadError(f"unknown workload {name!r}; known: {known}") from None
    return factory(seed=seed)


__all__ = ["WORKLOADS", "WorkloadFactory", "get_workload"]
