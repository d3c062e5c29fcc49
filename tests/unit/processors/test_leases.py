"""Slot leases decided in log order: never more holders than the limit, and expiry agreed."""

from __future__ import annotations

from processors.leases import LeaseBook, LeaseRequest


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
