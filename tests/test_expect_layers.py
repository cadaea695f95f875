"""`expect` lines over one layer or block (`layer3.params < 8M`, `head.rf >= 400`,
`expect layer1.0.conv1: [...]`) and approximate ones (`macs ~= 4.1G within 1%`): .net text in,
rendered diagnostics out, the full text pinned."""

from __future__ import annotations

import pytest

from conftest import RESNET50, ROOT, ZOO, check_text, errors_of, rendered


def resnet50(line: str) -> str:
    """ResNet-50 with one more line before its head."""
    return RESNET50.replace("  layer4 -> avgpool", f"  {line}\n  layer4 -> avgpool")


LINE = 22  # where resnet50() puts the line


# ----------------------------------------------------------------------- layers and blocks

# Each holds, by hand: conv1 is 64 x 3 x 7 x 7 weights; layer1.0.conv2 a 3x3 conv 64 -> 64 on a
# 56 x 56 output; the shortcut's 1x1 conv 64 -> 256; the receptive field by the recurrence
# r += (k - 1) * j, j *= s: 7 (stem, j 2), 11 (pool, j 4), 35 after layer1's three 3x3s,
# 43 + 3 * 16 = 91 after layer2 (j 8), 107 + 5 * 32 = 267 after layer3 (j 16),
# 299 + 2 * 64 = 427 after layer4 (j 32).
HOLDING = [
    "expect conv1.params == 64 * 3 * 7 * 7",
    "expect layer1.0.conv2.macs == 56 * 56 * 64 * 64 * 3 * 3",
    "expect layer1.0.conv2.flops == 2 * layer1.0.conv2.macs",
    'expect "layer1.0.downsample.0".params == 64 * 256',
    "expect layer1.0.downsample.0.params == 64 * 256",
    "expect layer2.rf == 91 and layer3.rf == 267 and layer4.rf == 427",
    "expect layer4.rf >= 400",
    "expect layer3: [N, 1024, 14, 14]",
    "expect layer1.0.conv1: [N, 64, 56, 56]",
    "expect layer3.shape[1] == 1024 and layer3.channels == 1024 and image.height == 224",
    # 3 convs, 3 bns, 2 relus, the shortcut's conv and bn, the add and the last relu
    "expect conv1.layers == 1 and layer1.0.layers == 12",
    "expect layer1.params + layer2.params + layer3.params + layer4.params + conv1.params"
    " + bn1.params + fc.params == params",
]


@pytest.mark.parametrize("line", HOLDING)
def test_a_layer_or_block_expectation_holds(line):
    assert check_text(resnet50(line)).graph.name == "resnet50"


def test_a_failing_block_expectation_shows_its_value():
    assert rendered(resnet50("expect layer3.params < 7M")) == "\n".join([
        f"test.net:{LINE}:10: error[E305]: expectation failed: layer3.params is 7,098,368, "
        "expected < 7,000,000",
        "   |",
        f"{LINE} |   expect layer3.params < 7M",
        "   |          ^^^^^^^^^^^^^^^^^^ does not hold",
        "   |"])


def test_a_failing_layer_expectation_shows_its_value():
    # the 1x1 conv1 is 56 * 56 * 64 * 64 = 12,845,056; 115,605,504 is the 3x3 conv2's
    assert rendered(resnet50("expect layer1.0.conv1.macs == 115_605_504")) == "\n".join([
        f"test.net:{LINE}:10: error[E305]: expectation failed: layer1.0.conv1.macs is "
        "12,845,056, expected == 115,605,504",
        "   |",
        f"{LINE} |   expect layer1.0.conv1.macs == 115_605_504",
        "   |          ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ does not hold",
        "   |"])


def test_a_failing_block_shape_points_at_where_its_output_is_made():
    assert rendered(resnet50("expect layer3: [N, 1024, 7, 7]")) == "\n".join([
        f"test.net:{LINE}:18: error[E305]: `layer3` has shape [N, 1024, 14, 14], but the "
        "expectation says [N, 1024, 7, 7]",
        "   |",
        "10 |   return relu(y + skip)",
        "   |          -------------- made here",
        f"{LINE} |   expect layer3: [N, 1024, 7, 7]",
        "   |                  ^^^^^^^^^^^^^^^ actual [N, 1024, 14, 14]",
        "   |"])


