"""The ledger's window: entries are forgotten a window after their first write, bucket by bucket."""

from __future__ import annotations

import pytest

from streams.ledger.window import BUCKETS, WindowedMap


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_an_entry_lives_one_window_after_its_first_write_and_no_more_than_a_bucket_longer() -> None:
    clock = Clock()
    window = WindowedMap[str](80.0, clock)
    window.set("a", "paid")
    clock.now += 50
    window.set("a", "done")  # an update keeps the first write's place
    window.set("b", "paid")
    assert window.get("a") == "done" and len(window) == 2
    clock.now += 30 + 80 / BUCKETS  # a's bucket is now wholly older than the window
    assert window.expire() == ["a"]
    assert "a" not in window and window.get("b") == "paid" and len(window) == 1
    clock.now += 80
    assert window.expire() == ["b"] and len(window) == 0


def test_replayed_records_go_by_their_own_timestamp_and_stale_ones_are_not_kept() -> None:
    clock = Clock()
    window = WindowedMap[str](100.0, clock)
    window.set("old", "done", at=clock.now - 500)  # Kafka has not deleted it yet
    window.set("recent", "done", at=clock.now - 10)
    assert "old" not in window and list(window.keys()) == ["recent"]
    assert window.pop("recent") == "done" and window.pop("recent") is None
    assert len(window) == 0


@pytest.mark.parametrize("bad", [0.0, -5.0, float("nan"), float("inf")])
def test_a_window_must_be_a_positive_finite_duration(bad: float) -> None:
    with pytest.raises(ValueError, match="positive number of seconds"):
        WindowedMap[str](bad)
