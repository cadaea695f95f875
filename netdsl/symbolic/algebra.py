"""Symbolic sizes, the algebra (symbolic's first stage): sizes named by the inputs → integer
expressions over them (Expr). An Expr is a polynomial with integer coefficients over atoms: a size
symbol (`H`), a floor division of an Expr by a positive integer (Floor), or the indicator (0 or 1)
of a Cond (Ind). Floor divisions are simplified where that is exact (floor_div), so equal sizes
reached by different layers compare equal. Comparisons of Exprs build conditions.py's literals
(Lit.make), so this module imports its names; printing.py writes an Expr as text."""

from __future__ import annotations

import math
from collections.abc import Mapping
from fractions import Fraction
from typing import Any, Union

from netdsl.record import Record, record
from netdsl.symbolic.conditions import Cond, Lit
from netdsl.symbolic.printing import _paren, render

Atom = Union[str, "Floor", "Ind"]
Monomial = tuple[Atom, ...]  # sorted atoms, repeated for powers; () is the constant term


class Undecided(Exception):
    """A size-dependent choice that the expression cannot carry (an int() of a symbolic size,
    a branch on a symbolic comparison): the network is pinned to a concrete size there."""


_KEYS: dict[Any, tuple[int, str]] = {}


def _key(a: Atom) -> tuple[int, str]:
    if isinstance(a, str):
        return (0, a)
    k = _KEYS.get(a)
    if k is None:
        k = _KEYS[a] = (1, str(a))
    return k


