"""Symbolic sizes (issue 16), the solver: conditions on named input sizes (symbolic.Cond) → the
exact valid set of each size, as progressions. No graph, no numpy.

The valid set of a symbol is found exactly (`solve`): with L the lcm of the floor denominators
(nested ones multiplied), every atom is affine in k along each residue class H = r + Lk, so each
literal changes its truth at most once along the class; past the last change the set is periodic
with period L, and below it a direct evaluation decides.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from fractions import Fraction

from netdsl.record import Record, record
from netdsl.symbolic import Cond, Expr, Floor, Ind, Lit


def period(conds: Iterable[Cond | Expr]) -> int:
    """L: every atom is affine in k along H = r + Lk (the lcm of floor denominators, nested
    ones multiplied)."""
    out = 1
    for c in conds:
        for e in ([lit.expr for lit in c.literals()] if isinstance(c, Cond) else [c]):
            out = math.lcm(out, _expr_period(e))
    return out


def _expr_period(e: Expr) -> int:
    out = 1
    for a in e.atoms():
        if isinstance(a, Floor):
            out = math.lcm(out, _expr_period(a.num) * a.den)
        elif isinstance(a, Ind):
            out = math.lcm(out, period([a.cond]))
    return out


# ------------------------------------------------------------------------------- valid sets

ENUMERATE_AT_MOST = 1 << 20  # sizes a solve evaluates directly before the periodic tail


@record
class Progression(Record):
    """first, first + step, first + 2·step, ... (step 0: the one size `first`)."""

    first: int
    step: int

    def __contains__(self, n: object) -> bool:
        if not isinstance(n, int) or n < self.first:
            return False
        return n == self.first if self.step == 0 else (n - self.first) % self.step == 0

    def __str__(self) -> str:
        return str(self.first) if self.step == 0 else f"{self.first} + {self.step}k"


@record
class ValidSet(Record):
    """The sizes of one symbol (or of several equal ones) that pass every condition."""

    symbols: tuple[str, ...]
    progressions: tuple[Progression, ...]

    def __contains__(self, n: object) -> bool:
        return any(n in p for p in self.progressions)

    def members(self, count: int, start: int = 1) -> list[int]:
        """The first `count` valid sizes from `start` on."""
        out: list[int] = []
        n = start
        steps = [p.step for p in self.progressions if p.step]
        if not steps and not self.progressions:
            return out
        top = max([start] + [p.first for p in self.progressions]) + count * max(steps or [1])
        while len(out) < count and n <= top:
            if n in self:
                out.append(n)
            n += 1
        return out

    def nearest(self, n: int, count: int = 2) -> list[int]:
        below = [m for m in range(n - 1, max(n - 1 - 4096, 0), -1) if m in self][:count]
        above = self.members(count, n + 1)
        return sorted(below + above, key=lambda m: (abs(m - n), m))[:count]

    def __str__(self) -> str:
        name = " = ".join(self.symbols)
        if not self.progressions:
            return f"{name}: no size"
        if self.progressions == (Progression(1, 1),):
            return f"{name}: any size"
        parts = _runs(self.progressions)
        if len(parts) == 1 and isinstance(parts[0], tuple) and parts[0][2] == 1:
            low, high, _ = parts[0]  # NOTE: one range: `3 <= H <= 100`
            return f"{name} <= {high}" if low == 1 else f"{low} <= {name} <= {high}"
        return f"{name} = " + " or ".join(map(_run_text, parts))


def _run_text(p: Progression | tuple[int, int, int]) -> str:
    if not isinstance(p, tuple):
        return str(p)
    low, high, step = p  # NOTE: as netdsl sizes writes runs (sizes.py)
    return f"{low}..{high}" if step == 1 else f"{low} + {step}k (k = 0..{(high - low) // step})"


def _runs(progressions: tuple[Progression, ...]) -> list[Progression | tuple[int, int, int]]:
    """The progressions in order, three or more single sizes in a row at equal steps as one
    (low, high, step)."""
    out: list[Progression | tuple[int, int, int]] = []
    singles: list[int] = []
    for p in [*progressions, None]:
        if p is not None and p.step == 0:
            singles.append(p.first)
            continue
        i = 0
        while i < len(singles):
            j = i + 1
            while j + 1 < len(singles) and (singles[j + 1] - singles[j]
                                            == singles[i + 1] - singles[i]):
                j += 1
            if j - i >= 2:
                out.append((singles[i], singles[j], singles[i + 1] - singles[i]))
                i = j + 1
            else:
                out.append(Progression(singles[i], 0))
                i += 1
        singles = []
        if p is not None:
            out.append(p)
    return out


def solve(conds: Iterable[Cond], symbols: tuple[str, ...], low: int = 1) -> ValidSet | None:
    """The exact valid set of the equal symbols `symbols` (each >= low) under conditions that
    mention only them; None where a condition is not floor-affine (a product of sizes)."""
    conds = list(conds)
    lits = _all_literals(conds)
    if any(not _piecewise_affine(lit.expr) for lit in lits):
        return None
    step = period(conds)
    top = low
    for lit in sorted(lits, key=lambda lit: _has_ind(lit.expr)):
        top = max(top, _last_change(lit.expr, symbols, step, low, top))
    if top - low > ENUMERATE_AT_MOST:
        return None

    def ok(n: int) -> bool:
        env = dict.fromkeys(symbols, n)
        return all(c.evaluate(env) for c in conds)

    good = {n for n in range(low, top + step + 1) if ok(n)}
    return ValidSet(symbols, _progressions(good, step, low, top))


def _all_literals(conds: Iterable[Cond]) -> list[Lit]:
    out: dict[Lit, None] = {}  # NOTE: not a list: == on Lits compares their Exprs symbolically
    todo = [lit for c in conds for lit in c.literals()]
    while todo:
        lit = todo.pop()
        if lit not in out:
            out[lit] = None
            todo += [x for a in lit.expr.atoms() if isinstance(a, Ind) for x in a.cond.literals()]
            todo += [x for a in _floor_atoms(lit.expr) for b in a.num.atoms()
                     if isinstance(b, Ind) for x in b.cond.literals()]
    return list(out)


def _floor_atoms(e: Expr) -> list[Floor]:
    out = []
    for a in e.atoms():
        if isinstance(a, Floor):
            out += [a, *_floor_atoms(a.num)]
    return out


def _has_ind(e: Expr) -> bool:
    return any(isinstance(a, Ind) or (isinstance(a, Floor) and _has_ind(a.num))
               for a in e.atoms())


def _piecewise_affine(e: Expr) -> bool:
    return all(len([a for a in m if not isinstance(a, Ind)]) <= 1 and all(
        isinstance(a, (str, Ind)) or _piecewise_affine(a.num) for a in m) for m, _ in e.terms)


def _last_change(e: Expr, symbols: tuple[str, ...], step: int, low: int, after: int) -> int:
    """The largest size past which the literal on e keeps its truth along every residue class
    (e is affine in k there; indicators settled past `after`)."""
    top = low
    for r in range(step):
        k0 = max(0, -(-(after - r) // step))
        n0 = r + step * k0
        env0, env1 = dict.fromkeys(symbols, n0), dict.fromkeys(symbols, n0 + step)
        b = e.evaluate(env0)
        a = e.evaluate(env1) - b
        if a and -b / a > -1:  # e crosses zero ahead, near n0 + step·(-b/a)
            top = max(top, n0 + step * (math.ceil(Fraction(-b, a)) + 1))
        top = max(top, n0)
    return top


def _progressions(good: set[int], step: int, low: int, top: int) -> tuple[Progression, ...]:
    """Sizes in [low, top + step] (periodic with `step` above top) as progressions: each valid
    residue class from its first size whose every successor is valid, then the sizes left."""
    tail = {n % step for n in range(top + 1, top + step + 1) if n in good}
    firsts: dict[int, int] = {}
    for r in tail:
        n = top + 1 + (r - top - 1) % step
        while n - step >= low and n - step in good:
            n -= step
        firsts[r] = n
    p = next(p for p in range(1, step + 1) if step % p == 0 and _merges(firsts, p, step))
    out = []
    for r in sorted({r % p for r in firsts}):
        out.append(Progression(min(f for q, f in firsts.items() if q % p == r), p))
    covered = list(out)
    out += [Progression(n, 0) for n in sorted(good) if not any(n in pr for pr in covered)]
    return tuple(sorted(out, key=lambda pr: (pr.first, pr.step)))


def _merges(firsts: dict[int, int], p: int, step: int) -> bool:
    for r in {q % p for q in firsts}:
        subs = list(range(r, step, p))
        if any(q not in firsts for q in subs):
            return False
        f = min(firsts[q] for q in subs)
        if any(firsts[q] >= f + step for q in subs):
            return False
    return True
