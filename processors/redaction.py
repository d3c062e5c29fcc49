"""Detect and redact token-shaped secrets in payloads.

A credential pasted into a label must neither be executed nor stored: the update is rejected and
the dead letter carries the raw bytes with every match masked. Masks keep the byte length, so a
redacted Avro message still has valid length prefixes and remains decodable for forensics.
"""

from __future__ import annotations

import re

_MASK = b"*"

# Each pattern targets one credential family; all run over raw bytes so the same rules serve
# field checks (UTF-8 encoded) and dead-letter redaction.
_PATTERNS: tuple[re.Pattern[bytes], ...] = (
    re.compile(rb"(?i)\bbearer\s+[A-Za-z0-9\-._~+/]{8,}=*"),
    re.compile(
        rb"(?i)\b(?:api[_-]?key|apikey|access[_-]?token|auth[_-]?token|token|secret|"
        rb"password|passwd|client[_-]?secret)\s*[=:]\s*[^\s&,;\"']{4,}"
    ),
    re.compile(rb"\b(?:AKIA|ASIA|AGPA|AIDA|AROA)[0-9A-Z]{16}\b"),  # AWS access key ids
    re.compile(rb"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),  # GitHub tokens
    re.compile(rb"\bxox[abprs]-[A-Za-z0-9-]{10,}"),  # Slack tokens
    re.compile(rb"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),  # JWTs
    re.compile(rb"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    # IBM Quantum API tokens are 128 hex digits; content hashes ("sha256:" + 64 hex) are ids.
    re.compile(rb"(?<!sha256:)(?<![A-Fa-f0-9])[A-Fa-f0-9]{64,}"),
)
# Long base64/base64url runs are only secret-like when they mix cases and digits (IBM Cloud API
# keys, AWS secret keys); plain words joined by underscores are not.
_OPAQUE = re.compile(rb"(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{40,}={0,2}")


def _opaque_is_secret(run: bytes) -> bool:
    return (
        any(c in b"0123456789" for c in run)
        and any(97 <= c <= 122 for c in run)
        and any(65 <= c <= 90 for c in run)
    )


def _spans(raw: bytes) -> list[tuple[int, int]]:
    spans = [m.span() for p in _PATTERNS for m in p.finditer(raw)]
    spans += [m.span() for m in _OPAQUE.finditer(raw) if _opaque_is_secret(m.group())]
    return spans


def contains_secret(text: str | bytes) -> bool:
    """Return whether ``text`` holds anything shaped like a credential."""
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    return bool(_spans(raw))


def redact(raw: bytes) -> bytes:
    """Return ``raw`` with every secret-shaped match replaced by ``*`` of the same length."""
    spans = _spans(raw)
    if not spans:
        return raw
    out = bytearray(raw)
    for start, end in spans:
        out[start:end] = _MASK * (end - start)
    return bytes(out)


def redact_text(text: str | None) -> str | None:
    """:func:`redact` for a text field (same length, every secret masked); None stays None."""
    if text is None:
        return None
    raw = text.encode("utf-8", "surrogatepass")
    masked = redact(raw)
    return text if masked is raw else masked.decode("utf-8", "replace")


__all__ = ["contains_secret", "redact", "redact_text"]
