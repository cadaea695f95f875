"""Costs as formulas in the named input sizes (issue 16): anysize.macs / activation_bytes /
leaders → `summary`'s formula lines. Each formula is checked against the concrete analysis
(analysis.py) of the network built at other sizes (`--set H=..`), never against our own text."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pytest

import netdsl
from conftest import cli
from netdsl import anysize
from netdsl.analysis import live_curve

ZOO = Path(__file__).resolve().parent.parent / "zoo"

SMALL_CNN = """\
network small {
  input image: [N, 3, H, W]
  image -> conv(8, 3, pad: 1) -> relu -> maxpool(2) -> conv(16, 3, stride: 2, floor: true)
        -> bn -> relu -> conv(4, 1) -> output y
  expect y: [N, 4, 15, 15] at H = 64, W = 64
}
"""


def _formulas(net: netdsl.Network) -> tuple[dict[str, Any], list[Any]]:
    sym = anysize.derive(net.graph)
    act = anysize.activation_bytes(sym, {lay.name: lay.activation_bytes
                                         for lay in net.stats.layers})
    assert act is not None
    return anysize.macs(sym), anysize.leaders(sym, live_curve(net.graph, act))


def _value(v: Any, sizes: dict[str, int]) -> int:
    return v if isinstance(v, int) else v.evaluate(sizes)


def _agrees(load: Any, sizes: list[dict[str, int]]) -> None:
    per, peak = _formulas(load({}))
    assert all(v is not None for v in per.values())
    for at in sizes:
        net = load(at)
        assert {lay.name: lay.macs for lay in net.stats.layers} == {
            k: _value(v, at) for k, v in per.items()}, at
        assert sum(_value(v, at) for v in per.values()) == net.stats.macs
        assert max(_value(p, at) for p in peak) == net.stats.peak_bytes, at


def _square(*ns: int) -> list[dict[str, int]]:
    return [{"H": n, "W": n} for n in ns]


def test_a_small_cnn_s_costs_are_its_analysis_at_every_size():
    _agrees(lambda at: netdsl.loads(SMALL_CNN, params=at),
            [*_square(64, 34, 100, 258), {"H": 40, "W": 92}])


SAME_AND_ADAPTIVE = """\
network head {
  input image: [N, 3, H, W]
  b = image -> conv(8, 3, pad: same) -> relu -> conv(8, 3, stride: 2, pad: same)
        -> adaptive_avgpool(7)
  b -> flatten -> dense(4) -> output y
  image -> adaptive_avgpool([3, 5]) -> conv(2, 1) -> adaptive_avgpool(1) -> output z
  expect y: [N, 4] at H = 64, W = 64
}
"""


def test_same_padding_and_adaptive_pools_have_cost_formulas():
    """`pad: same` (its padding depends on the size, its MACs not) and adaptive pools (uneven
    windows overlap: n + m - gcd(n, m) inputs summed per axis) give formulas that are the
    analysis at sizes with every remainder."""
    _agrees(lambda at: netdsl.loads(SAME_AND_ADAPTIVE, params=at),
            [*_square(64, 35, 36, 97), {"H": 40, "W": 93}, {"H": 14, "W": 15}])


ZOO_SIZES = [
    ("unet.net", "unet", [*_square(572, 188, 252, 1148), {"H": 380, "W": 700}]),
    ("unet.net", "unet_padded", [*_square(256, 64, 512), {"H": 96, "W": 160}]),
    ("fcn.net", "fcn8s", [*_square(224, 97, 512), {"H": 500, "W": 375}]),
    ("fcn.net", "fcn32s", [*_square(224, 33, 600)]),
    ("fcn.net", "fcn_resnet50", [*_square(224, 520, 97), {"H": 300, "W": 451}]),
    ("segnet.net", "segnet", [*_square(64, 48, 120), {"H": 48, "W": 96}]),
]


@pytest.mark.parametrize("path, network, sizes", ZOO_SIZES, ids=[n for _, n, _ in ZOO_SIZES])
def test_the_zoo_s_costs_are_its_analysis_at_every_size(path, network, sizes):
    _agrees(lambda at: netdsl.load(ZOO / path, network, params=at), sizes)


def test_summary_gives_params_macs_and_peak_as_formulas(tmp_path):
    path = tmp_path / "small.net"
    path.write_text(SMALL_CNN, encoding="utf-8")
    code, out, _ = cli("summary", str(path))
    assert code == 0
    assert out == EXPECTED.replace("PATH", str(path))


EXPECTED = """\
network small (PATH)
name     op       output shape                                 params     MACs  RF  jump
----------------------------------------------------------------------------------------
image    input    [N, 3, H, W]                                      0        0   1     1
conv     conv     [N, 8, H, W]                                    224  884,736   3     1
relu     relu     [N, 8, H, W]                                      0   32,768   3     1
maxpool  maxpool  [N, 8, H/2, W/2]                                  0   32,768   4     2
conv_1   conv     [N, 16, floor((H - 2)/4), floor((W - 2)/4)]   1,168  259,200   8     4
bn       bn       [N, 16, floor((H - 2)/4), floor((W - 2)/4)]      32    3,600   8     4
relu_1   relu     [N, 16, floor((H - 2)/4), floor((W - 2)/4)]       0    3,600   8     4
conv_2   conv     [N, 4, floor((H - 2)/4), floor((W - 2)/4)]       68   14,400   8     4

