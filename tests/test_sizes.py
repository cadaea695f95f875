"""Valid input sizes (netdsl/sizes.py, Op.size_rule): every op's vectorised rule against its rows
in op_cases.py, the sweep against brute force (the real shape check, one build per size, with the
input line edited or the size parameter --set) on hand-written and zoo networks, the exact
output of `netdsl sizes` in each format and its errors, and the E302 hint."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conftest import check_text, cli, rendered
from netdsl.anysize import derive
from netdsl.diagnostics import NetdslError
from netdsl.elaborator import build, load_module
from netdsl.ir import Graph
from netdsl.ops import REGISTRY
from netdsl.sizes import lenient_graph, valid_sizes
from netdsl.source import Source
from op_cases import IDS, ROWS, Case, program

ROOT = Path(__file__).resolve().parent.parent


# ------------------------------------------------------------------ every op states its rule

@pytest.mark.parametrize("op,i,case", ROWS, ids=IDS)
def test_every_op_size_rule_gives_its_cases_output_shape(op, i, case: Case):
    """A rule missing from an op that changes sizes (the identity default) fails here: each row's
    inputs, as one-candidate arrays, must give the row's output shape and be accepted."""
    graph = check_text(program(case)).graph
    node = graph.node(graph.outputs["y"])
    ins = graph.inputs_of(node)
    shapes = [graph.node(n).shape for n in ins]
    dims = [tuple(np.array([int(d)]) for d in s[1:]) for s in shapes]
    out, ok = node.op.size_rule(dims, shapes)
    assert tuple(int(np.broadcast_to(v, (1,))[0]) for v in out) == case.shape
    assert np.all(ok)


def test_every_registered_op_is_covered_by_the_rule_contract():
    assert {op for op, _, _ in ROWS} == set(REGISTRY)


# ------------------------------------------------------------------------------ brute force

def with_size(text: str, size: int, axis: int | None = None) -> str:
    """The text with every `input NAME: [N, C, ...]` line's spatial sizes replaced by `size`
    (only `axis` of them, if given)."""
    def sub(m: re.Match[str]) -> str:
        dims = [d.strip() for d in m.group(2).split(",")]
        spatial = [str(size) if axis is None or j == axis else d for j, d in enumerate(dims[2:])]
        return f"input {m.group(1)}: [{', '.join(dims[:2] + spatial)}]"
    return re.sub(r"input (\w+): \[([^\]]+)\]", sub, text)


def param_shapes(graph: Graph) -> dict[str, Any]:
    return {n.name: n.op.param_shapes(*(p.shape for p in graph.producers(n)))
            for n in graph.nodes() if graph.inputs_of(n)}


def unasserted(text: str) -> str:
    """The text without shape expectations and annotations (`x: [N, 64, 56, 56]`), which state
    the declared size's shapes (other `expect` lines are evaluated after the build). Examples
    (`expect y: [...] at H = 572`) stay: they hold at their own sizes only, and give the default."""
    text = re.sub(r"expect [\w.]+: \[[^\]]*\](?! at )", "", text)
    return re.sub(r"(?m)^\s*[\w.]+: \[N[^\n]*$", "", text)


def brute(text: str, network: str | None, sizes: range, axis: int | None = None,
          param: str | tuple[str, ...] | None = None) -> dict[int, dict[str, Any]]:
    """size -> output dims after the batch, for every size whose strict build succeeds with the
    weights of the declared size (one build per size: the checker itself). `param`: the network
    parameter, or the named input sizes (H, W), that take each size."""
    text = unasserted(text)
    module, ns = load_module(Source("t.net", text))
    declared = param_shapes(build(module, ns, network, {}, lenient=True))
    out = {}
    for s in sizes:
        if param is None:
            module, ns = load_module(Source("t.net", with_size(text, s, axis)))
        try:
            names = param if isinstance(param, tuple) else (param,) if param else ()
            g = build(module, ns, network, dict.fromkeys(names, s))
        except NetdslError:
            continue
        if param_shapes(g) == declared:
            out[s] = {o: [int(d) for d in g.node(n).shape[1:]] for o, n in g.outputs.items()}
    return out


def swept(text: str, network: str | None, sizes: range) -> dict[str | None, dict[int, Any]]:
    module, ns = load_module(Source("t.net", text))
    rep = valid_sizes(lenient_graph(module, ns, network, None), None,
                      (sizes.start, sizes.stop - 1))
    return {None if s.axis == "square" else s.axis: {
        v: {o: rows[i] for o, rows in s.outputs.items()} for i, v in enumerate(s.sizes)}
        for s in [rep.square, *rep.axes]}


