"""Intake: raw input bytes become an accepted :class:`PendingSet` or exactly one dead letter.

Every check an input passes before it may be batched is decided here, in one place and in one
order: size cap, decoding, template-free validation (secrets first, so no later message can
quote one), validation against the template, and the payload digest that the idempotency
checks compare, computed once. Nothing past intake sees bytes or dicts, and every dead letter
is built by :func:`processors.dead_letters.make_dead_letter`, which redacts every field.

The template lookup is left to the caller (:meth:`Intake.decode` then :meth:`Intake.accept`):
the stream layer may have to wait for a template that is still in flight, which must not block
its event loop. :meth:`Intake.admit` chains both for callers that can block.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from processors.dead_letters import make_dead_letter
from processors.errors import InvalidTemplateError
from processors.idempotency import payload_digest
from processors.pending import PendingSet, SourceRef
from processors.templates import verify_template
from processors.validation import Limits, Rejection, validate_against_template, validate_update
from schemas import (
    AvroCodec,
    CircuitTemplate,
    ContractError,
    DeadLetter,
    ErrorCode,
    ParameterUpdate,
)
from schemas.errors import DeserializationError

#: Stages named in dead letters (``DeadLetter.stage``).
DECODE, VALIDATE, REGISTER = "decode", "validate", "register"


def utc_now() -> datetime:
    """Wall clock in UTC (injected so tests can move time)."""
    return datetime.now(UTC)


class Intake:
    """Decides what enters the pipeline; pure apart from the clock (injectable)."""

    def __init__(
        self,
        codec: AvroCodec,
        limits: Limits,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.codec = codec
        self.limits = limits
        self.clock = clock

    def reject(
        self,
        rejection: Rejection,
        stage: str,
        source: SourceRef,
        raw: bytes | None,
        *,
        update: ParameterUpdate | None = None,
        fingerprint: str | None = None,
    ) -> DeadLetter:
        """The one dead letter for an input refused at ``stage`` (every field redacted)."""
        return make_dead_letter(
            rejection.code,
            rejection.message,
            stage=stage,
            source=source,
            raw=raw or b"",
            occurred_at=self.clock(),
            event_id=update.event_id if update else None,
            tenant=update.tenant if update else None,
            fingerprint=fingerprint or self.codec.framing.writer_id(raw or b""),
        )

    def decode(self, raw: bytes | None, source: SourceRef) -> ParameterUpdate | DeadLetter:
        """Decode one parameter update and run every check that needs no template."""
        data = raw or b""
        cap = self.limits.max_message_bytes
        if len(data) > cap:
            too_large = Rejection(
                ErrorCode.MESSAGE_TOO_LARGE, f"message of {len(data)} bytes over cap {cap}"
            )
            return self.reject(too_large, DECODE, source, data)
        try:
            update = self.codec.decode(ParameterUpdate, data)
        except ContractError as exc:
            rejection = Rejection(exc.code, str(exc))
            return self.reject(rejection, DECODE, source, data, fingerprint=exc.fingerprint)
        problem = validate_update(
            update, message_bytes=len(data), limits=self.limits, now=self.clock()
        )
        if problem is not None:
            return self.reject(problem, VALIDATE, source, data, update=update)
        return update

    def check_tenant(
        self, update: ParameterUpdate, owner: str | None, source: SourceRef, raw: bytes | None
    ) -> DeadLetter | None:
        """Refuse an update whose payload names another tenant than the one that sent it.

        ``owner`` is the tenant the transport authenticated (multi-tenant mode: the tenant
        whose topic, and so whose ACL, the input came through); budgets and results follow it.
        """
        if update.tenant == owner:
            return None
        mismatch = Rejection(
            ErrorCode.TENANT_NOT_ALLOWED,
            f"the payload names tenant {update.tenant!r}; it was sent as {owner!r}",
        )
        return self.reject(mismatch, VALIDATE, source, raw, update=update)

    def accept(
        self,
        update: ParameterUpdate,
        template: CircuitTemplate | None,
        source: SourceRef,
        raw: bytes | None,
    ) -> PendingSet | DeadLetter:
        """Check ``update`` against its template (None: unknown) and digest it, once."""
        problem = validate_against_template(update, template, limits=self.limits)
        if problem is not None or template is None:
            assert problem is not None  # noqa: S101 - a None template is always refused
            return self.reject(problem, VALIDATE, source, raw, update=update)
        return PendingSet(
            update=update,
            template=template,
            source=source,
            received_monotonic=time.monotonic(),
            received_at=self.clock(),
            raw=raw or b"",
            digest=payload_digest(update),
        )

    def admit(
        self,
        raw: bytes | None,
        source: SourceRef,
        templates: Callable[[str], CircuitTemplate | None],
    ) -> PendingSet | DeadLetter:
        """:meth:`decode`, look the template up with ``templates``, then :meth:`accept`."""
        decoded = self.decode(raw, source)
        if isinstance(decoded, DeadLetter):
            return decoded
        return self.accept(decoded, templates(decoded.template_id), source, raw)

    def register(self, raw: bytes | None, source: SourceRef) -> CircuitTemplate | DeadLetter:
        """Decode and verify one circuit template: the trusted template, or why it is refused.

        The trusted template carries the topology key qloop computed (see
        :func:`processors.templates.verify_template`).
        """
        decoded = self.decode_template(raw, source)
        if isinstance(decoded, DeadLetter):
            return decoded
        try:
            return verify_template(decoded)
        except InvalidTemplateError as exc:
            refusal = Rejection(exc.code, f"template {decoded.template_id}: {exc}")
            return self.reject(refusal, REGISTER, source, raw)

    def decode_template(self, raw: bytes | None, source: SourceRef) -> CircuitTemplate | DeadLetter:
        """Decode one circuit template (:meth:`register` also verifies it)."""
        data = raw or b""
        try:
            if not data:
                raise DeserializationError("empty template message")
            return self.codec.decode(CircuitTemplate, data)
        except ContractError as exc:
            rejection = Rejection(exc.code, str(exc))
            return self.reject(rejection, DECODE, source, data, fingerprint=exc.fingerprint)


__all__ = ["DECODE", "REGISTER", "VALIDATE", "Intake", "utc_now"]
