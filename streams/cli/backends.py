"""``qloop backends``: see and change which backends the workers route to.

``down`` marks a backend unavailable on the compacted ``backend-status`` topic: every worker
routes its sets to a stand-in simulator with the device's noise (for the tenants that allow it,
results ``DEGRADED``) or fails them as ``backend_unavailable``, uncharged. ``up`` brings it
back. Every mark is stored in ``qloop.backend_status`` as an audit trail.
"""

from __future__ import annotations

import getpass
import json
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from schemas import BackendStatus
from streams.cli.output import console, fail
from streams.config import Settings, load_settings

backends_app = typer.Typer(
    help="Backend availability: list, mark down (with why), mark up.", no_args_is_help=True
)


def _marks(settings: Settings) -> dict[str, BackendStatus]:
    from streams.kafka.codec import make_codec
    from streams.kafka.table_reader import CompactedTopicReader
    from streams.kafka.topics import TopicNames

    codec = make_codec(settings)
    marks: dict[str, BackendStatus] = {}

    def apply(_key: bytes | None, value: bytes | None) -> None:
        if value is not None:
            status = codec.decode(BackendStatus, value)
            marks[status.backend] = status

    topic = TopicNames(settings.topic_prefix).backend_status
    reader = CompactedTopicReader(settings.librdkafka_config(), topic, apply, "backends-cli")
    reader.start()
    try:
        reader.wait_caught_up(30)
    finally:
        reader.stop()
    return marks


def _mark(name: str, available: bool, reason: str) -> None:
    from streams.kafka.clients import publish_once
    from streams.kafka.probe import check_kafka
    from streams.kafka.topics import TopicNames

    settings = load_settings()
    if name not in settings.allowed_backends:
        allowed = ", ".join(settings.allowed_backends)
        raise fail(f"unknown backend {name!r}; the allowed ones are: {allowed}")
    check_kafka(settings)
    status = BackendStatus(
        backend=name,
        available=available,
        reason=reason,
        changed_by=settings.kafka_sasl_username or getpass.getuser(),
        changed_at=datetime.now(UTC),
    )
    publish_once(settings, TopicNames(settings.topic_prefix).backend_status, name, status)
    state = "up" if available else f"down ({reason})"
    console.print(f"{name} marked {state}; workers route around it within a second")


@backends_app.command("down")
def down_cmd(
    name: Annotated[str, typer.Argument(help="Backend name, e.g. fake_manila.")],
    reason: Annotated[str, typer.Option(help="Why: shown in every degraded result.")],
) -> None:
    """Mark a backend down: stand-in simulator where allowed, else backend_unavailable."""
    if not reason.strip():
        raise fail("--reason must say why the backend is down")
    _mark(name, False, reason.strip())


@backends_app.command("up")
def up_cmd(name: Annotated[str, typer.Argument(help="Backend name.")]) -> None:
    """Mark a backend available again."""
    _mark(name, True, "")


@backends_app.command("list")
def list_cmd(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON array.")] = False,
) -> None:
    """Every allowed backend with its current mark."""
    from streams.kafka.probe import check_kafka

    settings = load_settings()
    check_kafka(settings)
    marks = _marks(settings)
    rows: list[dict[str, Any]] = []
    for name in sorted(set(settings.allowed_backends) | set(marks)):
        mark = marks.get(name)
        rows.append(
            {
                "backend": name,
                "available": mark is None or mark.available,
                "reason": mark.reason if mark else "",
                "changed_by": mark.changed_by if mark else None,
                "changed_at": mark.changed_at.isoformat() if mark else None,
            }
        )
    if as_json:
        print(json.dumps(rows))
        return
    table = Table(title="backends")
    for column in ("backend", "status", "reason", "by", "since"):
        table.add_column(column)
    for r in rows:
        table.add_row(
            r["backend"],
            "up" if r["available"] else "DOWN",
            r["reason"],
            r["changed_by"] or "-",
            r["changed_at"] or "-",
        )
    console.print(table)


__all__ = ["backends_app"]
