"""A worker's restart costs its ledger window, not its history (``streams.bench.history``).

Each round runs sets through one worker, restarts it within the window and re-sends the
round's last sets (none may run again), then waits for Kafka's retention to trim the ledger
and restarts it once more, recording what the restart cost against the history behind it.
"""

from __future__ import annotations

from typing import Any

import pytest

from streams.bench.history import run_history


def _check_rounds(report: dict[str, Any], remembered: int) -> None:
    """``remembered``: ledger records a restart right after a round must at least replay.

    A round shorter than the window is replayed whole; of a longer one, retention has already
    trimmed the start, but never the re-sent sets at its end.
    """
    for restart in report["restarts"][:-1]:  # the last restart has no round after it
        # Within the window the round's ids are remembered: every re-sent set is dropped.
        assert restart["within_window_replayed_records"] >= remembered
        assert restart["resent_dropped"] == restart["resent"] == 100
        assert restart["resent_rerun"] == 0
    for restart in report["restarts"]:
        # Past the window the ledger was trimmed: a restart replays (almost) nothing.
        assert restart["ledger_replayed_records"] < 50, restart
        assert restart["ledger_event_entries"] <= 1  # its own probe set


def test_a_restart_past_the_window_replays_nothing_and_resends_within_it_never_rerun(
    kafka_bootstrap: str,
) -> None:
    _check_rounds(run_history(kafka_bootstrap, rounds=2, sets=1500, window_s=10), 1500)


@pytest.mark.chaos
def test_a_hundred_thousand_sets_of_history_leave_restart_memory_and_time_flat(
    kafka_bootstrap: str,
) -> None:
    """The issue's target: under 20 MB and under 1 s of growth per 100,000 sets."""
    report = run_history(kafka_bootstrap, rounds=4, sets=25_000, window_s=20)
    _check_rounds(report, 100)  # a round lasts longer than the 20 s window
    assert report["restarts"][-1]["history_sets"] >= 100_000
    growth = report["growth_per_100k_sets"]
    assert growth["rss_mb"] < 20, report
    assert growth["start_to_first_result_s"] < 1, report