class Expr:
    """An integer polynomial over atoms; immutable, hashable, compared structurally by `same`."""

    __slots__ = ("_hash", "terms")

    def __init__(self, terms: Mapping[Monomial, int]):
        self.terms: tuple[tuple[Monomial, int], ...] = tuple(sorted(
            ((m, c) for m, c in terms.items() if c), key=lambda t: [_key(a) for a in t[0]]))
        self._hash = hash(self.terms)

    # -- construction
    @staticmethod
    def of(v: int | Expr) -> Expr:
        return v if isinstance(v, Expr) else Expr({(): int(v)})

    @staticmethod
    def symbol(name: str) -> Expr:
        return Expr({(name,): 1})

    def const(self) -> int | None:
        """The value if the expression is a constant."""
        if not self.terms:
            return 0
        if len(self.terms) == 1 and self.terms[0][0] == ():
            return self.terms[0][1]
        return None

    def coeffs(self) -> dict[Monomial, int]:
        return dict(self.terms)

    def atoms(self) -> set[Atom]:
        return {a for m, _ in self.terms for a in m}

    def symbols(self) -> set[str]:
        out: set[str] = set()
        for a in self.atoms():
            out |= {a} if isinstance(a, str) else a.symbols()
        return out

    def linear(self) -> bool:
        """Affine in its atoms (no products), each floor's numerator linear too."""
        return all(len(m) <= 1 and all(isinstance(a, str) or a.linear() for a in m)
                   for m, _ in self.terms)

    # -- arithmetic (int results collapse back to int)
    def __add__(self, o: Any) -> Any:
        if isinstance(o, Cond):
            o = o.indicator()
        if not isinstance(o, (int, Expr)):
            return NotImplemented
        t = self.coeffs()
        for m, c in Expr.of(o).terms:
            t[m] = t.get(m, 0) + c
        return _norm(Expr(t))

    __radd__ = __add__

    def __neg__(self) -> Any:
        return _norm(Expr({m: -c for m, c in self.terms}))

    def __sub__(self, o: Any) -> Any:
        return self + (-o)

    def __rsub__(self, o: Any) -> Any:
        return (-self) + o

    def __mul__(self, o: Any) -> Any:
        if isinstance(o, float):  # a resize's scale: floor(n * scale) follows as .astype
            return Scaled(self, Fraction(o))
        if isinstance(o, (bool, Cond)):
            o = o.indicator() if isinstance(o, Cond) else int(o)
        if not isinstance(o, (int, Expr)):
            return NotImplemented
        t: dict[Monomial, int] = {}
        for m1, c1 in self.terms:
            for m2, c2 in Expr.of(o).terms:
                m = tuple(sorted(m1 + m2, key=_key))
                t[m] = t.get(m, 0) + c1 * c2
        return _norm(Expr(t))

    __rmul__ = __mul__

    def __floordiv__(self, d: Any) -> Any:
        if not isinstance(d, int) or isinstance(d, bool):
            raise Undecided(f"divides {self} by {d}")
        if d < 0:
            return (-self) // (-d)
        return floor_div(self, d)

    def __mod__(self, d: Any) -> Any:
        return self - d * (self // d)

    def __rfloordiv__(self, o: Any) -> Any:
        raise Undecided(f"divides {o} by the size {self}")

    # -- comparisons build conditions (numpy's masks, symbolically)
    def __eq__(self, o: object) -> Any:
        if isinstance(o, Expr) and o._hash == self._hash and o.terms == self.terms:
            return True  # NOTE: what `self - o` says, without building it (dict keys holding
        if not isinstance(o, (int, Expr)):  # Floor atoms compare their Exprs: most lookups)
            return NotImplemented
        return Lit.make("eq", self - o)

    def __ne__(self, o: object) -> Any:
        r = self.__eq__(o)
        return r if r is NotImplemented else ~r if isinstance(r, Cond) else not r

    def __ge__(self, o: Any) -> Any:
        return Lit.make("ge", self - o)

    def __gt__(self, o: Any) -> Any:
        return Lit.make("ge", self - o - 1)

    def __le__(self, o: Any) -> Any:
        return Lit.make("ge", o - self)

    def __lt__(self, o: Any) -> Any:
        return Lit.make("ge", o - self - 1)

    def __hash__(self) -> int:
        return self._hash

    def same(self, o: object) -> bool:
        return isinstance(o, Expr) and self.terms == o.terms

    def __int__(self) -> int:
        raise Undecided(f"needs a fixed value for {self}")

    __index__ = __int__

    def __bool__(self) -> bool:
        raise Undecided(f"branches on {self}")

    def astype(self, _dtype: Any) -> Expr:  # numpy's spelling, used by size rules
        return self

    # -- values and text
    def evaluate(self, env: Mapping[str, int]) -> int:
        total = 0
        for m, c in self.terms:
            p = c
            for a in m:
                p *= env[a] if isinstance(a, str) else a.evaluate(env)
            total += p
        return total

    def __str__(self) -> str:
        return render(self)

    def __repr__(self) -> str:
        return f"Expr({render(self)})"


@record
class Scaled(Record):
    """A size times a fraction, before numpy's `.astype` (a resize's floor) makes it whole."""

    expr: Expr
    scale: Fraction

    def astype(self, _dtype: Any) -> Any:
        return (self.expr * self.scale.numerator) // self.scale.denominator


def maximum(a: Any, b: Any) -> Any:
    """numpy.maximum of sizes, where the bounds decide it (else Undecided)."""
    if bool(Lit.make("ge", Expr.of(a) - b) is True):
        return a
    if bool(Lit.make("ge", Expr.of(b) - a) is True):
        return b
    raise Undecided(f"takes the larger of {a} and {b}")


def _norm(e: Expr) -> Any:
    c = e.const()
    return c if c is not None else e


@record
class Floor(Record):
    """floor(num / den), den > 1, num not a multiple of den (floor_div builds these)."""

    num: Expr
    den: int

    def evaluate(self, env: Mapping[str, int]) -> int:
        return self.num.evaluate(env) // self.den

    def symbols(self) -> set[str]:
        return self.num.symbols()

    def linear(self) -> bool:
        return self.num.linear()

    def __str__(self) -> str:
        return f"floor({_paren(render(self.num))}/{self.den})"


@record
class Ind(Record):
    """1 where `cond` holds, else 0 (numpy's bool masks multiplied into sizes)."""

    cond: Cond

    def evaluate(self, env: Mapping[str, int]) -> int:
        return int(self.cond.evaluate(env))

    def symbols(self) -> set[str]:
        return self.cond.symbols()

    def linear(self) -> bool:
        return False

    def __str__(self) -> str:
        return f"[{self.cond}]"


def floor_div(e: Expr, d: int) -> int | Expr:
    """floor(e / d) for d >= 1, simplified where exact."""
    if d == 1:
        return _norm(e)  # type: ignore[no-any-return]
    whole: dict[Monomial, int] = {}
    rest: dict[Monomial, int] = {}
    for m, c in e.terms:
        # NOTE: the constant keeps a remainder in (-d, 0] and the others one in [0, d), so that
        # floor((H - 3)/2) + 1 reads floor((H - 1)/2), not floor((H + 1)/2) - 1
        q = -((-c) // d) if m == () else c // d
        whole[m], rest[m] = q, c - q * d
    r = Expr(rest)
    out = _norm(Expr(whole))
    if r.const() is not None:
        return out + (r.const() or 0) // d  # type: ignore[no-any-return]
    g = math.gcd(d, *(c for m, c in r.terms if m != ()))
    if g > 1:  # floor((gA + c)/(gd')) = floor((A + floor(c/g))/d')
        c0 = r.coeffs().get((), 0)
        inner = Expr({m: c // g for m, c in r.terms if m != ()}) + c0 // g
        return out + floor_div(Expr.of(inner), d // g)  # type: ignore[no-any-return]
    atoms = [(m, c) for m, c in r.terms if m != ()]
    if len(atoms) == 1 and atoms[0][1] == 1 and len(atoms[0][0]) == 1 and isinstance(
            atoms[0][0][0], Floor):  # floor((floor(a/m) + c)/n) = floor((a + cm)/(mn))
        f = atoms[0][0][0]
        c0 = r.coeffs().get((), 0)
        return out + floor_div(Expr.of(f.num + c0 * f.den), f.den * d)  # type: ignore[no-any-return]
    return out + Expr({(Floor(r, d),): 1})  # type: ignore[no-any-return]


def ceil_div(e: int | Expr, d: int) -> int | Expr:
    return -((-e) // d)
