"""The ``.avsc`` files, parsed once, with their canonical form and CRC-64-AVRO fingerprint."""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

from fastavro import parse_schema
from fastavro.schema import fingerprint, to_parsing_canonical_form

from schemas.records import (
    Approval,
    BackendStatus,
    CalibrationSnapshot,
    CanaryRun,
    CircuitTemplate,
    CompileRecord,
    DeadLetter,
    ExperimentCheckpoint,
    JobResult,
    JobSubmitted,
    ParameterUpdate,
)

#: record class -> file name in this package. The file is the contract; the class mirrors it.
CONTRACT_FILES: dict[type[Any], str] = {
    CircuitTemplate: "circuit_template.avsc",
    ParameterUpdate: "parameter_update.avsc",
    JobSubmitted: "job_submitted.avsc",
    JobResult: "job_result.avsc",
    DeadLetter: "dead_letter.avsc",
    CompileRecord: "compile_record.avsc",
    CanaryRun: "canary_run.avsc",
    CalibrationSnapshot: "calibration_snapshot.avsc",
    ExperimentCheckpoint: "experiment_checkpoint.avsc",
    BackendStatus: "backend_status.avsc",
    Approval: "approval.avsc",
}


@dataclass(frozen=True, slots=True)
class Contract:
    """One Avro schema: its parsed form, canonical text and 8-byte fingerprint."""

    name: str
    schema_json: str
    parsed: Any
    canonical: str
    fingerprint: bytes

    @property
    def fingerprint_hex(self) -> str:
        """The fingerprint's 8 bytes in wire order as lowercase hex, as stored in dead letters."""
        return self.fingerprint.hex()

    @property
    def fingerprint_number(self) -> int:
        """The CRC-64-AVRO value as the specification computes it (wire bytes: little-endian)."""
        return int.from_bytes(self.fingerprint, "little")

    def summary(self) -> dict[str, str]:
        """What a producer in any language needs: name, fingerprint both ways, canonical form."""
        return {
            "name": self.name,
            "fingerprint": f"0x{self.fingerprint_number:016x}",
            "wire_bytes": " ".join(f"{b:02X}" for b in b"\xc3\x01" + self.fingerprint),
            "canonical_form": self.canonical,
        }


#: Older writer versions still accepted, as packaged files under ``history/``: a message a
#: previous release wrote (a worker not yet upgraded, a topic read from the start) resolves
#: against today's reader instead of being dead-lettered. Every evolution so far only added
#: fields with defaults, which Avro resolution fills in.
HISTORY_FILES: tuple[str, ...] = (
    "history/job_result.v1.avsc",
    "history/job_submitted.v1.avsc",
    "history/job_result.v2.avsc",
    "history/job_submitted.v2.avsc",
)


def history_contracts() -> list[Contract]:
    """The older writer contracts of :data:`HISTORY_FILES`."""
    root = resources.files("schemas")
    return [contract_from_json(root.joinpath(f).read_text("utf-8")) for f in HISTORY_FILES]


def all_contracts() -> list[Contract]:
    """Every record contract qloop publishes or accepts, in ``CONTRACT_FILES`` order."""
    return [contract_for(cls) for cls in CONTRACT_FILES]


def contract_from_json(schema_json: str | dict[str, Any]) -> Contract:
    """Parse any Avro record schema (ours or an evolved writer's) into a :class:`Contract`."""
    raw = json.loads(schema_json) if isinstance(schema_json, str) else schema_json
    parsed = parse_schema(raw, _write_hint=False)
    canonical = to_parsing_canonical_form(parsed)
    return Contract(
        name=str(raw["namespace"] + "." + raw["name"] if "namespace" in raw else raw["name"]),
        schema_json=json.dumps(raw),
        parsed=parse_schema(raw),
        canonical=canonical,
        fingerprint=bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO")),
    )


_CONTRACTS: dict[type[Any], Contract] = {}


def contract_for(cls: type[Any]) -> Contract:
    """The contract of a record class, read from the packaged ``.avsc`` file (once)."""
    contract = _CONTRACTS.get(cls)
    if contract is None:
        text = resources.files("schemas").joinpath(CONTRACT_FILES[cls]).read_text("utf-8")
        contract = _CONTRACTS[cls] = contract_from_json(text)
    return contract


def avsc_path(cls: type[Any]) -> str:
    """Filesystem path of the ``.avsc`` for ``cls`` (for tools outside Python, and tests)."""
    return str(resources.files("schemas").joinpath(CONTRACT_FILES[cls]))


__all__ = [
    "CONTRACT_FILES",
    "Contract",
    "all_contracts",
    "avsc_path",
    "contract_for",
    "contract_from_json",
]
