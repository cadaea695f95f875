"""Language defects of the s14 sweep: each pinned at the user's level, the rendered message or
the printed verdict."""

from __future__ import annotations

from conftest import cli, rendered


def check(net_file, text: str, *args: str) -> str:
    code, out, err = cli("check", str(net_file(text)), *args)
    return f"{code}\n{out}{err}"


SHAPE_AND_PARAMS = """\
network t {
  input x: [N, 3, 8, 8]
  x -> conv(4, 3) -> output y
  expect y: [N, 4, 9, 8]
  expect params == 1
}
"""


def test_a_failing_shape_expectation_does_not_hide_the_other_expect_lines(net_file):
    out = check(net_file, SHAPE_AND_PARAMS)
    assert out.startswith("1\n")
    assert rendered(SHAPE_AND_PARAMS) == """\
test.net:4:13: error[E305]: `y` has shape [N, 4, 6, 6], but the expectation says [N, 4, 9, 8]
  |
3 |   x -> conv(4, 3) -> output y
  |        ---------- made here
4 |   expect y: [N, 4, 9, 8]
  |             ^^^^^^^^^^^^ actual [N, 4, 6, 6]
  |

test.net:5:10: error[E305]: expectation failed: params is 112, expected == 1
  |
5 |   expect params == 1
  |          ^^^^^^^^^^^ does not hold
  |"""
    assert out.count("error[E305]") == 2


def test_the_other_expect_lines_come_in_source_order_with_the_shape_ones():
    text = SHAPE_AND_PARAMS.replace("  expect y: [N, 4, 9, 8]\n  expect params == 1\n",
                                    "  expect params == 1\n  expect y: [N, 4, 9, 8]\n"
                                    "  expect layers == 9\n")
    assert [line.split(": ", 1)[1] for line in rendered(text).splitlines()
            if ": error[" in line] == [
        "error[E305]: expectation failed: params is 112, expected == 1",
        "error[E305]: `y` has shape [N, 4, 6, 6], but the expectation says [N, 4, 9, 8]",
        "error[E305]: expectation failed: layers is 2, expected == 9"]


MINUS_WHERE = """\
network t {
  input x: [N, 3, H, W] where -H >= -10, +W <= 10
  x -> conv(4, 3) -> output y
  where = 3
  expect where - 1 == 2 and y.height == 4
}
"""


def test_a_where_clause_may_start_with_a_minus_sign(net_file):
    assert check(net_file, MINUS_WHERE, "--set", "H=6", "--set", "W=6").startswith("0\n")
    assert rendered(MINUS_WHERE, H=12, W=12).splitlines()[0] == (
        "test.net:2:31: error[E219]: input `x` at H = 12, W = 12 breaks its condition "
        "`-H >= -10`")


def test_at_binding_a_name_at_the_channel_axis_reports_the_input_e217():
    text = """\
network t {
  input tokens: [N, L, 16]
  tokens -> dense(8) -> output y
  expect y: [N, 5, 8] at L = 5
}
"""
    assert rendered(text) == """\
test.net:2:17: error[E217]: input `tokens` needs a shape [N, C, ...] with positive sizes after \
the batch, not [N, L, 16]
  |
2 |   input tokens: [N, L, 16]
  |                 ^^^^^^^^^^
  |
  = hint: only the sizes after the channels may be named (`[N, 3, H, W]`): the channels are a \
number, or a parameter of the network"""


VARIANTS = """\
network base(depth = 2, classes = 10) {
  input x: [N, 3, 8, 8]
  x -> conv(depth, 3) -> flatten -> dense(classes) -> output y
}
network small = base(depth: 4)
"""


def test_set_of_an_argument_a_variant_fixes_is_an_error(net_file):
    out = check(net_file, VARIANTS, "--network", "small", "--set", "depth=8")
    assert out.startswith("1\n")
    assert out.split("\n", 1)[1].split(": ", 1)[1] == """\
error[E214]: the variant `small` fixes `depth` as 4: a value given from outside cannot change it
  |
5 | network small = base(depth: 4)
  |                             ^ fixed here
  |
  = hint: for another `depth`, check the network it varies: --network base --set depth=8

"""
    assert rendered(VARIANTS, "small", depth=8).endswith(
        "= hint: for another `depth`, check the network it varies: --network base --set depth=8")
    assert check(net_file, VARIANTS, "--network", "small", "--set", "classes=3").startswith("0\n")
    # the value the variant fixes, given again, changes nothing: no error
    assert check(net_file, VARIANTS, "--network", "small", "--set", "depth=4").startswith("0\n")


def test_set_without_network_checks_each_variant_that_fixes_it_as_an_error(net_file):
    out = check(net_file, VARIANTS, "--set", "depth=8")
    assert out.startswith("1\n")
    assert "base: ok" in out and "error[E214]: the variant `small` fixes `depth` as 4" in out


def test_a_variant_s_input_sizes_may_still_be_given_from_outside():
    import netdsl
    text = VARIANTS.replace("[N, 3, 8, 8]", "[N, 3, H, H]").replace(
        "base(depth: 4)", "base(depth: 4, H: 8)").replace("-> flatten -> dense(classes) ", "")
    assert netdsl.loads(text, "small", params={"H": 10}).graph.sizes == {"H": 10}


def test_an_example_at_other_sizes_is_reported_in_source_order_too():
    text = """\
network t {
  input x: [N, 3, H, W]
  y = x -> conv(4, 3)
  y: [N, 5, 6, 6]
  y -> output z
  expect z: [N, 4, 6, 6] at H = 8, W = 8
  expect z: [N, 4, 9, 8] at H = 10, W = 10
  expect params == 1
}
"""
    assert [line.split(": ", 1)[0] for line in rendered(text).splitlines()
            if ": error[" in line] == ["test.net:4:6", "test.net:7:13", "test.net:8:10"]


def test_at_binding_a_parameter_says_it_is_a_parameter():
    text = """\
network t(L = 4) {
  input tokens: [N, L, 16]
  tokens -> dense(8) -> output y
  expect y: [N, 5, 8] at L = 5
}
"""
    assert rendered(text) == """\
test.net:4:26: error[E219]: `at` binds `L`, which is no named input size of network `t`
  |
4 |   expect y: [N, 5, 8] at L = 5
  |                          ^
  |
  = hint: `L` is a parameter of network `t`: `at` binds input sizes alone; a parameter is \
given from outside (--set L=5) or by a variant (`network NAME = t(L: 5)`)"""


def test_sizes_given_from_outside_are_shown_in_the_input_s_order(net_file):
    """`--set W=10` printed `at W = 10, H = 8`: the sizes read as the input names them."""
    text = ("network t {\n  input x: [N, 3, H, W]\n  x -> conv(4, 3) -> output y\n"
            "  expect y: [N, 4, 6, 6] at H = 8, W = 8\n}\n")
    path = net_file(text)
    code, out, _ = cli("check", str(path), "--set", "W=10")
    assert code == 0 and out.startswith(f"{path}: t: ok (112 params, 5.18K MACs at H = 8, W = 10)")
