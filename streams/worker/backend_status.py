"""Which backends operators have marked down: the compacted ``backend-status`` topic, tailed.

Every worker reads the whole topic (one small partition) and keeps the latest mark per backend,
so a ``qloop backends down`` reaches every worker within a poll, whichever partitions it owns.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from schemas import AvroCodec, BackendStatus, ContractError
from streams.kafka.table_reader import CompactedTopicReader

log = logging.getLogger(__name__)


class BackendStatusBoard:
    """backend name -> why it is down, for the backends currently marked down."""

    def __init__(self, conf: dict[str, Any], topic: str, codec: AvroCodec) -> None:
        self._codec = codec
        self._down: dict[str, str] = {}
        self._lock = threading.Lock()
        self._reader = CompactedTopicReader(conf, topic, self._apply, name="backend-status")

    def start(self, timeout_s: float = 60.0) -> BackendStatusBoard:
        """Load every mark that exists now, then keep tailing."""
        self._reader.start()
        self._reader.wait_caught_up(timeout_s)
        return self

    def _apply(self, key: bytes | None, value: bytes | None) -> None:
        if value is None:
            if key is not None:
                with self._lock:
                    self._down.pop(key.decode(), None)
            return
        try:
            status = self._codec.decode(BackendStatus, value)
        except ContractError as exc:
            log.warning("ignoring an undecodable backend status: %s", exc)
            return
        with self._lock:
            if status.available:
                self._down.pop(status.backend, None)
            else:
                self._down[status.backend] = f"{status.reason} (by {status.changed_by})"
        log.warning(
            "backend %s marked %s by %s: %s",
            status.backend,
            "up" if status.available else "down",
            status.changed_by,
            status.reason or "-",
        )

    def marked_down(self, backend: str) -> str | None:
        """Why ``backend`` is marked down, or None while it is up."""
        with self._lock:
            return self._down.get(backend)

    def stop(self) -> None:
        """Stop tailing."""
        self._reader.stop()


__all__ = ["BackendStatusBoard"]
