"""Circuit templates for every worker: the compacted templates topic, read whole and tailed."""

from __future__ import annotations

import logging
import threading
from typing import Any

from processors.intake import Intake
from processors.pending import SourceRef
from schemas import CircuitTemplate, DeadLetter
from streams.kafka.table_reader import CompactedTopicReader

log = logging.getLogger(__name__)


class TemplateRegistry:
    """template id -> verified :class:`CircuitTemplate`, kept current by a tailing reader.

    Every worker reads the compacted topic whole, so a template that fails its checks is only
    counted and logged at debug level here: the dead letter for it is published once, by the
    worker that owns the topic's partition in the group (the ``check-templates`` agent).
    """

    def __init__(self, conf: dict[str, Any], topic: str, intake: Intake) -> None:
        self._intake = intake
        self._templates: dict[str, CircuitTemplate] = {}
        self._lock = threading.Lock()
        self.invalid = 0
        self._reader = CompactedTopicReader(conf, topic, self._apply, name="template-reader")

    def start(self, timeout_s: float = 60.0) -> TemplateRegistry:
        """Load every template that exists now, then keep tailing."""
        self._reader.start()
        self._reader.wait_caught_up(timeout_s)
        return self

    def _apply(self, key: bytes | None, value: bytes | None) -> None:
        if value is None:
            if key is not None:
                with self._lock:
                    self._templates.pop(key.decode(), None)
            return
        decoded = self._intake.register(value, SourceRef(self._reader.topic, -1, -1))
        if isinstance(decoded, DeadLetter):
            self.invalid += 1
            log.debug("ignoring refused circuit template: %s", decoded.error_message)
            return
        with self._lock:
            self._templates[decoded.template_id] = decoded

    def get(self, template_id: str) -> CircuitTemplate | None:
        """The template, if it has been seen."""
        with self._lock:
            return self._templates.get(template_id)

    def wait_for(self, template_id: str, timeout_s: float) -> CircuitTemplate | None:
        """Block up to ``timeout_s`` for a template that may still be in flight."""
        self._reader.wait_for(lambda: template_id in self._templates, timeout_s)
        return self.get(template_id)

    def __len__(self) -> int:
        with self._lock:
            return len(self._templates)

    def stop(self) -> None:
        """Stop tailing."""
        self._reader.stop()


__all__ = ["TemplateRegistry"]
