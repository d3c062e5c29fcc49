"""The backend name of a set sent to a device's stand-in simulator because it would be late.

Placement gives such a set the backend ``stand-in:<device>``, so the batcher keeps it apart from
the device's other sets; admission runs that batch on the device's stand-in, and the result and
job name the device asked for, with the simulator that ran it (:mod:`processors.degradation`).
"""

from __future__ import annotations

#: A batch for ``stand-in:<device>`` runs on that device's stand-in simulator.
STAND_IN_PREFIX = "stand-in:"


def stand_in_name(device: str) -> str:
    """The backend a set is given when it is sent to ``device``'s stand-in."""
    return f"{STAND_IN_PREFIX}{device}"


def stood_in_for(backend: str) -> str | None:
    """The device a ``stand-in:<device>`` backend stands in for (None for any other name)."""
    return backend.removeprefix(STAND_IN_PREFIX) if backend.startswith(STAND_IN_PREFIX) else None


def asked_for(backend: str) -> str:
    """The device a set asked for, whether or not it was sent to its stand-in."""
    return stood_in_for(backend) or backend


__all__ = ["STAND_IN_PREFIX", "asked_for", "stand_in_name", "stood_in_for"]
