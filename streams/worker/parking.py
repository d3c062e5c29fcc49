"""Updates whose template is not known yet wait here, per template, off the partition's path.

A template and its first updates are produced to different topics, so an update may arrive
before the template it names. It must wait a bounded time for it, but not in line: waiting in
the agent would hold up every later message of its partition (87 updates for an unknown
template once held a partition for 6 min 45 s). Parked updates stay unacked, so their offsets
are committed only once they are resolved (accepted, or dead-lettered as ``unknown_template``
when the wait runs out); faust commits the acked prefix of each partition.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from processors.pending import SourceRef
from schemas import CircuitTemplate, ParameterUpdate

Ack = Callable[[], object]
TemplateLookup = Callable[[str], CircuitTemplate | None]


@dataclass(frozen=True, slots=True)
class Parked:
    """One decoded update waiting for its template, with what resolving it needs."""

    update: ParameterUpdate
    source: SourceRef
    raw: bytes | None
    ack: Ack
    route: bool = False  # forward by topology once accepted (hop 1), else batch it here
    gate: bool = False  # where the update enters: the approval gate may hold it here


Resume = Callable[[Parked, CircuitTemplate | None], Awaitable[None]]


class TemplateParking:
    """Parks updates per unknown template id; one waiter task per id resumes them all.

    Args:
        templates: Looks a template up (the registry, kept current by its own reader).
        resume: Continues an update's intake once its template is known, or with None once
            the wait ran out (the caller dead-letters it).
        wait_s: How long the first update of an id waits for the template.
        max_parked: Above this many parked updates, :meth:`park` waits for room: memory stays
            bounded and the pressure shows as consumer lag.
        poll_s: How often a waiter looks the template up again.

    """

    def __init__(
        self,
        templates: TemplateLookup,
        resume: Resume,
        *,
        wait_s: float,
        max_parked: int = 10_000,
        poll_s: float = 0.05,
    ) -> None:
        self._templates = templates
        self._resume = resume
        self.wait_s = wait_s
        self.max_parked = max_parked
        self.poll_s = poll_s
        self._parked: dict[str, list[Parked]] = {}
        self._count = 0
        self.tasks: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return self._count

    async def park(self, item: Parked) -> None:
        """Queue ``item`` behind its template id; returns at once unless parking is full."""
        while self._count >= self.max_parked:
            await asyncio.sleep(self.poll_s)
        template_id = item.update.template_id
        waiting = self._parked.get(template_id)
        if waiting is None:
            waiting = self._parked[template_id] = []
            task = asyncio.create_task(self._wait(template_id))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        waiting.append(item)
        self._count += 1

    async def _wait(self, template_id: str) -> None:
        deadline = time.monotonic() + self.wait_s
        template = self._templates(template_id)
        while template is None and time.monotonic() < deadline:
            await asyncio.sleep(self.poll_s)
            template = self._templates(template_id)
        waiting = self._parked.pop(template_id, [])
        self._count -= len(waiting)
        for item in waiting:
            await self._resume(item, template)

    async def drain(self) -> None:
        """Wait until every parked update is resolved (shutdown, partition revocation)."""
        while self.tasks:
            await asyncio.wait(list(self.tasks))


__all__ = ["Parked", "TemplateParking"]
