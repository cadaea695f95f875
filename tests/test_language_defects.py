"""Language defects found by using netdsl as a user would (the s13 sweep): each pinned at the
user's level, the rendered message or the printed verdict."""

from __future__ import annotations

from conftest import cli, rendered


def net(body: str, inp: str = "[N, 3, 8, 8]") -> str:
    """A network `n` whose body starts on line 3 (line 2 declares x)."""
    lines = "\n".join("  " + line for line in body.splitlines())
    return f"network n {{\n  input x: {inp}\n{lines}\n}}\n"


def check(net_file, text: str, *args: str) -> str:
    code, out, err = cli("check", str(net_file(text)), *args)
    return f"{code}\n{out}{err}"


# ------------------------------------------------------------------------- valid sets of sizes

def test_a_chained_equality_in_where_solves_both_sizes(net_file):
    text = net("x -> conv(8, 3) -> output y\nexpect y: [N, 8, 6, 6] at H = 8, W = 8",
               "[N, 3, H, W] where H == W == 8")
    assert check(net_file, text).endswith("""\
n: ok (224 params, 7.78K MACs at H = 8, W = 8)
  H = W = 8
  y: [N, 8, H - 2, W - 2]
""")


def test_a_bounded_range_of_sizes_reads_as_one_range(net_file):
    text = net("x -> conv(8, 3) -> output y\nexpect y: [N, 8, 6, 6] at H = 8, W = 8",
               "[N, 3, H, W] where not H > 100, W != 5")
    assert check(net_file, text).endswith("""\
n: ok (224 params, 7.78K MACs at H = 8, W = 8)
  3 <= H <= 100
  W = 3 or 4 or 6 + 1k (3, 4, 6, ...)
  y: [N, 8, H - 2, W - 2]
""")


def test_runs_of_sizes_in_a_valid_set_read_as_ranges():
    from netdsl.solve import Progression, ValidSet
    singles = tuple(Progression(n, 0) for n in [*range(1, 6), 8, *range(10, 13)])
    assert str(ValidSet(("H",), singles)) == "H = 1..5 or 8 or 10..12"
    assert str(ValidSet(("H", "W"), singles[:5])) == "H = W <= 5"
    assert str(ValidSet(("H",), (*singles[:5], Progression(9, 3)))) == "H = 1..5 or 9 + 3k"


# ------------------------------------------------------------------------ booleans and numbers

def test_a_boolean_key_is_not_the_number_1():
    assert rendered(net("c = {true: 1}[1]\nx -> relu -> output y")) == """\
test.net:3:17: error[E212]: the table has no entry 1
  |
3 |   c = {true: 1}[1]
  |                 ^ 1
  |
  = hint: its keys: true"""


def test_a_table_cannot_hold_both_true_and_1():
    assert rendered(net("c = {true: 1, 1: 2}\nx -> relu -> output y")) == """\
test.net:3:17: error[E212]: a table cannot have both true and 1 as keys
  |
3 |   c = {true: 1, 1: 2}
  |        ---- true
  |                 ^ 1
  |
  = hint: use keys of one kind: numbers, strings or booleans"""


def test_a_boolean_equals_no_number(net_file):
    text = net("expect true != 1\nexpect [false, 2] != [0, 2]\nexpect {1: true} != {1: 1}\n"
               "expect true == true and 1 == 1.0\nx -> relu -> output y")
    assert check(net_file, text).startswith("0\n")


def test_a_boolean_is_not_ordered_with_numbers():
    assert rendered(net("expect true < 2\nx -> relu -> output y")) == """\
test.net:3:10: error[E212]: cannot compare a boolean with the integer 2
  |
3 |   expect true < 2
  |          ^^^^^^^^
  |"""



# ------------------------------------------------------------------------------------ numbers

def test_min_takes_numbers_not_a_strings_characters():
    assert rendered(net('c = min("b", "a")\nx -> relu -> output y')).startswith(
        'test.net:3:7: error[E205]: `min` cannot take the string "b" and the string "a"')
    assert rendered(net('c = min("ab")\nx -> relu -> output y')) == """\
test.net:3:7: error[E205]: `min` cannot take the string "ab"
  |
3 |   c = min("ab")
  |       ^^^^^^^^^
  |
  = hint: `min` takes numbers, or one list of them that is not empty: `min(a, b)`, `min(sizes)`"""


