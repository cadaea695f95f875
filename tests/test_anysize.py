"""Named input sizes end to end (issue 16): `.net` text with `input x: [N, C, H, W]` → the
symbolic shapes, conditions, pins and valid sets of anysize.derive, against brute force (one
build per size), against netdsl sizes' sweep, and every op's size rule run on expressions; the
E219 diagnostics in full."""

from __future__ import annotations

import json

import pytest

from conftest import check_text, cli, errors_of, rendered
from netdsl.anysize import derive
from netdsl.diagnostics import NetdslError
from netdsl.sizes import valid_sizes
from op_cases import IDS, ROWS, Case, program

TINY_UNET = """\
network tiny(pad = 0) {
  input image: [N, 1, H, W] where H == W
  down = image -> conv(8, 3, pad: pad) -> relu -> conv(8, 3, pad: pad)
  bottom = down -> maxpool(2) -> conv(16, 3, pad: pad) -> conv(16, 3, pad: pad)
  up = bottom -> conv_transpose(8, 2, stride: 2)
  concat(crop(down, like: up), up) -> conv(2, 1) -> output y
  expect y: [N, 2, 88, 88] at H = 100, W = 100
}
"""


def test_a_network_with_named_sizes_builds_at_its_first_example():
    net = check_text(TINY_UNET)
    assert net.graph.node(net.graph.outputs["y"]).shape == ("N", 2, 88, 88)
    assert net.graph.sizes == {"H": 100, "W": 100}


def test_the_symbolic_shapes_read_as_formulas_in_the_sizes():
    sym = derive(check_text(TINY_UNET).graph)
    assert sym.symbols == ("H", "W") and sym.groups == [("H", "W")]
    assert sym.shape_text(sym.shapes[sym.graph.outputs["y"]]) == "[N, 2, H - 12, W - 12]"
    assert sym.shape_text(sym.shapes["bottom.0"]) == "[N, 8, H/2 - 2, W/2 - 2]"
    assert str(sym.valid[0]) == "H = W = 14 + 2k"
    assert sym.pin is None and not sym.cross


@pytest.mark.parametrize("pad", [0, 1])
def test_the_valid_set_equals_one_build_per_size(pad):
    text = TINY_UNET.replace("  expect y: [N, 2, 88, 88] at H = 100, W = 100\n", "")
    sym = derive(check_text(text, pad=pad, H=64, W=64).graph)
    vs = sym.valid[0]
    for n in range(1, 130):
        try:
            check_text(text, pad=pad, H=n, W=n)
            ok = True
        except NetdslError:
            ok = False
        assert (n in vs) == ok, n
        if ok:
            y = check_text(text, pad=pad, H=n, W=n).graph
            assert sym.at({"H": n, "W": n})[y.outputs["y"]] == y.node(y.outputs["y"]).shape


def test_the_valid_set_agrees_with_the_size_sweep():
    net = check_text(TINY_UNET)
    sym = derive(net.graph)
    swept = valid_sizes(net.graph, range_=(1, 512), square=True).square.sizes
    assert [n for n in range(1, 513) if n in sym.valid[0]] == swept


def test_a_flatten_dense_head_pins_the_size():
    sym = derive(check_text("""\
network c {
  input x: [N, 3, H, W]
  x -> conv(4, 3) -> maxpool(2) -> flatten -> fc: dense(10) -> output y
  expect y: [N, 10] at H = 32, W = 32
}
""").graph)
    assert str(sym.pin) == ("layer fc (test.net:3:47) is not size-independent: it needs a fixed "
                            "H·W for its weights")
    assert str(sym.valid_set("H")) == "H = 4 + 2k" and sym.shapes["fc"] == ("N", 10)


def test_independent_sizes_are_solved_apart():
    sym = derive(check_text("""\
network r {
  input x: [N, 3, H, W] where W >= 2 * 8
  x -> conv(4, 3, stride: 2) -> output y
  expect y: [N, 4, 15, 7] at H = 31, W = 15
}
""", H=31, W=17).graph)
    assert [str(v) for v in sym.valid] == ["H = 3 + 2k", "W = 17 + 2k"]
    assert sym.shape_text(sym.shapes["conv"]) == "[N, 4, H/2 - 1/2, W/2 - 1/2]"


# ------------------------------------------------------------------ every op on expressions

