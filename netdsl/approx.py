"""An `expect ACTUAL ~= EXPECTED within TOL` line's three numbers → None where it holds, else
its E305 (the actual value, the expected one, the tolerance both ways and the deviation): for
expect_check.py, which evaluates the numbers. Decided exactly: integers as they are, floats as
the user wrote them (0.1 is 1/10), in Fraction; and how E305 messages write a value."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from netdsl.diagnostics import Diagnostic, error
from netdsl.values import Fault, Value, show

if TYPE_CHECKING:
    from fractions import Fraction

    from netdsl.expectations import Approx
    from netdsl.source import Span

# NOTE: fractions (with decimal) is imported where an approximate line (`~=`) fails or holds
# floats, not at the top: a check without one need not load it.

def fmt_value(v: Value | Fraction) -> str:
    """A value as E305 messages write it: integers with thousands separators, fractions as
    their integer or a float of 6 digits."""
    from fractions import Fraction
    if isinstance(v, Fraction):
        return f"{int(v):,}" if v.denominator == 1 else f"{float(v):,.6g}"
    return f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else show(v)


def _percent(x: Fraction, sign: str = "+", near: Fraction | None = None) -> str:
    """`+5.16%`: two decimals, or more where two would round x onto `near` (the bound) or,
    x not being 0, to 0 (a small tolerance: `±0.0003%`, not `±0.00%`)."""
    from fractions import Fraction
    text = ""
    for digits in range(2, 9):
        text = f"{float(x):{sign}.{digits}f}"
        shown = abs(Fraction(text))
        if (near is None or shown != near) and (shown != 0 or x == 0):
            break
    return text + "%"


_N = TypeVar("_N", int, "Fraction")


def _holds(actual: _N, expected: _N, tol: _N, relative: bool) -> bool:
    """`actual ~= expected within tol`, exactly: |actual - expected| <= tol, or with `relative`
    <= tol percent of |expected| (multiplied out, so that integers stay integers)."""
    dev = abs(actual - expected)
    return 100 * dev <= tol * abs(expected) if relative else dev <= tol


def _exact(v: int | float) -> Fraction:
    """A number as the user wrote it: 0.1 is 1/10 (repr), not the float nearest to it."""
    from fractions import Fraction
    return Fraction(v) if isinstance(v, int) else Fraction(repr(v))


def verdict(t: Approx, nums: list[int | float], span: Span) -> Diagnostic | None:
    """`actual ~= expected within tolerance` for its three numbers, in exact arithmetic
    (Fraction): None where it holds, else its E305 at span; Fault E206 for a negative
    tolerance."""
    ints = [v for v in nums if type(v) is int]
    if len(ints) == 3 and ints[2] >= 0 and _holds(ints[0], ints[1], ints[2], t.relative):
        return None  # NOTE: decided in integers: fractions load for floats and verdicts
    actual, expected, tol = (_exact(v) for v in nums)
    if tol < 0:
        raise Fault("E206", "a tolerance cannot be negative", t.spans[2])
    if _holds(actual, expected, tol, t.relative):
        return None
    bound = tol * abs(expected) / 100 if t.relative else tol
    dev = actual - expected
    rel = tol if t.relative else bound * 100 / abs(expected) if expected else None
    within = (f"{t.texts[2]} (±{fmt_value(bound)})" if t.relative else
              fmt_value(tol) + (f" (±{_percent(rel, '')})" if rel is not None else ""))
    off = ("+" if dev > 0 else "-") + fmt_value(abs(dev))
    if expected:
        off += f" ({_percent(dev * 100 / abs(expected), near=rel)})"
    return error("E305", f"expectation failed: {t.texts[0]} is {fmt_value(actual)}, expected "
                 f"{fmt_value(expected)} within {within}: off by {off}", span, "does not hold")
