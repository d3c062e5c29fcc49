"""Aer's hex count keys become bitstrings the way ``Result.get_counts`` writes them."""

from __future__ import annotations

import random

import pytest

from processors.backends import aer


def _expected(raw: dict[str, int], width: int) -> dict[str, int]:
    return {format(int(k, 16), f"0{width}b"): v for k, v in raw.items()}


@pytest.mark.parametrize("width", [1, 5, 8, 13])
def test_memoised_conversion_matches_formatting(width: int) -> None:
    rng = random.Random(width)
    raw = {hex(rng.randrange(2**width)): rng.randrange(1, 50) for _ in range(300)}
    first = aer._hex_counts(raw, {"memory_slots": width})
    again = aer._hex_counts(raw, {"memory_slots": width})  # served from the memo
    assert first == again == _expected(raw, width)
    assert all(len(bits) == width for bits in first)


def test_widths_do_not_share_memo_entries() -> None:
    narrow = aer._hex_counts({"0x1": 3}, {"memory_slots": 2})
    wide = aer._hex_counts({"0x1": 3}, {"memory_slots": 6})
    assert narrow == {"01": 3} and wide == {"000001": 3}


def test_past_the_memo_limit_keys_are_still_converted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aer, "_MEMO_LIMIT", 0)
    monkeypatch.setattr(aer, "_BITSTRINGS", {})
    raw = {"0x0": 1, "0xff": 2}
    assert aer._hex_counts(raw, {"memory_slots": 9}) == {"000000000": 1, "011111111": 2}
    assert aer._BITSTRINGS[9] == {}
