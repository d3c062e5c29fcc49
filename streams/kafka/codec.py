"""The one codec every qloop client uses, chosen by settings: single-object or registry framing.

The worker, the sink, the client SDK, the canary and ``qloop topics tail`` all build their codec
here, so with ``QLOOP_SCHEMA_REGISTRY_URL`` set every one of them reads and writes the Confluent
wire format, and without it every one uses Avro single-object encoding.
"""

from __future__ import annotations

from pathlib import Path

from schemas import (
    AvroCodec,
    SchemaResolutionError,
    SingleObjectFraming,
    check_resolvable,
    contract_for,
    contract_from_json,
)
from schemas.contracts import CONTRACT_FILES
from streams.config import Settings


def make_codec(settings: Settings) -> AvroCodec:
    """Single-object framing, or the Confluent wire format when a registry is configured.

    Extra writer schemas (``QLOOP_WRITER_SCHEMAS``) are resolved against the packaged reader
    schema of the same record here, at start: one that the reader cannot resolve (a field it
    needs without a default) refuses the start with :class:`SchemaResolutionError`, instead
    of dead-lettering every message written with it.
    """
    if settings.schema_registry_url:
        from streams.kafka.registry_framing import RegistryFraming

        return AvroCodec(RegistryFraming(settings.schema_registry_url))
    framing = SingleObjectFraming()
    readers = {contract_for(cls).name: contract_for(cls) for cls in CONTRACT_FILES}
    for path in settings.writer_schemas:
        writer = contract_from_json(Path(path).read_text("utf-8"))
        reader = readers.get(writer.name)
        if reader is None:
            raise SchemaResolutionError(f"{path}: {writer.name} is not a qloop record")
        check_resolvable(writer, reader)
        framing.register(writer)
    return AvroCodec(framing)


__all__ = ["make_codec"]
