"""Argument types an op's fields may declare, and how a .net value is checked against them.

A field annotated `kernel: Ints` accepts an int or a list of ints; build/calls.py calls `coerce`
with the annotation's text. Keeping the table here means a new op needs no change to build/."""

from __future__ import annotations

from typing import Any

Ints = int | tuple[int, ...]
Pad = int | str | tuple[int, ...]
Floats = float | tuple[float, ...]
Weights = tuple[Any, ...]
Tensor = str  # a keyword that takes a tensor: build/calls.py makes it an extra input


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


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
        return _freeze(v)
    raise TypeError("a (nested) list of numbers")


def _freeze(v: Any) -> Any:
    return tuple(_freeze(x) for x in v) if isinstance(v, (list, tuple)) else v


def _scalar(kind: type, words: str) -> Any:
    def check(v: Any) -> Any:
        if kind is float and _is_num(v):
            return float(v)
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
        return float(v)
    if isinstance(v, (list, tuple)) and v and all(_is_num(x) for x in v):
        return tuple(float(x) for x in v)
    raise TypeError("a number or a list of numbers")


COERCE = {
    "int": _scalar(int, "an integer"),
    "float": _scalar(float, "a number"),
    "bool": _scalar(bool, "`true` or `false`"),
    "str": _scalar(str, 'a string such as "nearest"'),
    "Ints": _ints,
    "Floats": _floats,
    "Pad": _pad,
    "Weights": _weights,
}


def coerce(annotation: str, value: Any) -> Any:
    """The checked value, or TypeError(what was expected, in words)."""
    kinds = [k.strip() for k in annotation.split("|")]
    if "None" in kinds and value is None:
        return None
    errors = []
    for k in kinds:
        if k in ("None", "Tensor"):
            continue
        try:
            return COERCE[k](value)
        except TypeError as e:
            errors.append(str(e))
    raise TypeError(" or ".join(errors))
