"""Symbolic sizes, printing (for algebra.py and conditions.py): an Expr or a literal → the text
that messages, summaries and ONNX dim_params show (`floor((H - 3)/2) + 1`, `H - 4 divisible by
2`). Sees the algebra as a module (`algebra.Expr`), as it is loaded while algebra.py is."""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING, Any

from netdsl.symbolic import algebra

if TYPE_CHECKING:
    from netdsl.symbolic.conditions import Lit


def render(e: algebra.Expr, exact: Any = None) -> str:
    """`H/2 - 2`, `floor((H - 3)/2) + 1`: terms by degree, the constant last. `exact(floor)`
    says where a floor division is known to be exact (then it is expanded as a fraction)."""
    poly = _expand(e, exact) if exact is not None else {m: Fraction(c) for m, c in e.terms}
    terms = sorted(((m, c) for m, c in poly.items() if c and m != ()),
                   key=lambda t: [algebra._key(a) for a in t[0]])
    parts = [(c, _term(m, abs(c))) for m, c in terms]
    const = poly.get((), Fraction(0))
    if const or not parts:
        parts.append((const, str(abs(const))))
    out = ("-" if parts[0][0] < 0 else "") + parts[0][1]
    for c, t in parts[1:]:
        out += f" {'-' if c < 0 else '+'} {t}"
    return out


def _term(m: algebra.Monomial, q: Fraction) -> str:
    body = "·".join(a if isinstance(a, str) else str(a) for a in m)
    num = "" if q.numerator == 1 else str(q.numerator)
    return f"{num}{body}" + (f"/{q.denominator}" if q.denominator != 1 else "")


def _expand(e: algebra.Expr, exact: Any) -> dict[algebra.Monomial, Fraction]:
    out: dict[algebra.Monomial, Fraction] = {}
    for m, c in e.terms:
        poly: dict[algebra.Monomial, Fraction] = {(): Fraction(c)}
        for a in m:
            if isinstance(a, algebra.Floor) and exact(a):
                factor = {k: v / a.den for k, v in _expand(a.num, exact).items()}
            else:
                factor = {(a,): Fraction(1)}
            poly = {tuple(sorted(k1 + k2, key=algebra._key)): v1 * v2
                    for k1, v1 in poly.items() for k2, v2 in factor.items()}
        for k, v in poly.items():
            out[k] = out.get(k, Fraction(0)) + v
    return out


def _paren(t: str) -> str:
    return f"({t})" if " " in t else t


def describe(lit: Lit, negated: bool = False) -> str:
    """A literal the way a message says it: `H - 4 divisible by 2`, `H >= 64`, `H == W`."""
    e = lit.expr
    if lit.kind == "eq":
        div = _divisibility(e)
        if div is not None:
            a, d = div
            return f"{render(a)} {'not ' if negated else ''}divisible by {d}"
        pos = algebra.Expr({m: c for m, c in e.terms if c > 0})
        neg = -algebra.Expr({m: c for m, c in e.terms if c < 0})
        sides = [render(pos), render(algebra.Expr.of(neg))]
        if not pos.symbols():  # NOTE: the sizes first, as written: `H == 8`, not `8 == H`
            sides.reverse()
        return f"{sides[0]} {'!=' if negated else '=='} {sides[1]}"
    c = e.coeffs().get((), 0)
    rest = e - c
    if isinstance(rest, algebra.Expr) and rest.terms and rest.terms[0][1] < 0:
        return f"{render(algebra.Expr.of(-rest))} <= {c}"
    return f"{render(algebra.Expr.of(rest))} >= {-c}"


def _divisibility(e: algebra.Expr) -> tuple[algebra.Expr, int] | None:
    """e = ±(a - d·floor(a/d)): the literal says d divides a."""
    for se in (e, -e):
        if not isinstance(se, algebra.Expr):
            continue
        for m, c in se.terms:
            if len(m) == 1 and isinstance(m[0], algebra.Floor) and c == -m[0].den:
                a = m[0].num
                rest = se - (a - m[0].den * algebra.Expr({m: 1}))
                if isinstance(rest, int) and rest == 0:
                    return a, m[0].den
    return None
