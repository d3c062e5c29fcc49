"""What the standalone benches share: a broker of their own, and one JSON object out."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from streams.local.broker import LocalBroker, free_port


@contextmanager
def own_broker(name: str) -> Iterator[str]:
    """A fresh single-node broker on a free port for the bench ``name``; yields its bootstrap."""
    kafka_dir = Path(tempfile.mkdtemp(prefix=f"qloop-{name}-kafka-"))
    broker = LocalBroker(kafka_dir, port=free_port())
    broker.start()
    try:
        yield f"127.0.0.1:{broker.port}"
    finally:
        broker.stop()
        shutil.rmtree(kafka_dir, ignore_errors=True)


def emit(report: dict[str, Any], save: Path | None) -> None:
    """Print ``report`` as one JSON line; also write it to ``save`` when given."""
    text = json.dumps(report)
    if save is not None:
        save.write_text(text + "\n")
    print(text)


def run_and_emit(name: str, measure: Callable[[str], dict[str, Any]], save: Path | None) -> None:
    """``measure(bootstrap)`` on a broker of its own, then :func:`emit` its report."""
    with own_broker(name) as bootstrap:
        report = measure(bootstrap)
    emit(report, save)


__all__ = ["emit", "own_broker", "run_and_emit"]
