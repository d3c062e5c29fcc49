"""Compile cache: transpile each template once per backend target and settings.

The key is (template id, target identity, transpiler settings, calibration id, variant). Only
deterministic artifacts are cached: the preset pass manager runs with a fixed
``seed_transpiler``, so a hit returns exactly what a fresh compile would.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import qiskit
from qiskit.circuit import QuantumCircuit
from qiskit.transpiler import generate_preset_pass_manager

from processors.backends.base import BackendAdapter
from processors.templates import load_circuit
from schemas import CircuitTemplate, CompileRecord


@dataclass(frozen=True, slots=True)
class TranspilerSettings:
    """Pass-manager settings that are part of a compile's identity."""

    optimization_level: int = 1
    seed_transpiler: int = 1234

    def as_dict(self) -> dict[str, str]:
        """Return the settings as a string map (Avro ``map<string>``)."""
        return {
            "optimization_level": str(self.optimization_level),
            "seed_transpiler": str(self.seed_transpiler),
            "pass_manager": "generate_preset_pass_manager",
            "qiskit": qiskit.__version__,
        }


@dataclass(frozen=True, slots=True)
class Compiled:
    """A transpiled circuit, the record of its compilation, and whether it came from cache."""

    circuit: QuantumCircuit
    record: CompileRecord
    hit: bool


@dataclass(slots=True)
class CacheStats:
    """Hit/miss counters and seconds spent compiling."""

    hits: int = 0
    misses: int = 0
    evictions: int = 0
    compile_seconds: float = 0.0


def _two_qubit_gates(circuit: QuantumCircuit) -> int:
    return sum(
        1 for i in circuit.data if len(i.qubits) == 2 and i.operation.name not in ("barrier",)
    )


class CompileCache:
    """Bounded LRU of compiled templates, safe to share between executor threads.

    Concurrent misses on the same key compile once: the second caller waits for the first.

    Args:
        max_entries: Entries kept; the least recently used is evicted beyond it.
        settings: Transpiler settings used for every compile.
        now: Wall clock for ``compiled_at`` (injected in tests).

    """

    def __init__(
        self,
        max_entries: int = 256,
        *,
        settings: TranspilerSettings | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._max_entries = max_entries
        self.settings = settings or TranspilerSettings()
        self._now = now
        self._entries: OrderedDict[tuple[str, ...], Compiled] = OrderedDict()
        self._key_locks: dict[tuple[str, ...], threading.Lock] = {}
        self._lock = threading.Lock()
        self.stats = CacheStats()

    def __len__(self) -> int:
        return len(self._entries)

    def _key(
        self, template: CircuitTemplate, backend: BackendAdapter, variant: str
    ) -> tuple[str, ...]:
        s = self.settings
        return (
            template.template_id,
            backend.target_id(),
            f"O{s.optimization_level}/seed{s.seed_transpiler}",
            backend.calibration_id() or "-",
            variant,
        )

    def _lookup(self, key: tuple[str, ...]) -> Compiled | None:
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
            self.stats.hits += 1
            return Compiled(entry.circuit, entry.record, hit=True)
        return None

    def get(
        self,
        template: CircuitTemplate,
        backend: BackendAdapter,
        *,
        strip_measurements: bool = False,
    ) -> Compiled:
        """Return the template compiled for ``backend``, compiling on a miss.

        Args:
            template: The registered template.
            backend: The adapter whose target to compile for.
            strip_measurements: Remove final measurements first (estimator PUBs).

        Raises:
            InvalidTemplateError: the template's QPY cannot be loaded.
            qiskit.transpiler.TranspilerError: the circuit does not fit the target.

        """
        variant = "estimator" if strip_measurements else "sampler"
        key = self._key(template, backend, variant)
        with self._lock:
            found = self._lookup(key)
            if found is not None:
                return found
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                found = self._lookup(key)
                if found is not None:
                    return found
            compiled = self._compile(template, backend, key, strip_measurements)
            with self._lock:
                self.stats.misses += 1
                self.stats.compile_seconds += compiled.record.duration_ms / 1000.0
                self._entries[key] = compiled
                while len(self._entries) > self._max_entries:
                    self._entries.popitem(last=False)
                    self.stats.evictions += 1
                self._key_locks.pop(key, None)
        return compiled

    def _compile(
        self,
        template: CircuitTemplate,
        backend: BackendAdapter,
        key: tuple[str, ...],
        strip_measurements: bool,
    ) -> Compiled:
        circuit = load_circuit(template)
        if strip_measurements:
            circuit = circuit.remove_final_measurements(inplace=False)
        started = time.perf_counter()
        pass_manager = generate_preset_pass_manager(
            optimization_level=self.settings.optimization_level,
            backend=backend.transpile_target,
            seed_transpiler=self.settings.seed_transpiler,
        )
        compiled: QuantumCircuit = pass_manager.run(circuit)
        duration_ms = (time.perf_counter() - started) * 1000.0
        record = CompileRecord(
            compile_key="|".join(key),
            template_id=template.template_id,
            topology_key=template.topology_key,
            backend=backend.name,
            transpiler_settings=self.settings.as_dict(),
            depth=int(compiled.depth()),
            two_qubit_gates=_two_qubit_gates(compiled),
            size=int(compiled.size()),
            duration_ms=duration_ms,
            compiled_at=self._now(),
            calibration_id=backend.calibration_id(),
        )
        return Compiled(compiled, record, hit=False)


__all__ = ["CacheStats", "Compiled", "CompileCache", "TranspilerSettings"]
