"""Symbolic sizes (issue 16), pure arithmetic: integer expressions over named input sizes → exact
conditions on them (their valid sets: solve.py). No graph, no numpy.

An Expr is a polynomial with integer coefficients over atoms: a size symbol (`H`), a floor
division of an Expr by a positive integer, or the indicator (0 or 1) of a Cond. Floor divisions
are simplified where that is exact (floor((2H + 4)/2) = H + 2, floor((floor(a/m) + c)/n) =
floor((a + cm)/(mn))), so equal sizes reached by different layers compare equal. A Cond is a
boolean formula over the literals `e == 0` and `e >= 0`. Expr and Cond support the operators the
ops' vectorised `size_rule`s use on numpy arrays (+ - * // %, comparisons, & | ~), so the same
rules run on them (anysize.py). A package of four modules that call one another:
- algebra.py: Expr and its atoms (Floor, Ind), floor_div, ceil_div, maximum, Scaled, Undecided;
- conditions.py: Cond, Lit, Junction and conj, disj, negation, truth;
- ranges.py: bounds (an Expr's lower and upper bound over the sizes), INF, LOWEST;
- printing.py: render (an Expr as text) and describe (a literal as a message says it);
- here: every name callers use, re-exported (`from netdsl.symbolic import Expr, Cond, render`).

NOTE: algebra.py is imported first (below) and imports the names of conditions.py and
printing.py, whose use in Expr's operators is hot (a check of zoo/fcn.net compares ~80,000
Exprs); those three, loaded while algebra.py is, import the module `algebra` rather than its
names (`algebra.Expr`), so the cycle needs no import inside a function.
"""

from __future__ import annotations

from netdsl.symbolic.algebra import (
    Atom,
    Expr,
    Floor,
    Ind,
    Monomial,
    Scaled,
    Undecided,
    ceil_div,
    floor_div,
    maximum,
)
from netdsl.symbolic.conditions import Cond, Junction, Lit, conj, disj, negation, truth
from netdsl.symbolic.printing import describe, render
from netdsl.symbolic.ranges import INF, LOWEST, bounds

__all__ = [
    "INF", "LOWEST", "Atom", "Cond", "Expr", "Floor", "Ind", "Junction", "Lit", "Monomial",
    "Scaled", "Undecided", "bounds", "ceil_div", "conj", "describe", "disj", "floor_div",
    "maximum", "negation", "render", "truth",
]
