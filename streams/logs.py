"""One log format for everything a qloop process logs: JSON for machines, console for people.

structlog renders both qloop's own events (with their bound fields: ``job_id``, ``event_id``,
``tenant``, sizes and timings) and the standard-library records of faust, Qiskit and librdkafka,
so a log shipper sees one JSON object per line. Every rendered value passes the same redaction as
dead letters: a token-shaped secret never reaches a log line.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping, MutableMapping
from typing import IO, Any, Literal

import structlog

from processors.redaction import redact_text

LogFormat = Literal["json", "console"]


def _redact(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> Mapping[str, Any]:
    return {k: redact_text(v) if isinstance(v, str) else v for k, v in event.items()}


def configure_logging(
    level: str = "WARNING", fmt: LogFormat | None = None, stream: IO[str] | None = None
) -> None:
    """Route structlog and stdlib logging through one renderer on ``stream`` (stderr).

    ``fmt`` None means console on a terminal and JSON otherwise (a container, a pipe).
    """
    out = stream or sys.stderr
    chosen = fmt or ("console" if out.isatty() else "json")
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if chosen == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                _redact,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )


__all__ = ["LogFormat", "configure_logging"]
