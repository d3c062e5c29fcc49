"""docs/contract.md states the contract as the code has it: fingerprints and every error code."""

from __future__ import annotations

import re
from pathlib import Path

from schemas import ErrorCode
from schemas.contracts import all_contracts

DOC = (Path(__file__).resolve().parents[3] / "docs" / "contract.md").read_text("utf-8")


def test_the_fingerprint_table_is_the_current_one() -> None:
    rows = re.findall(
        r"^\| `(io\.qloop\.v1\.\w+)` \| `(0x[0-9a-f]{16})` \| `([0-9A-F ]+)` \|$", DOC, re.M
    )
    documented = {name: (number, wire) for name, number, wire in rows}
    expected = {
        c.name: (c.summary()["fingerprint"], c.summary()["wire_bytes"]) for c in all_contracts()
    }
    assert documented == expected


def test_every_error_code_is_documented_once() -> None:
    codes = re.findall(r"^\| `([a-z_]+)` \| [^|]+ \| [^|]+ \| [^|]+ \|$", DOC, re.M)
    assert sorted(codes) == sorted(code.value for code in ErrorCode)
