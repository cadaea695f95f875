"""Quoted and interpolated labels, lists of branches, the math builtins a width rule needs, and
weight renaming, at the user's level: .net text in, names, diagnostics and loaded weights out;
names compared with torchvision's own state_dict keys."""

from __future__ import annotations

import math

import numpy as np
import pytest

import netdsl
from conftest import check_text, cli, errors_of, rendered

DENSE_BLOCK = """
block dense_layer(x, growth, bn_size = 4) {
  y = x -> norm1: bn -> relu1: relu -> conv1: conv(bn_size * growth, 1, bias: false)
        -> norm2: bn -> relu2: relu -> conv2: conv(growth, 3, pad: 1, bias: false)
  return concat(x, y)
}

network block1 {
  input x: [N, 64, 56, 56]
  for i in range(6) {
    x = x -> "features.denseblock1.denselayer{i + 1}": dense_layer(32)
  }
  x -> output y
}
"""


def _params(text: str) -> dict[str, tuple[int, ...]]:
    return dict(check_text(text).stats.tensors())


@pytest.mark.slow  # building densenet121 takes seconds
def test_densenet_loop_names_equal_torchvision_densenet121_block1(torchvision):
    ours = _params(DENSE_BLOCK)
    theirs = {k: tuple(v.shape) for k, v in torchvision.models.densenet121().state_dict().items()
              if k.startswith("features.denseblock1.") and "num_batches" not in k}
    assert ours == theirs


def test_regnet_hyphen_key_is_torchvisions(torchvision):
    text = """
block cna(x, out, k = 1) {
  return x -> conv(out, k, pad: k // 2, bias: false) -> bn -> relu
}
network stem {
  input x: [N, 32, 56, 56]
  x -> "trunk_output.block1.block1-0.f.a": cna(24) -> output y
}
"""
    ours = set(_params(text))
    theirs = set(torchvision.models.regnet_x_400mf().state_dict())
    assert "trunk_output.block1.block1-0.f.a.0.weight" in ours
    assert ours <= theirs


def test_a_list_of_branches_is_named_as_a_module_list():
    text = """network aspp {
  input x: [N, 8, 8, 8]
  convs = [x -> conv(4, 1) -> relu, x -> conv(4, 3, pad: 2, dilation: 2)]
  concat(convs[0], convs[1]) -> output y
}"""
    assert set(_params(text)) == {"convs.0.0.weight", "convs.0.0.bias", "convs.1.weight",
                                  "convs.1.bias"}


def _net(body: str) -> str:
    return "network n {\n  input x: [N, 4, 8, 8]\n" + body + "\n}\n"


def test_a_label_repeated_by_a_loop_is_one_error_with_a_hint_that_works():
    text = _net("  for k in range(3) {\n    x = x -> conv1: conv(4, 1)\n  }\n  x -> output y")
    assert rendered(text) + "\n" == """\
test.net:4:14: error[E211]: the label `conv1` names a layer on every pass of the loop, but a \
name can be given only once
  |
4 |     x = x -> conv1: conv(4, 1)
  |              ^^^^^ the same name each time
  |
  = hint: put the loop variable into the label: `"conv1{k}": ...`
"""
    fixed = text.replace("conv1:", '"conv1{k}":')
    assert [n for n in _params(fixed) if n.endswith("weight")] == [
        "conv10.weight", "conv11.weight", "conv12.weight"]


@pytest.mark.parametrize("label,hint,fixed", [
    ("conv1", '"conv1{k}_{j}"', ["conv10_0", "conv10_1", "conv11_0", "conv11_1"]),
    ('"conv1{k}"', '"conv1{k}_{j}"', ["conv10_0", "conv10_1", "conv11_0", "conv11_1"]),
])
def test_a_label_repeated_by_nested_loops_hints_every_loop_variable(label, hint, fixed):
    # the hint named the innermost variable alone: `"conv1{j}"` repeats on the outer loop's passes
    text = _net("  for k in range(2) {\n    for j in range(2) {\n"
                f"      x = x -> {label}: conv(4, 1)\n    }}\n  }}\n  x -> output y")
    (d,) = errors_of(text)
    assert d.hints == (f"put the loop variables into the label: `{hint}: ...`",)
    assert [n[:-7] for n in _params(text.replace(label, hint)) if n.endswith("weight")] == fixed


def test_an_interpolation_that_is_not_an_expression_is_a_syntax_error():
    assert rendered(_net('  x -> "a{1 +}": relu -> output y')) + "\n" == """\
test.net:3:10: error[E101]: the `{...}` in a label must hold an expression
  |
3 |   x -> "a{1 +}": relu -> output y
  |          ^^^^^ not an expression
  |
  = hint: write a value such as `{i + 1}` or `{name}`
"""


