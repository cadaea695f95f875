"""What can be done with values (values.py), graph aside: truth, negation, comparison,
arithmetic, tensor attributes, indexing, table entries and the builtins.

Stage: the elaborator's evaluator and the expectation pass after analysis (expect_check.py) both
compute with these, so an `expect` line means what the same expression means anywhere else.
Values in -> a value out; pure: a mistake raises values.Fault, and the caller reports it.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from typing import Any, cast

from netdsl.diagnostics import did_you_mean
from netdsl.limits import MAX_LIST, MAX_STRING
from netdsl.ops.base import fmt_shape
from netdsl.source import Span
from netdsl.values import (
    MAX_REPEAT,
    POISON,
    BinarySpans,
    Fault,
    Key,
    SizedList,
    Tensor,
    Value,
    bounded,
    is_number,
    kind,
    nest,
    new_list,
    show,
    size,
)

# -------------------------------------------------------------------------------- operations

def truth(v: Value, span: Span) -> bool:
    if isinstance(v, Tensor):
        raise Fault("E212", "a tensor is not true or false", span)
    return bool(v)


def negate(v: Value, span: Span) -> Value:
    if not is_number(v):
        raise Fault("E212", f"cannot negate {kind(v)}", span)
    return bounded(-v, span)  # NOTE: -(-2**63) is past the int64 range


_ORDER: dict[str, Callable[[Any, Any], object]] = {  # Any: what Python compares
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


def compare(ops: Sequence[str], values: Sequence[Value], span: Span) -> bool:
    """`a < b <= c`: every link holds (all are evaluated, as in the source)."""
    result = True
    for op, a, b in zip(ops, values, values[1:]):
        if isinstance(a, Tensor) or isinstance(b, Tensor):
            raise Fault("E212", "tensors cannot be compared; compare their shapes "
                        "(x.channels, x.shape)", span)
        try:
            if op not in ("==", "!=") and isinstance(a, bool) != isinstance(b, bool):
                raise TypeError  # NOTE: Python orders True as 1
            ok = equal(a, b) == (op == "==") if op in ("==", "!=") else _ORDER[op](a, b)
        except TypeError:
            raise Fault("E212", f"cannot compare {kind(a)} with {kind(b)}", span) from None
        result = result and bool(ok)
    return result


def equal(a: Value, b: Value) -> bool:
    """`a == b`: Python's, save that a boolean equals no number (True == 1 in Python), in
    lists and tables too."""
    if isinstance(a, bool) != isinstance(b, bool):
        return False
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(
            _same_key(k, _stored(b, k)) and equal(v, b[k]) for k, v in a.items())
    return a == b


def arith(op: str, a: Value, b: Value, at: BinarySpans) -> Value:
    """`+ - * / // % **` on numbers, `+` on strings, lists scaled or joined (not tensors)."""
    if isinstance(a, list) or isinstance(b, list):
        return _list_arith(op, a, b, at)
    if not (is_number(a) and is_number(b)):
        if op == "+" and isinstance(a, str) and isinstance(b, str):
            if len(a) + len(b) > MAX_STRING:  # NOTE: before joining: `s = s + s` in a loop
                raise Fault("E215", f"the string would be {len(a) + len(b):,} characters long, "
                            f"over the limit of {MAX_STRING:,}", at.whole)
            return a + b
        raise Fault("E212", f"`{op}` between {kind(a)} and {kind(b)} is not defined", at.op)
    try:
        # NOTE: an integer past 2**64 is past MAX_INT: refused before it is computed (10**10**9)
        if op == "**" and isinstance(a, int) and isinstance(b, int) and b > 64 and abs(a) > 1:
            raise OverflowError
        v = _ARITH[op](a, b)
    except ZeroDivisionError:
        raise Fault("E212", "division by zero", at.right) from None
    except OverflowError:
        raise Fault("E215", "the number is too large", at.whole) from None
    if isinstance(v, complex):  # NOTE: Python's `(-8) ** 0.5`
        raise Fault("E212", f"a negative number to a fractional power has no real value: "
                    f"({a}) ** {b}", at.whole)
    return bounded(v, at.whole)


_ARITH: dict[str, Callable[[float, float], float]] = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
    "//": operator.floordiv, "%": operator.mod, "**": operator.pow}


def _list_arith(op: str, a: Value, b: Value, at: BinarySpans) -> Value:
    """Numeric lists scale elementwise by a number (`[[1, 2, 1], ...] / 16`); `+` joins
    lists."""
    if op == "+" and isinstance(a, list) and isinstance(b, list):
        n = size(a) + size(b) - 1
        if n > MAX_LIST:  # NOTE: before the join's allocation: `l = l + l` in a loop
            raise Fault("E215", f"the list would hold {n:,} values, over the limit of "
                        f"{MAX_LIST:,}", at.whole)
        return new_list(a + b, at.whole)
    lst, k = (a, b) if isinstance(a, list) else (b, a)
    if op in ("*", "/") and is_number(k) and (op == "*" or lst is a):
        def walk(x: Value) -> Value:
            if isinstance(x, list):
                return [walk(y) for y in x]
            if not is_number(x):
                raise TypeError
            return bounded(x * k if op == "*" else x / k, at.whole)
        try:
            if size(lst) > MAX_LIST:
                raise Fault("E215", "the list is too large", at.whole)
            return new_list(cast(list[Value], walk(lst)), at.whole)
        except TypeError:
            pass
        except ZeroDivisionError:
            raise Fault("E212", "division by zero", at.right) from None
    raise Fault("E212", f"`{op}` between {kind(a)} and {kind(b)} is not defined", at.op)


_RANKED = ("channels", "length", "height", "width", "depth")  # attributes of some ranks only


def attribute(v: Value, name: str, span: Span) -> Value:
    """`x.channels`, `x.shape`, ...: what a tensor's shape says; `span` is the name's."""
    if not isinstance(v, Tensor):
        hint = (f"index it with brackets: `[{name}]`" if name.isdigit() and isinstance(v, list)
                else f"call the builtin: `{name}(...)`" if name in BUILTIN_FUNCS else
                "call the builtin: `len(...)`" if name in ("length", "size", "count")
                and isinstance(v, (list, str, dict)) else "")
        raise Fault("E212", f"{kind(v)} has no attribute `{name}`", span, hints=[hint])
    shp = v.shape
    attrs: dict[str, Value] = {"shape": list(shp), "batch": shp[0], "rank": len(shp)}
    if len(shp) >= 2:
        attrs["channels"] = shp[1]
    if len(shp) == 3:
        attrs["length"] = shp[2]
    if len(shp) >= 4:
        attrs["height"], attrs["width"] = shp[-2], shp[-1]
    if len(shp) == 5:
        attrs["depth"] = shp[2]
    if name not in attrs:  # NOTE: `depth` of a rank-4 tensor is no misspelt `width`
        has = f"a tensor of rank {len(shp)} has: {', '.join(attrs)}"
        raise Fault("E212", f"a tensor of shape {fmt_shape(shp)} has no attribute `{name}`",
                    span, hints=[has if name in _RANKED else did_you_mean(name, attrs, has)])
    return attrs[name]


def index(v: Value, i: Value, span: Span, index_span: Span) -> Value:
    """`table[key]` and `list[i]`."""
    if isinstance(v, dict):
        if isinstance(i, (int, float, str)) and i in v and _same_key(_stored(v, i), i):
            return v[i]
        raise Fault("E212", f"the table has no entry {show(i)}", index_span, f"{show(i)}",
                    hints=[f"its keys: {', '.join(show(k) for k in v)}" if v
                           else "the table is empty"])
    if not isinstance(v, list) or not isinstance(i, int) or isinstance(i, bool):
        t = span.text()[:span.text().find("[")] if isinstance(v, Tensor) else ""
        raise Fault("E212", f"cannot index {kind(v)} with {kind(i)}", span, hints=[
            f"a tensor's sizes are the list `{t}.shape`: `{t}.shape[{index_span.text()}]`"
            if t.isidentifier() else ""])
    if not -len(v) <= i < len(v):
        raise Fault("E212", f"index {i} is out of range for a list of {len(v)}", index_span)
    return v[i]


def add_entry(table: dict[Key, Value], where: dict[Key, Span], key: Value, value: Value,
              span: Span) -> None:
    """One `key: value` of a table literal; `where` keeps each key's span for E211."""
    if not isinstance(key, (int, float, str)):
        raise Fault("E212", f"a table key must be a number, a string or a boolean, not "
                    f"{kind(key)}", span)
    if key in table and not _same_key(first := _stored(table, key), key):
        raise Fault("E212", f"a table cannot have both {show(first)} and {show(key)} as keys",
                    span, show(key), hints=["use keys of one kind: numbers, strings or "
                                            "booleans"], secondary=[(where[key], show(first))])
    if key in table:
        raise Fault("E211", f"table key {show(key)} is given twice", span, "second entry",
                    secondary=[(where[key], "first entry")])
    if isinstance(value, (list, dict)):
        nest([value], span)
    table[key], where[key] = value, span


