"""Symbolic sizes (issue 16), pure arithmetic: integer expressions over named input sizes → exact
conditions on them (their valid sets: solve.py). No graph, no numpy.

An Expr is a polynomial with integer coefficients over atoms: a size symbol (`H`), a floor
division of an Expr by a positive integer, or the indicator (0 or 1) of a Cond. Floor divisions
are simplified where that is exact (floor((2H + 4)/2) = H + 2, floor((floor(a/m) + c)/n) =
floor((a + cm)/(mn))), so equal sizes reached by different layers compare equal. A Cond is a
boolean formula over the literals `e == 0` and `e >= 0`. Expr and Cond support the operators the
ops' vectorised `size_rule`s use on numpy arrays (+ - * // %, comparisons, & | ~), so the same
rules run on them (anysize.py).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Union

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
        if not isinstance(o, (int, Expr)):
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


@dataclass(frozen=True, slots=True)
class Scaled:
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


@dataclass(frozen=True, slots=True)
class Floor:
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


@dataclass(frozen=True, slots=True)
class Ind:
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


# ------------------------------------------------------------------------------- conditions

class Cond:
    """A boolean formula over literals; `&`, `|`, `~` as numpy masks. bool() of one that the
    bounds cannot decide is Undecided: a branch the network takes per size."""

    def __and__(self, o: Any) -> Any:
        return conj(self, o)

    __rand__ = __and__

    def __or__(self, o: Any) -> Any:
        return disj(self, o)

    __ror__ = __or__

    def __invert__(self) -> Any:
        return negation(self)

    def __bool__(self) -> bool:
        raise Undecided(f"branches on whether {self}")

    def __mul__(self, o: Any) -> Any:
        return self.indicator() * o

    __rmul__ = __mul__

    def __add__(self, o: Any) -> Any:
        return self.indicator() + o

    __radd__ = __add__

    def __neg__(self) -> Any:
        return -self.indicator()

    def __sub__(self, o: Any) -> Any:
        return self.indicator() - o

    def __rsub__(self, o: Any) -> Any:
        return o - self.indicator()

    def indicator(self) -> Any:
        # NOTE: one atom per condition and its negation (1 - [c]), so that numpy's
        # `p * (q == 1) + q * (q != 1)` on equal p and q sums to q
        if isinstance(self, Junction) and self.op == "not":
            return 1 - self.parts[0].indicator()
        if isinstance(self, Lit) and self.kind == "ge" and next(
                c for m, c in self.expr.terms if m) < 0:
            return 1 - Lit("ge", Expr.of(-self.expr - 1)).indicator()
        return Expr({(Ind(self),): 1})

    def evaluate(self, env: Mapping[str, int]) -> bool:
        raise NotImplementedError

    def literals(self) -> list[Lit]:
        raise NotImplementedError

    def symbols(self) -> set[str]:
        return {s for lit in self.literals() for s in lit.expr.symbols()}


@dataclass(frozen=True, slots=True, eq=True)
class Lit(Cond):
    """`expr == 0` (kind "eq") or `expr >= 0` (kind "ge")."""

    kind: str
    expr: Expr

    @staticmethod
    def make(kind: str, e: int | Expr) -> Cond | bool:
        if isinstance(e, int):
            return e == 0 if kind == "eq" else e >= 0
        lo, hi = bounds(e)
        if kind == "ge":
            return True if lo >= 0 else False if hi < 0 else Lit("ge", e)
        if lo > 0 or hi < 0:
            return False
        if e.terms[0][1] < 0:  # one sign for `a == b` and `b == a`
            e = -e
        return Lit("eq", Expr.of(e))

    def __bool__(self) -> bool:
        # NOTE: `==` on sizes is also Python's equality (dict keys, `in`): an equality decides
        # structurally, as numpy's would not, so that `p in (q, 1)` works on expressions
        if self.kind == "eq":
            return False
        raise Undecided(f"branches on whether {self}")

    def evaluate(self, env: Mapping[str, int]) -> bool:
        v = self.expr.evaluate(env)
        return v == 0 if self.kind == "eq" else v >= 0

    def literals(self) -> list[Lit]:
        return [self]

    def __str__(self) -> str:
        return describe(self)


@dataclass(frozen=True, slots=True)
class Junction(Cond):
    """All (`op` "and") or any ("or") of its parts; "not" negates its one part."""

    op: str
    parts: tuple[Cond, ...]

    def evaluate(self, env: Mapping[str, int]) -> bool:
        if self.op == "not":
            return not self.parts[0].evaluate(env)
        vals = (p.evaluate(env) for p in self.parts)
        return all(vals) if self.op == "and" else any(vals)

    def literals(self) -> list[Lit]:
        return [lit for p in self.parts for lit in p.literals()]

    def __str__(self) -> str:
        if self.op == "not":
            p = self.parts[0]
            if isinstance(p, Lit) and p.kind == "eq":
                return describe(p, negated=True)
            return f"not ({p})"
        return f" {self.op} ".join(f"({p})" if isinstance(p, Junction) else str(p)
                                   for p in self.parts)


def conj(a: Any, b: Any) -> Any:
    return _junction("and", a, b)


def disj(a: Any, b: Any) -> Any:
    return _junction("or", a, b)


def _junction(op: str, a: Any, b: Any) -> Any:
    parts: list[Cond] = []
    for x in (a, b):
        if isinstance(x, (bool, int)) and not isinstance(x, Cond):
            if bool(x) == (op == "or"):
                return bool(x)  # absorbing: False and ..., True or ...
            continue
        if not isinstance(x, Cond):
            return NotImplemented
        for p in (x.parts if isinstance(x, Junction) and x.op == op else (x,)):
            if p not in parts:
                parts.append(p)
    if not parts:
        return op == "and"
    return parts[0] if len(parts) == 1 else Junction(op, tuple(parts))


def negation(c: Cond) -> Any:
    if isinstance(c, Lit) and c.kind == "ge":
        return Lit.make("ge", -c.expr - 1)
    if isinstance(c, Junction) and c.op == "not":
        return c.parts[0]
    return Junction("not", (c,))


def truth(c: Any) -> Cond | bool:
    """A size rule's mask: True, False, a Cond (numpy's True and bool_ included)."""
    return c if isinstance(c, Cond) else bool(c)


# ----------------------------------------------------------------------------------- bounds

INF = Fraction(10**30)
LOWEST = 1  # every size symbol is a positive integer


def bounds(e: Expr, lo: Mapping[str, int] | None = None) -> tuple[Fraction, Fraction]:
    """A lower and an upper bound of e over the symbols' range (each >= lo, default 1): floors
    relaxed to affine bounds (floor(a/d) between (a - d + 1)/d and a/d) so that H - 2·floor(H/2)
    is seen in [0, 1]; products bounded by intervals where their signs are known."""
    out = []
    for upper in (False, True):
        form = _relax(e, upper)
        if form is None:
            out.append(_interval(e, lo)[upper])
            continue
        total = form.pop(None, Fraction(0))
        for sym, k in form.items():
            if k and (k > 0) != upper:
                total += k * (lo or {}).get(sym or "", LOWEST)
            elif k:
                total += INF if upper else -INF
        out.append(max(-INF, min(INF, total)))
    return out[0], out[1]


def _relax(e: Expr, upper: bool) -> dict[str | None, Fraction] | None:
    """An affine bound of e (lower, or upper) in its symbols; None for a product."""
    form: dict[str | None, Fraction] = {}
    for m, c in e.terms:
        if len(m) > 1:
            return None
        if not m:
            part: dict[str | None, Fraction] = {None: Fraction(1)}
        elif isinstance(m[0], str):
            part = {m[0]: Fraction(1)}
        elif isinstance(m[0], Ind):
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


def _interval(e: Expr, lo: Mapping[str, int] | None) -> tuple[Fraction, Fraction]:
    low = high = Fraction(0)
    for m, c in e.terms:
        a, b = _mono_bounds(m, lo)
        low += min(c * a, c * b)
        high += max(c * a, c * b)
    return max(low, -INF), min(high, INF)


def _mono_bounds(m: Monomial, lo: Mapping[str, int] | None) -> tuple[Fraction, Fraction]:
    a, b = Fraction(1), Fraction(1)
    for atom in m:
        if isinstance(atom, str):
            x, y = Fraction((lo or {}).get(atom, LOWEST)), INF
        elif isinstance(atom, Floor):
            n1, n2 = bounds(atom.num, lo)
            x, y = (n1 - atom.den + 1) / atom.den, n2 / atom.den
        else:
            x, y = Fraction(0), Fraction(1)
        if a < 0 or x < 0:
            return -INF, INF  # a sign change in a product: unbounded either way
        a, b = a * x, min(b * y, INF)
    return a, b


# ---------------------------------------------------------------------------------- printing

def render(e: Expr, exact: Any = None) -> str:
    """`H/2 - 2`, `floor((H - 3)/2) + 1`: terms by degree, the constant last. `exact(floor)`
    says where a floor division is known to be exact (then it is expanded as a fraction)."""
    poly = _expand(e, exact) if exact is not None else {m: Fraction(c) for m, c in e.terms}
    terms = sorted(((m, c) for m, c in poly.items() if c and m != ()),
                   key=lambda t: [_key(a) for a in t[0]])
    parts = [(c, _term(m, abs(c))) for m, c in terms]
    const = poly.get((), Fraction(0))
    if const or not parts:
        parts.append((const, str(abs(const))))
    out = ("-" if parts[0][0] < 0 else "") + parts[0][1]
    for c, t in parts[1:]:
        out += f" {'-' if c < 0 else '+'} {t}"
    return out


def _term(m: Monomial, q: Fraction) -> str:
    body = "·".join(a if isinstance(a, str) else str(a) for a in m)
    num = "" if q.numerator == 1 else str(q.numerator)
    return f"{num}{body}" + (f"/{q.denominator}" if q.denominator != 1 else "")


def _expand(e: Expr, exact: Any) -> dict[Monomial, Fraction]:
    out: dict[Monomial, Fraction] = {}
    for m, c in e.terms:
        poly: dict[Monomial, Fraction] = {(): Fraction(c)}
        for a in m:
            if isinstance(a, Floor) and exact(a):
                factor = {k: v / a.den for k, v in _expand(a.num, exact).items()}
            else:
                factor = {(a,): Fraction(1)}
            poly = {tuple(sorted(k1 + k2, key=_key)): v1 * v2
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
        pos = Expr({m: c for m, c in e.terms if c > 0})
        neg = -Expr({m: c for m, c in e.terms if c < 0})
        return f"{render(pos)} {'!=' if negated else '=='} {render(Expr.of(neg))}"
    c = e.coeffs().get((), 0)
    rest = e - c
    if isinstance(rest, Expr) and rest.terms and rest.terms[0][1] < 0:
        return f"{render(Expr.of(-rest))} <= {c}"
    return f"{render(Expr.of(rest))} >= {-c}"


def _divisibility(e: Expr) -> tuple[Expr, int] | None:
    """e = ±(a - d·floor(a/d)): the literal says d divides a."""
    for se in (e, -e):
        if not isinstance(se, Expr):
            continue
        for m, c in se.terms:
            if len(m) == 1 and isinstance(m[0], Floor) and c == -m[0].den:
                a = m[0].num
                rest = se - (a - m[0].den * Expr({m: 1}))
                if isinstance(rest, int) and rest == 0:
                    return a, m[0].den
    return None

