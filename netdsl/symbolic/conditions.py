"""Symbolic sizes, conditions (symbolic's second stage): comparisons of Exprs → boolean formulas
over the literals `e == 0` and `e >= 0` (Cond: Lit, Junction), decided at once where ranges.py's
bounds settle them. `&`, `|`, `~` combine them as numpy's masks do; a Cond in arithmetic is its
indicator, an Expr again. Sees the algebra as a module (`algebra.Expr`), as algebra.py imports
this module's names while it is itself loading."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from netdsl.record import Record, record
from netdsl.symbolic import algebra
from netdsl.symbolic.printing import describe
from netdsl.symbolic.ranges import bounds


class Cond(Record):
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
        raise algebra.Undecided(f"branches on whether {self}")

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
            return 1 - Lit("ge", algebra.Expr.of(-self.expr - 1)).indicator()
        return algebra.Expr({(algebra.Ind(self),): 1})

    def evaluate(self, env: Mapping[str, int]) -> bool:
        raise NotImplementedError

    def literals(self) -> list[Lit]:
        raise NotImplementedError

    def symbols(self) -> set[str]:
        return {s for lit in self.literals() for s in lit.expr.symbols()}


@record
class Lit(Cond):
    """`expr == 0` (kind "eq") or `expr >= 0` (kind "ge")."""

    kind: str
    expr: algebra.Expr

    @staticmethod
    def make(kind: str, e: int | algebra.Expr) -> Cond | bool:
        if isinstance(e, int):
            return e == 0 if kind == "eq" else e >= 0
        lo, hi = bounds(e)
        if kind == "ge":
            return True if lo >= 0 else False if hi < 0 else Lit("ge", e)
        if lo > 0 or hi < 0:
            return False
        if e.terms[0][1] < 0:  # one sign for `a == b` and `b == a`
            e = -e
        return Lit("eq", algebra.Expr.of(e))

    def __bool__(self) -> bool:
        # NOTE: `==` on sizes is also Python's equality (dict keys, `in`): an equality decides
        # structurally, as numpy's would not, so that `p in (q, 1)` works on expressions
        if self.kind == "eq":
            return False
        raise algebra.Undecided(f"branches on whether {self}")

    def evaluate(self, env: Mapping[str, int]) -> bool:
        v = self.expr.evaluate(env)
        return v == 0 if self.kind == "eq" else v >= 0

    def literals(self) -> list[Lit]:
        return [self]

    def __str__(self) -> str:
        return describe(self)


@record
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