@pytest.mark.parametrize("op,i,case", ROWS, ids=IDS)
def test_every_op_follows_symbolic_sizes_or_pins(op, i, case: Case):
    """Each row's spatial input sizes made symbolic: the derived output at the row's sizes is
    the row's output, or the op pins with a reason; never an exception."""
    graph = check_text(program(case)).graph
    sizes = {}
    for node in graph.inputs:
        shape = node.shape or ()
        if len(shape) >= 3:
            names = [f"S{len(sizes) + j}" for j in range(len(shape) - 2)]
            graph.declared[node.name] = (*shape[:2], *names)
            sizes.update(zip(names, (int(d) for d in shape[2:])))
    sym = derive(graph)
    y = graph.outputs["y"]
    if sym.stopped:
        assert sym.pin is not None and "needs fixed input sizes" in sym.pin.reason
        return
    assert sym.at(sizes)[y] == graph.node(y).shape
    assert sym.holds(sizes)


# ------------------------------------------------------------------ diagnostics

def test_named_sizes_without_an_example_are_e219():
    assert rendered("network n {\n  input x: [N, 3, H, W]\n  x -> relu -> output y\n}\n") == """\
test.net:2:12: error[E219]: input `x` has the named sizes H, W and nothing gives a size to build at
  |
2 |   input x: [N, 3, H, W]
  |            ^^^^^^^^^^^^
  |
  = hint: add an example, e.g. `expect OUTPUT: [...] at H = 224, W = 224`, or pass \
--set H=224 --set W=224"""


def test_the_e219_hint_s_flags_are_enough_to_build(net_file):
    """The hint names a --set for every missing size: following it checks (it named H alone)."""
    path = net_file("network n {\n  input x: [N, 3, H, W]\n  x -> relu -> output y\n}\n")
    code, out, err = cli("check", str(path), "--set", "H=224", "--set", "W=224")
    assert (code, err) == (0, "") and "ok" in out


def test_sizes_that_break_a_where_condition_are_e219():
    text = "network n {\n  input x: [N, 3, H, H] where H >= 64\n  x -> relu -> output y\n}\n"
    assert rendered(text, H=32) == """\
test.net:2:31: error[E219]: input `x` at H = 32 breaks its condition `H >= 64`
  |
2 |   input x: [N, 3, H, H] where H >= 64
  |                               ^^^^^^^
  |"""


def test_an_example_that_binds_no_size_is_e219():
    text = ("network n {\n  input x: [N, 3, H, W]\n  x -> relu -> output y\n"
            "  expect y: [N, 3, 8, 8] at H = 8, K = 8\n}\n")
    assert rendered(text) == """\
test.net:4:36: error[E219]: `at` binds `K`, which is no named input size of network `n`
  |
4 |   expect y: [N, 3, 8, 8] at H = 8, K = 8
  |                                    ^
  |
  = hint: its sizes: H, W"""


def test_a_where_condition_on_anything_but_sizes_is_e219():
    text = "network n {\n  input x: [N, 3, H, H] where H + 1\n  x -> relu -> output y\n}\n"
    assert rendered(text, H=8) == (
        "test.net:2:31: error[E219]: a `where` condition of input `x` compares its named sizes "
        "(+ - * // % of sizes and integers)\n") + """\
  |
2 |   input x: [N, 3, H, H] where H + 1
  |                               ^^^^^
  |
  = hint: e.g. `where H >= 32`"""


def test_every_example_is_checked_at_its_sizes():
    text = ("network a {\n  input x: [N, 1, H, W]\n  x -> conv(2, 3) -> output y\n"
            "  expect y: [N, 2, 6, 6] at H = 8, W = 8\n"
            "  expect y: [N, 2, 7, 8] at H = 9, W = 9\n}\n")
    assert rendered(text) == """\
test.net:5:13: error[E305]: `y` has shape [N, 2, 7, 7], but the expectation says [N, 2, 7, 8]
  |
3 |   x -> conv(2, 3) -> output y
  |        ---------- made here
5 |   expect y: [N, 2, 7, 8] at H = 9, W = 9
  |             ^^^^^^^^^^^^ actual [N, 2, 7, 7]
  |"""


def test_an_example_is_checked_with_the_sizes_it_leaves_from_the_first():
    text = ("network a {\n  input x: [N, 1, H, W]\n  x -> maxpool(2) -> output y\n"
            "  expect y: [N, 1, 4, 4] at H = 8, W = 8\n"
            "  expect y: [N, 1, 6, 4] at H = 12\n"
            "  expect y: [N, 1, 6, 6] at H = 12\n}\n")
    assert [(d.code, d.location()) for d in errors_of(text)] == [("E305", ("test.net", 6, 13))]


