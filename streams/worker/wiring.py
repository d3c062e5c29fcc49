"""How a worker's parts are built from settings: codec, admission limits, backends.

Shared by the processing worker and the canary, so both read one configuration the same way.
"""

from __future__ import annotations

from pathlib import Path

from processors.backends.base import Price
from processors.backends.registry import BackendRegistry, build_registry
from processors.validation import Limits
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


def make_limits(settings: Settings) -> Limits:
    """Admission limits from settings."""
    return Limits(
        max_shots=settings.max_shots,
        default_shots=settings.default_shots,
        max_message_bytes=settings.max_message_bytes,
        allowed_backends=frozenset(settings.allowed_backends),
    )


def make_backends(settings: Settings) -> BackendRegistry:
    """The backend registry, with optional per-submission overhead (cloud-queue stand-in)."""
    prices = {name: Price(**p) for name, p in settings.prices.items()}
    return build_registry(settings.allowed_backends, prices, settings.backend_overhead_ms)


__all__ = ["make_backends", "make_codec", "make_limits"]
