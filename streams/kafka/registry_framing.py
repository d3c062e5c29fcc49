"""Confluent wire format (``0x00`` + 4-byte schema id + body) through a Schema Registry.

Used instead of single-object encoding when ``QLOOP_SCHEMA_REGISTRY_URL`` is set. Subjects
follow the RecordNameStrategy (the record's full name), so one schema serves every topic.
"""

from __future__ import annotations

import json
import struct
import threading

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient

from schemas import Contract, DeserializationError, UnknownSchemaError, contract_from_json

_MAGIC = b"\x00"


class RegistryFraming:
    """Implements :class:`schemas.Framing` against a Schema Registry (ids cached locally)."""

    def __init__(self, url: str) -> None:
        # new_client() also accepts mock:// URLs (confluent-kafka's in-process registry).
        self._client = SchemaRegistryClient.new_client({"url": url})
        self._ids: dict[bytes, int] = {}
        self._contracts: dict[int, Contract] = {}
        self._lock = threading.Lock()

    def frame(self, contract: Contract, body: bytes) -> bytes:
        """Register (once) and prefix the schema id."""
        schema_id = self._ids.get(contract.fingerprint)
        if schema_id is None:
            with self._lock:
                schema_id = self._client.register_schema(
                    contract.name, Schema(contract.schema_json, "AVRO")
                )
                self._ids[contract.fingerprint] = schema_id
                self._contracts[schema_id] = contract
        return _MAGIC + struct.pack(">I", schema_id) + body

    def writer_id(self, data: bytes) -> str | None:
        """The registry schema id ``data`` carries, as a decimal string (or None)."""
        if len(data) < 5 or data[:1] != _MAGIC:
            return None
        return str(struct.unpack(">I", data[1:5])[0])

    def unframe(self, data: bytes) -> tuple[Contract, memoryview]:
        """Look the writer schema up by id (cached) and return it with the body."""
        if len(data) < 5 or data[:1] != _MAGIC:
            raise DeserializationError("not a Confluent wire-format message (missing 0x00 magic)")
        (schema_id,) = struct.unpack(">I", data[1:5])
        contract = self._contracts.get(schema_id)
        if contract is None:
            try:
                schema = self._client.get_schema(schema_id)
            except Exception as exc:  # noqa: BLE001 - registry errors mean "unknown id"
                raise UnknownSchemaError(
                    f"schema id {schema_id} not found in the registry", fingerprint=str(schema_id)
                ) from exc
            contract = contract_from_json(json.loads(schema.schema_str or "{}"))
            self._contracts[schema_id] = contract
        return contract, memoryview(data)[5:]


__all__ = ["RegistryFraming"]
