"""Symbolic sizes: the Expr algebra's simplifications and printing, the bounds that decide
conditions (netdsl/symbolic/), and exact valid sets against brute force over 1..1024
(netdsl/solve.py)."""

from __future__ import annotations

import pytest

from netdsl.solve import Progression, solve
from netdsl.symbolic import Expr, Undecided, ceil_div

H, W = Expr.symbol("H"), Expr.symbol("W")


def test_exact_floor_divisions_simplify():
    assert (2 * H + 4) // 2 == H + 2
    assert str((H - 3) // 2 + 1) == "floor((H - 1)/2)"
    assert str(((H - 4) // 2 - 4) // 2) == "floor(H/4) - 3"  # nested floors flatten
    assert ceil_div(H, 2) == H - H // 2


@pytest.mark.parametrize("n", range(1, 60))
def test_expressions_evaluate_as_python_integers(n):
    e = (((H - 4) // 2 - 4) // 2 * 3 - 7) // 5 + ceil_div(H + 1, 4) * H - (H * 3) % 7
    h = n
    want = (((h - 4) // 2 - 4) // 2 * 3 - 7) // 5 + -(-(h + 1) // 4) * h - (h * 3) % 7
    assert e.evaluate({"H": n}) == want


def test_conditions_print_as_a_reader_says_them():
    assert str((H - 6) % 2 == 0) == "H divisible by 2"
    assert str(~((H - 6) % 2 == 0)) == "H not divisible by 2"
    assert str(H >= 64) == "H >= 64"
    assert str(H - W == 0) == "H == W"


def test_bounds_decide_what_holds_at_every_size():
    assert (H >= 1) is True and (H < 1) is False
    assert (H - 2 * (H // 2) >= 0) is True  # floors are related to their numerators
    assert (2 * ceil_div(H - 2, 2) >= H) is False  # a ceil-mode pool's last window: inside


def test_an_int_of_a_symbolic_size_is_undecided():
    with pytest.raises(Undecided):
        int(H + 1)
    with pytest.raises(Undecided):
        bool(H >= 5)


def _unet_like(levels: int, pad: int = 0):
    x, conds = H, []
    for _ in range(levels):
        x = x - 4 + 4 * pad
        conds += [x - 2 >= 0, (x - 2) % 2 == 0]
        x = (x - 2) // 2 + 1
    x = x - 4 + 4 * pad
    for _ in range(levels):
        x = 2 * x - 4 + 4 * pad
    conds.append(x >= 1)
    return conds


def test_unet_valid_sizes_are_188_plus_16k():
    vs = solve(_unet_like(4), ("H",))
    assert vs is not None and vs.progressions == (Progression(188, 16),)
    assert str(vs) == "H = 188 + 16k"
    assert vs.members(3) == [188, 204, 220]
    assert vs.nearest(570) == [572, 556]


@pytest.mark.slow
@pytest.mark.parametrize("levels,pad", [(1, 0), (2, 0), (3, 0), (4, 0), (2, 1), (3, 1)])
def test_valid_sets_equal_brute_force(levels, pad):
    conds = _unet_like(levels, pad)
    vs = solve(conds, ("H",))
    assert vs is not None
    for n in range(1, 1025):
        assert (n in vs) == all(c is True or c.evaluate({"H": n}) for c in conds), n


def test_valid_sets_with_an_upper_bound_and_sporadic_sizes():
    conds = [H <= 40, (H - 1) % 3 == 0]
    vs = solve(conds, ("H",))
    assert vs is not None
    assert [n for n in range(1, 100) if n in vs] == list(range(1, 41, 3))


def test_a_condition_over_products_is_not_solved():
    assert solve([H * H - 49 == 0], ("H",)) is None
