from dataclasses import replace
from datetime import timedelta

import pytest
from proc_factories import NOW, make_update

from processors import Limits, redact, validate_against_template, validate_update
from schemas import ErrorCode, Primitive

LIMITS = Limits(allowed_tenants=frozenset({"acme"}), allowed_backends=frozenset({"aer_simulator"}))
IBM_LIKE = "a1b2c3d4" * 16  # 128 hex digits, the shape of an IBM Quantum token


def _check(update, size: int = 100):
    return validate_update(update, message_bytes=size, limits=LIMITS, now=NOW)


def test_valid_update_passes(sampler_template) -> None:
    update = make_update(
        sampler_template, trace_context={"traceparent": "00-" + "ab" * 16 + "-" + "cd" * 8 + "-01"}
    )
    assert _check(update) is None
    assert validate_against_template(update, sampler_template, limits=LIMITS) is None


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"parameters": (float("nan"), 0.0, 0.0, 0.0, 0.0, 0.0)}, ErrorCode.NON_FINITE_PARAMETER),
        ({"parameters": (float("inf"), 0.0, 0.0, 0.0, 0.0, 0.0)}, ErrorCode.NON_FINITE_PARAMETER),
        ({"shots": 0}, ErrorCode.SHOTS_OUT_OF_RANGE),
        ({"shots": -5}, ErrorCode.SHOTS_OUT_OF_RANGE),
        ({"shots": 100_001}, ErrorCode.SHOTS_OUT_OF_RANGE),
        ({"precision": -0.1}, ErrorCode.PRECISION_OUT_OF_RANGE),
        ({"precision": float("nan")}, ErrorCode.PRECISION_OUT_OF_RANGE),
        ({"produced_at": NOW + timedelta(minutes=5)}, ErrorCode.TIMESTAMP_IN_FUTURE),
        ({"produced_at": NOW - timedelta(days=2)}, ErrorCode.EXPIRED),
        ({"deadline": NOW - timedelta(seconds=1)}, ErrorCode.EXPIRED),
        ({"tenant": ""}, ErrorCode.MISSING_TENANT),
        ({"tenant": "   "}, ErrorCode.MISSING_TENANT),
        ({"tenant": "evil"}, ErrorCode.TENANT_NOT_ALLOWED),
        ({"labels": {"note": IBM_LIKE}}, ErrorCode.SECRET_IN_PAYLOAD),
        ({"labels": {"auth": "Bearer abcdefghijklmnop123"}}, ErrorCode.SECRET_IN_PAYLOAD),
        ({"labels": {"cfg": "apikey=s3cr3tvalue"}}, ErrorCode.SECRET_IN_PAYLOAD),
        ({"labels": {"aws": "AKIAIOSFODNN7EXAMPLE"}}, ErrorCode.SECRET_IN_PAYLOAD),
        (
            {"labels": {"k": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}},
            ErrorCode.SECRET_IN_PAYLOAD,
        ),
        ({"experiment_id": "ghp_" + "A1b2" * 9}, ErrorCode.SECRET_IN_PAYLOAD),
        ({"trace_context": {"x": "password: hunter22"}}, ErrorCode.SECRET_IN_PAYLOAD),
    ],
)
def test_catalogue(sampler_template, overrides, code) -> None:
    rejection = _check(make_update(sampler_template, **overrides))
    assert rejection is not None and rejection.code is code
    assert IBM_LIKE not in rejection.message


def test_labels_that_merely_look_long_are_not_secrets(sampler_template) -> None:
    update = make_update(
        sampler_template,
        labels={
            "desc": "an_experiment_name_with_many_words_joined_together",
            "sql": "'; DROP TABLE x;--",
        },
    )
    assert _check(update) is None


def test_message_size_cap(sampler_template) -> None:
    rejection = _check(make_update(sampler_template), size=LIMITS.max_message_bytes + 1)
    assert rejection is not None and rejection.code is ErrorCode.MESSAGE_TOO_LARGE


def test_template_dependent_checks(sampler_template, estimator_template) -> None:
    update = make_update(sampler_template)
    cases = [
        (update, None, ErrorCode.UNKNOWN_TEMPLATE),
        (replace(update, parameters=(0.1,)), sampler_template, ErrorCode.PARAMETER_COUNT_MISMATCH),
        (replace(update, backend="ibm_torino"), sampler_template, ErrorCode.BACKEND_NOT_ALLOWED),
        (
            replace(update, primitive=Primitive.ESTIMATOR),
            sampler_template,
            ErrorCode.MISSING_OBSERVABLE,
        ),
        (
            replace(update, template_id=estimator_template.template_id),
            estimator_template,
            ErrorCode.INVALID_TEMPLATE,
        ),
    ]
    for candidate, template, code in cases:
        rejection = validate_against_template(candidate, template, limits=LIMITS)
        assert rejection is not None and rejection.code is code, code
    tight = Limits(max_circuit_chars=10)
    rejection = validate_against_template(update, sampler_template, limits=tight)
    assert rejection is not None and rejection.code is ErrorCode.CIRCUIT_OVER_LIMITS


def test_redact_masks_secrets_keeps_length_and_ids(sampler_template) -> None:
    raw = f"{sampler_template.template_id}|token={IBM_LIKE}|Bearer xyzxyzxyz123".encode()
    redacted = redact(raw)
    assert len(redacted) == len(raw)
    assert IBM_LIKE.encode() not in redacted and b"xyzxyzxyz123" not in redacted
    assert sampler_template.template_id.encode() in redacted
    assert redact(b"plain bytes") == b"plain bytes"


def test_statevector_memory_cap() -> None:
    assert Limits(memory_cap_bytes=16 * 2**20).max_qubits_statevector == 20
    assert Limits(memory_cap_bytes=16 * 2**20 - 1).max_qubits_statevector == 19
