"""Dead-letter construction: one record per rejected input, raw bytes always redacted."""

from __future__ import annotations

from datetime import datetime

from processors.pending import SourceRef
from processors.redaction import redact
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
    """Build a dead letter; ``raw`` is redacted here so no caller can forget to."""
    return DeadLetter(
        error_code=str(code),
        error_message=message,
        stage=stage,
        source_topic=source.topic,
        source_partition=source.partition,
        source_offset=source.offset,
        raw_bytes=redact(raw),
        occurred_at=occurred_at,
        schema_fingerprint=fingerprint,
        event_id=event_id,
        tenant=tenant,
    )


__all__ = ["make_dead_letter"]