def agrees(text: str, network: str | None, sizes: range, axes: tuple[str, ...] = (),
           param: str | None = None) -> dict[int, Any]:
    got = swept(text, network, sizes)
    want = brute(text, network, sizes, param=param)
    assert got[None] == want
    module, ns = load_module(Source("t.net", text))
    graph = lenient_graph(module, ns, network, None)
    if graph.declared:  # named sizes: the exact valid set (anysize.py) says the same
        sym = derive(graph)
        assert all(vs is not None for vs in sym.valid)
        derived = {n for n in sizes if all(n in vs for vs in sym.valid if vs is not None)}
        assert derived == set(want)
        for n in want:
            at = sym.at(dict.fromkeys(sym.symbols, n))
            assert {o: list(at[v][1:]) for o, v in graph.outputs.items()} == want[n], n
    for j, a in enumerate(axes):
        assert got[a] == brute(text, network, sizes, axis=j), a
    return want


def net(body: str, inp: str = "[N, 1, 30, 30]") -> str:
    return f"network n {{\n  input x: {inp}\n  {body}\n}}\n"


POOL_THEN_STRIDE_3 = net("x -> conv(4, 3) -> maxpool(2) -> conv(4, 3, stride: 3) -> output y",
                        "[N, 1, 32, 32]")
BRANCHES = net("a = x -> conv(4, 3, stride: 2, pad: 1, floor: true) -> conv(4, 3, stride: 3, "
               "floor: true)\n"
               "  b = x -> maxpool(3, stride: 3, ceil: true) -> maxpool(2, ceil: true)\n"
               "  concat(a, b) -> output y", "[N, 1, 60, 60]")
SEGMENTER = net("e = x -> conv(4, 3) -> maxpool(2)\n"
                "  d = e -> conv_transpose(4, 2, stride: 2)\n"
                "  s = x -> crop(like: d)\n"
                "  u = e -> upsample(scale: 2) -> pad(1, mode: \"reflect\") -> crop(like: d)\n"
                "  concat(s, d, u) -> conv(2, 3, pad: same) -> output y", "[N, 1, 30, 30]")
POOLED = net("x -> conv(8, 5, stride: 2) -> adaptive_avgpool(3) -> relu -> flatten -> dense(4) "
             "-> output y", "[N, 3, 21, 21]")
HEAD = net("x -> conv(2, 3, stride: 2) -> flatten -> dense(3) -> output y", "[N, 1, 11, 15]")
GATE = net("g = x -> globalavgpool -> conv(3, 1) -> sigmoid\n"
           "  x * g -> conv(3, 3, pad: 1, stride: 2) -> output y", "[N, 3, 9, 9]")
LENGTH = net("x -> conv(4, 5, stride: 2) -> maxpool(2) -> output y", "[N, 2, 43]")
RESHAPED = net("x -> conv(2, 2, stride: 2) -> reshape([8, 4]) -> output y", "[N, 1, 8, 8]")


def test_stride_3_conv_after_stride_2_pool():
    valid = agrees(POOL_THEN_STRIDE_3, None, range(1, 60), ("height", "width"))
    # conv 3: n - 2; pool 2: exact, so n even; stride-3 conv: (n/2 - 1 - 3) % 3 == 0
    assert sorted(valid) == list(range(8, 60, 6))


@pytest.mark.slow
def test_concat_of_two_branches_with_different_strides_is_irregular():
    valid = agrees(BRANCHES, None, range(1, 80), ("height", "width"))
    assert 2 < len(valid) < 100
    steps = {b - a for a, b in zip(sorted(valid), sorted(valid)[1:])}
    assert len(steps) > 1  # not one progression


@pytest.mark.slow
def test_segmenter_crop_upsample_transpose_reflect_same():
    agrees(SEGMENTER, None, range(1, 48), ("height", "width"))


def test_adaptive_pool_and_gate_take_any_size():
    assert sorted(agrees(POOLED, None, range(1, 60))) == list(range(5, 60, 2))
    agrees(GATE, None, range(1, 40), ("height", "width"))


def test_flatten_dense_head_pins_the_size_per_axis():
    got = swept(HEAD, None, range(1, 40))
    assert got == {None: {}, "height": {11: {"y": [3]}}, "width": {15: {"y": [3]}}}
    assert got["height"] == brute(HEAD, None, range(1, 40), axis=0)
    assert got["width"] == brute(HEAD, None, range(1, 40), axis=1)