params 1,492  buffers 32  MACs 1,231,072 (FLOPs 2,462,144)  peak activations 256.0 KiB at batch 1
(numbers at H = 64, W = 64; valid sizes: H = 6 + 2k; W = 6 + 2k)

as formulas in H, W (batch 1):
  params      1,492, the same at every size (no parameter depends on H, W)
  MACs        232H·W + 1248floor((H - 2)/4)·floor((W - 2)/4) = 1,231,072 at these sizes
  peak        64H·W bytes = 262,144 at these sizes
  MACs per layer:
    image    0
    conv     216H·W
    relu     8H·W
    maxpool  8H·W
    conv_1   1152floor((H - 2)/4)·floor((W - 2)/4)
    bn       16floor((H - 2)/4)·floor((W - 2)/4)
    relu_1   16floor((H - 2)/4)·floor((W - 2)/4)
    conv_2   64floor((H - 2)/4)·floor((W - 2)/4)
"""


def test_a_pinned_head_says_the_params_hold_at_these_sizes_only(tmp_path):
    path = tmp_path / "pinned.net"
    path.write_text("network p {\n  input image: [N, 3, H, W]\n"
                    "  image -> conv(4, 3) -> flatten -> dense(10) -> output y\n"
                    "  expect y: [N, 10] at H = 8, W = 8\n}\n", encoding="utf-8")
    code, out, _ = cli("summary", str(path))
    assert code == 0
    text = out.replace("\n" + " " * 14, " ")  # a long line's continuations
    line = next(x for x in text.splitlines() if x.startswith("  params"))
    assert line == (f"  params      1,562, at these sizes only: layer dense ({path}:3:37) is "
                    "not size-independent: it needs a fixed H·W for its weights")


def _evaluate(formula: Any, at: dict[str, int]) -> Any:
    """A formula of `summary --format json` (docs/summary-json.md: `·` multiplies, `floor`,
    `max`, `H/2` exact) evaluated at `at`, read as its documentation says; numbers as they are."""
    if not isinstance(formula, str) or formula == "N":
        return formula
    text = re.sub(r"(\d)([A-Za-z(])", r"\1*\2", formula.replace("·", "*"))
    value = eval(text, {"__builtins__": {}, "floor": math.floor, "max": max}, dict(at))
    assert value == int(value), (formula, at)
    return int(value)


SUMMARY_SIZES = [(None, "small", [{"H": 40, "W": 92}, *_square(258)], None),
                 ("unet.net", "unet", [*_square(188, 1148), {"H": 380, "W": 700}], "1"),
                 ("fcn.net", "fcn8s", [{"H": 500, "W": 375}], None)]


@pytest.mark.parametrize("path, network, sizes, depth", SUMMARY_SIZES,
                         ids=[n for _, n, _, _ in SUMMARY_SIZES])
def test_summary_json_gives_the_formulas_of_the_analysis_at_every_size(tmp_path, path, network,
                                                                      sizes, depth):
    """`summary --format json`'s named_sizes, evaluated as documented at other sizes, are the
    shapes, MACs (total and per row) and peak memory that summary reports when built there."""
    if path is None:
        (tmp_path / "small.net").write_text(SMALL_CNN, encoding="utf-8")
        file = tmp_path / "small.net"
    else:
        file = ZOO / path
    folded = ["--depth", depth] if depth else []

    def summary(*args: str) -> dict[str, Any]:
        code, out, err = cli("summary", str(file), "--network", network, "--format", "json",
                             *folded, *args)
        assert code == 0, err
        return json.loads(out)

    named = summary()["named_sizes"]
    assert named["params_at_every_size"] and named["pin"] is None
    for at in sizes:
        there = summary(*[a for k, v in at.items() for a in ("--set", f"{k}={v}")])
        assert there["named_sizes"]["sizes"] == at
        assert _evaluate(named["macs"], at) == there["totals"]["macs"]
        assert _evaluate(named["peak_activation_bytes"], at) == \
            there["totals"]["peak_activation_bytes"]
        rows = {r["name"]: r for r in there["layers"]}
        assert {k: _evaluate(v, at) for k, v in named["macs_per_row"].items()} == {
            k: r["macs"] for k, r in rows.items()}
        assert named["shapes"].keys() == rows.keys()
        assert {k: [_evaluate(d, at) for d in v] for k, v in named["shapes"].items()} == {
            k: r["shape"] for k, r in rows.items()}
        assert {k: [_evaluate(d, at) for d in v] for k, v in named["output_formulas"].items()
                } == there["outputs"]


def test_summary_json_of_a_pinned_network_says_its_params_hold_at_these_sizes_only(tmp_path):
    path = tmp_path / "pinned.net"
    path.write_text("network p {\n  input image: [N, 3, H, W]\n"
                    "  image -> conv(4, 3) -> flatten -> dense(10) -> output y\n"
                    "  expect y: [N, 10] at H = 8, W = 8\n}\n", encoding="utf-8")
    code, out, _ = cli("summary", str(path), "--format", "json")
    data = json.loads(out)
    named = data["named_sizes"]
    assert code == 0 and not named["params_at_every_size"]
    assert named["pin"].startswith(f"layer dense ({path}:3:37) is ")
    assert named["macs_per_row"]["dense"] != 1440  # a formula: 10 x the flattened size
    assert {k: _evaluate(v, {"H": 8, "W": 8}) for k, v in named["macs_per_row"].items()} == {
        r["name"]: r["macs"] for r in data["layers"]} == {
        "image": 0, "conv": 4 * 27 * 6 * 6, "flatten": 0, "dense": 10 * 4 * 6 * 6}


def test_adaptive_windows_sum_to_n_plus_m_minus_gcd():
    """The closed form of the inputs an adaptive pool sums along an axis (adaptive._summed) against
    its windows (torch's: floor(i*n/m) to ceil((i+1)*n/m)), for sizes and for formulas."""
    from netdsl.ops.adaptive import _summed
    from netdsl.symbolic import Expr
    h = Expr.symbol("H")
    for m in range(1, 13):
        formula = _summed(h, m)
        for n in range(1, 60):
            windows = sum(-(-(i + 1) * n // m) - i * n // m for i in range(m))
            assert _summed(n, m) == windows == formula.evaluate({"H": n}), (n, m)