def test_an_example_the_formulas_get_wrong_is_checked_by_a_build_there():
    # NOTE: the conv's channels read the built size: the formulas keep 2 channels at any size
    text = ("network a {\n  input x: [N, 1, H, W]\n  x -> conv(x.height // 4, 3) -> output y\n"
            "  expect y: [N, 2, 6, 6] at H = 8, W = 8\n"
            "  expect y: [N, 4, 14, 14] at H = 16, W = 16\n}\n")
    assert check_text(text).graph.sizes == {"H": 8, "W": 8}
    wrong = text.replace("[N, 4, 14, 14]", "[N, 2, 14, 14]")
    assert ("`y` has shape [N, 4, 14, 14], but the expectation says [N, 2, 14, 14]"
            in rendered(wrong))


def test_an_example_of_a_layer_is_checked_by_a_build_there():
    text = ("network a {\n  input x: [N, 1, H, W]\n  x -> c: conv(2, 3) -> output y\n"
            "  expect y: [N, 2, 6, 6] at H = 8, W = 8\n"
            "  expect c: [N, 2, 7, 8] at H = 9, W = 9\n}\n")
    assert rendered(text).startswith(
        "test.net:5:13: error[E305]: `c` has shape [N, 2, 7, 7], but the expectation says "
        "[N, 2, 7, 8]\n")
    check_text(text.replace("[N, 2, 7, 8]", "[N, 2, 7, 7]"))


def test_an_example_built_there_is_checked_whatever_annotations_say_of_other_sizes():
    # NOTE: a layer's example is checked after analysis: the annotation, which states the
    # first example's sizes, failed the build at 9 x 9 before it, and hid the example's E305
    text = ("network a {\n  input x: [N, 1, H, W]\n  x -> c: conv(2, 3) -> output y\n"
            "  y: [N, 2, 6, 6]\n  expect y: [N, 2, 6, 6] at H = 8, W = 8\n"
            "  expect c: [N, 2, 7, 8] at H = 9, W = 9\n}\n")
    assert [(d.code, d.location()) for d in errors_of(text)] == [("E305", ("test.net", 6, 13))]


def test_an_example_at_sizes_the_network_cannot_take_is_the_build_s_error_there():
    text = ("network a {\n  input x: [N, 1, H, W]\n  x -> conv(2, 3) -> output y\n"
            "  expect y: [N, 2, 6, 6] at H = 8, W = 8\n"
            "  expect y: [N, 2, 0, 0] at H = 2, W = 2\n"
            "  expect y: [N, 2, 0, 0] at H = 2, W = 2\n}\n")
    (d,) = errors_of(text)  # NOTE: found by both examples' builds, reported once
    assert (d.code, d.location()) == ("E301", ("test.net", 3, 16))
    assert d.notes == ("found building at the sizes of the example at test.net:5:3: H = 2, W = 2",)


def test_an_example_s_sizes_are_positive_numbers():
    text = ("network a {\n  input x: [N, 1, H, W]\n  x -> conv(2, 3) -> output y\n"
            "  expect y: [N, 2, 6, 6] at H = 8, W = 8\n"
            "  expect y: [N, 2, 7, 7] at H = 9, W = 0\n}\n")
    assert rendered(text) == """\
test.net:5:40: error[E219]: `W` is bound to the integer 0, not a positive size
  |
5 |   expect y: [N, 2, 7, 7] at H = 9, W = 0
  |                                        ^
  |"""


def test_a_build_at_sizes_given_from_outside_checks_the_examples_at_those():
    # NOTE: as an alias that builds a parameterised network at other sizes: its examples
    # describe the network as written (`unet_padded = unet(pad: 1, H: 256, W: 256)` in zoo/)
    text = ("network a {\n  input x: [N, 1, H, W]\n  x -> maxpool(2) -> output y\n"
            "  expect y: [N, 1, 4, 4] at H = 8, W = 8\n"
            "  expect y: [N, 1, 6, 6] at H = 12, W = 12\n}\n")
    check_text(text, H=20, W=20)
    assert check_text(text).graph.sizes == {"H": 8, "W": 8}
    assert "E305" in rendered(text.replace("[N, 1, 6, 6]", "[N, 1, 5, 5]"), H=12, W=12)


def test_a_network_with_one_example_derives_no_formulas_to_check_it():
    assert check_text(TINY_UNET).graph.examples == []


# ------------------------------------------------------------------ the commands

def test_check_prints_the_valid_sizes_and_the_outputs_shapes(tmp_path):
    from conftest import cli
    path = tmp_path / "tiny.net"
    path.write_text(TINY_UNET, encoding="utf-8")
    code, out, _ = cli("check", str(path))
    assert (code, out) == (0, f"""\
{path}: tiny: ok (4,706 params, 14.29M MACs at H = 100, W = 100)
  H = W = 14 + 2k (14, 16, 18, ...)
  y: [N, 2, H - 12, W - 12]
""")


