"""Argument types an op's fields may declare: how a .net value is checked against each, and the
words that name it in messages and in the reference (one table, TYPES).

A field annotated `kernel: Ints` accepts an int or a list of ints; build/calls.py calls `coerce`
with the annotation's text. Keeping the table here means a new op needs no change to build/."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from netdsl.record import Record, record

Ints = int | tuple[int, ...]
Pad = int | str | tuple[int, ...]
Floats = float | tuple[float, ...]
Weights = tuple[Any, ...]
Tensor = str  # a keyword that takes a tensor (declared with ops/base.tensor_input())


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


_FLOAT32_MAX = 3.4028234663852886e38


def _finite(v: float, limit: float = math.inf) -> float:
    """NOTE: the one check that every float argument of every op is finite (a NaN `eps` or
    `slope` would compile to a model that outputs NaN); ValueError, not TypeError: the type is
    right, the value is not (E206)."""
    if not math.isfinite(v) or abs(v) > limit:
        raise ValueError(f"must be a finite number{' in float32' if limit < math.inf else ''}, "
                         f"not {v!r}")
    return v


def _ints(v: Any) -> Any:
    if _is_int(v):
        return v
    if isinstance(v, (list, tuple)) and v and all(_is_int(x) for x in v):
        return tuple(v)
    raise TypeError("an integer or a list of integers")


def _pad(v: Any) -> Any:
    if v in ("same", "valid"):
        return v
    try:
        return _ints(v)
    except TypeError:
        raise TypeError("an integer, a list of integers, `same` or `valid`") from None


def _weights(v: Any) -> Any:
    def ok(x: Any) -> bool:
        return _is_num(x) or (isinstance(x, (list, tuple)) and bool(x) and all(ok(y) for y in x))
    if isinstance(v, (list, tuple)) and ok(v):
        if not _rectangular(v):
            raise TypeError("a (nested) list of numbers whose rows all have the same length")
        return _freeze(v)
    raise TypeError("a (nested) list of numbers")


def _rectangular(v: Any) -> bool:
    """Whether nested lists form an array: at each depth, lists of one length (or numbers)."""
    level = [v]
    while level:
        lists = [x for x in level if isinstance(x, (list, tuple))]
        if lists and (len(lists) != len(level) or len({len(x) for x in lists}) != 1):
            return False
        level = [y for x in lists for y in x]
    return True


def _freeze(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        return tuple(_freeze(x) for x in v)
    return _finite(v, _FLOAT32_MAX) if isinstance(v, float) else v


def _scalar(kind: type, words: str) -> Any:
    def check(v: Any) -> Any:
        if kind is float and _is_num(v):
            return _finite(float(v))
        if kind is int and _is_int(v):
            return v
        if kind is bool and isinstance(v, bool):
            return v
        if kind is str and isinstance(v, str):
            return v
        raise TypeError(words)
    return check


def _floats(v: Any) -> Any:
    if _is_num(v):
        return _finite(float(v))
    if isinstance(v, (list, tuple)) and v and all(_is_num(x) for x in v):
        return tuple(_finite(float(x)) for x in v)
    raise TypeError("a number or a list of numbers")


@record
class ArgType(Record):
    """One kind of argument: `check` returns the checked value or raises TypeError(`expected`);
    `words` name it in the operator reference. A tensor has no check: the call makes it an input."""

    words: str
    check: Callable[[Any], Any] | None = None


TYPES = {
    "int": ArgType("integer", _scalar(int, "an integer")),
    "float": ArgType("number", _scalar(float, "a number")),
    "bool": ArgType("`true` or `false`", _scalar(bool, "`true` or `false`")),
    "str": ArgType("string", _scalar(str, 'a string such as "nearest"')),
    "Ints": ArgType("integer or list of integers", _ints),
    "Floats": ArgType("number or list of numbers", _floats),
    "Pad": ArgType("integer, list of integers, `same` or `valid`", _pad),
    "Weights": ArgType("nested list of numbers (a fixed kernel)", _weights),
    "Tensor": ArgType("tensor"),
}


def _kinds(annotation: str) -> list[str]:
    return [k.strip() for k in annotation.split("|")]


def coerce(annotation: str, value: Any) -> Any:
    """The checked value, or TypeError(what was expected, in words), or ValueError(what is wrong
    with a value of the right type: a float that is not finite)."""
    check = _COERCE.get(annotation)
    if check is None:
        check = _COERCE[annotation] = _coercer(annotation)
    return check(value)


def _coercer(annotation: str) -> Callable[[Any], Any]:
    """coerce for one annotation, made once: `None` where the annotation allows it, then each
    kind's check in turn; TypeError naming all the kinds where none takes the value."""
    kinds = _kinds(annotation)
    nullable = "None" in kinds
    checks = [c for k in kinds if k != "None" and (c := TYPES[k].check) is not None]

    def check(value: Any) -> Any:
        if nullable and value is None:
            return None
        errors = []
        for c in checks:
            try:
                return c(value)
            except TypeError as e:
                errors.append(str(e))
        raise TypeError(" or ".join(errors))
    return checks[0] if len(checks) == 1 and not nullable else check


_COERCE: dict[str, Callable[[Any], Any]] = {}  # annotation -> its coerce, made on first use


def words(annotation: str) -> str:
    """What the reference calls a field of this annotation: `integer or list of integers`."""
    return " or ".join(TYPES[k].words if k in TYPES else k
                       for k in _kinds(annotation) if k != "None")


def literal(value: Any) -> str:
    """A default as .net writes it: `true`, `"nearest"`, `0.5`, `[1, 2]`; None is `none`."""
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "none"}[value]
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    return repr(value).replace("'", '"')
