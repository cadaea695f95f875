"""The grammar: DESIGN.md's sketches parse and elaborate; spans cut out the right text;
accepted and rejected snippets."""

from __future__ import annotations

import pytest

import netdsl
from conftest import ZOO, check_text, errors_of, rendered
from netdsl import syntax as s
from netdsl.parse import parse
from netdsl.source import Source

LENET = """\
# LeNet-5 [LeCun et al. 98]: valid convolutions, average pooling, tanh
network lenet5 {
  input image: [N, 1, 32, 32]
  image -> conv(6, 5) -> tanh -> avgpool(2)
        -> conv(16, 5) -> tanh -> avgpool(2)
        -> conv(120, 5) -> tanh -> flatten
        -> dense(84) -> tanh -> dense(10) -> softmax
        -> output probs            # probs: [N, 10]
}
"""

RESNET50 = """\
# ResNet bottleneck [He et al. CVPR'16]; projection shortcut when shapes differ
block bottleneck(x, width, stride = 1) {
  y = x -> conv(width, 1) -> bn -> relu
        -> conv(width, 3, stride: stride, pad: same) -> bn -> relu
        -> conv(width * 4, 1) -> bn
  skip = x
  if stride != 1 or x.channels != width * 4 {
    skip = x -> conv(width * 4, 1, stride: stride) -> bn
  }
  return relu(y + skip)
}

network resnet50(classes = 1000) {
  option floor: true
  input image: [N, 3, 224, 224]
  x = image -> conv(64, 7, stride: 2, pad: 3) -> bn -> relu -> maxpool(3, stride: 2, pad: 1)
  x = x -> bottleneck(64) * 3
  x = x -> bottleneck(128, stride: 2) -> bottleneck(128) * 3
  x = x -> bottleneck(256, stride: 2) -> bottleneck(256) * 5
  x = x -> bottleneck(512, stride: 2) -> bottleneck(512) * 2
  x -> globalavgpool -> flatten -> dense(classes) -> output logits
  expect logits: [N, 1000]
}
"""


def test_design_lenet_sketch():
    net = netdsl.loads(LENET)
    g = net.graph
    assert g.node(g.outputs["probs"]).shape == ("N", 10)
    assert net.stats.params == 156 + 2_416 + 48_120 + 10_164 + 850  # DESIGN.md 3.6


def test_design_resnet50_sketch_matches_torchvision_counts(torch, torchvision):
    net = netdsl.loads(RESNET50)
    g = net.graph
    model = torchvision.models.resnet50()
    # the sketch's convolutions keep their biases, which torchvision's (followed by bn) drop
    conv_biases = sum(m.out_channels for m in model.modules()
                      if isinstance(m, torch.nn.Conv2d))
    assert net.stats.params == sum(p.numel() for p in model.parameters()) + conv_biases
    assert g.node(g.outputs["logits"]).shape == ("N", 1000)


def test_design_fixed_kernel_sketch():
    g = netdsl.loads("""network edges {
  input image: [N, 1, 8, 8]
  image -> conv(1, 3, weights: [[-1,-1,-1],[-1,8,-1],[-1,-1,-1]], bias: false) -> output e
}""").graph
    assert g.node(g.outputs["e"]).shape == ("N", 1, 6, 6)
    assert g.node(g.outputs["e"]).op.weights == ((-1, -1, -1), (-1, 8, -1), (-1, -1, -1))


def test_comments_blank_lines_and_trailing_commas():
    g = check_text("# top\n\nnetwork n( a = 2, ) {   # after\n  input x: [N, 3, 4, 4,]\n"
                   "  x -> conv(a, 1, bias: false,) -> output y # end\n}\n").graph
    assert g.node("conv").shape == ("N", 2, 4, 4)


def test_spans_cut_out_the_source_text():
    text = "network n {\n  input x: [N, 3, 8, 8]\n  y = x -> c: conv(4, 3, stride: 2 * 1)\n}\n"
    module = parse(Source("t.net", text))
    assign = module.items[0].body[1]
    assert isinstance(assign, s.Assign)
    assert assign.span.text() == "y = x -> c: conv(4, 3, stride: 2 * 1)"
    stage = assign.value.stages[0]
    assert stage.label.span.text() == "c" and stage.func.span.text() == "conv"
    kw = stage.kwargs[0]
    assert (kw.span.text(), kw.name_span.text(), kw.value.span.text()) == (
        "stride: 2 * 1", "stride", "2 * 1")
    assert kw.value.op_span.text() == "*"