READS = ("network a {\n  input x: [N, 1, H, W]\n  x -> conv(x.height // 4, 3) -> output y\n"
         "  expect y: [N, 2, 6, 6] at H = 8, W = 8\n}\n")
READ_PIN = ("layer x ({path}:2:3) is not size-independent: it has its `height` read by the "
            "build, so the layers after it are those of the built sizes")


def test_check_prints_no_formula_for_a_build_that_read_a_size(net_file):
    # NOTE: at H = 16 the conv has 4 channels, 4·3·3 + 4 params: no formula over H holds
    path = net_file(READS)
    code, out, _ = cli("check", str(path))
    assert (code, out) == (0, f"""\
{path}: a: ok (20 params, 648 MACs at H = 8, W = 8)
  {READ_PIN.format(path=path)}
""")
    assert check_text(READS.replace("2, 6, 6] at H = 8, W = 8", "4, 14, 14] at H = 16, W = 16")
                      ).stats.params == 40


def test_compile_to_any_size_refuses_a_build_that_read_a_size(net_file):
    path = net_file(READS)
    code, _, err = cli("compile", str(path), "-o", str(path.with_suffix(".onnx")))
    assert (code, err) == (1, f"""\
{path}:2:3: error[E301]: {READ_PIN.format(path=path)}
  |
2 |   input x: [N, 1, H, W]
  |   ^^^^^^^^^^^^^^^^^^^^^ needs a fixed size
  |
  = hint: compile it for one size: --set H=8 --set W=8

""")
    assert not path.with_suffix(".onnx").exists()


def test_summary_states_no_formula_past_a_read_size(net_file):
    path = net_file(READS)
    code, out, _ = cli("summary", str(path))
    pin = READ_PIN.format(path=path)
    assert code == 0 and f"(numbers at H = 8, W = 8; {pin})" in " ".join(out.split("\n"))
    assert "conv  conv   [N, 2, 6, 6]" in out
    assert "params      20, at these sizes only: layer x" in out
    # NOTE: the MACs past the pin are no formula for that reason, not for an op's cost
    assert out.endswith("""\
  MACs        not a formula (past the pin the shapes are unknown)
  peak        not a formula (past the pin the shapes are unknown)
  MACs per layer:
    x     0
    conv  not a formula (past the pin the shapes are unknown)
""")


def test_the_layer_that_stops_the_formulas_shows_its_shape(net_file):
    # NOTE: upsample has no symbolic size rule: its shape was `[N]`, the batch alone
    path = net_file("network up {\n  input x: [N, 1, H, W]\n"
                    "  x -> conv(2, 3) -> upsample(scale: 2) -> output y\n"
                    "  expect y: [N, 2, 12, 12] at H = 8, W = 8\n}\n")
    code, out, _ = cli("summary", str(path))
    assert code == 0 and "upsample  upsample  [N, 2, 12, 12]" in out
    code, out, _ = cli("check", str(path), "--format", "json")
    assert code == 0 and json.loads(out)["files"][0]["networks"][0]["output_formulas"] == {}


def test_summary_shows_shapes_as_formulas_and_numbers_at_the_set_size(tmp_path):
    from conftest import cli
    path = tmp_path / "tiny.net"
    path.write_text(TINY_UNET, encoding="utf-8")
    code, out, _ = cli("summary", str(path), "--set", "H=40", "--set", "W=40")
    assert code == 0
    assert "bottom.0  maxpool         [N, 8, H/2 - 2, W/2 - 2]        0   10,368" in out
    assert "(numbers at H = 40, W = 40; valid sizes: H = W = 14 + 2k)\n\nas formulas in H, W" in out


def test_fmt_keeps_where_and_at_clauses():
    from netdsl.fmt import format_source
    text = ("network u {\n  input image: [N, 3, H, W]   where H==W,H>=64\n"
            "  image -> relu -> output y\n  expect y: [N,3,64,64] at H=64,W=64\n}\n")
    assert format_source(text) == (
        "network u {\n  input image: [N, 3, H, W] where H == W, H >= 64\n"
        "  image -> relu -> output y\n  expect y: [N, 3, 64, 64] at H = 64, W = 64\n}\n")


