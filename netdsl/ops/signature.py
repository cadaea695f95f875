"""How an operator's fields declare what they mean, and the Signature of a call computed from
that declaration (ops/base.Op.signature()): op class → Signature. The elaborator checks calls
against it, rewrite.py asks it which arguments name axes, the reference prints its call line.

A field is plain (`stride: Ints = 1`) or declared with one of the helpers below; the class lists
`positional` (the keywords that positional arguments fill, in order) and may list `one_of`
(keywords of which a call gives exactly one, declared side by side)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, ClassVar, Protocol

from netdsl.ops.types import literal
from netdsl.record import Record, record


class OpClass(Protocol):
    """What a signature reads of an op class (ops/base.Op): declared here, so that this module
    needs no import of base.py, which imports it."""

    name: ClassVar[str]
    inputs: ClassVar[tuple[int, int | None]]
    positional: ClassVar[tuple[str, ...]]
    one_of: ClassVar[tuple[str, ...]]
    summary: ClassVar[str]
    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]


def argument(default: Any = dataclasses.MISSING, *, shown: str = "") -> Any:
    """A plain keyword argument with a default. `shown`: what the generated signature writes for
    it where the default itself would mislead (`stride: kernel`, `weights: fixed kernel`)."""
    return dataclasses.field(default=default, metadata={"shown": shown} if shown else {})


def tensor_input(*, shown: str = "t") -> Any:
    """A keyword that takes a tensor (`like: t`): the call makes it one more input of the node
    (after the piped ones); the field holds the producing node's name. Annotate it `Tensor | None`
    (ops/types.py)."""
    return dataclasses.field(default=None, metadata={"tensor": True, "shown": shown})


def network_option(option: str, *, shown: str = "") -> Any:
    """A keyword whose default comes from the network's `option NAME: value` when the call does
    not give it (`floor: true`); the option's name is declared in elaborator/scope.py OPTIONS."""
    meta = {"option": option, "shown": shown} if shown else {"option": option}
    return dataclasses.field(default=None, metadata=meta)


def axis_argument(default: int) -> Any:
    """A keyword that names an axis of the input (`axis: 1`; negative counts from the end).
    Passes that append axes (rewrite.py) ask `Op.axes_from_front` to keep it meaning the same."""
    return dataclasses.field(default=default, metadata={"axis": True})


@record
class Signature(Record):
    """How a call of an op is written, computed once per op class from its declaration."""

    name: str
    fields: dict[str, str]  # keyword -> its annotation's text, in declaration order
    positional: tuple[str, ...]  # the keywords positional arguments fill, in order
    required: tuple[str, ...]  # the keywords without a default
    tensors: tuple[str, ...]  # keywords that take a tensor: extra inputs (tensor_input)
    options: dict[str, str]  # keyword -> the network option that gives its default
    axes: tuple[str, ...]  # keywords that name an axis of the input (axis_argument)
    call: str  # the one-line call, generated: `conv(out, kernel, stride: 1, ...)`
    summary: str  # the op's `summary` with `{call}` filled in: one line for docs and hints


_SIGNATURES: dict[type[OpClass], Signature] = {}


def signature_of(cls: type[OpClass]) -> Signature:
    """The op class's Signature, computed on first use and checked against its declaration."""
    if cls not in _SIGNATURES:
        _SIGNATURES[cls] = _compute_signature(cls)
    return _SIGNATURES[cls]


def _compute_signature(cls: type[OpClass]) -> Signature:
    fs = dataclasses.fields(cls)
    names = [f.name for f in fs]
    tensors = tuple(f.name for f in fs if f.metadata.get("tensor"))
    for f in fs:  # NOTE: a Tensor annotation without tensor_input() would be coerced as a value
        assert ("Tensor" in str(f.type)) == (f.name in tensors), (
            f"{cls.name}.{f.name}: declare a tensor keyword with tensor_input()")
    assert all(p in names and p not in tensors for p in cls.positional), (
        f"{cls.name}.positional names {cls.positional}, not all of them non-tensor fields")
    assert set(cls.one_of) <= set(names), f"{cls.name}.one_of names unknown fields"
    spots = sorted(names.index(n) for n in cls.one_of)  # one place in the call: side by side
    assert not spots or spots == list(range(spots[0], spots[-1] + 1)), (
        f"{cls.name}.one_of must name fields declared one after the other")
    required = tuple(f.name for f in fs if f.default is dataclasses.MISSING
                     and f.default_factory is dataclasses.MISSING)
    call = f"{cls.name}({_arguments(cls, fs)})"
    return Signature(cls.name, {f.name: str(f.type) for f in fs}, cls.positional, required,
                     tensors, {f.name: f.metadata["option"] for f in fs if "option" in f.metadata},
                     tuple(f.name for f in fs if f.metadata.get("axis")), call,
                     cls.summary.replace("{call}", call))


def _arguments(cls: type[OpClass], fields: Sequence[dataclasses.Field[Any]]) -> str:
    """`out, kernel, stride: 1`: the arguments of the generated call, in declaration order; a
    variadic op's tensors come first (`a, b, ...`), and the `one_of` keywords share one place."""
    shown = ["a, b, ..."] if cls.inputs[1] is None else []
    first = next((f.name for f in fields if f.name in cls.one_of), None)
    for f in fields:
        if f.name == first:
            shown.append(" | ".join(_argument(g) for g in fields if g.name in cls.one_of))
        elif f.name not in cls.one_of:
            shown.append(_argument(f))
    return ", ".join(shown)


def _argument(f: dataclasses.Field[Any]) -> str:
    if f.default is dataclasses.MISSING:
        return f.name
    return f"{f.name}: {f.metadata.get('shown') or literal(f.default)}"
