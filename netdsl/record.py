"""Record: the base of netdsl's frozen dataclasses (AST nodes, spans, operators, expectations,
diagnostics). It defines `==`, `hash()` and `repr()` once, as `@dataclass` would generate them
for each class: the same fields (`compare`, `hash` and `repr` of `field()` honoured), the same
results. Each class is declared `@dataclass(frozen=True, slots=True, eq=False, repr=False)`,
so that creating it generates and compiles only `__init__` and the frozen `__setattr__` and
`__delattr__`. MutableRecord is the same for the mutable ones (`@dataclass(eq=False,
repr=False)`, unhashable as @dataclass makes them), which then compile `__init__` alone.

Why: the dataclass decorator compiles each method it generates from source, in every process.
A frozen slots dataclass costs about 0.34 ms to create, 0.20 ms without `__eq__`, `__hash__`
and `__repr__`, and a cold check of resnet152 creates about 100 of them (bench/check.py).
tests/test_architecture.py requires every Record subclass to leave the three methods to Record.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from operator import attrgetter
from typing import Any

_Key = Callable[[Any], tuple[Any, ...]]
# NOTE: per class, a function from an instance to the tuple of its compared (or hashed) fields
_COMPARED: dict[type, _Key] = {}
_HASHED: dict[type, _Key] = {}
_SHOWN: dict[type, tuple[str, ...]] = {}


def _getter(names: list[str]) -> _Key:
    if len(names) > 1:
        return attrgetter(*names)
    if names:
        one = attrgetter(names[0])
        return lambda o: (one(o),)
    return lambda _: ()


def _compared(cls: type) -> _Key:
    key = _COMPARED.get(cls)
    if key is None:
        key = _COMPARED[cls] = _getter([f.name for f in dataclasses.fields(cls) if f.compare])
    return key


def _hashed(cls: type) -> _Key:
    key = _HASHED.get(cls)
    if key is None:
        key = _HASHED[cls] = _getter([f.name for f in dataclasses.fields(cls)
                                      if (f.compare if f.hash is None else f.hash)])
    return key


def _shown(cls: type) -> tuple[str, ...]:
    names = _SHOWN.get(cls)
    if names is None:
        names = _SHOWN[cls] = tuple(f.name for f in dataclasses.fields(cls) if f.repr)
    return names


class Record:
    """The shared methods of netdsl's frozen dataclasses (see the module's docstring)."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        key = _compared(self.__class__)
        return key(self) == key(other)

    def __hash__(self) -> int:
        return hash(_hashed(self.__class__)(self))

    def __repr__(self) -> str:
        fields = ", ".join(f"{n}={getattr(self, n)!r}" for n in _shown(self.__class__))
        return f"{self.__class__.__qualname__}({fields})"


class MutableRecord(Record):
    """The base of netdsl's mutable dataclasses, declared `@dataclass(eq=False, repr=False)`:
    Record's == and repr(), and no hash(), as @dataclass leaves a mutable class that has ==."""

    __slots__ = ()
    __hash__ = None  # type: ignore[assignment]
