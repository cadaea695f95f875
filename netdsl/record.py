"""Record: the base of netdsl's dataclasses (AST nodes, spans, operators, expectations,
diagnostics, graph nodes, stats), and `@record`, the decorator that declares them.

`@record` is `@dataclass(frozen=True, slots=True)` made cheap to create: the same fields,
`dataclasses.fields`, `replace` and `is_dataclass`, the same `==`, `hash()` and `repr()` (the
`compare`, `hash` and `repr` of `field()` honoured) and the same FrozenInstanceError on
assignment. `@record(frozen=False)` on a MutableRecord is a mutable `@dataclass`: Record's `==`
and `repr()`, unhashable as @dataclass makes it. `@record(slots=False)` keeps a `__dict__`.

Why: the dataclass decorator compiles each method it generates from source, in every process,
about 70 us each: a frozen slots dataclass cost 0.34 ms to create, and a cold check of resnet152
creates about 100 of them (bench/check.py). Here Record defines `==`, `hash()`, `repr()` and
the frozen `__setattr__`/`__delattr__` once for all classes, and each class compiles only its
`__init__`, on first use (`_Init`): creating a class costs about 0.11 ms (the slots class made
again), and its first instance 0.12 ms more; a cold check instantiates some of the classes it
creates.
mypy reads `@record` through `dataclass_transform`, so the fields, `__init__` and frozenness are
checked statically as for `@dataclass`. tests/test_record.py compares every record of a zoo
file with the same class made by stock `@dataclass`; tests/test_architecture.py requires every
netdsl dataclass to be declared this way.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from operator import attrgetter
from typing import TYPE_CHECKING, Any, TypeVar, overload

_T = TypeVar("_T")

if TYPE_CHECKING:  # typing has it from Python 3.11; at run time it only marks the function
    from typing_extensions import dataclass_transform
else:
    def dataclass_transform(**_: Any) -> Callable[[_T], _T]:
        return lambda function: function

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

    if not TYPE_CHECKING:  # mypy: frozen through dataclass_transform, and no open __setattr__
        def __setattr__(self, name, value):
            raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")

        def __delattr__(self, name):
            raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")

    def __getstate__(self) -> list[Any]:
        """copy and pickle set a frozen record's fields as @dataclass's frozen slots do."""
        return [getattr(self, f.name) for f in dataclasses.fields(self)]  # type: ignore[arg-type]

    def __setstate__(self, state: list[Any]) -> None:
        for f, value in zip(dataclasses.fields(self), state):  # type: ignore[arg-type]
            object.__setattr__(self, f.name, value)


class MutableRecord(Record):
    """The base of netdsl's mutable dataclasses, declared `@record(frozen=False)`: Record's ==
    and repr(), and no hash(), as @dataclass leaves a mutable class that has ==."""

    __slots__ = ()
    __hash__ = None  # type: ignore[assignment]
    if not TYPE_CHECKING:
        __setattr__ = object.__setattr__
        __delattr__ = object.__delattr__


class _Factory:
    """The default of an `__init__` parameter whose field has a default_factory."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<factory>"


_FACTORY = _Factory()


def _init_function(cls: type) -> Callable[..., None]:
    """cls's `__init__` as @dataclass writes it: a parameter per init field in field order,
    keyword-only ones after `*`, defaults and default factories, then `__post_init__`."""
    frozen = not issubclass(cls, MutableRecord)
    names: dict[str, Any] = {"_record_set": object.__setattr__, "_record_factory": _FACTORY}
    positional: list[str] = []
    keywords: list[str] = []
    body: list[str] = []
    for f in dataclasses.fields(cls):
        default, value = f"_record_default_{f.name}", f.name
        if f.default_factory is not dataclasses.MISSING:
            names[default] = f.default_factory
            value = (f"{default}() if {f.name} is _record_factory else {f.name}" if f.init
                     else f"{default}()")
            parameter = f"{f.name}=_record_factory"
        elif f.default is not dataclasses.MISSING:
            names[default] = f.default
            value = f.name if f.init else default
            parameter = f"{f.name}={default}"
        elif f.init:
            parameter = f.name
        else:
            continue
        if f.init:
            (keywords if f.kw_only else positional).append(parameter)
        body.append(f"_record_set(self, {f.name!r}, {value})" if frozen
                    else f"self.{f.name} = {value}")
    if hasattr(cls, "__post_init__"):
        body.append("self.__post_init__()")
    parameters = ", ".join(["self", *positional, *(["*", *keywords] if keywords else [])])
    exec(f"def __init__({parameters}):\n    " + "\n    ".join(body or ["pass"]), names)
    init: Callable[..., None] = names["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__  # NOTE: pydoc names the class by it
    return init


class _Init:
    """A record class's `__init__` until it is first looked up (to make an instance, or by
    inspect.signature): then it compiles the real one and puts it in its place."""

    __slots__ = ("cls",)

    def __init__(self, cls: type) -> None:
        self.cls = cls

    def __get__(self, instance: object, owner: type | None = None) -> Any:
        init = _init_function(self.cls)
        type.__setattr__(self.cls, "__init__", init)
        return init.__get__(instance, owner)


@overload
def record(cls: type[_T], /) -> type[_T]: ...


@overload
def record(*, frozen: bool = True, slots: bool = True) -> Callable[[type[_T]], type[_T]]: ...


@dataclass_transform(frozen_default=True, eq_default=False,
                     field_specifiers=(dataclasses.field, dataclasses.Field))
def record(cls: type[_T] | None = None, /, *, frozen: bool = True,
           slots: bool = True) -> type[_T] | Callable[[type[_T]], type[_T]]:
    """Declare a Record (frozen) or, with frozen=False, a MutableRecord subclass a dataclass
    (see the module's docstring)."""

    def declare(cls: type[_T]) -> type[_T]:
        if not issubclass(cls, Record) or frozen == issubclass(cls, MutableRecord):
            base = "Record" if frozen else "MutableRecord"
            raise TypeError(f"@record(frozen={frozen}) declares a subclass of {base}: {cls}")
        made = dataclasses.dataclass(init=False, eq=False, repr=False, slots=slots)(cls)
        if "__init__" not in made.__dict__:  # as @dataclass, keep one the class defines
            type.__setattr__(made, "__init__", _Init(made))
        return made

    return declare if cls is None else declare(cls)
