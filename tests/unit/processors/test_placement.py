"""Placement of sets that ask for a class of backend: availability, width, price, deadline."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta

import pytest
from proc_factories import NOW, ansatz, make_pending

from processors import make_template
from processors.backends.base import Price
from processors.degradation import DegradationPolicy
from processors.errors import BackendNotAllowedError
from processors.placement import CLASS_LABEL, REASON_LABEL, Placement, QueueModel


@dataclass
class Stub:
    name: str
    num_qubits: int
    price: Price
    queued: int = 0

    def pending_jobs(self) -> int:
        return self.queued


@dataclass
class Device(Stub):
    """A device with a stand-in simulator (as IBM devices have)."""

    def fallback(self) -> Stub:
        return Stub(f"aer_simulator@{self.name}", self.num_qubits, Price())


BACKENDS = {
    "cheap_small": Stub("cheap_small", 3, Price(per_shot=1e-5)),
    "dear_big": Stub("dear_big", 127, Price(per_shot=1e-4)),
    "free_sim": Stub("free_sim", 30, Price()),
    "device": Device("device", 27, Price(per_shot=1e-4)),
}


def _backends(name: str) -> Stub:
    if name not in BACKENDS:
        raise BackendNotAllowedError(f"backend {name!r} is not on the allow-list")
    return BACKENDS[name]


def _placement(
    down: set[str] = frozenset(),  # type: ignore[assignment]
    model: QueueModel | None = None,
    degrade: tuple[str, ...] = (),
) -> Placement:
    classes = {
        "hardware": ("cheap_small", "dear_big", "ghost"),
        "simulator": ("free_sim",),
        "nowhere": ("ghost",),
        "devices": ("device",),
    }
    return Placement(
        classes, _backends, lambda n: "down" if n in down else None,  # type: ignore[arg-type]
        model or QueueModel(initial_s=1.0), lambda: NOW, default_shots=1000,
        degradation=DegradationPolicy.of(degrade),
    )  # fmt: skip


@pytest.fixture
def three_qubits():
    return make_template(ansatz(3), "p3", created_at=NOW)


def test_a_named_backend_is_left_alone(three_qubits) -> None:
    pending = make_pending(three_qubits, backend="dear_big")
    assert _placement().place(pending, {}) is pending


def test_the_cheapest_member_that_is_up_and_wide_enough_wins(three_qubits) -> None:
    placed = _placement().place(make_pending(three_qubits, backend="hardware"), {})
    assert not isinstance(placed, str)
    assert placed.update.backend == "cheap_small"
    assert placed.update.labels[CLASS_LABEL] == "hardware"
    assert placed.update.labels[REASON_LABEL].startswith("cheapest of 2")
    wide = make_template(ansatz(5), "p5", created_at=NOW)  # too wide for cheap_small
    placed = _placement().place(make_pending(wide, backend="hardware"), {})
    assert not isinstance(placed, str) and placed.update.backend == "dear_big"


def test_a_member_marked_down_is_passed_over_and_all_down_keeps_the_first(three_qubits) -> None:
    pending = make_pending(three_qubits, backend="hardware")
    placed = _placement(down={"cheap_small"}).place(pending, {})
    assert not isinstance(placed, str) and placed.update.backend == "dear_big"
    placed = _placement(down={"cheap_small", "dear_big"}).place(pending, {})
    assert not isinstance(placed, str) and placed.update.backend == "cheap_small"
    assert "every member is marked down" in placed.update.labels[REASON_LABEL]


def test_a_deadline_skips_a_backend_whose_queue_would_miss_it(three_qubits) -> None:
    model = QueueModel(initial_s=1.0)
    model.observe("cheap_small", 10.0)  # 10 s per submission, 2 running: 30 s to wait
    soon = make_pending(three_qubits, backend="hardware", deadline=NOW + timedelta(seconds=5))
    placed = _placement(model=model).place(soon, {"cheap_small": 2})
    assert not isinstance(placed, str) and placed.update.backend == "dear_big"
    BACKENDS["dear_big"].queued = 40  # the provider's own queue counts too
    try:
        placed = _placement(model=model).place(soon, {"cheap_small": 2})
        assert not isinstance(placed, str) and placed.update.backend == "cheap_small"
        assert placed.update.labels[REASON_LABEL].startswith("none meets the deadline")
        later = replace(soon, update=replace(soon.update, deadline=NOW + timedelta(hours=1)))
        placed = _placement(model=model).place(later, {"cheap_small": 2})
        assert not isinstance(placed, str) and placed.update.backend == "cheap_small"
    finally:
        BACKENDS["dear_big"].queued = 0


def test_no_member_that_can_run_it_is_a_reason_naming_each(three_qubits) -> None:
    huge = make_template(ansatz(31), "p31", created_at=NOW)
    why = _placement().place(make_pending(huge, backend="simulator"), {})
    assert why == "no backend of class 'simulator' can run it (free_sim: 30 qubits)"
    why = _placement().place(make_pending(three_qubits, backend="nowhere"), {})
    assert why == "no backend of class 'nowhere' can run it (ghost: BackendNotAllowedError)"


def test_the_queue_model_is_a_moving_average() -> None:
    model = QueueModel(alpha=0.5, initial_s=2.0)
    assert model.per_submission("b") == 2.0
    model.observe("b", 4.0)
    model.observe("b", 8.0)
    assert model.per_submission("b") == pytest.approx(6.0)


def test_a_late_set_goes_to_the_stand_in_only_when_its_tenant_allows_it(three_qubits) -> None:
    model = QueueModel(initial_s=1.0)
    model.observe("device", 20.0)  # 20 s per submission, one running: 40 s to wait
    soon = make_pending(three_qubits, backend="device", deadline=NOW + timedelta(seconds=5))
    allowing = _placement(model=model, degrade=(soon.update.tenant,))
    assert allowing.applies(soon)
    placed = allowing.place(soon, {"device": 1})
    assert not isinstance(placed, str) and placed.update.backend == "stand-in:device"
    assert placed.update.labels[REASON_LABEL] == (
        "predicted wait 40.0 s, 5.0 s to the deadline; stand-in"
    )
    # Another tenant's set runs on the device anyway, and placement is not even asked.
    assert not _placement(model=model, degrade=("someone-else",)).applies(soon)
    assert _placement(model=model).place(soon, {"device": 1}) is soon
    # In time, without a deadline, marked down (admission's policy) or without a stand-in:
    # the set keeps the device it named.
    later = replace(soon, update=replace(soon.update, deadline=NOW + timedelta(minutes=5)))
    assert allowing.place(later, {"device": 1}) is later
    undated = replace(soon, update=replace(soon.update, deadline=None))
    assert not allowing.applies(undated) and allowing.place(undated, {}) is undated
    down = _placement(down={"device"}, model=model, degrade=(soon.update.tenant,))
    assert down.place(soon, {"device": 1}) is soon
    model.observe("dear_big", 60.0)
    plain = replace(soon, update=replace(soon.update, backend="dear_big"))
    assert allowing.place(plain, {}) is plain  # a Stub has no fallback()


def test_a_class_member_that_would_be_late_sends_the_set_to_its_stand_in(three_qubits) -> None:
    model = QueueModel(initial_s=1.0)
    model.observe("device", 30.0)
    soon = make_pending(three_qubits, backend="devices", deadline=NOW + timedelta(seconds=5))
    placed = _placement(model=model, degrade=("*",)).place(soon, {})
    assert not isinstance(placed, str) and placed.update.backend == "stand-in:device"
    assert placed.update.labels[CLASS_LABEL] == "devices"
    assert placed.update.labels[REASON_LABEL].endswith("; stand-in")
    kept = _placement(model=model).place(soon, {})  # no tenant allows it: late, on the device
    assert not isinstance(kept, str) and kept.update.backend == "device"
