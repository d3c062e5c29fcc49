"""A tenant held to K sets per second on the real pipeline is never faster, over any window."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pipeline_support import sampler_circuit, stack_settings

from processors import make_template
from schemas import ResultStatus
from streams.client import QloopClient, new_update
from streams.local.stack import LocalStack

pytestmark = pytest.mark.integration

RATE, BURST_S, SETS = 10.0, 1.0, 50


@pytest.fixture
def limited(kafka_bootstrap: str, tmp_path: Path) -> Iterator[LocalStack]:
    settings = stack_settings(
        kafka_bootstrap,
        tmp_path / "stack",
        max_wait_ms=50,
        rate_limits={"slow": {"sets_per_s": RATE, "burst_s": BURST_S}},
    )
    with LocalStack(settings) as running:
        yield running
        running.check()


def test_a_tenant_held_to_k_sets_per_second_is_never_faster(limited: LocalStack) -> None:
    template = make_template(sampler_circuit(2, prefix="rl"), "rate-limited")
    arrivals: list[float] = []
    with QloopClient(limited.settings) as client:
        client.register_template(template)
        # Warm the template first (compile, load the simulator), as another tenant: a cold
        # first job that outlasts the bucket lets admitted batches queue behind it and land
        # together, which the client would see as a burst the limiter never allowed.
        warm = new_update(template, [0.0] * 4, experiment_id="rate-warm", shots=64)
        client.evaluate([warm], 120)
        updates = [
            new_update(template, [0.1 * i, 0.2, 0.3, 0.4], experiment_id="rate",
                       tenant="slow", shots=64)
            for i in range(SETS)
        ]  # fmt: skip
        started = time.monotonic()
        futures = client.submit(updates)
        for future in futures.values():
            future.add_done_callback(lambda _f: arrivals.append(time.monotonic()))
        results = [f.result(120) for f in futures.values()]
    assert [r.status for r in results] == [ResultStatus.SUCCEEDED] * SETS
    arrivals.sort()
    # The bucket holds one second of sets; the other 40 come at 10 per second at most.
    assert arrivals[-1] - started >= (SETS - RATE * BURST_S) / RATE - 0.2
    # Over any 2-second window, no more than 2 s of rate plus the bucket (and a batch's slack).
    for i, first in enumerate(arrivals):
        within = sum(1 for t in arrivals[i:] if t - first <= 2.0)
        assert within <= 2 * RATE + RATE * BURST_S + 2, (i, within)
