"""What a user sees for a mistake: code, message, line and column for a table of broken programs;
the full rendered text for several (so caret alignment is tested); all independent mistakes, no
cascades; docs/errors.md generated from the code and current."""

from __future__ import annotations

import re

import pytest

from conftest import ROOT, errors_of, rendered
from netdsl.diagnostics import CODES, render


def net(body: str, params: str = "") -> str:
    """A network whose body starts on line 3 (line 2 declares x: [N, 3, 8, 8])."""
    lines = "\n".join("  " + line for line in body.splitlines())
    return f"network n{params} {{\n  input x: [N, 3, 8, 8]\n{lines}\n}}\n"


def head(text: str) -> tuple[str, int, int, str]:
    d = errors_of(text)[0]
    loc = d.location()
    assert loc is not None
    return d.code, loc[1], loc[2], d.message


BLOCK = "block b(x, n) {\n  return x -> conv(n, 3, pad: 1)\n}\n"

# (id, program, code, line, column, message)
CASES = [
    ("syntax-equals-for-colon", net("x -> conv(4, 3, stride = 2) -> output y"),
     "E101", 3, 26, "unexpected `=`"),
    ("syntax-unclosed-paren", net("x -> conv(4, 3 -> output y"), "E101", 4, 1, "unexpected `}`"),
    ("syntax-missing-comma", net("x -> conv(4 3) -> output y"), "E101", 3, 15,
     "unexpected number `3`"),
    ("syntax-file-ends", "network n {\n  input x: [N, 3, 8, 8]\n  x -> relu -> output y\n",
     "E101", 3, 23, "the file ends before the `{` on line 1 is closed"),
    ("syntax-stage-then-operator", net("s = x\nx -> conv(3, 3, pad: 1) + s -> output y"),
     "E101", 4, 27, "`+` cannot follow the pipeline stage `conv(3, 3, pad: 1)`"),
    ("syntax-missing-arrow", net("x -> conv(3, 3) relu -> output y"), "E101", 3, 19,
     "a `->` is missing between two pipeline stages"),
    ("syntax-two-statements", net("y = x -> relu z = y -> tanh\nz -> output q"), "E101", 3, 17,
     "two statements on one line"),
    ("syntax-block-without-params", "block b { return 1 }\n", "E101", 1, 9,
     "a block needs a parameter list"),
    ("syntax-output-without-name", net("x -> output"), "E101", 4, 1, "`output` needs a name"),
    ("syntax-python-colon", net("if x.channels > 2:\n  y = 1"), "E101", 3, 20,
     "a condition is followed by a body in braces"),
    ("syntax-statement-outside", "input x: [N, 3]\n", "E101", 1, 1,
     "`input` does not go outside a network or block"),
    ("syntax-single-quotes", net("x -> upsample(2, mode: 'nearest') -> output y"), "E101", 3, 26,
     "unexpected `'`"),
    ("syntax-keyword-as-name", net("input = x"), "E101", 3, 9,
     "`input` is a keyword: it declares a network input"),
    ("too-deep", net("k = " + "-" * 200 + "1\nx -> output y"), "E102", 3, 156,
     "the program nests more than 150 levels deep"),
    ("undefined-name", net("y = x -> relu\nyy -> output z"), "E201", 4, 3, "`yy` is not defined"),
    ("unknown-op", net("x -> cnov(4, 3) -> output y"), "E202", 3, 8,
     "`cnov` is not an operator, a block or a builtin"),
    ("unknown-argument", net("x -> conv(4, 3, strid: 2) -> output y"), "E203", 3, 19,
     "`conv` has no argument `strid`"),
    ("missing-argument", net("x -> conv(4) -> output y"), "E204", 3, 8,
     "`conv` needs argument `kernel`"),
    ("missing-block-argument", BLOCK + net("x -> b -> output y"), "E204", 6, 8,
     "block `b` needs argument `n`"),
    ("missing-network-parameter", "network n(k) {\n  input x: [N, 3, 8, 8]\n"
     "  x -> conv(k, 1) -> output y\n}\n", "E204", 1, 11,
     "network parameter `k` has no default and no value was given"),
    ("tensor-for-integer", net("x -> conv(4, x) -> output y"), "E205", 3, 16,
     "`kernel` of `conv` takes an integer or a list of integers, not a tensor"),
    ("float-for-integer", net("x -> conv(x.channels / 2, 3) -> output y"), "E205", 3, 13,
     "`out` of `conv` takes an integer, not the number 1.5"),
    ("tensor-repeat-count", net("y = x -> relu\nx -> relu * y -> output z"), "E205", 4, 15,
     "a repetition count must be a whole number >= 0, not a tensor [N, 3, 8, 8]"),
    ("out-of-range", net("x -> conv(4, 0) -> output y"), "E206", 3, 16,
     "conv: kernel must be positive, not 0"),
    ("too-many-arguments", net("x -> relu(3) -> output y"), "E207", 3, 13,
     "`relu` takes no arguments besides its input"),
    ("too-many-block-arguments", BLOCK + net("x -> b(4, 5) -> output y"), "E207", 6, 13,
     "block `b` takes 2 arguments, 3 given"),
    ("duplicate-argument", net("x -> conv(4, 3, kernel: 5) -> output y"), "E208", 3, 19,
     "argument `kernel` is given twice"),
    ("recursive-block", "block r(x) {\n  return x -> relu -> r\n}\n" + net("x -> r -> output y"),
     "E209", 2, 23, "block `r` calls itself (r -> r)"),
    ("indirect-recursion", "block p(x) {\n  return x -> q\n}\nblock q(x) {\n  return x -> p\n}\n"
     + net("x -> p -> output y"), "E209", 5, 15, "block `p` calls itself (p -> q -> p)"),
    ("missing-use-file", 'use "nowhere/lib.net"\n' + net("x -> output y"), "E210", 1, 5,
     'cannot use "nowhere/lib.net": no such file'),
    ("duplicate-label", net("x -> c: conv(4, 3) -> c: conv(4, 3) -> output y"), "E211", 3, 25,
     "two layers are named `c`"),
    ("duplicate-block", "block b(x) { return x }\nblock b(x) { return x }\n"
     + net("x -> b -> output y"), "E211", 2, 7, "block `b` is defined twice"),
    ("duplicate-network", net("x -> output y") + net("x -> output y"), "E211", 5, 9,
     "network `n` is defined twice"),
    ("duplicate-parameter", "block b(x, n, n) {\n  return x\n}\n" + net("x -> b(1, 2) -> output y"),
     "E211", 1, 15, "block `b` has two parameters named `n`"),
    ("duplicate-network-parameter", net("x -> output y", "(k = 1, k = 2)"), "E211", 1, 18,
     "network `n` has two parameters named `k`"),
    ("duplicate-output", net("x -> relu -> output y\nx -> tanh -> output y"), "E211", 4, 23,
     "output `y` is declared twice"),
    ("output-named-like-a-layer", net("x -> relu\nz = x -> tanh\noutput relu = z"), "E211", 5, 10,
     "output `relu` has the name of another layer"),
    ("label-named-like-an-output", net("x -> relu -> output y\nx -> y: tanh -> output z"),
     "E211", 4, 8, "`y` is already the name of an output"),
    ("block-named-like-an-operator", "block conv(x) { return x }\n" + net("x -> output y"),
     "E211", 1, 7, "block `conv` has the name of an operator"),
    ("tensor-arithmetic", net("x + 1 -> output y"), "E212", 3, 5,
     "`+` between a tensor [N, 3, 8, 8] and the integer 1 is not defined"),
    ("no-network", "block b(x) { return x }\n", "E213", 1, 1, "test.net defines no network"),
    ("huge-repeat", net("x -> relu * 10000000 -> output y"), "E215", 3, 15,
     "repeating 10000000 times exceeds the limit of 10000"),
    ("huge-range", net("for i in range(100000000000) {\n  x = x -> relu\n}\nx -> output y"),
     "E215", 3, 12, "`range` of 100000000000 items exceeds the limit of 10000"),
    ("no-output", net("y = x -> relu"), "E216", 1, 9, "network `n` declares no output"),
    ("block-without-return", "block b(x) {\n  y = x -> relu\n}\n" + net("x -> b -> output y"),
     "E216", 1, 7, "block `b` ends without `return`"),
    ("bad-input-shape", "network n {\n  input x: [N, 3, 0, 8]\n  x -> output y\n}\n", "E217", 2, 12,
     "input `x` needs a shape [N, C, ...] with positive sizes after the batch, not [N, 3, 0, 8]"),
    ("label-not-a-name", net('x -> "conv 1": conv(4, 3) -> output y'), "E218", 3, 8,
     '"conv 1" is not a layer name'),
    ("label-holds-a-list", net('x -> "conv{[1]}": conv(4, 3) -> output y'), "E218", 3, 14,
     "a label can hold whole numbers and strings, not a list"),
    ("input-sizes-without-example", "network n {\n  input x: [N, 3, H, H]\n  x -> output y\n}\n",
     "E219", 2, 12, "input `x` has the named size H and nothing gives a size to build at"),
    ("annotation-mismatch", net("y = x -> conv(4, 3)\ny: [N, 4, 8, 8]\ny -> output z"), "E304",
     4, 6, "`y` has shape [N, 4, 6, 6], but the annotation says [N, 4, 8, 8]"),
    ("shape-expectation", net("x -> relu -> output y\nexpect y: [N, 3, 4, 4]"), "E305", 4, 13,
     "`y` has shape [N, 3, 8, 8], but the expectation says [N, 3, 4, 4]"),
]


