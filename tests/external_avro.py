"""An upstream team's Avro code, written from the Avro specification and qloop's README only.

No qloop module and no Qiskit: the Apache ``avro`` package encodes and decodes bodies, and the
Parsing Canonical Form and the CRC-64-AVRO fingerprint are computed here from the specification,
because ``avro`` 1.12's own canonical form keeps ``{"type":"long"}`` for a field with a
``logicalType`` where the specification (and Java) give ``"long"``.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import avro.io
import avro.schema

SCHEMAS = Path(__file__).resolve().parents[1] / "schemas"
#: A circuit written by hand, as a producer without Qiskit would: RY on each qubit, then a CX.
RY_CX = """OPENQASM 3.0;
include "stdgates.inc";
input float[64] a;
input float[64] b;
bit[2] c;
qubit[2] q;
ry(a) q[0];
ry(b) q[1];
cx q[0], q[1];
c[0] = measure q[0];
c[1] = measure q[1];
"""
MAGIC = b"\xc3\x01"
_PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}
_EMPTY = 0xC15D213AA4D7A795


def _crc_table() -> list[int]:
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (_EMPTY & -(fp & 1))
        table.append(fp)
    return table


_TABLE = _crc_table()


def crc64_avro(data: bytes) -> int:
    """The specification's 64-bit Rabin fingerprint."""
    fp = _EMPTY
    for byte in data:
        fp = (fp >> 8) ^ _TABLE[(fp ^ byte) & 0xFF]
    return fp


def _fullname(name: str, namespace: str | None) -> str:
    return name if "." in name or not namespace else f"{namespace}.{name}"


def _pcf(schema: Any, namespace: str | None) -> str:
    """Parsing Canonical Form: PRIMITIVES, FULLNAMES, STRIP, ORDER, STRINGS, WHITESPACE."""
    text = lambda value: json.dumps(value, ensure_ascii=False)  # noqa: E731
    if isinstance(schema, str):
        return text(schema if schema in _PRIMITIVES else _fullname(schema, namespace))
    if isinstance(schema, list):
        return "[" + ",".join(_pcf(branch, namespace) for branch in schema) + "]"
    kind = schema["type"]
    if kind in _PRIMITIVES:  # {"type":"long","logicalType":...} is "long"
        return text(kind)
    if kind in ("record", "error", "enum", "fixed"):
        full = _fullname(schema["name"], schema.get("namespace", namespace))
        inner = full.rsplit(".", 1)[0] if "." in full else None
        parts = [f'"name":{text(full)}', f'"type":{text(kind)}']
        if kind in ("record", "error"):
            fields = ",".join(
                f'{{"name":{text(f["name"])},"type":{_pcf(f["type"], inner)}}}'
                for f in schema["fields"]
            )
            parts.append(f'"fields":[{fields}]')
        elif kind == "enum":
            parts.append('"symbols":[' + ",".join(text(s) for s in schema["symbols"]) + "]")
        else:
            parts.append(f'"size":{int(schema["size"])}')
        return "{" + ",".join(parts) + "}"
    if kind == "array":
        return '{"type":"array","items":' + _pcf(schema["items"], namespace) + "}"
    if kind == "map":
        return '{"type":"map","values":' + _pcf(schema["values"], namespace) + "}"
    return _pcf(kind, namespace)


class Contract:
    """One ``.avsc``: the Apache parser's schema plus the spec's canonical form and fingerprint."""

    def __init__(self, avsc: str) -> None:
        raw = json.loads((SCHEMAS / avsc).read_text("utf-8"))
        self.schema = avro.schema.parse(json.dumps(raw))
        self.canonical = _pcf(raw, None)
        self.fingerprint = crc64_avro(self.canonical.encode("utf-8"))
        self.header = MAGIC + self.fingerprint.to_bytes(8, "little")

    def encode(self, datum: dict[str, Any]) -> bytes:
        """Single-object encoding: C3 01, the fingerprint (little-endian), the body."""
        buffer = io.BytesIO()
        avro.io.DatumWriter(self.schema).write(datum, avro.io.BinaryEncoder(buffer))
        return self.header + buffer.getvalue()

    def decode(self, value: bytes) -> dict[str, Any]:
        """The datum of a single-object message written with this schema."""
        assert value[:10] == self.header, f"not a {self.schema.name}: {value[:10].hex()}"
        reader = avro.io.DatumReader(self.schema)
        datum: dict[str, Any] = reader.read(avro.io.BinaryDecoder(io.BytesIO(value[10:])))
        return datum