@pytest.mark.parametrize("expr,value", [
    ("1 + 2 * 3", 7), ("(1 + 2) * 3", 9), ("2 ** 3 ** 2", 512), ("-2 ** 2", -4),
    ("7 // 2", 3), ("7 % 4", 3), ("7 / 2", 3.5), ("1 < 2 < 3", True), ("1 < 2 > 3", False),
    ("not 1 == 2", True), ("true and false or true", True), ("1_000", 1000), ("4.2G", 4.2e9),
    ("3K", 3000), ("1e3", 1000.0), ("max(3, min(5, 4))", 4), ("ceil(2.1) + floor(2.9)", 5),
    ("round(2.5) + int(3.9) + abs(-1)", 6), ("sqrt(16)", 4.0), ("len([1, 2, 3])", 3),
    ("range(3)", [0, 1, 2]), ("[1, 2][1]", 2), ("[[1, 2], [3, 4]] / 2", [[0.5, 1], [1.5, 2]]),
    ("2 * [1, 2]", [2, 4]), ('"a" + "b"', "ab"), ("x.channels * x.height", 24),
    ("x.shape", ["N", 3, 8, 8]), ("x.width + x.rank", 12), ('x.batch == "N"', True),
])
def test_expressions_follow_the_usual_precedence(expr, value):
    text = (f"network n(v) {{\n  input x: [N, 3, 8, 8]\n  k = {expr}\n"
            "  x -> output y\n  expect k == v\n}\n")
    assert check_text(text, v=value).graph.name == "n"  # the expect line compares k with v


@pytest.mark.parametrize("snippet,code", [
    ("network n { input x: [N, 3] x -> output y }", "E101"),
    ("network n {\n  input x: [N, 3]\n  y = x -> relu;\n}", "E101"),
    ("network {}", "E101"),
    ("network n {\n  input x: [N, 3]\n  y = x ->\n}", "E101"),
    ("network n {\n  input x: [N, 3]\n  if x.channels > 1 {\n}", "E101"),
    ("block b(x) return x", "E101"),
    ("use other.net", "E101"),
])
def test_rejected_snippets(snippet, code):
    assert errors_of(snippet)[0].code == code


def test_a_block_may_follow_a_network_variant():
    # Regression: after a variant's `)` Lark's lexer once lost the `block` keyword (E101).
    text = ("network a(k = 1) {\n  input x: [N, 1, 4, 4]\n  x -> grow(k) -> output y\n"
            "  expect params == 0\n  expect y: [N, 1, 4, 4]\n}\n"
            "network b = a(k: 2)\n"
            "block grow(x, k) {\n  block = x -> relu\n  return block\n}\n")
    graph = check_text(text, network="b").graph
    assert graph.params == {"k": 2}
    assert [n.name for n in graph.nodes()] == ["x", "grow.block"]


def _outcome(parse, text: str) -> object:
    """A parse's result, or where and how it failed, for comparing two parsers."""
    from lark.exceptions import UnexpectedInput, VisitError
    try:
        return parse(text)
    except VisitError:  # netdsl's AST builder: a bad number, after a clean parse
        return "built"
    except UnexpectedInput as e:
        state = getattr(e, "state", None)
        return (type(e).__name__, e.pos_in_stream, e.line, e.column, str(getattr(e, "token", "")),
                sorted(getattr(e, "expected", None) or getattr(e, "allowed", None) or ()),
                getattr(state, "position", None))


def test_the_shipped_parser_fails_where_lark_s_own_does():
    # netdsl's parser (parse/lexer.py and lalr.py: one shared scanner for every contextual-lexer
    # state, lexers made on first use, the compact table of parser.json) against Lark's stock
    # parser built from the grammar, on seeded mutants: the same trees, and the same errors,
    # tokens and expected sets where they fail. (LALR state numbers differ between the builds.)
    from lark import Lark

    import fuzz_mutate
    from netdsl import parse as p

    stock = Lark(p.load_grammar(), **p._OPTIONS)
    ours, builder = p._parser()
    failed = 0
    for text, _ in fuzz_mutate.inputs(11, 120, quick=True):
        want = _outcome(lambda t: stock.parse(t, start="start"), text)
        got = _outcome(lambda t: ours.parse(t, start="start"), text)
        with p._LOCK:  # and the parse that builds the AST as it goes (parse.parse's)
            builder.source = Source("m.net", text)
            built = _outcome(lambda t: (builder.build(t, "start"), "built")[1], text)
        if isinstance(want, tuple):
            failed += 1
            want, got, built = want[:-1], got[:-1], built[:-1]  # type: ignore[index]
            assert built == want, text
        else:
            assert built == "built", text
        assert got == want, text
    assert failed > 40  # the mutants reach errors, not only trees