def test_min_and_max_take_no_boolean_but_int_converts_one(net_file):
    text = net("c = int(true) + int(false)\nexpect c == 1\nx -> relu -> output y")
    assert check(net_file, text).startswith("0\n")  # zoo/vgg.net's `int(bn)`


def test_max_takes_no_boolean():
    assert rendered(net("c = max(true, 0)\nx -> relu -> output y")) == """\
test.net:3:7: error[E205]: `max` cannot take a boolean and the integer 0
  |
3 |   c = max(true, 0)
  |       ^^^^^^^^^^^^
  |
  = hint: `max` takes numbers, or one list of them that is not empty: `max(a, b)`, `max(sizes)`"""


def test_the_int64_minimum_is_an_integer(net_file):
    text = net("c = -9223372036854775807 - 1\nexpect c < 0\nx -> relu -> output y")
    assert check(net_file, text).startswith("0\n")


# ------------------------------------------------------------------------------ syntax errors

COUNT = ("`-> f * n` repeats the stage n times (n >= 0); a computed count goes in brackets: "
         "`* (n - 1)`")


def test_a_negative_repeat_count_says_what_a_count_is():
    assert rendered(net("x -> relu * -1 -> output y")) == """\
test.net:3:15: error[E101]: a repeat count is a number, a name or an expression in brackets
  |
3 |   x -> relu * -1 -> output y
  |               ^ expected an expression or `{`
  |
  = hint: """ + COUNT


def test_a_repeat_count_of_two_factors_says_to_bracket_them():
    for stage in ("relu", "a: relu", '"a": relu(1)', "relu(1)"):
        text = rendered(net(f"x -> {stage} * 2 * 2 -> output y"))
        assert text.split("\n")[0].endswith(
            "error[E101]: a repeat count is a number, a name or an expression in brackets"), text
    assert rendered(net("x -> relu * n * 2 -> output y")) == """\
test.net:3:17: error[E101]: a repeat count is a number, a name or an expression in brackets
  |
3 |   x -> relu * n * 2 -> output y
  |                 ^ expected a statement, the end of the file, `->`, `.`, `{` or `}`
  |
  = hint: """ + COUNT


def test_a_loop_over_two_names_says_a_loop_binds_one():
    assert rendered(net("for i, j in [1, 2] {\n}\nx -> relu -> output y")) == """\
test.net:3:8: error[E101]: unexpected `,`
  |
3 |   for i, j in [1, 2] {
  |        ^ expected `in`
  |
  = hint: a `for` loop binds one name: `for i in range(len(xs)) { ... }` reads `xs[i]`"""


# ------------------------------------------------------------------------------------ names

def test_two_inputs_of_one_name_say_inputs_not_labels():
    assert rendered(net("input x: [N, 3, 8, 8]\nx -> relu -> output y")) == """\
test.net:3:9: error[E211]: two inputs are named `x`
  |
2 |   input x: [N, 3, 8, 8]
  |   --------------------- first use
3 |   input x: [N, 3, 8, 8]
  |         ^ second use
  |
  = hint: rename one of the inputs"""


def test_a_label_that_an_input_has_says_so():
    assert rendered(net("x -> x: relu -> output y")) == """\
test.net:3:8: error[E211]: `x` is already the name of an input
  |
2 |   input x: [N, 3, 8, 8]
  |   --------------------- the input
3 |   x -> x: relu -> output y
  |        ^ second use
  |
  = hint: rename the layer or the input"""


# ------------------------------------------------------------------------------ choices

def test_a_misspelt_choice_in_quotes_gets_a_did_you_mean():
    assert rendered(net('x -> conv(8, 3, pad: "sme") -> output y')) == (
        "test.net:3:19: error[E205]: `pad` of `conv` takes an integer, a list of integers, "
        '`same` or `valid`, not the string "sme"\n') + """\
  |
3 |   x -> conv(8, 3, pad: "sme") -> output y
  |                   ^^^^^^^^^^
  |
  = hint: did you mean `same`?"""


