"""Schema evolution at the worker (RELIABILITY S6): extra writer schemas, checked at start."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from samples import parameter_update

from processors.intake import Intake
from processors.pending import SourceRef
from processors.validation import Limits
from schemas import ParameterUpdate, SchemaResolutionError, contract_for, contract_from_json
from schemas.codec import AvroCodec
from streams.config import Settings
from streams.kafka.codec import make_codec


def _evolved(tmp_path: Path, *, add: dict[str, object] | None = None, drop: str = "") -> Path:
    raw = json.loads(contract_for(ParameterUpdate).schema_json)
    raw["fields"] = [f for f in raw["fields"] if f["name"] != drop]
    if add:
        raw["fields"].append(add)
    path = tmp_path / "writer.avsc"
    path.write_text(json.dumps(raw))
    return path


def test_a_writer_with_an_added_defaulted_field_is_accepted(tmp_path: Path) -> None:
    path = _evolved(tmp_path, add={"name": "region", "type": "string", "default": "eu"})
    codec = make_codec(Settings(writer_schemas=(path,), data_dir=tmp_path))
    update = parameter_update(produced_at=datetime.now(UTC))
    datum, _ = AvroCodec().decode_datum(ParameterUpdate, AvroCodec().encode(update))
    raw = codec.encode_datum(contract_from_json(path.read_text()), {**datum, "region": "us"})
    decoded = Intake(codec, Limits()).decode(raw, SourceRef("t", 0, 0))
    assert decoded == update


def test_without_it_the_same_message_is_an_unknown_schema(tmp_path: Path) -> None:
    path = _evolved(tmp_path, add={"name": "region", "type": "string", "default": "eu"})
    update = parameter_update(produced_at=datetime.now(UTC))
    datum, _ = AvroCodec().decode_datum(ParameterUpdate, AvroCodec().encode(update))
    raw = AvroCodec().encode_datum(contract_from_json(path.read_text()), {**datum, "region": "x"})
    letter = Intake(AvroCodec(), Limits()).decode(raw, SourceRef("t", 0, 7))
    assert getattr(letter, "error_code", None) == "unknown_schema"


def test_a_writer_lacking_a_required_field_is_refused_at_start(tmp_path: Path) -> None:
    path = _evolved(tmp_path, drop="tenant")
    with pytest.raises(SchemaResolutionError, match="tenant"):
        make_codec(Settings(writer_schemas=(path,), data_dir=tmp_path))
    env = {
        **os.environ,
        "QLOOP_WRITER_SCHEMAS": json.dumps([str(path)]),
        "QLOOP_KAFKA_BOOTSTRAP": "127.0.0.1:1",
        "QLOOP_DATA_DIR": str(tmp_path),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "streams", "worker"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 1
    assert "refusing to start" in proc.stderr and "tenant" in proc.stderr
    assert "Traceback" not in proc.stderr