def test_one_dimensional_input_and_reshape():
    agrees(LENGTH, None, range(1, 90))
    assert sorted(agrees(RESHAPED, None, range(1, 30))) == [8]


# an axis swept moved where weights are sized by it: their declared size pins it, as a
# `flatten -> dense` head does (and 2 heads must divide the features)
SWAPPED = [net("x -> transpose(1, 3) -> conv(4, 1) -> output y", "[N, 3, 8, 8]"),
           net("x -> transpose(1, 3) -> depthwise(1) -> output y", "[N, 3, 8, 8]"),
           net("x -> transpose(1, 3) -> conv_transpose(4, 2, stride: 2) -> output y",
               "[N, 3, 8, 8]"),
           net("x -> transpose(1, 3) -> bn -> output y", "[N, 3, 8, 8]"),
           net("x -> reshape([3, -1]) -> attention(2) -> output y", "[N, 3, 8, 8]")]


@pytest.mark.parametrize("text", SWAPPED, ids=["conv", "depthwise", "conv_transpose", "bn",
                                               "attention"])
def test_weights_sized_by_a_swept_axis_pin_it(text):
    assert sorted(agrees(text, None, range(1, 13), ("height", "width"))) == [8]


def test_text_output_of_a_conv_whose_channels_are_the_width(tmp_path):
    code, out, err = cli("sizes", write(tmp_path, SWAPPED[0]), "--range", "1:12")
    assert (code, err) == (0, "")
    assert out == """\
n: input x [N, 3, 8, 8], sizes 1..12
square: 1 size
  8 -> y [N, 4, 8, 3]
height (width 8): 12 sizes
  1..12 -> y [N, 4, n, 3]
width (height 8): 1 size
  8 -> y [N, 4, 8, 3]
"""


def test_a_build_that_reads_the_size_is_noted(tmp_path):
    # NOTE: at 16 x 16 the conv has 4 channels and 16 // 4 = 4 of them: the sweep's layers
    # are those built at 8 x 8, and what it lists holds for that build only
    text = net("x -> conv(x.height // 4, 3) -> output y", "[N, 1, 8, 8]")
    code, out, err = cli("sizes", write(tmp_path, text), "--range", "1:12", "--square")
    assert (code, err) == (0, "")
    assert out == """\
n: input x [N, 1, 8, 8], sizes 1..12
square: 10 sizes
  3..12 -> y [N, 2, n - 2, n - 2]
note: the build reads `height` of `x`, which the input size changes: these are the sizes \
and shapes of the layers built at the declared size, which may differ at another
"""
    assert cli("sizes", write(tmp_path, text.replace("x.height // 4", "x.channels * 2")),
               "--range", "1:12", "--square")[1].count("note") == 0


def test_the_input_s_where_clause_holds_for_every_size_listed(tmp_path):
    # NOTE: check says H = W = 6 + 1k; the sweep listed 3..10 and every height at width 8
    text = ("network w {\n  input x: [N, 1, H, W] where H >= 6, H == W\n"
            "  x -> conv(2, 3) -> output y\n  expect y: [N, 2, 6, 6] at H = 8, W = 8\n}\n")
    code, out, err = cli("sizes", write(tmp_path, text), "--range", "1:10")
    assert (code, err) == (0, "")
    assert out == """\
w: input x [N, 1, 8, 8], sizes 1..10
square: 5 sizes
  6..10 -> y [N, 2, n - 2, n - 2]
height (width 8): 1 size
  8 -> y [N, 2, 6, 6]
width (height 8): 1 size
  8 -> y [N, 2, 6, 6]
"""


def test_a_tensor_over_the_element_limit_fails_as_the_checker_says():
    """64 x 5793 x 5793 elements are over limits.MAX_TENSOR_ELEMENTS (2^31): E215 in `check`,
    so not a size that fits; at 4e18 the product would overflow int64, yet no size fits."""
    text = net("x -> conv(64, 3, pad: 1) -> output y", "[N, 1, 8, 8]")
    assert sorted(agrees(text, None, range(5788, 5796), ("height",))) == [5788, 5789, 5790,
                                                                          5791, 5792]
    module, ns = load_module(Source("t.net", text))
    rep = valid_sizes(lenient_graph(module, ns, None, None), None, (4 * 10**18, 4 * 10**18 + 9))
    assert (rep.square.sizes, [s.sizes for s in rep.axes]) == ([], [[], []])


@pytest.mark.parametrize("op,i,case", [r for r in ROWS if len(r[2].inputs[0]) >= 3
                                       and len(r[2].inputs) == 1], ids=lambda r: str(r))