def test_an_unknown_layer_names_the_close_ones():
    assert rendered(resnet50("expect layer1.0.conv.params > 1")) == f"""\
test.net:{LINE}:10: error[E201]: no layer or block is named `layer1.0.conv`
   |
{LINE} |   expect layer1.0.conv.params > 1
   |          ^^^^^^^^^^^^^ no such layer or block
   |
  = hint: did you mean `layer1.0.conv3`, `layer1.0.conv2` or `layer1.0.conv1`?"""


def test_an_unknown_layer_shape_names_the_close_ones():
    assert rendered(resnet50("expect layer5: [N, 2048, 7, 7]")) == f"""\
test.net:{LINE}:10: error[E201]: no layer or block is named `layer5`
   |
{LINE} |   expect layer5: [N, 2048, 7, 7]
   |          ^^^^^^ no such layer or block
   |
  = hint: did you mean `layer4`, `layer3` or `layer2`?"""


def test_an_unknown_measure_names_the_close_one():
    assert rendered(resnet50("expect layer3.parms < 8M")) == f"""\
test.net:{LINE}:17: error[E212]: a layer or block has no measure `parms`
   |
{LINE} |   expect layer3.parms < 8M
   |                 ^^^^^
   |
  = hint: did you mean `params`?"""


def test_the_rf_of_a_global_layer_says_it_sees_the_whole_input():
    text = RESNET50.replace("output logits\n", "output logits\n  expect fc.rf > 3\n")
    assert rendered(text) == "\n".join([
        "test.net:23:13: error[E212]: `fc` sees the whole input: its output [N, 1000] has no "
        "receptive-field size",
        "   |",
        "23 |   expect fc.rf > 3",
        "   |             ^^",
        "   |",
        "  = hint: a global pooling, or a flatten and what follows it, reads every input pixel; "
        "expect the rf of a layer before it"])


def test_the_rf_of_a_non_spatial_layer_says_it_has_none():
    text = ("network mlp {\n  input x: [N, 20]\n  x -> hidden: dense(10) -> relu -> output y\n"
            "  expect hidden.params == 210\n  expect hidden.rf > 1\n}\n")
    assert rendered(text) == """\
test.net:5:17: error[E212]: `hidden` has no receptive field: the input it reads has no spatial axes
  |
5 |   expect hidden.rf > 1
  |                 ^^
  |"""


def test_memory_is_the_peak_of_activation_bytes_live_while_a_layer_or_block_runs():
    # float32 at batch 1: x 4 x 8 x 8 = 1,024 bytes, h.a and h.b 2,048 each, c 512. While h.a
    # runs, x and h.a are live; while h.b runs, h.a and h.b (x was last read by h.a); while c
    # runs, h.b and c.
    text = ("block two(x) {\n  return x -> a: conv(8, 1) -> b: relu\n}\n"
            "network n {\n  input x: [1, 4, 8, 8]\n  x -> h: two -> c: conv(2, 1) -> output y\n"
            "  expect h.a.memory == 1024 + 2048 and h.b.memory == 2 * 2048\n"
            "  expect c.memory == 2048 + 512 and h.memory == 4096 and memory == 4096\n}\n")
    assert check_text(text).graph.name == "n"


def test_a_block_rf_is_its_outputs():
    checked = check_text(resnet50("expect layer4.rf == layer4.2.relu.rf"))
    assert checked.stats.by_name()["layer4.2.relu"].rf.size == (427.0, 427.0)


def test_a_non_square_rf_is_a_list():
    text = ("network n {\n  input x: [N, 1, 16, 16]\n  x -> c: conv(1, [3, 5]) -> output y\n"
            "  expect c.rf == [3, 5]\n}\n")
    assert check_text(text).graph.name == "n"


def test_a_number_in_scope_is_not_a_layer():
    text = ("network n(head = 3) {\n  input x: [N, 1, 8, 8]\n  x -> head: conv(1, 3) -> output y\n"
            '  expect "head".params == 10\n  expect head.params == 10\n}\n')
    assert rendered(text) == """\
test.net:5:15: error[E212]: the integer 3 has no attribute `params`
  |
5 |   expect head.params == 10
  |               ^^^^^^
  |"""


# ------------------------------------------------------------------------------------ blocks

UNIT = """\
block unit(x, width) {
  y = x -> conv1: conv(width, 3, pad: 1) -> relu
  LINE
  return y
}

network n {
  input image: [N, 3, 8, 8]
  a = image -> unit(4)
  b = a -> unit(8)
  b -> output out
}
"""


def unit(line: str) -> str:
    return UNIT.replace("LINE", line)


