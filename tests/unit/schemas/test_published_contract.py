"""``qloop schemas`` publishes what a producer following the Avro specification computes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from external_avro import Contract

CONTRACTS = [
    Contract(f"{name}.avsc")
    for name in ("circuit_template", "parameter_update", "job_result", "dead_letter")
]


def test_qloop_schemas_prints_what_the_spec_computes() -> None:
    """The fingerprints in ``qloop schemas`` are the ones a spec-following producer computes."""
    out = subprocess.run(
        [sys.executable, "-m", "streams", "schemas", "--json"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "COLUMNS": "200"},
    ).stdout
    rows = {row["name"]: row for row in json.loads(out)}
    for contract in CONTRACTS:
        row = rows[f"io.qloop.v1.{contract.schema.name}"]
        assert row["canonical_form"] == contract.canonical
        assert row["fingerprint"] == f"0x{contract.fingerprint:016x}"
        assert bytes.fromhex(row["wire_bytes"].replace(" ", "")) == contract.header