def test_a_too_large_number_in_a_label_is_e215():
    # Regression: the error inside a label's `{expr}` was reported as "cannot read this: Error
    # trying to process rule ..." (Lark's wrapper around our own diagnostic)
    text = ('network a {\n  input x: [N, 3]\n  x -> "a{99999999999999999999999}": relu '
            "-> output y\n}\n")
    from conftest import rendered
    assert rendered(text) + "\n" == """\
test.net:3:11: error[E215]: the number is too large
  |
3 |   x -> "a{99999999999999999999999}": relu -> output y
  |           ^^^^^^^^^^^^^^^^^^^^^^^ too large
  |
  = hint: netdsl's integers go up to 2**63 - 1 = 9223372036854775807, its numbers to about \
1.8e308
"""


def test_each_state_s_lexer_matches_as_lark_s_own_scanner_of_its_terminals():
    # parse/lexer.py: a state's lexer asks one shared scanner of all terminals first and, when
    # that matches a terminal the state does not take, tries the state's terminals after it one
    # by one. At every position of a zoo file and of snippets where terminals collide, each
    # state's lexer matches what Lark's scanner of the state's own terminals matches.
    from lark.lexer import TextSlice

    from netdsl import parse as p

    lexer = p._parser()[0].parser.lexer
    text = ((ZOO / "resnet.net").read_text(encoding="utf-8") + " layer1.0.conv1 x.5 .5 1.5e3K"
            ' 50% within withinx block b( param x: where (at x = 1) "s{1}" ~= >= // ** # c\n')
    whole = TextSlice(text, 0, len(text))
    lexers = {id(lx): lx for lx in (lexer.lexers[s] for s in range(len(lexer._keys)))}
    assert len(lexers) > 50
    for lx in lexers.values():
        for pos in range(len(text)):
            assert lx.match(whole, pos) == lx.scanner.match(whole, pos), (lx.terminals, pos)


def test_every_rule_of_the_grammar_has_its_reduce_callback():
    # parse/lalr.py makes a rule's callback when a parse first reduces by it: make them all, so
    # that a rule without its _ToAst method fails here rather than in some user's parse
    from netdsl import parse as p

    parser = p._parser()[1].parser
    rules = parser.parse_table.rules
    assert len(rules) > 100
    for i, rule in enumerate(rules):
        size, origin, reduce = parser.callbacks[i]
        assert (size, origin) == (len(rule.expansion), rule.origin.name) and callable(reduce)


def test_a_fractional_literal_is_read_as_decimal_reads_it():
    # parse/literals.py reads `1.814G` in integers where decimal.Decimal's product is exact, and
    # through Decimal otherwise: the same int (a whole number once scaled) or float either way
    import random
    from decimal import Decimal

    from netdsl.parse.literals import _decimal

    def reference(text: str, scale: int) -> int | float:
        exact = Decimal(text) * scale
        return int(exact) if scale != 1 and exact == exact.to_integral_value() else float(exact)

    rng = random.Random(11)
    texts = ["0.0", ".5", "1.814", "4.1", "3.0", "0.1", "1e3", "1.5e-3", "0e99999", "1e-400",
             "2.5e-320", "1e308", "1e-9999", "1e-10000", "1e-9999999", "9" * 28 + ".9",
             "1" * 30 + ".5", "0.000001e6"]
    for _ in range(3000):
        digits = "".join(rng.choice("0123456789") for _ in range(rng.choice([1, 2, 5, 12, 31])))
        cut = rng.randrange(len(digits) + 1)
        exponent = rng.choice(["", "e3", "E-2", "e+12", "e-30", "e300", "e-330", "e-12000"])
        texts.append(f"{digits[:cut]}.{digits[cut:] or '0'}{exponent}")
    for text in texts:
        for scale in (1, 10**3, 10**6, 10**9, 10**12):
            if float(text) * scale != float("inf"):
                got, want = _decimal(text, scale), reference(text, scale)
                assert (type(got), got) == (type(want), want), (text, scale)