def test_an_initialisation_by_another_name_says_netdsls():
    assert rendered(net('option init: "kaiming_normal"\nx -> relu -> output y')) == """\
test.net:3:16: error[E206]: unknown initialisation "kaiming_normal"
  |
3 |   option init: "kaiming_normal"
  |                ^^^^^^^^^^^^^^^^
  |
  = hint: netdsl calls Kaiming initialisation `he`; use one of: he, xavier, zeros"""
    assert rendered(net('option init: "xavir"\nx -> relu -> output y')).endswith(
        "= hint: did you mean `xavier`?")


# ------------------------------------------------------------------------------------ limits

def test_a_where_condition_nested_too_deep_is_located():
    body = "x -> conv(8, 3) -> output y\nexpect y: [N, 8, 6, 6] at H = 8, W = 8"
    text = rendered(net(body, "[N, 3, H, W] where " + "not " * 3000 + "H > 2"))
    assert text.split("\n")[0] == (
        "test.net:2:635: error[E102]: the program nests more than 150 levels deep")
    assert text.endswith("= hint: name intermediate values, or repeat with `* n` or `for`, "
                         "instead of nesting")


BATCH = '`N` names the batch size of input `x`, which has no number: `x.batch` is the string "N"'


def test_a_named_size_in_an_expect_line_gets_the_hint_it_gets_elsewhere():
    body = "x -> conv(8, 3) -> output y\nexpect y: [N, 8, 6, 6] at H = 8, W = 8\n"
    assert rendered(net(body + "expect x.height == N", "[N, 3, H, W]")) == """\
test.net:5:22: error[E201]: `N` is not defined
  |
5 |   expect x.height == N
  |                      ^ not defined
  |
  = hint: """ + BATCH
    assert rendered(net(body + "expect params > H", "[N, 3, H, W]")).endswith(
        "= hint: `H` names a size of input `x`, not a value: read it as `x.height`")
    assert rendered(net("expect x.height == N\nx -> relu -> output y")).endswith(BATCH)


# ------------------------------------------------------------------------ --set and --network

SIZED = net("x -> conv(8, 3) -> output y\nexpect y: [N, 8, 6, 6] at H = 8, W = 8", "[N, 3, H, W]")


def test_set_of_an_unknown_name_names_the_sizes_it_takes(net_file):
    assert check(net_file, SIZED, "--set", "Q=3").split("\n", 2)[2] == """\
  |
1 | network n {
  |         ^ given a value for `Q` from outside
  |
  = hint: it takes no parameters; its input sizes: H, W

"""
    assert "= hint: did you mean `H`?" in check(net_file, SIZED, "--set", "HH=3")


BLOCKS = """\
block unit(x, width) {
  return x -> conv(width, 3, pad: 1) -> relu
}

network small {
  input x: [N, 3, 8, 8]
  x -> unit(8) -> output y
}

network other {
  input x: [N, 3, 8, 8]
  x -> relu -> output y
}
"""


def test_network_naming_a_block_says_it_is_a_block(net_file):
    out = check(net_file, BLOCKS, "--network", "unit")
    assert out.split("\n", 1)[1].split(": ", 1)[1] == """\
error[E213]: `unit` is a block, not a network
  |
1 | block unit(x, width) {
  |       ^^^^ defined here
  |
  = hint: a block is checked through a network that calls it: pass --network small

"""


def test_other_languages_loops_and_functions_say_what_netdsl_writes():
    assert rendered(net("while true {\n}\nx -> relu -> output y")) == """\
test.net:3:3: error[E101]: netdsl has no `while`: a loop runs a number of times known in advance
  |
3 |   while true {
  |   ^^^^^ not a keyword
  |
  = hint: write `for i in range(n) { ... }`"""
    assert rendered(net("def f(x) {\n}\nx -> relu -> output y")) == """\
test.net:3:3: error[E101]: netdsl has no `def`: a function of tensors is a block
  |
3 |   def f(x) {
  |   ^^^ not a keyword
  |
  = hint: define it at the top level of the file: `block f(x, ...) { ... return y }`"""


def test_else_if_says_elif():
    assert rendered(net("if true {\n} else if false {\n}\nx -> relu -> output y")) == """\
test.net:4:10: error[E101]: unexpected keyword `if`
  |
4 |   } else if false {
  |          ^^ expected `{`
  |
  = hint: write `else if` as `elif`"""


def test_a_conditional_expression_says_netdsl_has_none():
    text = rendered(net("k = 3 if true else 1\nx -> relu -> output y"))
    assert text.endswith("""\
  = hint: netdsl has no `A if COND else B`: pick with a table, `{true: A, false: B}[COND]`, \
or assign in an `if` statement""")


