"""AvroCodec: records to framed Avro bytes and back, with schema resolution.

Schemas are parsed once (``contracts``); a message written with an older or newer schema is
resolved against the packaged reader schema, exactly as the Avro specification describes.
"""

from __future__ import annotations

import io
from typing import Any, TypeVar

from fastavro import schemaless_reader, schemaless_writer
from fastavro.read import SchemaResolutionError as _FastavroResolutionError

from schemas.contracts import Contract, contract_for
from schemas.convert import from_avro, to_avro
from schemas.errors import ContractError, DeserializationError, SchemaResolutionError
from schemas.framing import Framing, SingleObjectFraming

T = TypeVar("T")


def check_resolvable(writer: Contract, reader: Contract) -> None:
    """Raise :class:`SchemaResolutionError` if ``reader`` needs a field ``writer`` lacks.

    Checked up front (at registration, i.e. at start) so an incompatible producer is refused
    with a clear message instead of failing on every message.
    """
    writer_fields = {f["name"] for f in writer.parsed.get("fields", [])}
    missing = [
        f["name"]
        for f in reader.parsed.get("fields", [])
        if f["name"] not in writer_fields and "default" not in f
    ]
    if missing:
        raise SchemaResolutionError(
            f"writer schema {writer.name} ({writer.fingerprint_hex}) lacks field(s) "
            f"{', '.join(missing)} that reader {reader.name} requires without a default",
            fingerprint=writer.fingerprint_hex,
        )


class AvroCodec:
    """Encodes records with their packaged contract and decodes framed bytes into records.

    Decoding raises only :class:`~schemas.errors.ContractError` subclasses, each carrying the
    error code the dead letter should record.
    """

    def __init__(self, framing: Framing | None = None) -> None:
        self.framing: Framing = framing or SingleObjectFraming()

    def encode(self, record: Any) -> bytes:
        """Serialise ``record`` with the contract of its class."""
        contract = contract_for(type(record))
        buf = io.BytesIO()
        schemaless_writer(buf, contract.parsed, to_avro(record))
        return self.framing.frame(contract, buf.getvalue())

    def encode_datum(self, contract: Contract, datum: dict[str, Any]) -> bytes:
        """Serialise a raw datum with an explicit (possibly foreign) writer contract."""
        buf = io.BytesIO()
        schemaless_writer(buf, contract.parsed, datum)
        return self.framing.frame(contract, buf.getvalue())

    def decode_datum(self, cls: type[Any], data: bytes) -> tuple[dict[str, Any], Contract]:
        """Decode to the reader-schema datum for ``cls``; also return the writer contract."""
        reader = contract_for(cls)
        writer, body = self.framing.unframe(data)
        if writer.canonical != reader.canonical and writer.name != reader.name:
            raise SchemaResolutionError(
                f"message holds a {writer.name}, expected {reader.name}",
                fingerprint=writer.fingerprint_hex,
            )
        stream = io.BytesIO(body)
        try:
            if writer.fingerprint == reader.fingerprint:
                datum = schemaless_reader(stream, reader.parsed, None)
            else:
                check_resolvable(writer, reader)
                datum = schemaless_reader(stream, writer.parsed, reader.parsed)
        except ContractError:
            raise
        except _FastavroResolutionError as exc:
            raise SchemaResolutionError(str(exc), fingerprint=writer.fingerprint_hex) from exc
        except (EOFError, ValueError, IndexError, UnicodeDecodeError, OverflowError) as exc:
            raise DeserializationError(
                f"truncated or corrupt {reader.name} body: {exc.__class__.__name__}: {exc}",
                fingerprint=writer.fingerprint_hex,
            ) from exc
        if not isinstance(datum, dict):
            raise DeserializationError(f"{reader.name} body is not a record")
        if stream.tell() != len(body):
            raise DeserializationError(
                f"{len(body) - stream.tell()} trailing byte(s) after a {reader.name} body",
                fingerprint=writer.fingerprint_hex,
            )
        return datum, writer

    def decode(self, cls: type[T], data: bytes) -> T:
        """Decode framed bytes into a record of type ``cls``."""
        datum, writer = self.decode_datum(cls, data)
        try:
            return from_avro(cls, datum)
        except (TypeError, ValueError, KeyError) as exc:
            raise DeserializationError(
                f"{cls.__name__} datum does not fit the record: {exc}",
                fingerprint=writer.fingerprint_hex,
            ) from exc


__all__ = ["AvroCodec", "check_resolvable"]
