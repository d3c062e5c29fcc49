from __future__ import annotations

import io
import json
from dataclasses import replace

import avro.io
import avro.schema
import pytest
from samples import all_samples, parameter_update

from schemas import (
    SINGLE_OBJECT_MAGIC,
    AvroCodec,
    ContractError,
    DeserializationError,
    ErrorCode,
    ParameterUpdate,
    SchemaResolutionError,
    SingleObjectFraming,
    UnknownSchemaError,
    avsc_path,
    check_resolvable,
    contract_for,
    contract_from_json,
)

codec = AvroCodec()


@pytest.mark.parametrize("record", all_samples(), ids=lambda r: type(r).__name__)
def test_every_record_round_trips(record: object) -> None:
    assert codec.decode(type(record), codec.encode(record)) == record


@pytest.mark.parametrize("record", all_samples(), ids=lambda r: type(r).__name__)
def test_apache_avro_decodes_with_only_the_avsc(record: object) -> None:
    """A second, independent implementation reads our bytes given only the .avsc file."""
    with open(avsc_path(type(record))) as fh:
        schema = avro.schema.parse(fh.read())
    data = codec.encode(record)
    assert data[:2] == SINGLE_OBJECT_MAGIC
    # avro-python's canonical_form keeps {"type": "long"} for logical types, against the
    # spec's [PRIMITIVES] rule; hash the spec form with its CRC-64-AVRO implementation.
    spec_form = schema.canonical_form.replace('{"type":"long"}', '"long"')
    assert data[2:10] == avro.schema._crc_64_fingerprint(spec_form.encode())
    datum = avro.io.DatumReader(schema).read(avro.io.BinaryDecoder(io.BytesIO(data[10:])))
    first = next(iter(schema.fields)).name
    assert datum[first] == getattr(record, first)


def test_header_is_single_object_with_little_endian_fingerprint() -> None:
    data = codec.encode(parameter_update())
    contract = contract_for(ParameterUpdate)
    assert data.startswith(b"\xc3\x01" + contract.fingerprint)


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"", DeserializationError),
        (b"not avro at all", DeserializationError),
        (b"\xc3\x01" + b"\x00" * 8 + b"body", UnknownSchemaError),
    ],
)
def test_bad_bytes_raise_contract_errors(data: bytes, error: type[ContractError]) -> None:
    with pytest.raises(error) as info:
        codec.decode(ParameterUpdate, data)
    assert info.value.code in {ErrorCode.DESERIALIZATION_ERROR, ErrorCode.UNKNOWN_SCHEMA}


@pytest.mark.parametrize("cut", [1, 5, 20])
def test_truncated_body_is_a_deserialization_error(cut: int) -> None:
    data = codec.encode(parameter_update())
    with pytest.raises(DeserializationError):
        codec.decode(ParameterUpdate, data[:-cut])


def test_trailing_garbage_is_rejected() -> None:
    with pytest.raises(DeserializationError):
        codec.decode(ParameterUpdate, codec.encode(parameter_update()) + b"\x00")


def _evolved(add: dict[str, object] | None = None, drop: str | None = None) -> str:
    raw = json.loads(contract_for(ParameterUpdate).schema_json)
    if drop:
        raw["fields"] = [f for f in raw["fields"] if f["name"] != drop]
    if add:
        raw["fields"].append(add)
    return json.dumps(raw)


def test_writer_with_an_added_defaulted_field_resolves() -> None:
    writer = contract_from_json(_evolved(add={"name": "region", "type": "string", "default": "eu"}))
    framing = SingleObjectFraming()
    framing.register(writer)
    evolved = AvroCodec(framing)
    datum = codec.decode_datum(ParameterUpdate, codec.encode(parameter_update()))[0]
    datum["primitive"] = "SAMPLER"
    data = evolved.encode_datum(writer, {**datum, "region": "us"})
    assert evolved.decode(ParameterUpdate, data) == parameter_update()


def test_writer_missing_a_required_field_is_refused_clearly() -> None:
    writer = contract_from_json(_evolved(drop="tenant"))
    with pytest.raises(SchemaResolutionError, match="tenant"):
        check_resolvable(writer, contract_for(ParameterUpdate))
    framing = SingleObjectFraming()
    framing.register(writer)
    evolved = AvroCodec(framing)
    datum = codec.decode_datum(ParameterUpdate, codec.encode(parameter_update()))[0]
    del datum["tenant"]
    data = evolved.encode_datum(writer, datum)
    with pytest.raises(SchemaResolutionError, match="tenant") as info:
        evolved.decode(ParameterUpdate, data)
    assert info.value.code == ErrorCode.SCHEMA_RESOLUTION_ERROR


def test_record_of_another_type_is_refused() -> None:
    sample = all_samples()[0]
    with pytest.raises(SchemaResolutionError):
        codec.decode(ParameterUpdate, codec.encode(sample))


def test_records_are_frozen() -> None:
    update = parameter_update()
    with pytest.raises(AttributeError):
        update.tenant = "other"  # type: ignore[misc]
    assert replace(update, tenant="other").tenant == "other"
