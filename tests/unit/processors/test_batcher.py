from proc_factories import ansatz, make_pending

from processors import TopologyBatcher, make_template
from processors.batcher import Lane
from schemas import Primitive


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_closes_by_size_and_groups_templates_sharing_a_backend(sampler_template) -> None:
    other = make_template(ansatz(3, reps=2), "ra3-r2")
    batcher = TopologyBatcher(max_batch=4, max_wait_s=10.0, clock=FakeClock())
    closed = []
    for i in range(8):
        closed += batcher.add(make_pending(sampler_template if i % 2 else other))
    assert [b.size for b in closed] == [4, 4]
    first = closed[0]
    assert len(first.groups) == 2  # one PUB per template, one submission
    assert {g.values().shape for g in first.groups.values()} == {(2, 6), (2, 9)}
    assert batcher.pending == 0
    assert batcher.stats.sizes == {4: 2} and batcher.stats.closed_by_size == 2


def test_shots_and_primitive_and_backend_split_correctly(sampler_template) -> None:
    batcher = TopologyBatcher(max_batch=100, max_wait_s=1.0, clock=FakeClock())
    batcher.add(make_pending(sampler_template, shots=100))
    batcher.add(make_pending(sampler_template, shots=200))
    batcher.add(make_pending(sampler_template, shots=100, backend="fake_manila"))
    batcher.add(make_pending(sampler_template, primitive=Primitive.ESTIMATOR))
    batches = batcher.drain()
    assert len(batches) == 3
    by_backend = {(b.backend, b.primitive): b for b in batches}
    assert len(by_backend[("aer_simulator", Primitive.SAMPLER)].groups) == 2
    assert batcher.stats.closed_by_drain == 3 and batcher.stats.sets == 4


def test_closes_by_time_and_reports_deadline(sampler_template) -> None:
    clock = FakeClock()
    batcher = TopologyBatcher(max_batch=100, max_wait_s=0.5, clock=clock)
    assert batcher.next_deadline() is None
    batcher.add(make_pending(sampler_template))
    assert batcher.next_deadline() == 100.5
    clock.now = 100.4
    assert batcher.due() == []
    clock.now = 100.5
    due = batcher.due()
    assert [b.size for b in due] == [1]
    assert batcher.next_deadline() is None and batcher.stats.closed_by_time == 1


def test_a_busy_backend_keeps_its_due_batch_growing(sampler_template) -> None:
    clock = FakeClock()
    batcher = TopologyBatcher(max_batch=5, max_wait_s=0.5, clock=clock)
    busy = {"aer_simulator"}
    batcher.add(make_pending(sampler_template))
    batcher.add(make_pending(sampler_template, backend="fake_manila"))
    clock.now = 101.0
    due = batcher.due(ready=lambda backend, _lane: backend not in busy)
    assert [b.backend for b in due] == ["fake_manila"]  # the idle backend still gets its batch
    closed = []
    for _ in range(4):  # the busy backend's batch keeps filling, then closes by size
        closed += batcher.add(make_pending(sampler_template))
    assert [(b.backend, b.size) for b in closed] == [("aer_simulator", 5)]
    batcher.add(make_pending(sampler_template))
    clock.now = 102.0  # due by age, held while busy
    assert batcher.due(ready=lambda backend, _lane: backend not in busy) == []
    busy.clear()  # a slot frees: the held batch closes on the next check
    assert [b.size for b in batcher.due(ready=lambda _backend, _lane: True)] == [1]


def test_interactive_sets_are_batched_only_with_their_own_lane(sampler_template) -> None:
    batcher = TopologyBatcher(max_batch=100, max_wait_s=1.0, clock=FakeClock())
    for priority in (0, 5, 0, 1):
        batcher.add(make_pending(sampler_template, priority=priority))
    batches = {b.lane: b for b in batcher.drain()}
    assert {lane: b.size for lane, b in batches.items()} == {Lane.BULK: 2, Lane.INTERACTIVE: 2}
    assert all(s.update.priority > 0 for s in batches[Lane.INTERACTIVE].sets)
