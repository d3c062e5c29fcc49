"""A worker frozen past half its group session fences itself; the local stack restarts it."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from pipeline_support import sampler_circuit, stack_settings, wait_until

from processors import make_template
from streams.client import QloopClient, new_update
from streams.local.stack import LocalStack


def test_frozen_worker_exits_fenced_and_a_fresh_one_serves(
    kafka_bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # faust reads these from the environment: a 6 s session, so the fence limit is 3 s.
    monkeypatch.setenv("BROKER_SESSION_TIMEOUT", "6")
    monkeypatch.setenv("BROKER_HEARTBEAT_INTERVAL", "1")
    settings = stack_settings(kafka_bootstrap, tmp_path, max_wait_ms=20)
    template = make_template(sampler_circuit(3), "fence-ra3")
    with LocalStack(settings, sink=False) as stack, QloopClient(settings) as client:
        client.register_template(template)
        first = new_update(template, [0.1] * len(template.parameter_names), experiment_id="fence")
        assert client.evaluate([first], timeout_s=60)[0].status.value == "SUCCEEDED"
        frozen = stack.worker_pid
        assert frozen is not None
        os.kill(frozen, signal.SIGSTOP)
        time.sleep(4.0)  # past the 3 s limit
        os.kill(frozen, signal.SIGCONT)

        def restarted() -> bool:
            stack.check()  # restarts a worker that exited with EXIT_FENCED, raises otherwise
            return stack.fenced_restarts == 1

        wait_until(restarted, 30, "the frozen worker to fence itself and be replaced")
        assert stack.worker_pid not in (None, frozen)
        later = new_update(template, [0.2] * len(template.parameter_names), experiment_id="fence")
        assert client.evaluate([later], timeout_s=90)[0].status.value == "SUCCEEDED"