def test_an_example_s_expected_shape_may_name_the_sizes_it_binds():
    """`expect y: [N, 3, H, W] at H = 9, W = 8` said y's [N, 3, 9, 8] was not [N, 3, H, W]."""
    text = ("network n {\n  input x: [N, 3, H, W]\n  x -> r: relu -> maxpool(2) -> output y\n"
            "  expect r: [N, 3, H, W] at H = 10, W = 8\n"
            "  expect y: [N, 3, H // 2, W // 2] at H = 12, W = 8\n"
            "  expect y: [N, 3, H // 2, W // 2] at H = 16, W = 6\n}\n")
    assert check_text(text).graph.sizes == {"H": 10, "W": 8}
    assert rendered(text.replace("W // 2] at H = 16", "W] at H = 16")) == (
        "test.net:6:13: error[E305]: `y` has shape [N, 3, 8, 3], but the expectation says "
        "[N, 3, 8, 6]\n"
        "  |\n"
        "3 |   x -> r: relu -> maxpool(2) -> output y\n"
        "  |                   ---------- made here\n"
        "6 |   expect y: [N, 3, H // 2, W] at H = 16, W = 6\n"
        "  |             ^^^^^^^^^^^^^^^^^ actual [N, 3, 8, 3]\n"
        "  |")


def test_an_expected_shape_naming_sizes_without_an_example_hints_one():
    assert rendered("network n {\n  input x: [N, 3, H, W]\n  x -> relu -> output y\n"
                    "  expect y: [N, 3, H, W]\n  expect y: [N, 3, 9, 8] at H = 9, W = 8\n}\n"
                    ) == (
        "test.net:4:13: error[E305]: `y` has shape [N, 3, 9, 8], but the expectation says "
        "[N, 3, H, W]\n"
        "  |\n"
        "3 |   x -> relu -> output y\n"
        "  |        ---- made here\n"
        "4 |   expect y: [N, 3, H, W]\n"
        "  |             ^^^^^^^^^^^^ actual [N, 3, 9, 8]\n"
        "  |\n"
        "  = hint: `H` and `W` name input sizes, which this build binds to numbers: state the "
        "shape at sizes, as in `expect y: [N, 3, H, W] at H = 9, W = 8`")


def test_a_size_the_first_example_leaves_out_is_hinted_beside_the_one_it_gives():
    """The hint said to add an example, `at H = 224, W = 224`, where one gave H alone."""
    assert rendered("network n {\n  input x: [N, 3, H, W]\n  x -> relu -> output y\n"
                    "  expect y: [N, 3, 8, 8] at H = 8\n}\n") == (
        "test.net:2:12: error[E219]: input `x` has the named size W and nothing gives a size to "
        "build at\n"
        "  |\n"
        "2 |   input x: [N, 3, H, W]\n"
        "  |            ^^^^^^^^^^^^\n"
        "  |\n"
        "  = hint: W needs a size as H = 8 has one: bind it in the first example, "
        "`at H = 8, W = 224`, or pass --set W=224")


@pytest.mark.parametrize("op", ["//", "%"])
def test_a_where_condition_dividing_by_zero_is_e212(op):
    """A traceback (exit 3): ZeroDivisionError in the symbolic floor division."""
    assert rendered(f"network n {{\n  input x: [N, 3, H, W] where H {op} 0 == 0\n"
                    "  x -> relu -> output y\n  expect y: [N, 3, 8, 8] at H = 8, W = 8\n}\n"
                    ) == (
        f"test.net:2:{34 + len(op)}: error[E212]: division by zero\n"
        "  |\n"
        f"2 |   input x: [N, 3, H, W] where H {op} 0 == 0\n"
        f"  |                               {' ' * (len(op) + 3)}^\n"
        "  |")


def test_a_named_size_used_as_a_value_hints_the_tensor_s_attribute():
    (d,) = errors_of("network n {\n  input x: [N, 3, H, W]\n  x -> conv(4, W // 2) -> output y\n"
                     "  expect y: [N, 4, 5, 5] at H = 8, W = 8\n}\n")
    assert (d.code, d.message, d.hints) == ("E201", "`W` is not defined", (
        "`W` names a size of input `x`, not a value: read it as `x.width`",))


def test_a_block_s_example_binding_no_size_of_the_network_is_e219():
    """It passed silently, where the network's own example is E219."""
    text = ("block b(x) {\n  y = x -> relu\n  expect y: [N, 3, 8, 8] at H = 8, Q = 8\n"
            "  return y\n}\nnetwork n {\n  input x: [N, 3, H, W]\n  x -> b -> output y\n"
            "  expect y: [N, 3, 8, 8] at H = 8, W = 8\n}\n")
    (d,) = errors_of(text)
    assert (d.code, d.message, d.location(), d.hints) == (
        "E219", "`at` binds `Q`, which is no named input size of the network",
        ("test.net", 3, 36), ("its sizes: H, W",))
