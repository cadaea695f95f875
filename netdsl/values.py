"""Values of the language, graph aside: numbers, strings, lists, tables, tensors (a layer's name
and shape), POISON; Fault, the parts of a diagnostic about one; how a value is named in messages
(kind, show); and the limits a value is kept within (bounded numbers, sized lists, values given
from outside).

Stage: under the elaborator and the expectation pass; Python values in -> netdsl values out.
What is computed with them (arithmetic, comparison, indexing, the builtins) is valueops.py.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import TypeAlias, TypeGuard

from netdsl.limits import MAX_INT, MAX_LIST, MAX_NESTING, MAX_STRING
from netdsl.ops.base import Shape, fmt_shape
from netdsl.ops.types import coerce
from netdsl.record import Record, record
from netdsl.source import Span

MAX_REPEAT = 10_000  # repetitions, loop iterations and `range` items


class Poison:
    """The type of POISON, the value of anything whose computation already failed (and was
    reported): whatever is computed from it fails silently."""

    def __repr__(self) -> str:
        return "POISON"


POISON = Poison()


@record
class Tensor(Record):
    """A layer's output as elaboration sees it: the node that makes it and its shape."""

    node: str
    shape: Shape


Key: TypeAlias = int | float | str  # what a table is indexed by (bool is an int)
Value: TypeAlias = (
    Tensor | bool | int | float | str | list["Value"] | dict[Key, "Value"] | Poison | None
)


class Fault(Exception):
    """A mistake in an operation on values: the parts of the diagnostic that reports it."""

    def __init__(self, code: str, message: str, span: Span, label: str = "",
                 hints: Sequence[str] = (), secondary: Sequence[tuple[Span, str]] = ()):
        super().__init__(message)
        self.code, self.message, self.span, self.label = code, message, span, label
        self.hints, self.secondary = list(hints), list(secondary)


@record
class BinarySpans(Record):
    """Where a binary operation's mistakes point: the operator, the right operand, the whole."""

    op: Span
    right: Span
    whole: Span


# ----------------------------------------------------------------------------- naming values

def is_number(v: object) -> TypeGuard[int | float]:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def kind(v: object) -> str:
    """A value as messages name it: "the integer 3", "a tensor [1, 3, 8, 8]", ..."""
    if isinstance(v, Tensor):
        return f"a tensor {fmt_shape(v.shape)}"
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, int):
        return f"the integer {v}"
    if isinstance(v, float):  # NOTE: a whole one as "8.0": "not the number 8" reads wrong
        text = f"{v:g}"
        return f"the number {text}.0" if text.lstrip("-").isdigit() else f"the number {text}"
    if isinstance(v, str):
        return f'the string "{v}"'
    if isinstance(v, list):
        return "a list"
    if isinstance(v, dict):
        return "a table"
    if v is None:
        return "none"
    return type(v).__name__