def test_names_in_a_block_are_its_instances_and_its_values_read_as_anywhere():
    # conv1 is (9 * in + 1) * width: 112 in `a` (3 -> 4), 296 in `b` (4 -> 8)
    assert check_text(unit("expect conv1.params == (9 * x.channels + 1) * width")).graph.name == "n"


def test_a_failing_expectation_in_a_block_names_the_call():
    assert rendered(unit("expect conv1.params <= 112")) == """\
test.net:3:10: error[E305]: expectation failed: conv1.params is 296, expected <= 112
  |
3 |   expect conv1.params <= 112
  |          ^^^^^^^^^^^^^^^^^^^ does not hold
  |
  = note: in block `unit` called at test.net:10:12"""


def test_each_call_that_fails_is_named():
    assert rendered(unit("expect conv1: [N, 2, 8, 8]")) == """\
test.net:3:17: error[E305]: `conv1` has shape [N, 4, 8, 8], but the expectation says [N, 2, 8, 8]
  |
2 |   y = x -> conv1: conv(width, 3, pad: 1) -> relu
  |            ----------------------------- made here
3 |   expect conv1: [N, 2, 8, 8]
  |                 ^^^^^^^^^^^^ actual [N, 4, 8, 8]
  |
  = note: in block `unit` called at test.net:9:16

test.net:3:17: error[E305]: `conv1` has shape [N, 8, 8, 8], but the expectation says [N, 2, 8, 8]
  |
2 |   y = x -> conv1: conv(width, 3, pad: 1) -> relu
  |            ----------------------------- made here
3 |   expect conv1: [N, 2, 8, 8]
  |                 ^^^^^^^^^^^^ actual [N, 8, 8, 8]
  |
  = note: in block `unit` called at test.net:10:12"""


def test_an_unknown_layer_in_a_block_is_reported_once_at_the_first_call():
    assert rendered(unit("expect conv.params > 0")) == """\
test.net:3:10: error[E201]: no layer or block is named `conv`
  |
3 |   expect conv.params > 0
  |          ^^^^ not in `a`
  |
  = note: in block `unit` called at test.net:9:16
  = hint: did you mean `conv1`?"""


def test_a_value_is_not_a_layer():
    assert rendered(unit("expect x.params == 0")) == """\
test.net:3:10: error[E201]: no layer or block is named `x`
  |
3 |   expect x.params == 0
  |          ^ not in `a`
  |
  = note: in block `unit` called at test.net:9:16
  = hint: `x` is a value here, made by the layer `image`; an expectation names layers and blocks"""


def test_a_value_has_a_shape_as_its_layer_has():
    """`expect y.shape == [...]` of a value that names no layer (`-> output y`) said no layer or
    block is named `y`, though `x.shape` reads a value's shape anywhere else."""
    text = ('network n {\n  input x: [N, 3, 8, 8]\n  x -> relu -> output y\n'
            '  expect y.shape == ["N", 3, 8, 8]\n  expect relu.shape == y.shape\n}\n')
    assert check_text(text).graph.name == "n"
    assert rendered(text.replace("8, 8]\n  expect relu", "8, 9]\n  expect relu")) == (
        "test.net:4:10: error[E305]: expectation failed: y.shape is [\"N\", 3, 8, 8], expected "
        "== [\"N\", 3, 8, 9]\n"
        "  |\n"
        "4 |   expect y.shape == [\"N\", 3, 8, 9]\n"
        "  |          ^^^^^^^^^^^^^^^^^^^^^^^^^ does not hold\n"
        "  |")


def test_a_very_long_layer_path_is_looked_up_as_any_other():
    """`expect a.a. ... .a: [...]` of 3,000 parts was "E101 cannot read this: maximum recursion
    depth exceeded" at 1:1."""
    path = ".".join(["a"] * 3000)
    (d,) = errors_of("network n {\n  input x: [N, 3, 8, 8]\n  x -> output y\n"
                     f"  expect {path}: [N, 3]\n}}\n")
    assert (d.code, d.message, d.location()) == (
        "E201", f"no layer or block is named `{path}`", ("test.net", 4, 10))


def test_a_layer_may_be_expected_before_it_is_made():
    text = UNIT.replace("LINE", "").replace("  b = a", "  expect b.conv1: [N, 8, 8, 8]\n  b = a")
    assert check_text(text).graph.name == "n"
    assert "error[E305]: `b.conv1` has shape [N, 8, 8, 8]" in rendered(text.replace("8, 8, 8]",
                                                                                    "9, 8, 8]"))