def test_a_parse_imports_no_decimal():
    # `1.814G` and the like are read without the decimal module (~1 ms of a cold check)
    import subprocess
    import sys

    code = ("import sys\nfrom netdsl.parse import parse\nfrom netdsl.source import Source\n"
            f"parse(Source('r.net', open({str(ZOO / 'resnet.net')!r}).read()))\n"
            "print(sorted(m for m in ('decimal', 'json', 'netdsl.parse.errors', "
            "'netdsl.parse.mistakes') if m in sys.modules))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={"PYTHONPATH": str(ZOO.parent)})
    assert run.stdout.strip() == "[]", run.stderr


@pytest.mark.parametrize("literal,value", [
    ('"caf\u00e9\\t"', "caf\u00e9\t"),  # a letter beyond ASCII beside an escape stays itself
    ('"\u5c42\\n"', "\u5c42\n"),
    ('"\\u00e9 \\x41 \\\\ \\""', '\u00e9 A \\ "'),
    ('"a\\qb"', "a\\qb"),  # an unknown escape keeps its backslash, as before
])
def test_a_string_s_escapes_are_read_and_nothing_else_changes(literal, value):
    module = parse(Source("t.net", f"network n {{\n  k = {literal}\n}}\n"))
    assert module.items[0].body[0].value.value == value



@pytest.mark.parametrize("literal,caret,message,label,hint", [
    ("1__0", " ^^", "error[E101]: a `_` in a number must stand between two digits",
     "misplaced `_`", "write `1_0`"),
    ("10_", "  ^", "error[E101]: a `_` in a number must stand between two digits",
     "misplaced `_`", "write `10`"),
    ("1_.5", " ^", "error[E101]: a `_` in a number must stand between two digits",
     "misplaced `_`", "write `1.5`"),
    ("08", "^^", "error[E101]: a whole number cannot start with `0`", "leading zero",
     "write `8`: netdsl reads numbers in decimal"),
    ("0_8K", "^^^^", "error[E101]: a whole number cannot start with `0`", "leading zero",
     "write `8K`: netdsl reads numbers in decimal"),
    ("1e-400", "^^^^^^", "error[E215]: the number is too small: it would be 0", "rounds to 0",
     "netdsl's numbers are 64-bit floats: the smallest above 0 is about 5e-324; write 0 if 0 "
     "is meant"),
    ("1e400", "^^^^^", "error[E215]: the number is too large", "too large",
     "netdsl's integers go up to 2**63 - 1 = 9223372036854775807, its numbers to about 1.8e308"),
])
def test_a_malformed_number_literal_is_an_error_as_in_python(literal, caret, message, label,
                                                             hint):
    """`1__0`, `10_` and `08` were read as 10, 10 and 8, and `1e-400` as 0."""
    col = 7 + len(caret) - len(caret.lstrip())
    assert rendered(f"network n {{\n  input x: [N, 3]\n  k = {literal}\n  x -> output y\n}}\n"
                    ) == (f"test.net:3:{col}: {message}\n  |\n3 |   k = {literal}\n"
                          f"  |       {caret} {label}\n  |\n  = hint: {hint}")


@pytest.mark.parametrize("literal,value", [
    ("1_0", 10), ("0", 0), ("00", 0), ("0_0", 0), ("08.5", 8.5), ("0e-400", 0.0), ("0.5", 0.5),
    ("1e-310", 1e-310), ("1_000K", 10**6), ("2_5%", 25),
])
def test_number_literals_that_python_reads_are_read(literal, value):
    text = f"network n {{\n  k = {literal}\n}}\n" if "%" not in literal else (
        f"network n {{\n  expect 1 ~= 1 within {literal}\n}}\n")
    st = parse(Source("t.net", text)).items[0].body[0]
    got = st.value.value if isinstance(st, s.Assign) else st.tolerance.value
    assert (type(got), got) == (type(value), value)


def test_a_malformed_percentage_is_an_error():
    assert rendered("network n {\n  input x: [N, 3]\n  x -> output y\n"
                    "  expect params ~= 0 within 1__0%\n}\n") == (
        "test.net:4:30: error[E101]: a `_` in a number must stand between two digits\n"
        "  |\n4 |   expect params ~= 0 within 1__0%\n  |                              ^^ "
        "misplaced `_`\n  |\n  = hint: write `1_0`")