def test_an_empty_tables_missing_entry_says_it_is_empty():
    assert rendered(net("c = {}[0]\nx -> relu -> output y")) == """\
test.net:3:10: error[E212]: the table has no entry 0
  |
3 |   c = {}[0]
  |          ^ 0
  |
  = hint: the table is empty"""


def test_a_network_that_returns_its_result_hints_output():
    assert rendered(net("y = x -> relu\nreturn y")) == """\
test.net:1:9: error[E216]: network `n` declares no output
  |
1 | network n {
  |         ^
  |
  = hint: `return` ends a network but makes no output: write `output NAME = value`, or end a \
pipeline with `-> output NAME`"""


def test_a_where_condition_dividing_with_slash_hints_floor_division():
    body = "x -> relu -> output y\nexpect y: [N, 3, 8, 8] at H = 8, W = 8"
    assert rendered(net(body, "[N, 3, H, W] where H / 2 > 3")) == """\
test.net:2:31: error[E219]: a `where` condition of input `x` compares its named sizes \
(+ - * // % of sizes and integers)
  |
2 |   input x: [N, 3, H, W] where H / 2 > 3
  |                               ^^^^^^^^^
  |
  = hint: sizes divide with `//`, which rounds down: `H // 2`"""


def test_a_run_of_sizes_at_equal_steps_reads_as_one():
    from netdsl.solve import Progression, ValidSet
    evens = tuple(Progression(n, 0) for n in [3, *range(4, 101, 2)])
    assert str(ValidSet(("H",), evens)) == "H = 3 or 4 + 2k (k = 0..48)"
    assert str(ValidSet(("H",), (*evens[1:3], Progression(7, 1)))) == "H = 4 or 6 or 7 + 1k"


def test_a_cross_condition_reads_as_written(net_file):
    text = net("x -> conv(8, 3) -> output y\nexpect y: [N, 8, 6, 6] at H = 8, W = 8",
               "[N, 3, H, W] where H == 8 or W == 8")
    assert "\n  and H == 8 or W == 8 at the input\n" in check(net_file, text)


def test_a_line_that_ends_in_an_operator_says_the_next_line_is_its_operand():
    assert rendered(net("c = 5 %\nx -> relu -> output y")) == """\
test.net:3:9: error[E212]: `%` between the integer 5 and a tensor [N, 3, 8, 8] is not defined
  |
3 |   c = 5 %
  |         ^
  |
  = hint: the `%` at the end of line 3 takes the next line as its right operand: finish \
line 3, or remove the `%`"""
    assert rendered(net("z = x -> relu ->\nx -> relu -> output y")) == """\
test.net:4:3: error[E202]: `x` is a value here, a tensor [N, 3, 8, 8], not an operator or a block
  |
4 |   x -> relu -> output y
  |   ^ not callable
  |
  = hint: the `->` at the end of line 3 takes this line as its next stage: finish line 3, or \
remove the `->`"""


def test_a_params_initialiser_in_quotes_says_to_drop_them():
    assert rendered(net('param g: [1, 3, 1, 1] = "ones"\nx -> relu -> output y')).endswith(
        '  = hint: write `ones` without quotes')


def test_len_of_a_tensor_says_what_len_takes():
    assert rendered(net("c = len(x)\nx -> relu -> output y")) == """\
test.net:3:11: error[E205]: `len` takes a list or a string, not a tensor
  |
3 |   c = len(x)
  |           ^
  |
  = hint: a tensor's sizes are the list `x.shape`, their number `x.rank`"""


def test_a_layer_compared_whole_in_an_expect_line_hints_its_measures():
    assert rendered(net("x -> c1: conv(8, 3) -> output y\nexpect c1 == 3")) == """\
test.net:4:10: error[E201]: `c1` is not defined
  |
4 |   expect c1 == 3
  |          ^^ not defined
  |
  = hint: `c1` names a layer: an expect line reads its measures, as `c1.params`, or its \
sizes, as `c1.channels`"""
    assert rendered(net("x -> c1: conv(8, 3) -> output y\nexpect params ~= 224 within x")
                    ).endswith("= hint: `x` names a layer: an expect line reads its measures, "
                               "as `x.params`, or its sizes, as `x.channels`")


