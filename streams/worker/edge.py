"""The decoding edge: raw Kafka bytes become records or exactly one dead letter.

Decoding and the template-free validation happen here, once; nothing past this point sees
bytes or dicts. A dead letter carries the raw bytes with secrets redacted.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from processors.redaction import redact
from processors.validation import Limits, Rejection, validate_update
from schemas import (
    AvroCodec,
    CircuitTemplate,
    ContractError,
    DeadLetter,
    ErrorCode,
    ParameterUpdate,
)
from schemas.errors import DeserializationError


def utc_now() -> datetime:
    """Wall clock in UTC (injected so tests can move time)."""
    return datetime.now(UTC)


class Edge:
    """Turns input messages into records, or into the one dead letter that explains why not."""

    def __init__(
        self,
        codec: AvroCodec,
        limits: Limits,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.codec = codec
        self.limits = limits
        self.clock = clock

    def dead_letter(
        self,
        rejection: Rejection,
        *,
        stage: str,
        topic: str,
        partition: int,
        offset: int,
        raw: bytes,
        fingerprint: str | None = None,
        update: ParameterUpdate | None = None,
    ) -> DeadLetter:
        """Build the dead letter for ``raw`` (redacted) with its source coordinates."""
        return DeadLetter(
            error_code=rejection.code.value,
            error_message=rejection.message,
            stage=stage,
            source_topic=topic,
            source_partition=partition,
            source_offset=offset,
            raw_bytes=redact(raw),
            occurred_at=self.clock(),
            schema_fingerprint=fingerprint,
            event_id=update.event_id if update else None,
            tenant=update.tenant if update else None,
        )

    def decode_update(
        self, raw: bytes | None, topic: str, partition: int, offset: int
    ) -> ParameterUpdate | DeadLetter:
        """Decode and validate one parameter update."""
        data = raw or b""
        where = {"topic": topic, "partition": partition, "offset": offset, "raw": data}
        if len(data) > self.limits.max_message_bytes:
            return self.dead_letter(
                Rejection(
                    ErrorCode.MESSAGE_TOO_LARGE,
                    f"message of {len(data)} bytes over cap {self.limits.max_message_bytes}",
                ),
                stage="decode",
                **where,  # type: ignore[arg-type]
            )
        try:
            update = self.codec.decode(ParameterUpdate, data)
        except ContractError as exc:
            return self.dead_letter(
                Rejection(exc.code, str(exc)),
                stage="decode",
                fingerprint=exc.fingerprint,
                **where,  # type: ignore[arg-type]
            )
        rejection = validate_update(
            update, message_bytes=len(data), limits=self.limits, now=self.clock()
        )
        if rejection is not None:
            return self.dead_letter(
                rejection,
                stage="validate",
                update=update,
                **where,  # type: ignore[arg-type]
            )
        return update

    def decode_template(
        self, raw: bytes | None, topic: str, partition: int, offset: int
    ) -> CircuitTemplate | DeadLetter:
        """Decode one circuit template (validated further by the registry)."""
        data = raw or b""
        try:
            if not data:
                raise DeserializationError("empty template message")
            return self.codec.decode(CircuitTemplate, data)
        except ContractError as exc:
            return self.dead_letter(
                Rejection(exc.code, str(exc)),
                stage="decode",
                topic=topic,
                partition=partition,
                offset=offset,
                raw=data,
                fingerprint=exc.fingerprint,
            )


__all__ = ["Edge", "utc_now"]
