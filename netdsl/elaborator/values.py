"""Values of elaboration: tensors, POISON (a value whose computation failed and was reported),
frames, the builtins and limits, and how values are named in messages; and _Host, the elaborator
as its mixins see it."""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field
from typing import Any, Protocol

from netdsl import syntax as s
from netdsl.diagnostics import Diagnostic
from netdsl.elaborator.modules import Namespace
from netdsl.ir import Graph
from netdsl.ops.base import Op, Shape, fmt_shape
from netdsl.ops.types import coerce
from netdsl.source import Span

MAX_NODES = 100_000  # a graph larger than this is a mistake (an enormous repeat count)
MAX_REPEAT = 10_000
MAX_DEPTH = 150  # nested expressions, statements and block calls; keeps clear of Python's stack
MAX_STEPS = 200_000  # statements run in all (loops in loops): checking stays within seconds
OPTIONS = {"floor": "bool", "init": "str"}  # `option NAME: value` and the type it takes
INITS = ("he", "xavier")


class _Poison:
    """The value of anything whose computation already failed (and was reported)."""

    def __repr__(self) -> str:
        return "POISON"


POISON = _Poison()


@dataclass(frozen=True, slots=True)
class Tensor:
    node: str
    shape: Shape


class _Host(Protocol):
    """The elaborator (elaborator/elaborate.py) as its mixins (expressions.py, calls.py) see it: the
    state they share and the methods one part calls in another. The mixins subclass it, so mypy
    checks each call against these signatures and each definition against its declaration."""

    ns: Namespace
    graph: Graph | None
    diags: list[Diagnostic]
    options: dict[str, Any]
    depth: int  # of eval and _stmt calls, against MAX_DEPTH
    _hard: set[str]
    _output_spans: dict[str, Span]

    def eval(self, e: Any, frame: _Frame, name: str | None = None) -> Any: ...

    def _err(self, code: str, message: str, span: Span | None, label: str = "",
             hints: list[str] | tuple[str, ...] = (), frame: _Frame | None = None,
             secondary: list[tuple[Span, str]] | None = None) -> _Poison: ...

    def _body(self, body: tuple[Any, ...], frame: _Frame) -> None: ...

    def _output(self, name: s.Name, value: Any, frame: _Frame) -> None: ...

    def _call_named(self, func: s.Name, args: list[tuple[Any, Span]], kwargs: list[s.Keyword],
                    frame: _Frame, name: str | None, span: Span, hard: bool = False,
                    label_span: Span | None = None) -> Any: ...

    def _call_op(self, cls: type[Op], args: list[tuple[Any, Span]], kwargs: list[s.Keyword],
                 frame: _Frame, name: str | None, span: Span, hard: bool = False,
                 func_span: Span | None = None) -> Any: ...


@dataclass
class _Frame:
    prefix: str  # "layer1.0." inside a block instance, "" at network level
    env: dict[str, Any]
    trace: tuple[Span, ...] = ()
    blocks: tuple[str, ...] = ()  # active block names, for recursion errors
    failed: bool = False  # once something failed here, unknown names stay quiet
    chains: dict[str, tuple[str, int, Any]] = field(default_factory=dict)  # name: base, next, end


class _Return(Exception):
    def __init__(self, value: Any):
        self.value = value


class _TooDeep(Exception):
    def __init__(self, span: Span):
        self.span = span


class _TooLong(_TooDeep):
    pass


_BUILTIN_VALUES = {"same": "same", "valid": "valid", "none": None}


class _Limit(ValueError):
    """A builtin was asked for more than netdsl's size limits allow (E215)."""


def _range(*a: int) -> list[int]:
    r = range(*a)
    try:
        n = len(r)
    except OverflowError:  # more than sys.maxsize items
        n = MAX_REPEAT + 1
    if n > MAX_REPEAT:
        raise _Limit(f"`range` of {a[0] if len(a) == 1 else len(r) if n <= 2**62 else 'so many'}"
                     f" items exceeds the limit of {MAX_REPEAT}")
    return list(r)


_BUILTIN_FUNCS: dict[str, Any] = {
    "min": min, "max": max, "abs": abs, "int": int, "float": float, "round": round,
    "ceil": math.ceil, "floor": math.floor, "sqrt": math.sqrt, "len": len, "range": _range,
}


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _close(word: str, names: list[str]) -> str | None:
    close = difflib.get_close_matches(word, names, 1)
    return close[0] if close else None


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _kind(v: Any) -> str:
    if isinstance(v, Tensor):
        return f"a tensor {fmt_shape(v.shape)}"
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, int):
        return f"the integer {v}"
    if isinstance(v, float):
        return f"the number {v:g}"
    if isinstance(v, str):
        return f'the string "{v}"'
    if isinstance(v, list):
        return "a list"
    if isinstance(v, dict):
        return "a table"
    if v is None:
        return "none"
    return type(v).__name__


def _show(v: Any) -> str:
    return f'"{v}"' if isinstance(v, str) else str(v).lower() if isinstance(v, bool) else str(v)


def _words(ftype: str) -> str:
    try:
        coerce(ftype, object())
    except TypeError as e:
        return str(e)
    return ftype