def _stored(table: dict[Key, Value], key: Key) -> Key:
    """The key of `table` equal to `key` in Python's sense (`true` is 1 there: only 0 and 1
    may be held by a key of another kind)."""
    return next(k for k in table if k == key) if key in (0, 1) else key


def _same_key(a: Key, b: Key) -> bool:
    """Whether two keys Python finds equal are the same in netdsl: a boolean is no number."""
    return isinstance(a, bool) == isinstance(b, bool)


# ---------------------------------------------------------------------------------- builtins

BUILTIN_VALUES: dict[str, Value] = {"same": "same", "valid": "valid", "none": None}


class _Limit(ValueError):
    """A builtin was asked for more than netdsl's size limits allow (E215)."""


def _range(*a: int) -> list[Value]:
    r = range(*a)
    try:
        n = len(r)
    except OverflowError:  # more than sys.maxsize items
        n = MAX_REPEAT + 1
    if n > MAX_REPEAT:
        raise _Limit(f"`range` of {a[0] if len(a) == 1 else len(r) if n <= 2**62 else 'so many'}"
                     f" items exceeds the limit of {MAX_REPEAT}")
    items = SizedList(r)
    items.size = 1 + len(items)
    return items


def _domain(f: Callable[[float], float], name: str, ok: Callable[[float], bool],
            needs: str) -> Callable[[float], float]:
    """A math function that refuses arguments outside its domain with a sentence (E212)."""
    def checked(x: float) -> float:
        if is_number(x) and not ok(x):
            raise _Domain(f"`{name}` needs {needs}, not {show(x)}")
        return f(x)
    return checked