# ----------------------------------------------------------------------------- approximately

def test_an_approximate_expectation_shows_the_tolerance_and_the_deviation():
    assert rendered(resnet50("expect macs ~= 4.0G within 1%")) == "\n".join([
        f"test.net:{LINE}:10: error[E305]: expectation failed: macs is 4,117,332,992, expected "
        "4,000,000,000 within 1% (±40,000,000): off by +117,332,992 (+2.93%)",
        "   |",
        f"{LINE} |   expect macs ~= 4.0G within 1%",
        "   |          ^^^^^^^^^^^^^^^^^^^^^^ does not hold",
        "   |"])


def test_an_absolute_tolerance_shows_it_as_a_percentage_too():
    assert rendered(resnet50("expect layer3.params ~= 7.2M within 0.1M")) == "\n".join([
        f"test.net:{LINE}:10: error[E305]: expectation failed: layer3.params is 7,098,368, "
        "expected 7,200,000 within 100,000 (±1.39%): off by -101,632 (-1.41%)",
        "   |",
        f"{LINE} |   expect layer3.params ~= 7.2M within 0.1M",
        "   |          ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ does not hold",
        "   |"])


TINY = "network n {\n  input x: [1, 3, 8, 8]\n  x -> conv(16, 3) -> output y\n  LINE\n}\n"  # 448


@pytest.mark.parametrize(("line", "holds"), [
    ("params ~= 400 within 12%", True),  # 48 off, 48 allowed: the bound passes
    ("params ~= 400 within 11.99%", False),
    ("params ~= 400 within 48", True),
    ("params ~= 400 within 47", False),
    ("params ~= 448 within 0%", True),
    ("params ~= 449 within 0", False),
    ("params ~= 437.5 within 2.4%", True),  # 10.5 off, 10.5 allowed: exact, not 2.4 as a float
    ("params ~= 437.5 within 2.39%", False),
    ("params ~= 0.448K within 0%", True),
    ("-params ~= -400 within 12%", True),  # relative to |expected|
])
def test_tolerance_edges(line, holds):
    text = TINY.replace("LINE", f"expect {line}")
    if holds:
        assert check_text(text).graph.name == "n"
    else:
        assert "error[E305]" in rendered(text)


def test_a_deviation_just_past_the_bound_shows_enough_digits():
    text = TINY.replace("LINE", "expect params ~= 400 within 11.999%")
    assert rendered(text).splitlines()[0] == (
        "test.net:4:10: error[E305]: expectation failed: params is 448, expected 400 within "
        "11.999% (±47.996): off by +48 (+12.00%)")
    # 48.01 off 399.99 is 12.0028%: "+12.00%" would read as the bound itself
    text = TINY.replace("LINE", "expect params ~= 399.99 within 12%")
    assert rendered(text).splitlines()[0] == (
        "test.net:4:10: error[E305]: expectation failed: params is 448, expected 399.99 within "
        "12% (±47.9988): off by +48.01 (+12.003%)")


def test_a_small_absolute_tolerance_shows_its_percentage_to_its_first_digit():
    text = TINY.replace("LINE", "expect params ~= 400 within 0.001")
    assert rendered(text).splitlines()[0] == (
        "test.net:4:10: error[E305]: expectation failed: params is 448, expected 400 within "
        "0.001 (±0.0003%): off by +48 (+12.00%)")


def test_zero_expected_has_no_relative_deviation():
    text = TINY.replace("LINE", "expect buffers + 2 ~= 0 within 1")
    assert rendered(text).splitlines()[0] == (
        "test.net:4:10: error[E305]: expectation failed: buffers + 2 is 2, expected 0 within 1: "
        "off by +2")


def test_a_tolerance_must_be_a_number_and_not_negative():
    assert rendered(TINY.replace("LINE", "expect params ~= 400 within -1")) == """\
test.net:4:31: error[E206]: a tolerance cannot be negative
  |
4 |   expect params ~= 400 within -1
  |                               ^^
  |"""
    assert rendered(TINY.replace("LINE", 'expect params ~= "a" within 1%')) == """\
test.net:4:20: error[E212]: `~=` compares numbers, but `"a"` is the string "a"
  |
4 |   expect params ~= "a" within 1%
  |                    ^^^
  |"""


def test_a_negative_percentage_is_a_negative_tolerance():
    """`within -1%` read as `-1 %`: "`%` at the end of line 4 has nothing after it"."""
    assert rendered(TINY.replace("LINE", "expect params ~= 400 within -1%")) == """\
test.net:4:31: error[E206]: a tolerance cannot be negative
  |
4 |   expect params ~= 400 within -1%
  |                               ^^^ negative
  |
  = hint: write `within 1%`"""


