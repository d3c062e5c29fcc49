"""The public contract from the command line: ``qloop schemas`` and ``qloop topics tail``.

Both are for people and programs outside Python: the first prints what a producer in any
language needs to frame a message (full name, CRC-64-AVRO fingerprint as a number and as the
wire bytes, Parsing Canonical Form); the second decodes any qloop topic, a kcat-like view for
people without avro-tools.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime
from typing import Annotated, Any

import typer
from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, KafkaException
from rich import box
from rich.table import Table

from schemas import ContractError
from schemas.contracts import all_contracts
from schemas.convert import to_avro
from streams.cli.output import console, fail
from streams.config import load_settings
from streams.kafka.clients import consumer_config
from streams.kafka.codec import make_codec
from streams.kafka.probe import check_kafka
from streams.kafka.topics import TOPIC_SPECS, TopicNames


def schemas_cmd(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON (one object per record).")
    ] = False,
) -> None:
    """Print every record's full name, fingerprint (number and wire bytes) and canonical form."""
    rows = [c.summary() for c in all_contracts()]
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    namespace = rows[0]["name"].rsplit(".", 1)[0] if rows else ""
    for column in (f"record ({namespace})", "CRC-64-AVRO", "first 10 bytes of a message"):
        table.add_column(column, no_wrap=True)
    for row in rows:
        table.add_row(row["name"].rsplit(".", 1)[-1], row["fingerprint"], row["wire_bytes"])
    console.print(table)
    console.print("Canonical forms (what the fingerprint is computed over): qloop schemas --json")


def _json_value(value: Any) -> Any:
    """JSON for what an Avro datum holds beyond JSON: bytes as hex, timestamps as ISO 8601."""
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def tail_cmd(
    topic: Annotated[str, typer.Argument(help="Topic suffix (job-results) or full name.")],
    from_beginning: Annotated[
        bool, typer.Option("--from-beginning", help="Start at the oldest record.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    max_records: Annotated[
        int, typer.Option("--max", min=0, help="Stop after this many records (0: no limit).")
    ] = 0,
    idle_exit: Annotated[
        float, typer.Option(help="Stop after this many seconds without a record (0: never).")
    ] = 0.0,
) -> None:
    """Decode and print the records of a qloop topic (Ctrl-C stops)."""
    settings = load_settings()
    names = TopicNames(settings.topic_prefix)
    specs = {names.name(s.suffix): s for s in TOPIC_SPECS}
    full = topic if topic in specs else names.name(topic)
    spec = specs.get(full)
    if spec is None:
        raise fail(f"unknown topic {topic!r}; one of: {', '.join(s.suffix for s in TOPIC_SPECS)}")
    check_kafka(settings)
    codec = make_codec(settings)
    conf = consumer_config(settings, f"qloop-tail-{uuid.uuid4().hex[:8]}")
    consumer = Consumer(conf)
    start = OFFSET_BEGINNING if from_beginning else OFFSET_END

    def assign(c: Consumer, partitions: list[Any]) -> None:
        for p in partitions:
            p.offset = start
        c.assign(partitions)

    consumer.subscribe([full], on_assign=assign)
    shown, last = 0, time.monotonic()
    try:
        while not max_records or shown < max_records:
            msg = consumer.poll(0.5)
            if msg is None:
                if idle_exit and time.monotonic() - last > idle_exit:
                    break
                continue
            error = msg.error()
            if error is not None:
                if error.fatal():
                    raise fail(f"cannot read {full}: {error.str()}")
                continue
            last = time.monotonic()
            _show(msg, spec.record, codec, as_json)
            shown += 1
    except KafkaException as exc:
        raise fail(f"cannot read {full}: {exc}") from None
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    finally:
        consumer.close()


def _show(msg: Any, record: type[Any] | None, codec: Any, as_json: bool) -> None:
    key = msg.key().decode(errors="replace") if msg.key() is not None else None
    value = msg.value()
    body: Any
    if value is None:
        body = None  # a tombstone
    elif record is None:
        body = value.decode(errors="replace")  # internal JSON state (the ledger)
    else:
        try:
            body = to_avro(codec.decode(record, value))
        except ContractError as exc:
            body = {"undecodable": str(exc), "bytes": len(value)}
    if as_json:
        line = {"partition": msg.partition(), "offset": msg.offset(), "key": key, "value": body}
        print(json.dumps(line, default=_json_value), flush=True)
    else:
        console.print(f"[dim]{msg.partition()}:{msg.offset()}[/] [bold]{key}[/] {body}")


__all__ = ["schemas_cmd", "tail_cmd"]
