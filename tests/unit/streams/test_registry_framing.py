from __future__ import annotations

import uuid

import pytest
from samples import all_samples

from schemas import AvroCodec, DeserializationError, ParameterUpdate, UnknownSchemaError
from streams.kafka.registry_framing import RegistryFraming


def test_confluent_wire_format_round_trips_through_a_registry() -> None:
    # confluent-kafka's in-process mock registry speaks the same client API as a real one.
    codec = AvroCodec(RegistryFraming(f"mock://{uuid.uuid4().hex}"))
    for record in all_samples():
        data = codec.encode(record)
        assert data[:1] == b"\x00"
        assert codec.decode(type(record), data) == record


def test_unknown_registry_id_and_bad_magic() -> None:
    codec = AvroCodec(RegistryFraming(f"mock://{uuid.uuid4().hex}"))
    with pytest.raises(UnknownSchemaError):
        codec.decode(ParameterUpdate, b"\x00\x00\x00\x99\x99body")
    with pytest.raises(DeserializationError):
        codec.decode(ParameterUpdate, b"\xc3\x01whatever")