def test_a_missing_tolerance_is_a_syntax_error_that_says_how():
    assert rendered(TINY.replace("LINE", "expect params ~= 400")) == """\
test.net:5:1: error[E101]: `~=` needs a tolerance
  |
5 | }
  | ^ expected `+`, `-` or `within`
  |
  = hint: write `expect macs ~= 4.1G within 1%`, or an absolute `within 0.2G`"""


def test_within_and_leading_dot_numbers_still_read_as_before():
    text = TINY.replace("LINE", "within = .5\n  expect params * within == 224")
    assert check_text(text).graph.name == "n"


def test_the_expect_shape_target_must_be_a_name():
    assert rendered(TINY.replace("LINE", "expect f(y): [1, 16, 6, 6]")) == """\
test.net:4:10: error[E101]: `expect NAME: [dims]` needs a value, layer or block name
  |
4 |   expect f(y): [1, 16, 6, 6]
  |          ^^^^ not a name
  |
  = hint: write `expect y: [N, 10]` or `expect layer1.0.conv1: [N, 64, 56, 56]`"""


# -------------------------------------------------------------------------- against torchvision

@pytest.mark.slow
def test_resnet50_stage_params_and_cost_equal_torchvisions(torchvision):
    """Each stage's params summed from torchvision's state_dict, and its published cost."""
    weights = torchvision.models.ResNet50_Weights.IMAGENET1K_V1
    model = torchvision.models.resnet50()
    stages: dict[str, int] = {}
    for key, p in model.named_parameters():
        stages[key.split(".")[0]] = stages.get(key.split(".")[0], 0) + p.numel()
    lines = [f"expect {name}.params == {n}" for name, n in stages.items()]
    lines.append(f"expect macs ~= {weights.meta['_ops']}G within 1%")
    assert len(lines) == 8  # conv1, bn1, layer1..4, fc
    assert check_text(resnet50("\n  ".join(lines))).graph.name == "resnet50"


def test_the_readme_examples_hold():
    """README's "Expectations" block: on ResNet-50, and the quoted name on MobileNetV2."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme[readme.index("### Expectations"):]
    block = block[block.index("```\n") + 4:]
    lines = [line.split("#")[0].strip() for line in block[:block.index("```")].splitlines()]
    quoted = [line for line in lines if '"' in line]
    assert len(lines) == 8 and len(quoted) == 1
    assert check_text(resnet50("\n  ".join(x for x in lines if x not in quoted))).graph.name
    mobilenet = (ZOO / "mobilenet_v2.net").read_text(encoding="utf-8")
    end = mobilenet.rindex("}")
    assert check_text(mobilenet[:end] + f"  {quoted[0]}\n" + mobilenet[end:]).graph.name


def test_layers_found_by_scanning_are_those_the_index_holds():
    # NOTE: Layers finds its first few names by a scan of the layer names, then indexes every
    # group: both must give each group's layers, in graph order
    import netdsl
    from netdsl.expect_check import _SCANS, Layers
    from netdsl.expectations import LayerRef
    from netdsl.source import Span

    net = netdsl.load(ZOO / "resnet.net", "resnet18")
    indexed = Layers(net.graph, net.stats)._index()
    layers = Layers(net.graph, net.stats)
    names = ["layer1", "layer1.0.conv1", "layer2.0", "conv1", "layer4", "fc"]
    assert len(names) > _SCANS
    for name in names:
        assert layers.find(LayerRef("", name, Span(None, 0, 0))) == indexed[name]
    assert [net.stats.layers[i].name for i in indexed["layer2.0"]][:2] == [
        "layer2.0.conv1", "layer2.0.bn1"]


def test_braces_in_a_quoted_expect_name_are_told_to_be_literal():
    text = ("network n {\n  input x: [N, 3, 8, 8]\n  y = x\n  for i in range(2) {\n"
            "    y = y -> \"c{i}\": conv(3, 1)\n    expect \"c{i}\".params == 12\n  }\n"
            "  y -> output out\n}\n")
    (d,) = errors_of(text)
    assert (d.code, d.message, d.hints) == (
        "E201", "no layer or block is named `c{i}`",
        ("an expect line reads a quoted name as it is written: `{...}` is filled in only in a "
         "label; write the name out, as `netdsl summary FILE` lists it",))