def _pow(a: float, b: float) -> int | float:
    """`pow(a, b)`: `a ** b`, whole when both are and b >= 0, within the limits `**` keeps."""
    if not (is_number(a) and is_number(b)):
        raise TypeError("they must be numbers")
    if abs(b) > 64 or abs(a) > 1e6:
        raise OverflowError("the number is too large")
    if a == 0 and b < 0:
        raise _Domain(f"`pow` of 0 needs an exponent >= 0, not {show(b)}")
    if a < 0 and not float(b).is_integer():
        raise _Domain(f"`pow` of a negative number needs a whole exponent, not {show(b)}")
    if isinstance(a, int) and isinstance(b, int) and b >= 0:
        return int(a**b)
    return math.pow(a, b)


def _exp(x: float) -> float:
    if is_number(x) and x > 700:  # e**710 overflows a float
        raise OverflowError("the number is too large")
    return math.exp(x)


class _Domain(ValueError):
    """A math builtin was given a value outside its domain (log of 0, sqrt of -1)."""


BUILTIN_FUNCS: dict[str, Callable[..., Value]] = {
    "min": min, "max": max, "abs": abs, "int": int, "float": float, "round": round,
    "ceil": math.ceil, "floor": math.floor, "len": len, "range": _range,
    "sqrt": _domain(math.sqrt, "sqrt", lambda x: x >= 0, "a number >= 0"),
    "log": _domain(math.log, "log", lambda x: x > 0, "a number > 0"),
    "log2": _domain(math.log2, "log2", lambda x: x > 0, "a number > 0"),
    "exp": _exp, "pow": _pow,
}


def _numbers(vals: Sequence[Value]) -> bool:
    """Whether `vals` are what `min` and `max` take: numbers, or one list of them."""
    items = vals[0] if len(vals) == 1 and isinstance(vals[0], list) else vals
    return (len(vals) > 1 or items is not vals) and all(is_number(v) for v in items)


_TAKES = {  # what each builtin takes, where it is not one number
    "min": "numbers, or one list of them that is not empty: `min(a, b)`, `min(sizes)`",
    "max": "numbers, or one list of them that is not empty: `max(a, b)`, `max(sizes)`",
    "int": "one number, or a string that writes one", "float": "one number, or a string that "
    "writes one", "round": "a number, and the digits to keep: `round(x)`, `round(x, 2)`",
    "len": "one list or string", "pow": "two numbers: `pow(a, b)`",
    "range": "whole numbers, and a step other than 0: `range(n)`, `range(a, b)`, "
             "`range(a, b, step)`"}


def call_builtin(f: str, args: Sequence[tuple[Value, Span]], keyword: Span | None,
                 span: Span) -> Value:
    """`min(a, b)`, `range(n)`, ...; `keyword` is the span of a keyword argument, if any."""
    if keyword is not None:
        raise Fault("E203", f"`{f}` takes no keyword arguments", keyword)
    vals = [v for v, _ in args]
    if any(v is POISON for v in vals):
        return POISON
    for v, sp in args:
        if isinstance(v, Tensor) and f == "len":
            t = sp.text() if sp.text().isidentifier() else "x"
            raise Fault("E205", "`len` takes a list or a string, not a tensor", sp, hints=[
                f"a tensor's sizes are the list `{t}.shape`, their number `{t}.rank`"])
        if isinstance(v, Tensor):
            raise Fault("E205", f"`{f}` takes numbers, not a tensor", sp)
    try:
        if f in ("min", "max") and not _numbers(vals):
            raise TypeError  # NOTE: Python's `min("ab")` is its least character, True is 1
        return bounded(BUILTIN_FUNCS[f](*vals), span)
    except _Limit as ex:
        raise Fault("E215", str(ex), span) from None
    except _Domain as ex:
        raise Fault("E212", str(ex), args[0][1]) from None
    except ZeroDivisionError:
        raise Fault("E212", f"`{f}`: division by zero", span) from None
    except OverflowError:
        raise Fault("E215", "the number is too large", span) from None
    except (TypeError, ValueError):  # NOTE: Python's words ("min() arg is an empty sequence")
        what = [("an empty list" if v == [] else kind(v)) for v in vals]
        message = (f"`{f}` cannot take {', '.join(what[:-1])} and {what[-1]}" if len(what) > 1
                   else f"`{f}` cannot take {what[0]}" if what else f"`{f}` needs arguments")
        raise Fault("E205", message, span, hints=[f"`{f}` takes {_TAKES.get(f, 'one number')}"]
                    ) from None