@pytest.mark.parametrize("text,code,line,col,message", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_broken_program_reports_code_place_and_message(text, code, line, col, message):
    assert head(text) == (code, line, col, message)


def test_table_covers_every_language_code():
    language = {c for c in CODES if c[1] in "12" or c in ("E304", "E305")}
    assert language - {"E214"} <= {c[2] for c in CASES}  # E214 is a --set error: test_cli_check


def test_bad_set_parameter_is_e214_at_the_network():
    from conftest import check_text
    from netdsl import NetdslError
    with pytest.raises(NetdslError) as e:
        check_text(net("x -> relu -> output y", "(k = 2)"), clases=3)
    d = e.value.diagnostics[0]
    assert (d.code, d.message, d.hints) == ("E214", "network `n` has no parameter `clases`",
                                            ("its parameters: k",))


# (id, program, the hint of its syntax error): each hint's advice, followed, parses
SYNTAX_HINTS = [
    ("equals-in-expect", net("x -> output y\nexpect params = 0"),
     "to compare, write `==`: `=` assigns a name on a line of its own"),
    ("equals-in-if", net("if x.channels = 3 {\n  x = x -> relu\n}\nx -> output y"),
     "to compare, write `==`: `=` assigns a name on a line of its own"),
    ("equals-in-where", "network n {\n  input x: [N, 3, H, W] where H = W\n  x -> output y\n}\n",
     "to compare, write `==`: `=` assigns a name on a line of its own"),
    ("equals-in-call-condition", net("c = max(x.channels = 3, 1)\nx -> output y"),
     "to compare, write `==`: `=` assigns a name on a line of its own"),
    ("equals-for-keyword", net("y = conv(x, 8, kernel=3)\ny -> output z"),
     "keyword arguments are written `name: value`, as in `stride: 2`"),
    ("equals-in-table", net("c = {a = 1}\nx -> output y"),
     "a table's entries are written `key: value`, as in `{18: 2, 34: 3}`"),
]


@pytest.mark.parametrize("text,hint", [c[1:] for c in SYNTAX_HINTS],
                         ids=[c[0] for c in SYNTAX_HINTS])
def test_a_syntax_error_hints_the_fix_for_its_context(text, hint):
    (d,) = errors_of(text)
    assert d.code == "E101" and d.hints == (hint,)


def test_a_number_with_letters_after_it_is_named_whole():
    assert rendered(net("x -> output y\nexpect macs < 4.1g")) == """\
test.net:4:17: error[E101]: `4.1g` is not a number
  |
4 |   expect macs < 4.1g
  |                 ^^^^ not a number
  |
  = hint: the suffixes are upper case: `4.1G`"""
    for number, hint in (("25k", "the suffixes are upper case: `25K`"),
                         ("0x10", "a number is written in decimal digits (`_` may separate them), "
                                  "with an optional suffix `K`, `M`, `G` or `T`"),
                         ("3x3", "a number is written in decimal digits (`_` may separate them), "
                                 "with an optional suffix `K`, `M`, `G` or `T`")):
        (d,) = errors_of(net(f"x -> conv({number}, 3) -> output y"))
        assert (d.message, d.hints) == (f"`{number}` is not a number", (hint,))
        assert d.primary is not None and d.primary.span.text() == number


def test_an_unclosed_string_is_named_as_such():
    assert rendered(net('x -> upsample(2, mode: "nearest) -> output y')) == """\
test.net:3:26: error[E101]: this string is not closed before the end of the line
  |
3 |   x -> upsample(2, mode: "nearest) -> output y
  |                          ^^^^^^^^^^^^^^^^^^^^^ not closed
  |
  = hint: end it with `"` on the same line: a string cannot span lines"""


def test_a_count_of_input_tensors_agrees_with_its_noun():
    assert errors_of(net("y = concat\ny -> output z"))[0].message == (
        "`concat` takes at least 1 input tensor, 0 given")
    assert errors_of(net("y = x -> add\ny -> output z"))[0].message == (
        "`add` takes at least 2 input tensors, 1 given")


def test_an_undefined_name_in_a_block_recalls_that_blocks_see_only_their_parameters():
    text = "block f(x) {\n  return x -> conv(width, 1)\n}\n" + net("x -> f -> output y",
                                                                  "(width = 8)")
    (d,) = errors_of(text)
    assert (d.message, d.hints) == ("`width` is not defined", (
        "a block sees its parameters, not the variables of the network or block that calls "
        "it: pass `width` in as one",))


def test_an_unquoted_string_argument_hints_the_quotes():
    assert rendered(net("x -> upsample(2, mode: nearest) -> output y")) == (
        "test.net:3:26: error[E201]: `nearest` is not defined\n"
        "  |\n"
        "3 |   x -> upsample(2, mode: nearest) -> output y\n"
        "  |                          ^^^^^^^ not defined\n"
        "  |\n"
        '  = hint: `mode` takes a string, written in quotes: `mode: "nearest"`')


@pytest.mark.parametrize("body,hint", [
    ("x -> pad(1, reflect) -> output y", '`mode` takes a string, written in quotes: `"reflect"`'),
    ("option init: kaiming\nx -> output y",
     '`init` takes a string, written in quotes: `init: "kaiming"`'),
])
def test_an_unquoted_string_hints_the_quotes_wherever_a_string_is_taken(body, hint):
    (d,) = errors_of(net(body))
    assert (d.code, d.hints) == ("E201", (hint,))


@pytest.mark.parametrize("body", [
    "x -> upsample(2, mode: nearest + 1) -> output y",  # not the whole value
    "x -> conv(4, 3, stride: two) -> output y",  # an argument that takes no string
])
def test_no_quotes_hint_where_quotes_would_not_help(body):
    assert [d.hints for d in errors_of(net(body))] == [()]


def test_a_pytorch_spelling_hints_the_netdsl_operator():
    assert rendered(net("x -> BatchNorm2d -> output y")) == (
        "test.net:3:8: error[E202]: `BatchNorm2d` is not an operator, a block or a builtin\n"
        "  |\n"
        "3 |   x -> BatchNorm2d -> output y\n"
        "  |        ^^^^^^^^^^^ unknown\n"
        "  |\n"
        "  = hint: did you mean `bn` (netdsl's name for `BatchNorm2d`)?\n"
        "  = hint: batch norm: bn(eps: 1e-5); weight, bias learnable, running mean/var buffers")


def test_a_declaration_keyword_of_another_language_is_named():
    """`let k = 3` was "two statements on one line", with the caret on `k`."""
    assert rendered(net("let k = 3\nx -> output y")) == (
        "test.net:3:3: error[E101]: netdsl has no `let`: a name is defined by assigning it\n"
        "  |\n"
        "3 |   let k = 3\n"
        "  |   ^^^ not a keyword\n"
        "  |\n"
        "  = hint: write `k = 3`")


def test_a_method_call_of_an_operator_hints_the_pipe():
    assert rendered(net("y = x.relu()\noutput y")) == (
        "test.net:3:7: error[E212]: only operators, blocks and builtins can be called\n"
        "  |\n"
        "3 |   y = x.relu()\n"
        "  |       ^^^^^^\n"
        "  |\n"
        "  = hint: feed a value to `relu` with a pipe, `x -> relu(...)`, or pass it in, "
        "`relu(x, ...)`")


@pytest.mark.parametrize("line,col", [("x |> relu -> output y", 5), ("x => relu -> output y", 5),
                                      ("y = x -> relu => relu\noutput z = y", 17)])
def test_another_language_s_arrow_is_named(line, col):
    """`x => relu` was "unexpected `>`", `x |> relu` "unexpected `|`"."""
    arrow = line[col - 3:col - 1]
    assert rendered(net(line)) == (
        f"test.net:3:{col}: error[E101]: `{arrow}` is not netdsl's arrow\n"
        "  |\n"
        f"3 |   {line.splitlines()[0]}\n"
        f"  |   {' ' * (col - 3)}^^ not `->`\n"
        "  |\n"
        "  = hint: write the arrow as `->`")


def test_a_letter_beyond_ascii_in_a_name_says_what_a_name_holds():
    assert rendered(net("gr\u00f6\u00dfe = 3\nx -> output y")) == (
        "test.net:3:5: error[E101]: unexpected `\u00f6`\n"
        "  |\n"
        "3 |   gr\u00f6\u00dfe = 3\n"
        "  |     ^ expected a statement, `,`, `->`, `.`, `:`, `=`, `{`, `}` or an operator\n"
        "  |\n"
        "  = hint: a name holds ASCII letters, digits and `_` only (strings may hold any text)")


def test_a_positional_argument_after_a_keyword_one_is_named():
    """It filled the first parameter: "argument `out` is given twice", the keyword's `out` "the
    second time" and the later positional "first given here by position"."""
    assert rendered(net("x -> conv(out: 4, kernel: 3, 5) -> output y")) == (
        "test.net:3:32: error[E101]: a positional argument follows a keyword argument\n"
        "  |\n"
        "3 |   x -> conv(out: 4, kernel: 3, 5) -> output y\n"
        "  |             ------ keyword\n"
        "  |                                ^ positional\n"
        "  |\n"
        "  = hint: positional arguments come first, in order; after a `name: value`, name each "
        "argument")


@pytest.mark.parametrize("line,hint", [
    ("k = 3 in [1, 3]", "netdsl has no `in` test: compare, as in `k == 2 or k == 4`"),
    ("in = 3", "`in` is a keyword and cannot be used as a name"),
])
def test_in_after_a_value_is_told_to_be_no_test(line, hint):
    """`k = 3 in [1, 3]` hinted that `in` cannot be used as a name."""
    (d,) = errors_of(net(line + "\nx -> output y"))
    assert (d.message, d.hints) == ("unexpected keyword `in`", (hint,))


def test_a_name_defined_only_in_a_branch_that_did_not_run_says_so():
    assert rendered(net("if x.channels == 4 {\n  y = x -> relu\n}\noutput z = y")) == (
        "test.net:6:14: error[E201]: `y` is not defined\n"
        "  |\n"
        "6 |   output z = y\n"
        "  |              ^ not defined\n"
        "  |\n"
        "  = hint: `y` is defined only in a branch of the `if` on line 3, which did not run "
        "here: give it a value before the `if`, or in every branch")
    (d,) = errors_of(net("for i in range(0) {\n  y = x -> relu\n}\noutput z = y"))
    assert d.hints == ("`y` is defined only in the `for` loop on line 3, which ran no times "
                       "here: give it a value before the loop",)
    (d,) = errors_of(net("output z = y\nif x.channels == 4 {\n  y = x -> relu\n}"))
    assert d.hints == ()  # defined after the use: no branch would have helped


@pytest.mark.parametrize("expr,hint", [
    ("x.depth", "a tensor of rank 4 has: shape, batch, rank, channels, height, width"),
    ("x.widht", "did you mean `width`?"),
    ("x.shape.0", "index it with brackets: `[0]`"),
    ("[1, 2].len", "call the builtin: `len(...)`"),
])
def test_a_missing_attribute_hints_what_there_is(expr, hint):
    """`x.depth` of a rank-4 tensor hinted "did you mean `width`?"; a list's `.0` or `.len`
    hinted nothing."""
    (d,) = errors_of(net(f"k = {expr}\nx -> output y"))
    assert (d.code, d.hints) == ("E212", (hint,))


@pytest.mark.parametrize("line,hint", [
    ("x -> conv(4, 3, pad: SAME) -> output y", "did you mean `same`?"),  # TensorFlow's spelling
    ("x -> Relux -> output y", "did you mean `relu`?"),  # it was `elu`
])
def test_did_you_mean_compares_names_case_blind(line, hint):
    """`SAME` hinted nothing: difflib, case-sensitive, found no close name."""
    (d,) = errors_of(net(line))
    assert d.hints == (hint,)


@pytest.mark.parametrize("text", [
    "block b(x, a = c, c = 1) {\n  return x\n}\n" + net("x -> b -> output y"),
    net("x -> output y", "(a = c + 1, c = 1)"),
])
def test_a_default_naming_a_later_parameter_says_so(text):
    (d,) = errors_of(text)
    assert (d.message, d.hints) == ("`c` is not defined", (
        "`c` is a parameter after `a`: a default may use only the parameters before it",))


def test_pytorch_s_input_size_argument_is_told_to_be_inferred():
    """`in_channels:` hinted "did you mean `out`? it is required and not given"."""
    assert [(d.message, d.hints) for d in errors_of(net(
        "x -> conv(in_channels: 3, out_channels: 4, kernel: 3) -> output y"))] == [
        ("`conv` has no argument `in_channels`", (
            "netdsl infers the input's size from the tensor fed in: leave `in_channels` out",)),
        ("`conv` has no argument `out_channels`", (
            "did you mean `out`? it is required and not given",))]


def test_a_symbolic_size_used_as_a_name_says_it_reads_as_a_string():
    (d,) = errors_of(net("k = x.shape == [N, 3, 8, 8]\nx -> output y"))
    assert (d.message, d.hints) == ("`N` is not defined", (
        '`N` is a symbolic size of a tensor: an expression reads it as the string "N"',))


def test_a_space_or_invisible_character_from_a_copy_is_named():
    # it said "unexpected character '\\xa0': this does not look like netdsl text"
    assert rendered(net("x ->\u00a0relu -> output y")) == """\
test.net:3:7: error[E101]: unexpected no-break space (U+00A0)
  |
3 |   x ->\u00a0relu -> output y
  |       ^ here
  |
  = hint: write a plain space instead, or nothing: text copied from a web page or a document \
often holds such characters"""
    (d,) = errors_of(net("x ->\u200brelu -> output y"))
    assert d.message == "unexpected zero width space (U+200B)"


@pytest.mark.parametrize("text,hint", [
    ("\u201cnearest\u201d", 'strings use straight double quotes: "bilinear"'),
    ("\u2018nearest\u2019", 'strings use straight double quotes: "bilinear"'),
    ("\u2212 1", "write minus as `-`"),
])
def test_typographic_quotes_and_minus_hint_the_plain_ones(text, hint):
    (d,) = errors_of(net(f"x -> upsample(2, mode: {text}) -> output y"))
    assert d.hints == (hint,)


def test_a_whole_float_is_told_as_a_float():
    # "not the number 8" read as if 8 were refused; it is the float 8.0 (`/`, or `1e1`)
    (d,) = errors_of("network n {\n  input x: [N, 3, 8.0, 1e1]\n  x -> output y\n}\n")
    assert d.message == "a shape holds integers and symbolic names, not the number 8.0"
    (d,) = errors_of(net("x -> conv(x.channels / 3 * 8, 3) -> output y"))
    assert d.message == "`out` of `conv` takes an integer, not the number 8.0"


def test_a_file_that_ends_right_after_a_bracket_names_that_bracket():
    (d,) = errors_of("network n {\n  input x: [N, 3, 8, 8]\n  c = [\n")
    assert d.message == "the file ends before the `[` on line 3 is closed"


def test_a_closing_bracket_that_closes_nothing_says_so():
    # the network's `{` is closed on the last line: the stray `)` is the mistake
    assert rendered(net("x -> conv(4, 3)) -> output y")) == """\
test.net:3:18: error[E101]: this `)` closes nothing: no `(` is open here
  |
3 |   x -> conv(4, 3)) -> output y
  |                  ^ nothing to close
  |"""
    assert rendered(net("c = [1, 2)\nx -> output y")) == """\
test.net:3:12: error[E101]: this `)` closes nothing: no `(` is open here
  |
3 |   c = [1, 2)
  |       - this `[` is not closed
  |            ^ nothing to close
  |"""
    (d,) = errors_of(net("x -> output y") + "}\n")
    assert d.message == "this `}` closes nothing: no `{` is open here"


def test_an_operator_ending_a_line_with_nothing_after_it_is_the_mistake():
    # newlines are spaces inside an expression: the error comes at the next line's first token
    assert rendered(net("c = 3 *  # the rest is missing\n")) == """\
test.net:3:9: error[E101]: `*` at the end of line 3 has nothing after it
  |
3 |   c = 3 *  # the rest is missing
  |         ^ expected an expression
  |
  = hint: after an operator, an expression goes on over the next line: finish it, or remove \
the `*`"""
    (d,) = errors_of(net("y = x -> conv(8, 3) ->\n"))
    assert (d.message, d.hints) == ("`->` at the end of line 3 has nothing after it",
                                    ("`->` must be followed by a layer or block call: "
                                     "`x -> relu`, `x -> conv(16, 3)`",))
    (d,) = errors_of(net("c = 3 and\noutput y = x"))
    assert d.message == "`and` at the end of line 3 has nothing after it"
    assert d.primary is not None and d.primary.span.text() == "and"


def test_a_bracket_that_starts_a_line_is_not_taken_as_a_call_or_index_of_the_line_before():
    # newlines are spaces: `c = 3` then `(x) -> relu` read as `c = 3(x) -> relu`
    assert rendered(net("c = 3\n(x) -> relu -> output y")) == """\
test.net:4:3: error[E101]: this `(` starts a line, but it would call the value that ends the \
line before
  |
3 |   c = 3
  |       - that value
4 |   (x) -> relu -> output y
  |   ^ a call, not a new statement
  |
  = hint: a newline does not end an expression: start the statement with a name, as in \
`y = (a + b) * c`"""
    (d,) = errors_of(net("c = 3\n[x] -> concat -> output y"))
    assert d.message == ("this `[` starts a line, but it would index the value that ends the "
                         "line before")
    (d,) = errors_of(net("y = x -> relu\n(y) -> tanh -> output z"))  # the stage's arguments
    assert d.message == ("this `(` starts a line, but it would call the value that ends the "
                         "line before")
    (d,) = errors_of(net("c = 3\n[x, x] -> concat -> output y"))  # not an index: a syntax error
    assert d.message == ("this `[` starts a line, but it would index the value that ends the "
                         "line before")


@pytest.mark.parametrize("body,label", [
    # an LALR state merges the lookaheads of its contexts: `)`, `]`, `block`, `network` and
    # `use` were listed after a statement that no bracket encloses, inside a network
    ("$", "expected a statement, `where`, `{` or `}`"),
    ("x -> conv(8, 3) $", "expected a statement, `*`, `->`, `{` or `}`"),
    ("c = [1, 2 $", "expected `(`, `,`, `->`, `.`, `[`, `]` or an operator"),
])
def test_the_expected_list_holds_only_what_could_go_on(body, label):
    (d,) = errors_of(net(body))
    assert d.primary is not None and d.primary.message == label


def test_expected_keywords_are_quoted_alike():
    # `block`, `param`, `where` and `at` are regular expressions in the grammar, not literals
    assert rendered(net("x -> output y") + "$\n") == """\
test.net:5:1: error[E101]: unexpected `$`
  |
5 | $
  | ^ expected `block`, `network` or `use`
  |"""


@pytest.mark.parametrize("call,message,hint", [
    ("range(2.5)", "`range` cannot take the number 2.5",
     "`range` takes whole numbers, and a step other than 0: `range(n)`, `range(a, b)`, "
     "`range(a, b, step)`"),
    ("range(1, 5, 0)", "`range` cannot take the integer 1, the integer 5 and the integer 0",
     "`range` takes whole numbers, and a step other than 0: `range(n)`, `range(a, b)`, "
     "`range(a, b, step)`"),
    ("min([])", "`min` cannot take an empty list",
     "`min` takes numbers, or one list of them that is not empty: `min(a, b)`, `min(sizes)`"),
    ("len(1, 2)", "`len` cannot take the integer 1 and the integer 2",
     "`len` takes one list or string"),
    ("abs()", "`abs` needs arguments", "`abs` takes one number"),
])
def test_a_builtin_s_wrong_arguments_are_told_in_the_language_s_words(call, message, hint):
    # not Python's: "'float' object cannot be interpreted as an integer", "min() arg is ..."
    (d,) = errors_of(net(f"k = {call}\nx -> output y"))
    assert (d.code, d.message, d.hints) == ("E205", message, (hint,))


def test_a_bad_escape_is_e101_at_the_escape():
    assert rendered(net('k = "a\\xzz"\nx -> output y')) == """\
test.net:3:9: error[E101]: `\\x` is not an escape a string can hold
  |
3 |   k = "a\\xzz"
  |         ^^
  |
  = hint: write a backslash as `\\\\`; the escapes are `\\n`, `\\t`, `\\"`, `\\\\`, \
`\\xHH`, `\\uHHHH`"""


def test_calling_a_value_says_what_the_value_is():
    (d,) = errors_of(net("y = x -> relu\nx -> y -> output z"))
    assert (d.code, d.message, d.hints) == (
        "E202", "`y` is a value here, a tensor [N, 3, 8, 8], not an operator or a block", ())
    (d,) = errors_of(net("max = 3\nk = max(1, 2)\nx -> output y"))  # a builtin's name, taken
    assert (d.message, d.hints) == (
        "`max` is a value here, the integer 3, not an operator or a block",
        ("the value hides the builtin `max`: name it otherwise",))


# ------------------------------------------------------------------------ full rendered text

def test_rendered_keyword_hint():
    assert rendered(net("x -> conv(4, 3, stride = 2) -> output y")) == """\
test.net:3:26: error[E101]: unexpected `=`
  |
3 |   x -> conv(4, 3, stride = 2) -> output y
  |                          ^ expected `(`, `)`, `,`, `->`, `.`, `:`, `[` or an operator
  |
  = hint: keyword arguments are written `name: value`, as in `stride: 2`"""


def test_rendered_unclosed_paren_points_at_both_ends():
    assert rendered(net("x -> conv(4, 3 -> output y")) == """\
test.net:4:1: error[E101]: unexpected `}`
  |
3 |   x -> conv(4, 3 -> output y
  |            - this `(` is not closed
4 | }
  | ^ expected `)` or `,`
  |"""


def test_rendered_error_inside_block_names_the_call():
    text = BLOCK.replace("n, 3, pad: 1", "n, 3, strid: 1") + net("x -> b(4) -> output y")
    assert rendered(text) == """\
test.net:2:26: error[E203]: `conv` has no argument `strid`
  |
2 |   return x -> conv(n, 3, strid: 1)
  |                          ^^^^^ unknown argument
  |
  = note: in block `b` called at test.net:6:8
  = hint: did you mean `stride`?"""


def test_rendered_duplicate_label():
    assert rendered(net("x -> c: conv(4, 3) -> c: conv(4, 3) -> output y")) == """\
test.net:3:25: error[E211]: two layers are named `c`
  |
3 |   x -> c: conv(4, 3) -> c: conv(4, 3) -> output y
  |        ------------- first use
  |                         ^ second use
  |
  = hint: rename one of the labels"""


def test_rendered_missing_argument_with_declaration():
    assert rendered(BLOCK + net("x -> b -> output y")) == """\
test.net:6:8: error[E204]: block `b` needs argument `n`
  |
1 | block b(x, n) {
  |            - declared here
6 |   x -> b -> output y
  |        ^ `n` missing
  |"""


def test_rendered_float_for_integer_hints_floor_division():
    assert rendered(net("x -> conv(x.channels / 2, 3) -> output y")) == """\
test.net:3:13: error[E205]: `out` of `conv` takes an integer, not the number 1.5
  |
3 |   x -> conv(x.channels / 2, 3) -> output y
  |             ^^^^^^^^^^^^^^
  |
  = hint: use `//` for integer division"""


def test_carets_follow_tabs():
    text = "network n {\n\tinput x: [N, 3, 8, 8]\n\tx ->\tcnov -> output y\n}\n"
    out = rendered(text)
    assert "3 |     x ->    cnov -> output y\n  |             ^^^^ unknown" in out


def test_carets_follow_wide_and_combining_characters():
    # a CJK character and an emoji take two terminal columns each, a combining accent none
    string = '"\u5c42\U0001f600e\u0301"'  # "层😀é": 6 characters, 7 columns
    line = f"  x -> conv(8, 3, pad: {string}, strid: 2) -> output y"
    assert rendered(net(line.strip())) == f"""\
test.net:3:32: error[E203]: `conv` has no argument `strid`
  |
3 | {line}
  |                                 ^^^^^ unknown argument
  |
  = hint: did you mean `stride`?

test.net:3:19: error[E205]: `pad` of `conv` takes an integer, a list of integers, `same` or \
`valid`, not the string {string}
  |
3 | {line}
  |                   ^^^^^^^^^^^^
  |"""


def test_a_line_or_paragraph_separator_is_escaped_not_a_line_break():
    # U+2028 and U+2029 end a line in many terminals and editors: the carets would follow
    # the rest of the line onto a line of its own
    text = net("LINE\ny -> output z").replace("LINE", 'y = x -> conv(8, 3, pad: "a\u2028b", '
                                                  "strid: 1)")  # net() would split it
    out = rendered(text)
    assert "\u2028" not in out and "\u2029" not in out
    assert ('3 |   y = x -> conv(8, 3, pad: "a\\u2028b", strid: 1)\n'
            "  |                                        ^^^^^ unknown argument") in out


def test_rendered_text_is_plain_without_colour():
    assert "\x1b[" not in rendered(net("x -> c: relu -> c: relu -> output y"))


# ------------------------------------------------------------------- all errors, no cascades

def test_independent_mistakes_are_all_reported():
    diags = errors_of(net("y = x -> conv(4, 9)\nz = x -> cnov(3)\nx -> relu(strid: 1) -> output q"))
    assert [(d.code, d.location()[1]) for d in diags] == [("E301", 3), ("E202", 4), ("E203", 5)]


def test_one_mistake_does_not_cascade():
    text = net("y = q -> conv(4, 3)\nz = y -> relu\nw = z + y\nk = w.channels * 2\n"
               "if k > 2 {\n  v = x -> conv(k, 3)\n}\nv -> output out")
    assert [d.code for d in errors_of(text)] == ["E201"]


def test_names_a_failed_branch_or_loop_would_define_stay_quiet():
    text = net("if x.channels > zz {\n  y = x -> relu\n}\nfor i in range(qq) {\n"
               "  w = x -> relu\n}\ny + w -> output out")
    assert [(d.code, d.message) for d in errors_of(text)] == [
        ("E201", "`zz` is not defined"), ("E201", "`qq` is not defined")]


def test_outputs_after_a_failed_stage_stay_quiet():
    text = net("x -> cnov -> output p\np -> relu -> output q")
    assert [d.code for d in errors_of(text)] == ["E202"]


def test_a_mistake_in_a_block_is_reported_once_for_many_calls():
    text = "block b(x) {\n  return x -> frob\n}\n" + net("x -> b -> b -> output y")
    assert [d.code for d in errors_of(text)] == ["E202"]


def test_misspelt_required_keyword_is_one_mistake():
    diags = errors_of(net("x -> conv(4, kernal: 3) -> output y"))
    assert [(d.code, d.hints) for d in diags] == [("E203", ("did you mean `kernel`?",))]


def test_unknown_keyword_hints_the_missing_required_argument():
    diags = errors_of(BLOCK + net("x -> b(m: 4) -> output y"))
    assert [(d.code, d.hints) for d in diags] == [
        ("E203", ("did you mean `n`? it is required and not given",))]


def test_runaway_nested_loop_stops_with_e215():
    d = errors_of(net("for i in range(10000) {\n  for j in range(10000) {\n    k = i\n  }\n}\n"
                      "x -> output y"))[0]
    assert (d.code, d.message) == ("E215", "elaboration runs more than 200000 statements")


# ----------------------------------------------------------------------------- docs/errors.md

def test_docs_errors_md_is_current():
    from gendocs import errors_markdown
    committed = (ROOT / "docs" / "errors.md").read_text(encoding="utf-8")
    assert committed == errors_markdown(), "run `python tools/gendocs.py errors` and commit"


def test_every_code_has_a_documented_example_that_shows_it():
    from gendocs import EXAMPLES, Example, example_diagnostics
    assert set(EXAMPLES) == set(CODES)
    for code, example in EXAMPLES.items():
        if isinstance(example, Example):
            diags = example_diagnostics(example)
            assert diags and diags[0].code == code, (code, [d.code for d in diags])


def test_messages_never_show_lark_terminal_names():
    texts = [c[1] for c in CASES if c[2] == "E101"]
    for text in texts:
        out = rendered(text)
        assert not re.search(r"__ANON|\b(LPAR|RPAR|LSQB|RSQB|COMMA|COLON|STAR)\b|\$END", out), out


def test_every_diagnostic_renders_with_its_code():
    for case in CASES:
        for d in errors_of(case[1]):
            assert f"[{d.code}]" in render(d)