def test_every_op_row_sweeps_as_its_checker_builds(op, i, case: Case):
    """The row's network over input sizes 1..13 (square), swept and built one by one."""
    text = program(case)
    assert swept(text, None, range(1, 14))[None] == brute(text, None, range(1, 14))


HW = ("H", "W")
ZOO = [("unet.net", "unet", range(150, 330), HW),
       ("unet.net", "unet_padded", range(1, 100), HW),
       ("googlenet.net", "googlenet", range(1, 120), None),
       ("xception.net", "xception", range(1, 90), None),
       ("fcn.net", "fcn8s", range(1, 80), HW),
       ("fcn.net", "fcn_resnet50", range(1, 80), HW),
       ("resnet.net", "resnet18", range(1, 80), None),
       ("alexnet.net", "alexnet", range(40, 120), None)]


@pytest.mark.slow
@pytest.mark.parametrize("file,network,sizes,param", ZOO, ids=[z[1] for z in ZOO])
def test_zoo_sweep_agrees_with_the_checker_size_by_size(file, network, sizes, param):
    text = (ROOT / "zoo" / file).read_text(encoding="utf-8")
    agrees(text, network, sizes, param=param)


def test_unet_sizes_are_188_plus_16k():
    module, ns = load_module(Source("unet.net", (ROOT / "zoo" / "unet.net").read_text()))
    rep = valid_sizes(lenient_graph(module, ns, "unet", None), square=True)
    assert rep.square.sizes == list(range(188, 4097, 16))  # Ronneberger et al.: 572 -> 388
    assert rep.square.outputs["scores"][rep.square.sizes.index(572)] == [2, 388, 388]


# ------------------------------------------------------------------------------- the command

def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "t.net"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_text_output(tmp_path):
    code, out, err = cli("sizes", write(tmp_path, POOL_THEN_STRIDE_3), "--range", "1:60")
    assert (code, err) == (0, "")
    assert out == """\
n: input x [N, 1, 32, 32], sizes 1..60
square: 9 sizes
  8 + 6k (k = 0..8) -> y [N, 4, 1 + k, 1 + k]
height (width 32): 9 sizes
  8 + 6k (k = 0..8) -> y [N, 4, 1 + k, 5]
width (height 32): 9 sizes
  8 + 6k (k = 0..8) -> y [N, 4, 5, 1 + k]
"""


def test_text_output_square_runs_and_pins(tmp_path):
    code, out, _ = cli("sizes", write(tmp_path, SEGMENTER), "--range", "10:30", "--square")
    assert code == 0
    assert out == """\
n: input x [N, 1, 30, 30], sizes 10..30
square: 11 sizes
  10 + 2k (k = 0..10) -> y [N, 2, n - 2, n - 2]
"""
    code, out, _ = cli("sizes", write(tmp_path, HEAD), "--range", "1:20")
    assert out == """\
n: input x [N, 1, 11, 15], sizes 1..20
square: none
height (width 15): 1 size
  11 -> y [N, 3]
width (height 11): 1 size
  15 -> y [N, 3]
note: `dense` pins the input size: its input [N, 70] has the features of the declared size
"""


def test_json_output(tmp_path):
    code, out, _ = cli("sizes", write(tmp_path, LENGTH), "--range", "1:20", "--format", "json")
    assert code == 0
    assert json.loads(out) == {
        "network": "n", "input": "x", "shape": ["N", 2, 43], "range": [1, 20],
        "sizes": [7, 11, 15, 19], "outputs": {"y": [[4, 1], [4, 2], [4, 3], [4, 4]]},
        "notes": []}
    code, out, _ = cli("sizes", write(tmp_path, HEAD), "--range", "10:16", "--format", "json")
    assert out == (
        '{"network": "n", "input": "x", "shape": ["N", 1, 11, 15], "range": [10, 16], '
        '"sizes": [], "outputs": {"y": []}, "axes": {"height": {"sizes": [11], "outputs": '
        '{"y": [[3]]}}, "width": {"sizes": [15], "outputs": {"y": [[3]]}}}, "notes": ["`dense` '
        'pins the input size: its input [N, 70] has the features of the declared size"]}\n')


