"""Backend registry: build adapters by name, behind an allow-list."""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Collection, Mapping
from pathlib import Path

from processors.backends.aer import AerAdapter, default_noise_model
from processors.backends.base import BackendAdapter, Price
from processors.backends.drill import FailingAdapter, parse_drill
from processors.backends.fake_service import FakeRuntimeService
from processors.backends.ibm import IBMRuntimeAdapter, fake_backend, runtime_backend
from processors.backends.ibm_modes import ExecutionPolicy
from processors.backends.null import NAME as NULL_BACKEND
from processors.backends.null import NullAdapter
from processors.backends.overhead import OverheadAdapter
from processors.errors import BackendNotAllowedError

log = logging.getLogger(__name__)

AdapterFactory = Callable[[str, Price], BackendAdapter]


def _build(
    name: str,
    price: Price,
    *,
    policies: Mapping[str, ExecutionPolicy] | None = None,
    fake_service: Path | None = None,
) -> BackendAdapter:
    policy = (policies or {}).get(name) or (policies or {}).get("*")
    if name == "aer_simulator":
        return AerAdapter(name, price=price)
    if name == NULL_BACKEND:
        return NullAdapter(price)
    if name == "aer_simulator_noisy":
        return AerAdapter(name, noise_model=default_noise_model(), price=price)
    if name.startswith("fake_"):
        try:
            backend = fake_backend(name.removeprefix("fake_"))
        except LookupError as exc:
            raise BackendNotAllowedError(f"unknown backend {name!r}") from exc
        gateway = None if fake_service is None else FakeRuntimeService(fake_service, backend, name)
        return IBMRuntimeAdapter(
            name, backend, price=price, simulated=True, gateway=gateway, policy=policy
        )
    if name.startswith("ibm_"):
        return IBMRuntimeAdapter(
            name, runtime_backend(name), price=price, simulated=False, policy=policy
        )
    raise BackendNotAllowedError(f"unknown backend {name!r}")


class BackendRegistry:
    """Builds each allowed adapter once, on first use, and hands out the same instance.

    Names: ``aer_simulator``, ``aer_simulator_noisy``, ``fake_<device>`` (qiskit-ibm-runtime
    local testing mode, e.g. ``fake_manila``), ``ibm_<device>`` (real service; needs
    ``QLOOP_IBM_TOKEN`` and ``QLOOP_IBM_INSTANCE``) and ``null`` (instant fixed outcomes, for
    measuring the plumbing; never in the default allow-list).

    Args:
        allowed: Names that may be built; None allows every name the factory knows.
        prices: Price per backend name; missing names are free.
        factory: Builds an adapter from a name (tests inject fakes here).
        adapters: Pre-built adapters, registered as-is (they count as allowed).

    """

    def __init__(
        self,
        allowed: Collection[str] | None = None,
        *,
        prices: Mapping[str, Price] | None = None,
        factory: AdapterFactory = _build,
        adapters: Collection[BackendAdapter] = (),
    ) -> None:
        self._allowed = frozenset(allowed) if allowed is not None else None
        self._prices = dict(prices or {})
        self._factory = factory
        self._adapters: dict[str, BackendAdapter] = {a.name: a for a in adapters}
        self._lock = threading.Lock()

    def is_allowed(self, name: str) -> bool:
        """Return whether ``name`` may be used (without building it)."""
        return name in self._adapters or self._allowed is None or name in self._allowed

    def get(self, name: str) -> BackendAdapter:
        """Return the adapter for ``name``.

        Raises:
            BackendNotAllowedError: not on the allow-list or unknown (dead-letter the update).
            ConfigurationError: a real backend was asked for without credentials.

        """
        with self._lock:
            adapter = self._adapters.get(name)
            if adapter is not None:
                return adapter
            if not self.is_allowed(name):
                raise BackendNotAllowedError(f"backend {name!r} is not on the allow-list")
            adapter = self._factory(name, self._prices.get(name, Price()))
            self._adapters[name] = adapter
            return adapter

    def close(self) -> None:
        """Close every adapter's provider resources (open IBM batches and sessions)."""
        with self._lock:
            adapters = list(self._adapters.values())
        for adapter in adapters:
            close = getattr(adapter, "close", None)
            if callable(close):
                try:
                    close()
                except Exception:  # one backend's trouble must not keep the others open
                    log.exception("closing backend %s failed", adapter.name)


def build_registry(
    allowed: Collection[str],
    prices: Mapping[str, Price] | None = None,
    overhead_ms: float = 0.0,
    drills: Mapping[str, str] | None = None,
    ibm_policies: Mapping[str, ExecutionPolicy] | None = None,
    ibm_fake_service: Path | None = None,
) -> BackendRegistry:
    """The registry every qloop process uses, built from configuration.

    ``overhead_ms`` > 0 wraps each adapter in a fixed per-submission delay: the stand-in for a
    cloud provider's queue that the benchmarks and the scaling tests use. ``drills`` makes the
    named backends fail their first submissions (see :mod:`processors.backends.drill`).
    ``ibm_policies``: execution mode per IBM backend name (``"*"``: the rest).
    ``ibm_fake_service``: fake devices submit to the fake runtime service in this directory
    (:mod:`processors.backends.fake_service`) instead of local testing mode.

    Raises:
        ConfigurationError: a drill is not ``transient:N`` or ``permanent:N``.

    """
    plans = {name: parse_drill(text) for name, text in (drills or {}).items()}
    base = functools.partial(_build, policies=ibm_policies, fake_service=ibm_fake_service)
    if overhead_ms <= 0 and not plans:
        return BackendRegistry(allowed, prices=prices, factory=base)
    delay = overhead_ms / 1000

    def build(name: str, price: Price) -> BackendAdapter:
        adapter = base(name, price)
        if delay > 0:
            adapter = OverheadAdapter(adapter, delay)
        if name in plans:
            adapter = FailingAdapter(adapter, *plans[name])
        return adapter

    return BackendRegistry(allowed, prices=prices, factory=build)


__all__ = ["AdapterFactory", "BackendRegistry", "build_registry"]
