"""Symbolic sizes, ranges (for conditions.py): an Expr → a lower and an upper bound of it over
the sizes' range (each size a positive integer), which decide a literal without solving it. Sees
the algebra as a module (`algebra.Floor`), as it is loaded while algebra.py is. (Not named
bounds.py: the package re-exports the function `bounds`, which would hide such a module.)"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from fractions import Fraction

from netdsl.symbolic import algebra

INF = Fraction(10**30)
LOWEST = 1  # every size symbol is a positive integer


def bounds(e: algebra.Expr, lo: Mapping[str, int] | None = None) -> tuple[Fraction, Fraction]:
    """A lower and an upper bound of e over the symbols' range (each >= lo, default 1): floors
    relaxed to affine bounds (floor(a/d) between (a - d + 1)/d and a/d) so that H - 2·floor(H/2)
    is seen in [0, 1]; products bounded by intervals where their signs are known."""
    out = []
    for upper in (False, True):
        form = _relax(e, upper)
        if form is None:
            out.append(_interval(e, lo)[upper])
            continue
        total = form.get(None, Fraction(0))
        for sym, k in form.items():
            if sym is None:
                continue
            if k and (k > 0) != upper:
                total += k * (lo or {}).get(sym or "", LOWEST)
            elif k:
                total += INF if upper else -INF
        out.append(max(-INF, min(INF, total)))
    return out[0], out[1]


@functools.lru_cache(maxsize=1 << 14)
def _relax(e: algebra.Expr, upper: bool) -> dict[str | None, Fraction] | None:
    """An affine bound of e (lower, or upper) in its symbols; None for a product. Remembered
    (the same floors recur through a network's shapes): callers must not change the dict."""
    form: dict[str | None, Fraction] = {}
    for m, c in e.terms:
        if len(m) > 1:
            return None
        if not m:
            part: dict[str | None, Fraction] = {None: Fraction(1)}
        elif isinstance(m[0], str):
            part = {m[0]: Fraction(1)}
        elif isinstance(m[0], algebra.Ind):
            part = {None: Fraction(int((c > 0) == upper))}
        else:
            f = m[0]
            up = (c > 0) == upper
            inner = _relax(f.num, up)
            if inner is None:
                return None
            part = {k: v / f.den for k, v in inner.items()}
            if not up:
                part[None] = part.get(None, Fraction(0)) - Fraction(f.den - 1, f.den)
        for k, v in part.items():
            form[k] = form.get(k, Fraction(0)) + c * v
    return form


def _interval(e: algebra.Expr, lo: Mapping[str, int] | None) -> tuple[Fraction, Fraction]:
    low = high = Fraction(0)
    for m, c in e.terms:
        a, b = _mono_bounds(m, lo)
        low += min(c * a, c * b)
        high += max(c * a, c * b)
    return max(low, -INF), min(high, INF)


def _mono_bounds(m: algebra.Monomial, lo: Mapping[str, int] | None) -> tuple[Fraction, Fraction]:
    a, b = Fraction(1), Fraction(1)
    for atom in m:
        if isinstance(atom, str):
            x, y = Fraction((lo or {}).get(atom, LOWEST)), INF
        elif isinstance(atom, algebra.Floor):
            n1, n2 = bounds(atom.num, lo)
            x, y = (n1 - atom.den + 1) / atom.den, n2 / atom.den
        else:
            x, y = Fraction(0), Fraction(1)
        if a < 0 or x < 0:
            return -INF, INF  # a sign change in a product: unbounded either way
        a, b = a * x, min(b * y, INF)
    return a, b
