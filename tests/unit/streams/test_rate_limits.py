"""Per-tenant token buckets: a tenant is held to its rate, and told why when it can never run."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from qiskit.circuit.library import real_amplitudes

from processors import PendingSet, SourceRef, make_template, payload_digest
from processors.errors import ConfigurationError
from processors.intake import Intake
from processors.validation import Limits
from schemas import AvroCodec, ErrorCode
from streams.client import new_update
from streams.worker.rate_limits import RateLimitTooSmallError, TenantRateLimits


def _pending(tenant: str, shots: int = 100, deadline: datetime | None = None) -> PendingSet:
    circuit = real_amplitudes(2, reps=1)
    circuit.measure_all()
    template = make_template(circuit, "rl")
    update = new_update(template, [0.1] * 4, experiment_id="rl", tenant=tenant, shots=shots)
    if deadline is not None:
        update = replace(update, deadline=deadline)
    return PendingSet(update, template, SourceRef("in", 0, 1), 0.0, datetime.now(UTC),
                      payload_digest(update), b"raw")  # fmt: skip


def test_a_tenant_is_held_to_its_sets_per_second_and_others_are_not() -> None:
    limits = TenantRateLimits.of({"slow": {"sets_per_s": 50, "burst_s": 0.2}})
    assert limits is not None

    async def take(tenant: str, n: int) -> float:
        started = time.monotonic()
        for _ in range(n):
            await limits.acquire(tenant, 100)
        return time.monotonic() - started

    # A bucket of 10 sets drains at 50/s: 60 sets need at least (60 - 10) / 50 = 1 s.
    assert asyncio.run(take("slow", 60)) >= 0.95
    assert asyncio.run(take("other", 500)) < 0.5  # no limit of its own, and no "*"
    assert limits.waited_s["slow"] >= 0.9


def test_the_star_limit_applies_to_every_other_tenant_and_shots_are_counted() -> None:
    limits = TenantRateLimits.of({"*": {"shots_per_min": 1000}})
    assert limits is not None
    with pytest.raises(RateLimitTooSmallError, match="2000 shots exceed tenant anyone's limit"):
        asyncio.run(limits.acquire("anyone", 2000))


def test_a_set_that_can_never_fit_or_that_waited_past_its_deadline_is_dead_lettered() -> None:
    intake = Intake(AvroCodec(), Limits())
    limits = TenantRateLimits.of({"t": {"shots_per_min": 500, "sets_per_s": 1}})
    assert limits is not None

    async def scenario() -> None:
        letter = await limits.admit(_pending("t", shots=600), intake)
        assert letter is not None and letter.error_code == ErrorCode.SHOTS_OUT_OF_RANGE
        assert await limits.admit(_pending("t", shots=100), intake) is None  # the burst
        soon = datetime.now(UTC) + timedelta(milliseconds=200)
        letter = await limits.admit(_pending("t", shots=100, deadline=soon), intake)
        assert letter is not None and letter.error_code == ErrorCode.EXPIRED
        assert "held to its rate limit" in letter.error_message

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"sets_per_sec": 5}, "unknown keys"),
        ({"sets_per_s": 0}, "must be a number > 0"),
        ({"shots_per_min": -3}, "must be a number > 0"),
        ({"burst_s": True}, "must be a number > 0"),
    ],
)
def test_bad_limits_are_refused_with_the_tenant_named(raw: dict, message: str) -> None:
    with pytest.raises(ConfigurationError, match=f"rate limit of acme: .*{message}|{message}"):
        TenantRateLimits.of({"acme": raw})
    assert TenantRateLimits.of({}) is None