def show(v: object) -> str:
    """A value as the source would write it: "abc" quoted, true/false and none in lower case,
    lists and tables of such values."""
    if isinstance(v, str):
        return f'"{v}"'
    if isinstance(v, bool) or v is None:
        return str(v).lower()
    if isinstance(v, list):
        return "[" + ", ".join(show(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{show(k)}: {show(x)}" for k, x in v.items()) + "}"
    return str(v)


def plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def type_words(ftype: str) -> str:
    """An op field's type as messages say it ("an integer"), from ops.types.coerce."""
    try:
        coerce(ftype, object())
    except TypeError as e:
        return str(e)
    return ftype


# ------------------------------------------------------------------------ limits on values

def bounded(v: Value, span: Span) -> Value:
    """`v`, if it is within netdsl's limits on numbers: int64 integers (-MAX_INT - 1 up to
    limits.MAX_INT), finite floats (an integer past them is also past float's range: `k = k *
    k` in a loop)."""
    if is_number(v):
        if ((isinstance(v, int) and not -MAX_INT - 1 <= v <= MAX_INT)
                or (isinstance(v, float) and math.isinf(v))):
            raise Fault("E215", "the number is too large", span,
                        hints=[f"netdsl's integers go up to 2**63 - 1 = {MAX_INT}, its numbers "
                               "to about 1.8e308"])
        if isinstance(v, float) and math.isnan(v):
            raise Fault("E212", "the result is not a number (NaN)", span)
    return v


def from_outside(v: object, span: Span, depth: int = 0) -> Value:
    """A value given from outside the source (--set, `params=` of the API), checked as a literal
    would be: numbers within bounded()'s limits, strings of UTF-8 text within MAX_STRING, lists
    and tables of such within MAX_LIST. Anything else is a Fault E214."""
    if isinstance(v, (bool, int, float)):
        try:
            return bounded(v, span)
        except Fault as f:
            raise Fault("E214", f.message, span) from None
    if isinstance(v, str):
        if len(v) > MAX_STRING:
            raise Fault("E214", f"a string of {len(v):,} characters is over the limit of "
                        f"{MAX_STRING:,}", span)
        try:
            v.encode("utf-8")
        except UnicodeEncodeError:
            raise Fault("E214", "a string that is not text (a lone surrogate)", span) from None
        return v
    if isinstance(v, (list, tuple)):
        if len(v) > MAX_LIST:
            raise Fault("E214", f"a list of {len(v):,} items is over the limit of "
                        f"{MAX_LIST:,}", span)
        if depth >= MAX_NESTING:  # NOTE: before recursing: Python's stack is shorter than 3000
            raise Fault("E214", f"lists and tables would nest more than {MAX_NESTING} deep",
                        span)
        return new_list([from_outside(x, span, depth + 1) for x in v], span)
    raise Fault("E214", f"a {type(v).__name__} is not a netdsl value (a number, a string, "
                "`true`/`false` or a list of them)", span)


class SizedList(list):  # type: ignore[type-arg]
    """A list value that knows its size: its items, nested lists' and tables' items counted
    (limits.MAX_LIST), so that sharing (`l = [l, l]` in a loop) cannot hide an exponential one."""

    size = 0
    depth = 1  # lists and tables in it, nested: 1 where it holds none


def nesting(v: Value) -> int:
    """How deep lists and tables nest in `v`: 0 for a number, 1 for `[1, 2]`, 2 for `[[1]]`."""
    if isinstance(v, SizedList):
        return v.depth
    if isinstance(v, list):
        return 1 + max((nesting(x) for x in v), default=0)
    if isinstance(v, dict):
        return 1 + max((nesting(x) for x in v.values()), default=0)
    return 0


def nest(items: Iterable[Value], span: Span) -> int:
    """The nesting of a list or table of `items`; E215 past limits.MAX_NESTING (the functions
    on values recurse: a loop's `k = [k]` would outgrow Python's stack)."""
    depth = 1 + max((nesting(x) for x in items if isinstance(x, (list, dict))), default=0)
    if depth > MAX_NESTING:
        raise Fault("E215", f"lists and tables would nest more than {MAX_NESTING} deep", span)
    return depth


def size(v: Value) -> int:
    """How many values `v` holds, itself included, nested lists and tables counted in full."""
    if isinstance(v, SizedList):
        return v.size
    if isinstance(v, list):
        return 1 + sum(size(x) if isinstance(x, (list, dict)) else 1 for x in v)
    if isinstance(v, dict):
        return 1 + sum(size(x) if isinstance(x, (list, dict)) else 1 for x in v.values())
    return 1


def new_list(items: list[Value], span: Span) -> list[Value]:
    """A list value of `items`; E215 past limits.MAX_LIST values in all."""
    n = 1 + sum(size(x) if isinstance(x, (list, dict)) else 1 for x in items)
    if n > MAX_LIST:
        raise Fault("E215", f"the list would hold {n:,} values, over the limit of "
                    f"{MAX_LIST:,}", span)
    out = SizedList(items)
    out.size, out.depth = n, nest(items, span)
    return out