def test_an_output_declared_in_a_loop_says_the_loop_repeats_it():
    assert rendered(net("for i in range(3) {\n  output z = x\n}")) == """\
test.net:4:12: error[E211]: output `z` is declared on every pass of the loop, but an output \
is declared once
  |
4 |     output z = x
  |            ^ the same output each time
  |
  = hint: declare the output after the loop"""


def test_a_misspelt_output_stage_says_output():
    assert rendered(net("x -> relu -> outptu y")) == """\
test.net:3:23: error[E101]: a `->` is missing between two pipeline stages
  |
3 |   x -> relu -> outptu y
  |                       ^ expected `->` before this
  |
  = hint: did you mean `output`? A pipeline ends with `-> output NAME`"""


def test_set_of_an_unknown_name_on_variants_is_reported_at_each_variant(net_file):
    text = ("network m(k = 3) {\n  input x: [N, 3, 8, 8]\n  x -> conv(8, k) -> output y\n}\n"
            "network m1 = m(k: 1)\n")
    out = check(net_file, text, "--set", "q=2")
    assert out.count("error[E214]") == 2
    assert out.split("\n\n")[1].split("model.net:", 1)[1] == """\
5:9: error[E214]: network `m1` (a variant of `m`) has no parameter `q`
  |
5 | network m1 = m(k: 1)
  |         ^^ given a value for `q` from outside
  |
  = hint: its parameters: k"""


def test_an_error_in_a_family_is_printed_once_not_once_per_variant(net_file):
    text = ("network m(k = 3) {\n  input x: [N, 3, 8, 8]\n  x -> conv(8, k) -> relux -> output y\n"
            "}\nnetwork m1 = m(k: 1)\nnetwork m2 = m(k: 2)\n")
    out = check(net_file, text)
    assert out.startswith("1\n") and out.count("error[E202]") == 1


def test_negating_the_int64_minimum_is_too_large():
    text = rendered(net("c = -9223372036854775807 - 1\nd = -c\nx -> relu -> output y"))
    assert text.split("\n")[0] == "test.net:4:7: error[E215]: the number is too large"


def test_a_typed_parameter_says_parameters_take_no_type():
    text = "network a(k: int = 3) {\n  input x: [1, 3, 8, 8]\n  x -> relu -> output y\n}\n"
    assert rendered(text).endswith(
        "= hint: a parameter has no type: write `k` or `k = DEFAULT`, whose value gives its kind")


def test_a_slash_comment_says_comments_start_with_hash():
    assert rendered(net("x -> relu -> output y\n// the head")) == """\
test.net:4:3: error[E101]: unexpected `//`
  |
4 |   // the head
  |   ^^ expected a statement, `->`, `{` or `}`
  |
  = hint: a comment starts with `#`"""


def test_a_number_fed_to_an_operator_says_it_takes_a_tensor():
    assert rendered(net("z = 3 -> relu\nx -> relu -> output y")) == """\
test.net:3:7: error[E205]: `relu` takes a tensor as its input, not the integer 3
  |
3 |   z = 3 -> relu
  |       ^ not a tensor
  |
  = hint: feed it a tensor: `x -> relu`"""


def test_assigning_to_true_says_it_is_a_keyword():
    assert rendered(net("true = 3\nx -> relu -> output y")).endswith(
        "= hint: `true` is a keyword and cannot be used as a name")


def test_a_shape_expectation_naming_sizes_without_at_hints_an_example():
    body = ("x -> conv(8, 3) -> output y\nexpect y: [1, 8, H - 2, W - 2]\n"
            "expect y: [1, 8, 6, 6] at H = 8, W = 8")
    assert rendered(net(body, "[1, 3, H, W]")).split("\n\n")[0].endswith(
        "= hint: a shape that names sizes holds at an example: `expect y: [1, 8, H - 2, W - 2] "
        "at H = 8, W = 8`")


def test_a_where_condition_may_negate_a_size(net_file):
    text = net("x -> conv(8, 3) -> output y\nexpect y: [N, 8, 6, 6] at H = 8, W = 8",
               "[N, 3, H, W] where 0 >= -H + 4, H <= 10")
    assert "\n  4 <= H <= 10\n" in check(net_file, text)


