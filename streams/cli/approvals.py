"""``qloop approvals``: the human side of the approval gate (list, approve, reject)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from schemas import Approval, ApprovalStatus
from streams.cli.output import console, fail
from streams.config import load_settings

approvals_app = typer.Typer(
    help="Sets waiting for a human yes: list, approve, reject.", no_args_is_help=True
)


def _as_dict(a: Approval) -> dict[str, Any]:
    return {
        "request_id": a.request_id,
        "status": a.status.value,
        "tenant": a.tenant,
        "backend": a.backend,
        "experiment_id": a.experiment_id,
        "shots": a.shots,
        "estimated_cost": a.estimated_cost,
        "rule": a.rule,
        "requested_at": a.requested_at.isoformat(),
        "expires_at": a.expires_at.isoformat(),
        "decided_by": a.decided_by,
        "decided_at": a.decided_at.isoformat() if a.decided_at else None,
        "reason": a.reason,
    }


@approvals_app.command("list")
def list_cmd(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON array.")] = False,
    include_decided: Annotated[
        bool, typer.Option("--all", help="Decided requests too, with their decision.")
    ] = False,
) -> None:
    """Requests waiting for a decision (oldest first)."""
    from streams.kafka.approvals import requests
    from streams.kafka.probe import check_kafka

    settings = load_settings()
    check_kafka(settings)
    rows = [_as_dict(a) for a in requests(settings, include_decided=include_decided)]
    if as_json:
        print(json.dumps(rows))
        return
    table = Table(title="approval requests")
    for column in ("id", "status", "tenant", "backend", "shots", "est. cost", "rule", "expires"):
        table.add_column(column, overflow="fold")
    for r in rows:
        table.add_row(
            r["request_id"], r["status"], r["tenant"], r["backend"], str(r["shots"]),
            f"{r['estimated_cost']:g}", r["rule"], r["expires_at"],
        )  # fmt: skip
    console.print(table)


def _decide(request_id: str, status: ApprovalStatus, reason: str | None) -> None:
    from streams.kafka.approvals import ApprovalError, decide
    from streams.kafka.probe import check_kafka

    settings = load_settings()
    check_kafka(settings)
    try:
        record = decide(settings, request_id, status, reason)
    except ApprovalError as exc:
        raise fail(str(exc)) from None
    console.print(f"{request_id} {status.value.lower()} by {record.decided_by}")


@approvals_app.command("approve")
def approve_cmd(
    request_id: Annotated[str, typer.Argument(help="The request id (the set's event id).")],
    reason: Annotated[str | None, typer.Option(help="Why (kept in the audit trail).")] = None,
) -> None:
    """Approve a waiting set: it is charged and runs once."""
    _decide(request_id, ApprovalStatus.APPROVED, reason)


@approvals_app.command("reject")
def reject_cmd(
    request_id: Annotated[str, typer.Argument(help="The request id (the set's event id).")],
    reason: Annotated[str | None, typer.Option(help="Why (shown in its REJECTED result).")] = None,
) -> None:
    """Reject a waiting set: one REJECTED result, nothing charged."""
    _decide(request_id, ApprovalStatus.REJECTED, reason)


__all__ = ["approvals_app"]
