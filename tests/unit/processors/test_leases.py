"""Slot leases decided in log order: never more holders than the limit, and expiry agreed."""

from __future__ import annotations

from processors.leases import LeaseBook, LeaseRequest, lane_cap


def _take(book: LeaseBook, lease_id: str, at: float, limit: int = 2) -> bool:
    return book.take(LeaseRequest(lease_id, "fake_brisbane", limit, ttl_s=60.0, at=at))


def test_requests_beyond_the_limit_are_refused_until_a_lease_is_freed() -> None:
    book = LeaseBook()
    assert _take(book, "a", 0.0) and _take(book, "b", 1.0)
    assert not _take(book, "c", 2.0)  # two workers asking for the last slot: one gets it
    assert book.held("fake_brisbane", 2.0) == 2
    book.free("fake_brisbane", "a")
    book.free("fake_brisbane", "never-granted")  # harmless
    assert _take(book, "c", 3.0)
    assert book.held("other", 3.0) == 0


def test_a_crashed_holders_lease_expires_at_the_same_point_for_every_reader() -> None:
    log = [("a", 0.0), ("b", 10.0), ("c", 59.0), ("d", 61.0)]
    verdicts = []
    for _reader in range(2):  # two readers of one log reach the same verdicts
        book = LeaseBook()
        verdicts.append([_take(book, lease_id, at) for lease_id, at in log])
    assert verdicts[0] == verdicts[1] == [True, True, False, True]  # a expired at 60


def test_a_renewed_lease_outlives_its_ttl_and_an_expired_one_cannot_be_renewed() -> None:
    book = LeaseBook()
    assert _take(book, "long-job", 0.0, limit=1)
    assert book.renew("fake_brisbane", "long-job", 40.0, 60.0)  # now held until 100
    assert not _take(book, "other", 90.0, limit=1)  # a job waiting in the queue keeps its slot
    assert not book.renew("fake_brisbane", "long-job", 150.0, 60.0)  # expired at 100: lost
    assert _take(book, "other", 151.0, limit=1)


def test_bulk_leaves_the_interactive_reserve_free_and_interactive_takes_it() -> None:
    book = LeaseBook()

    def ask(lease_id: str, at: float, interactive: bool) -> bool:
        cap = lane_cap(3, interactive, reserved=1)
        return book.take(LeaseRequest(lease_id, "fake_brisbane", 3, 60.0, at, cap))

    assert ask("bulk-1", 0.0, False) and ask("bulk-2", 1.0, False)
    assert not ask("bulk-3", 2.0, False)  # the third slot is kept for the interactive lane
    assert ask("urgent", 3.0, True)
    assert not ask("urgent-2", 4.0, True)  # the limit itself still holds for everyone
    assert book.held("fake_brisbane", 4.0) == 3
    # A limit of 1 keeps nothing back (bulk would never run); a reserve of 0 keeps nothing.
    assert lane_cap(1, False, reserved=1) == 1 and lane_cap(4, False, reserved=0) == 4
    assert lane_cap(4, False, reserved=2) == 2 and lane_cap(4, True, reserved=2) == 4
    # Requests written before caps existed are decided against the limit.
    assert book.take(LeaseRequest("old", "other", 1, 60.0, 5.0))