def test_a_label_with_a_space_is_not_a_name():
    assert rendered(_net('  x -> "conv {1}": relu -> output y')) + "\n" == """\
test.net:3:8: error[E218]: "conv 1" is not a layer name
  |
3 |   x -> "conv {1}": relu -> output y
  |        ^^^^^^^^^^
  |
  = hint: a layer name is letters, digits, `_` and `-`, in parts joined by `.` (`block1-0`, \
`features.denseblock1`, `0`)
"""


def test_regnet_width_rule_with_log_and_pow():
    # torchvision's BlockParams.from_init_params: quantise w_a * j + w_0 to w_0 * w_m ** k
    w0, wa, wm, j = 24, 24.48, 2.54, 5
    k = round(math.log((wa * j + w0) / w0) / math.log(wm))
    want = int(round(w0 * math.pow(wm, k) / 8) * 8)
    text = _net(f"  k = round(log(({wa} * {j} + {w0}) / {w0}) / log({wm}))\n"
                f"  w = int(round({w0} * pow({wm}, k) / 8) * 8)\n"
                "  x -> conv(w, 1) -> output y")
    assert check_text(text).graph.node("conv").shape[1] == want


@pytest.mark.parametrize("expr,message", [
    ("log(0)", "`log` needs a number > 0, not 0"),
    ("log2(-2)", "`log2` needs a number > 0, not -2"),
    ("sqrt(-1)", "`sqrt` needs a number >= 0, not -1"),
    ("pow(0, -1)", "`pow` of 0 needs an exponent >= 0, not -1"),
    ("pow(-8, 0.5)", "`pow` of a negative number needs a whole exponent, not 0.5"),
    ("pow(10, 1000)", "the number is too large"),
    ("exp(1000)", "the number is too large"),
])
def test_math_domain_faults_are_diagnostics(expr, message):
    from conftest import errors_of
    [d] = errors_of(_net(f"  w = {expr}\n  x -> output y"))
    assert d.message == message


RENAMED = """network t {
  input x: [N, 3, 8, 8]
  x -> conv1: conv(4, 3) -> bn1: bn -> output y
}"""


def _checkpoint(tmp_path) -> str:
    rng = np.random.default_rng(0)
    arrays = {"module.backbone.conv1.weight": rng.standard_normal((4, 3, 3, 3)),
              "module.backbone.conv1.bias": rng.standard_normal(4),
              **{f"module.backbone.norm1.{k}": rng.random(4) + 0.5
                 for k in ("weight", "bias", "running_mean", "running_var")}}
    path = tmp_path / "ckpt.npz"
    np.savez(path, **arrays)
    return str(path)


def test_rename_rules_apply_in_order_before_matching(tmp_path, net_file):
    ckpt = _checkpoint(tmp_path)
    with pytest.raises(netdsl.NetdslError):  # the names differ
        netdsl.compile(netdsl.loads(RENAMED), weights=ckpt)
    model = netdsl.compile(netdsl.loads(RENAMED), weights=ckpt,
                           rename=[r"^module\.backbone\.=", r"norm(\d)=bn\1"])
    names = {t.name for t in model.graph.initializer}
    assert {"conv1.weight", "bn1.running_var"} <= names
    src = net_file(RENAMED)
    code, _, err = cli("compile", str(src), "-o", str(tmp_path / "t.onnx"), "--weights", ckpt,
                         "--rename", r"^module\.backbone\.=", "--rename", r"norm(\d)=bn\1")
    assert code == 0, err


def test_bad_rename_is_a_usage_error(tmp_path, net_file):
    src = net_file(RENAMED)
    code, _, err = cli("compile", str(src), "-o", str(tmp_path / "t.onnx"), "--weights",
                       _checkpoint(tmp_path), "--rename", "(unclosed=x")
    assert code == 2 and "bad regular expression" in err
    code, _, err = cli("compile", str(src), "-o", str(tmp_path / "t.onnx"), "--rename", "a=b")
    assert code == 2 and "--rename needs --weights" in err


def test_two_names_renamed_to_one_are_reported(tmp_path):
    with pytest.raises(netdsl.NetdslError) as e:
        netdsl.compile(netdsl.loads(RENAMED), weights=_checkpoint(tmp_path),
                       rename=[r"\.(weight|bias)$=.w"])
    assert "are both renamed to" in e.value.diagnostics[0].message


def test_a_block_interpolates_its_parameters_into_labels():
    text = """
block stage(x, index, kind) {
  return x -> "{kind}{index}-0": conv(4, 1) -> "{kind}{index}-1": conv(4, 1)
}
network n {
  input x: [N, 4, 8, 8]
  y = x -> "trunk_output.block1": stage(1, "block")
  y -> output z
}"""
    assert [n for n in _params(text) if n.endswith("weight")] == [
        "trunk_output.block1.block1-0.weight", "trunk_output.block1.block1-1.weight"]
