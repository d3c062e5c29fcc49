"""The interactive lane on the real pipeline: its own topics, its own batches."""

from __future__ import annotations

import pytest
from pipeline_support import sampler_circuit

from processors import make_template
from schemas import ResultStatus
from streams.client import QloopClient, new_update
from streams.local.stack import LocalStack

pytestmark = pytest.mark.integration


def test_interactive_and_bulk_sets_run_in_separate_jobs(stack: LocalStack) -> None:
    template = make_template(sampler_circuit(2, prefix="ln"), "lanes")
    with QloopClient(stack.settings) as client:
        client.register_template(template)
        updates = [
            new_update(template, [0.1 * i, 0.2, 0.3, 0.4], experiment_id="lanes", shots=64,
                       priority=i % 2)
            for i in range(8)
        ]  # fmt: skip
        results = client.evaluate(updates, 120)
    assert [r.status for r in results] == [ResultStatus.SUCCEEDED] * 8
    interactive = {r.job_id for r, u in zip(results, updates, strict=True) if u.priority}
    bulk = {r.job_id for r, u in zip(results, updates, strict=True) if not u.priority}
    assert interactive and bulk and not interactive & bulk  # never batched together
