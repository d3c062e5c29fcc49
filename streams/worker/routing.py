"""Where a routed update came from: hop 1 names the input in a header, hop 2 reads it back.

Hop 2 consumes ``updates-by-topology``, but a dead letter it writes (an idempotency conflict,
a circuit over capacity) must name the input the producer sent, not the internal copy, and two
copies forwarded after a hop-1 crash must count as one input. The ``qloop-origin`` header
carries ``topic:partition:offset`` of that input (Kafka topic names cannot contain ``:``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from processors.pending import SourceRef

ORIGIN_HEADER = "qloop-origin"


def origin_headers(source: SourceRef) -> dict[str, str]:
    """The headers a forwarded update carries."""
    return {ORIGIN_HEADER: f"{source.topic}:{source.partition}:{source.offset}"}


def origin_of(headers: Mapping[str, Any] | Iterable[tuple[str, Any]] | None) -> SourceRef | None:
    """The input a routed message stands for, or None if it carries no valid origin."""
    if not headers:
        return None
    items = headers.items() if isinstance(headers, Mapping) else headers
    for name, value in items:
        if name != ORIGIN_HEADER or value is None:
            continue
        text = value.decode() if isinstance(value, bytes | bytearray) else str(value)
        topic, _, rest = text.partition(":")
        partition, _, offset = rest.partition(":")
        try:
            return SourceRef(topic, int(partition), int(offset))
        except ValueError:
            return None
    return None


__all__ = ["ORIGIN_HEADER", "origin_headers", "origin_of"]
