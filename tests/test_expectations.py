"""`expect` lines: the elaborator leaves a syntax-free tree over the measures on the graph, and
expect_check.check_expectations checks it after analysis (no syntax tree, no elaborator)."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

from conftest import ROOT, check_text, errors_of
from netdsl.elaborator import build, load_module
from netdsl.expect_check import check_expectations
from netdsl.expectations import Compare, Const, Metric
from netdsl.source import Source

HEAD = "network n(k = 3) {\n  input x: [1, 3, 8, 8]\n  x -> conv(16, 3) -> output y\n"  # 448


def _graph(text: str):
    module, ns = load_module(Source("test.net", text))
    return build(module, ns)


def test_an_expect_line_becomes_a_tree_over_the_measures():
    graph = _graph(HEAD + "  expect params == 100 * k + 148\n}\n")
    (ex,) = graph.expectations
    assert ex.tree == Compare(("==",), (Metric("params"), Const(448)), ex.tree.texts, ex.span)
    assert ex.tree.texts == ("params", "100 * k + 148") and ex.text == "params == 100 * k + 148"


def test_a_failing_expectation_says_both_sides():
    (d,) = errors_of(HEAD + "  expect params == 432\n}\n")
    assert (d.code, d.message) == ("E305", "expectation failed: params is 448, expected == 432")
    assert d.primary is not None and d.primary.span.text() == "params == 432"


def test_a_failing_expectation_writes_values_as_the_language_does():
    lines = ['conv.shape == [1, 16, 6, 5]', '[true, "N", none] == [false, "M", none]',
             '(params > 1) == false', 'params > 1 and layers < 1', '"abc" == "abd"']
    text = HEAD + "".join(f"  expect {line}\n" for line in lines) + "}\n"
    assert [d.message for d in errors_of(text)] == [
        "expectation failed: conv.shape is [1, 16, 6, 6], expected == [1, 16, 6, 5]",
        'expectation failed: [true, "N", none] is [true, "N", none], expected == '
        '[false, "M", none]',
        "expectation failed: params > 1 is true, expected == false",
        "expectation failed: `params > 1 and layers < 1` is false",
        'expectation failed: "abc" is "abc", expected == "abd"']


def test_an_expect_line_that_is_no_condition_says_so():
    (d,) = errors_of(HEAD + "  expect params\n}\n")
    assert (d.code, d.message, d.hints) == (
        "E305", "expectation failed: `params` is the integer 448, not a condition",
        ("an expect line holds where its condition is true: compare the value, as in "
         "`expect params < 25M`",))


def test_an_expectation_over_a_block_parameter_is_checked_per_call():
    text = ("block b(x, c) {\n  expect c <= 4\n  return x -> relu\n}\n"
            "network n {\n  input x: [1, 3, 8, 8]\n  y = b(x, 3)\n  z = b(y, 5)\n"
            "  output out = z\n}\n")
    (d,) = errors_of(text)
    assert d.message == "expectation failed: c is 5, expected <= 4"
    assert d.primary is not None and d.primary.span.source.line_col(d.primary.span.start)[0] == 2


def test_an_expectation_in_a_loop_sees_each_value_of_the_variable():
    text = HEAD + "  for i in range(4) {\n    expect layers > i\n  }\n}\n"  # 2 layers
    assert [d.message for d in errors_of(text)] == [
        "expectation failed: layers is 2, expected > 2",
        "expectation failed: layers is 2, expected > 3"]


def test_mistakes_in_an_expect_line_come_after_analysis_and_respect_or():
    assert check_text(HEAD + "  expect params > 10 or undefined\n}\n").graph.name == "n"
    (d,) = errors_of(HEAD + "  expect params < 10 or undefined\n}\n")
    assert (d.code, d.message) == ("E201", "`undefined` is not defined")
    # an elaboration error stops before analysis: the expect line is not reached
    (d,) = errors_of(HEAD + "  expect undefined\n  z = nope(y)\n}\n")
    assert d.code == "E202"


def test_the_check_needs_only_the_tree_and_the_stats():
    text = HEAD + "  expect macs == 2 * k\n}\n"
    graph = _graph(text)
    stats = SimpleNamespace(params=0, buffers=0, macs=6, flops=12, peak_bytes=0, layers=[])
    check_expectations(graph, stats)  # holds: no error


def test_analysis_and_the_expectation_pass_import_no_elaborator_and_no_syntax():
    code = ("import sys, netdsl.analysis, netdsl.expectations; "
            "print(sorted(m for m in sys.modules if 'elaborator' in m or m == 'netdsl.syntax'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=ROOT)
    assert out.stdout.strip() == "[]"


def test_an_output_in_an_expect_line_is_e212_not_a_crash():
    """A fuzzer's find: `expect 1 -> output z` crashed (exit 3) where a non-tensor output is
    E212 anywhere else."""
    text = ("network t {\n  input x: [N, 3, 8, 8]\n  x -> relu -> output y\n"
            "  expect 1 -> output z\n}\n")
    assert [(d.code, d.message) for d in errors_of(text)] == [
        ("E212", "output `z` must be a tensor, not the integer 1")]