def test_unknown_input_bad_range_and_no_spatial_input(tmp_path):
    path = write(tmp_path, POOL_THEN_STRIDE_3)
    assert cli("sizes", path, "--input", "z") == (
        2, "", "netdsl sizes: network `n` has no input `z`; its inputs: x\n"
        "usage: see `netdsl sizes --help`\n")
    code, out, err = cli("sizes", path, "--range", "9:3")
    assert (code, out) == (2, "")
    assert "argument --range: takes LO:HI with 1 <= LO <= HI" in err and "'9:3'" in err
    assert cli("sizes", path, "--range", "0:5")[0] == 2
    flat = write(tmp_path, "network f {\n  input v: [N, 10]\n  v -> dense(2) -> output y\n}\n")
    assert cli("sizes", flat) == (
        2, "", "netdsl sizes: input `v` of network `f` is [N, 10]: it has no spatial axes to "
        "size\nusage: see `netdsl sizes --help`\n")


def test_a_network_that_fails_at_its_declared_size_still_sweeps(tmp_path):
    code, out, _ = cli("sizes", write(tmp_path, with_size(POOL_THEN_STRIDE_3, 31)),
                       "--range", "1:20", "--square")
    assert (code, out) == (0, "n: input x [N, 1, 31, 31], sizes 1..20\nsquare: 3 sizes\n"
                              "  8 + 6k (k = 0..2) -> y [N, 4, 1 + k, 1 + k]\n")


# ------------------------------------------------------------------------------- the E302 hint

def test_e302_hint_names_the_nearest_input_sizes():
    text = (ROOT / "zoo" / "unet.net").read_text(encoding="utf-8")
    out = rendered(text, "unet", H=570, W=570)
    assert out.count("= hint: input sizes 556 and 572 fit") == 1


def test_no_e302_hint_where_the_build_reads_the_size():
    # NOTE: at 16 the pool is 5 wide, and 16 does not tile by 5: "16 fits" was wrong
    out = rendered(net("x -> maxpool(x.height // 4 + 1) -> output y", "[N, 1, 13, 13]"))
    assert "stride 4 does not tile the input height 13" in out and "fit" not in out
    assert "fractions are illegal" in rendered(
        net("x -> maxpool(x.height // 4 + 1) -> output y", "[N, 1, 16, 16]"))


def test_e302_hint_per_axis_and_none_where_no_size_fits():
    out = rendered(with_size(POOL_THEN_STRIDE_3, 31, axis=1))
    assert out.endswith("= hint: input widths 26 and 32 fit")
    never = net("a = x -> conv(2, 3, stride: 2)\n  b = x -> conv(2, 2, stride: 2)\n"
                "  a + b -> output y")
    assert "fit" not in rendered(never)


def test_docs_examples_are_the_commands_output(monkeypatch):
    monkeypatch.chdir(ROOT)
    text = (ROOT / "docs" / "sizes.md").read_text(encoding="utf-8")
    block = text.split("```\n$ ")[1].split("```")[0]
    for example in ("$ " + block).split("$ ")[1:]:
        command, _, expected = example.partition("\n")
        code, out, _ = cli(*command.split()[1:])
        assert (code, out) == (0, expected)
    doc = json.loads(text.split("```json\n")[1].split("```")[0])
    code, out, _ = cli("sizes", "zoo/fcn.net", "--network", "fcn8s", "--range", "1:8", "--square",
                       "--format", "json")
    assert json.loads(out) == doc


def test_the_e302_hint_skips_the_sweep_for_a_huge_input():
    """A fuzzer's mutant: sweeping 4x a huge size would allocate (or overflow) an array. (Sizes
    past limits.MAX_TENSOR_ELEMENTS are E215 before any of this; this one is within it.)"""
    text = ("network lecture {\n  input image: [N, 1, 100000003, 7]\n"
            "  image -> conv(1, 3, stride: 3) -> output features\n}\n")
    with pytest.raises(NetdslError) as e:
        check_text(text)
    assert [d.code for d in e.value.diagnostics] == ["E302"]


def test_the_e302_hint_where_rounding_down_breaks_another_axis():
    """A fuzzer's mutant: the lenient build behind the hint rounds the height down, and then the
    width, narrower than the window, raised an uncaught OpError (exit 3). The E302 stays, with
    no hint of sizes (the hint's build fails too)."""
    text = ("network lecture {\n  input image: [N, 1, 7, 2]\n"
            "  image -> conv(1, 3, 3) -> output features\n}\n")
    assert rendered(text) == """\
test.net:3:23: error[E302]: conv: stride 3 does not tile the input height 7: \
(7 - 3 + 2*0)/3 + 1 = 2.33: fractions are illegal
  |
3 |   image -> conv(1, 3, 3) -> output features
  |   ----- [N, 1, 7, 2]
  |                       ^
  |
  = hint: pad 1 or stride 2 gives a whole size; `pad: same` gives ceil(7/3) = 3; or pass \
`floor: true` to round down to 2"""
