"""Dead-letter construction: one record per rejected input, every field redacted.

The only builder of :class:`~schemas.DeadLetter` in qloop (intake, executor and the sink use
it), so no stage can forget to redact: a token-shaped secret in the raw bytes, the message, the
event id or the tenant is masked before the record exists.
"""

from __future__ import annotations

from datetime import datetime

from processors.pending import SourceRef
from processors.redaction import redact, redact_text
from schemas import DeadLetter, ErrorCode


def make_dead_letter(
    code: ErrorCode,
    message: str,
    *,
    stage: str,
    source: SourceRef,
    raw: bytes,
    occurred_at: datetime,
    event_id: str | None = None,
    tenant: str | None = None,
    fingerprint: str | None = None,
) -> DeadLetter:
    """Build a dead letter; every field is redacted here so no caller can forget to."""
    return DeadLetter(
        error_code=str(code),
        error_message=redact_text(message) or "",
        stage=stage,
        source_topic=source.topic,
        source_partition=source.partition,
        source_offset=source.offset,
        raw_bytes=redact(raw),
        occurred_at=occurred_at,
        schema_fingerprint=fingerprint,
        event_id=redact_text(event_id),
        tenant=redact_text(tenant),
    )


__all__ = ["make_dead_letter"]
