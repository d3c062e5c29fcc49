"""Turn records into Avro datums and back, driven by the dataclass type hints.

One converter per record class is built once (the hints are resolved at first use), so the
per-message cost is a handful of dict/tuple constructions and no reflection.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from enum import Enum
from typing import Any, TypeVar

T = TypeVar("T")
_Conv = Callable[[Any], Any]


def _identity(value: Any) -> Any:
    return value


def _strip_optional(hint: Any) -> tuple[Any, bool]:
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return rest[0], True
    return hint, False


def _from_avro_conv(hint: Any) -> _Conv:
    inner, optional = _strip_optional(hint)
    origin = typing.get_origin(inner)
    conv: _Conv
    if dataclasses.is_dataclass(inner):
        conv = _record_from_avro(inner)  # type: ignore[arg-type]
    elif isinstance(inner, type) and issubclass(inner, Enum):
        conv = inner
    elif origin is tuple:
        item = _from_avro_conv(typing.get_args(inner)[0])
        conv = (lambda v: tuple(v)) if item is _identity else (lambda v: tuple(item(x) for x in v))
    elif origin is dict:
        conv = dict
    else:
        conv = _identity
    if optional and conv is not _identity:
        inner_conv = conv
        return lambda v: None if v is None else inner_conv(v)
    return conv


def _to_avro_conv(hint: Any) -> _Conv:
    inner, optional = _strip_optional(hint)
    origin = typing.get_origin(inner)
    conv: _Conv
    if dataclasses.is_dataclass(inner):
        conv = _record_to_avro(inner)  # type: ignore[arg-type]
    elif isinstance(inner, type) and issubclass(inner, Enum):
        conv = _enum_value
    elif origin is tuple:
        item = _to_avro_conv(typing.get_args(inner)[0])
        conv = list if item is _identity else (lambda v: [item(x) for x in v])
    else:
        conv = _identity
    if optional and conv is not _identity:
        inner_conv = conv
        return lambda v: None if v is None else inner_conv(v)
    return conv


def _enum_value(value: Enum) -> Any:
    return value.value


_FROM: dict[type[Any], Callable[[dict[str, Any]], Any]] = {}
_TO: dict[type[Any], Callable[[Any], dict[str, Any]]] = {}


def _record_from_avro(cls: type[T]) -> Callable[[dict[str, Any]], T]:
    cached = _FROM.get(cls)
    if cached is not None:
        return cached
    hints = typing.get_type_hints(cls)
    fields = [(f.name, _from_avro_conv(hints[f.name])) for f in dataclasses.fields(cls)]  # type: ignore[arg-type]

    def build(datum: dict[str, Any]) -> T:
        return cls(**{name: conv(datum[name]) for name, conv in fields if name in datum})

    _FROM[cls] = build
    return build


def _record_to_avro(cls: type[Any]) -> Callable[[Any], dict[str, Any]]:
    cached = _TO.get(cls)
    if cached is not None:
        return cached
    hints = typing.get_type_hints(cls)
    fields = [(f.name, _to_avro_conv(hints[f.name])) for f in dataclasses.fields(cls)]

    def dump(record: Any) -> dict[str, Any]:
        return {name: conv(getattr(record, name)) for name, conv in fields}

    _TO[cls] = dump
    return dump


def from_avro(cls: type[T], datum: dict[str, Any]) -> T:
    """Build a record of type ``cls`` from a decoded Avro datum."""
    return _record_from_avro(cls)(datum)


def to_avro(record: Any) -> dict[str, Any]:
    """Return the Avro datum (plain dicts, lists and enum symbols) for ``record``."""
    return _record_to_avro(type(record))(record)


__all__ = ["from_avro", "to_avro"]