def test_set_of_a_list_nested_past_pythons_stack_is_a_usage_error(net_file):
    deep = "[" * 3000 + "1" + "]" * 3000
    out = check(net_file, SIZED, "--set", f"k={deep}")
    assert out.startswith("2\n") and out.endswith(
        ": lists and tables would nest more than 150 deep\nusage: see `netdsl check --help`\n")


def test_params_nested_past_pythons_stack_are_e214():
    import netdsl
    deep: object = 1
    for _ in range(3000):
        deep = [deep]
    text = "network n(k = 3) {\n  input x: [N, 3, 8, 8]\n  x -> conv(8, k) -> output y\n}\n"
    try:
        netdsl.loads(text, params={"k": deep})
    except netdsl.NetdslError as e:
        assert e.diagnostics[0].code == "E214"
        assert e.diagnostics[0].message.endswith("lists and tables would nest more than 150 deep")
    else:
        raise AssertionError("loaded")


def test_a_lists_length_attribute_hints_len():
    assert rendered(net("c = [1, 2].length\nx -> relu -> output y")).endswith(
        "= hint: call the builtin: `len(...)`")


def test_indexing_a_tensor_hints_its_shape():
    assert rendered(net("c = x[0]\nx -> relu -> output y")).endswith(
        "= hint: a tensor's sizes are the list `x.shape`: `x.shape[0]`")


def test_use_without_the_extension_hints_it(net_file):
    net_file("block b(x) {\n  return x\n}\n", "lib.net")
    path = net_file('use "lib"\nnetwork a {\n  input x: [1, 3, 8, 8]\n  x -> b -> output y\n}\n')
    err = cli("check", str(path))[2]
    assert err.split("\n")[0].endswith('error[E210]: cannot use "lib": no such file')
    assert err.split("\n")[-3] == '  = hint: did you mean `use "lib.net"`?'


def test_an_option_set_twice_is_e208():
    assert rendered(net("option floor: true\noption floor: false\nx -> relu -> output y")) == """\
test.net:4:10: error[E208]: option `floor` is set twice
  |
3 |   option floor: true
  |   ------------------ first set here
4 |   option floor: false
  |          ^^^^^ second time
  |
  = hint: set each option once, at the top of the network's body"""


def test_a_decimal_with_many_digits_is_a_number(net_file):
    text = net("c = 3.14159265358979323846264338327950288419716939937510\n"
               "d = 0.00000000000000000000000000000000000000000000001\n"
               "expect c > 3.14 and d > 0\nx -> relu -> output y")
    assert check(net_file, text).startswith("0\n")


def test_a_number_that_ends_its_line_in_a_dot_says_the_next_line_is_an_attribute():
    assert rendered(net("c = 5.\nx -> relu -> output y")).endswith(
        "= hint: the `.` at the end of line 3 takes this line as an attribute name: finish "
        "line 3, or remove the `.`")


def test_named_channels_say_only_spatial_sizes_may_be_named():
    body = "x -> relu -> output y\nexpect y: [1, 3, 8, 8] at H = 8, W = 8"
    assert rendered(net(body, "[N, C, H, W]")).endswith(
        "= hint: only the sizes after the channels may be named (`[N, 3, H, W]`): the channels "
        "are a number, or a parameter of the network")


def test_an_undefined_name_in_where_lists_the_named_sizes():
    body = "x -> relu -> output y\nexpect y: [1, 3, 8, 8] at H = 8, W = 8"
    assert rendered(net(body, "[N, 3, H, W] where K > 2")).endswith(
        "= hint: a `where` condition compares the input's named sizes: H, W")


def test_network_naming_a_block_no_network_calls_says_so(net_file):
    text = BLOCKS.replace("x -> unit(8) -> output y", "x -> relu -> output y")
    out = check(net_file, text, "--network", "unit")
    assert out.endswith("= hint: a block is checked through a network that calls it; no network "
                        "of this file does\n\n")
    inner = "block outer(x) {\n  return x -> unit(8)\n}\n" + BLOCKS.replace(
        "x -> unit(8) -> output y", "x -> outer -> output y")
    assert check(net_file, inner, "--network", "unit").endswith("pass --network small\n\n")


def test_an_empty_network_name_is_a_usage_error(net_file):
    out = check(net_file, SIZED, "--network", "")
    assert out.startswith("2\n") and "--network: takes a network's name, not ''" in out
