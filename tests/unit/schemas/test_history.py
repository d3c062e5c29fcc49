"""Older versions of qloop's own contracts stay readable after the contract evolves."""

from __future__ import annotations

import io
from dataclasses import replace

from fastavro import schemaless_writer
from samples import all_samples

from schemas import AvroCodec, JobResult, JobSubmitted
from schemas.contracts import HISTORY_FILES, Contract, contract_for, history_contracts
from schemas.convert import to_avro


def _history(file: str) -> Contract:
    """The older contract packaged as ``history/<file>``."""
    return dict(zip(HISTORY_FILES, history_contracts(), strict=True))[f"history/{file}"]


def _v1_result() -> JobResult:
    return next(r for r in all_samples() if isinstance(r, JobResult))


def test_a_v1_job_result_is_read_with_the_new_fields_null() -> None:
    v1 = _history("job_result.v1.avsc")
    assert v1.fingerprint != contract_for(JobResult).fingerprint
    result = _v1_result()
    datum = to_avro(result)
    for field in ("noise_model_id", "compile_key", "precision"):
        del datum["reproducibility"][field]  # what a v1 writer has
    body = io.BytesIO()
    schemaless_writer(body, v1.parsed, datum)
    decoded = AvroCodec().decode(JobResult, b"\xc3\x01" + v1.fingerprint + body.getvalue())
    expected_bundle = replace(
        result.reproducibility, noise_model_id=None, compile_key=None, precision=None
    )
    assert decoded == replace(result, reproducibility=expected_bundle)


def test_every_history_file_is_an_older_version_of_a_current_contract() -> None:
    current = {contract_for(type(r)).name for r in all_samples()}
    assert len(history_contracts()) == len(HISTORY_FILES)
    for old in history_contracts():
        assert old.name in current


def test_a_v1_job_submitted_is_read_as_attempt_1() -> None:
    v1 = _history("job_submitted.v1.avsc")
    job = next(r for r in all_samples() if isinstance(r, JobSubmitted))
    datum = to_avro(replace(job, attempt=7))
    del datum["attempt"]
    body = io.BytesIO()
    schemaless_writer(body, v1.parsed, datum)
    decoded = AvroCodec().decode(JobSubmitted, b"\xc3\x01" + v1.fingerprint + body.getvalue())
    assert decoded == replace(job, attempt=1)


def test_a_v2_job_result_is_read_with_the_provider_fields_null() -> None:
    v2 = _history("job_result.v2.avsc")
    result = _v1_result()
    datum = to_avro(result)
    del datum["reproducibility"]["provider_job_id"]
    del datum["timings"]["provider_queue_ms"]
    body = io.BytesIO()
    schemaless_writer(body, v2.parsed, datum)
    decoded = AvroCodec().decode(JobResult, b"\xc3\x01" + v2.fingerprint + body.getvalue())
    assert decoded.reproducibility.provider_job_id is None
    assert decoded.timings.provider_queue_ms is None
    assert decoded == result


def test_a_v2_job_submitted_is_read_with_no_provider_job_ids() -> None:
    v2 = _history("job_submitted.v2.avsc")
    job = next(r for r in all_samples() if isinstance(r, JobSubmitted))
    datum = to_avro(replace(job, attempt=3, provider_job_ids=("ibm-1",)))
    del datum["provider_job_ids"]
    body = io.BytesIO()
    schemaless_writer(body, v2.parsed, datum)
    decoded = AvroCodec().decode(JobSubmitted, b"\xc3\x01" + v2.fingerprint + body.getvalue())
    assert decoded == replace(job, attempt=3, provider_job_ids=())
