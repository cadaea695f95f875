"""editor.py in-process (the fast tier; tests/test_lsp.py drives the server end to end): hover,
definition and completion over a document's own AST, graphs and text."""

from __future__ import annotations

from pathlib import Path

from netdsl import editor
from netdsl.source import Source

TEXT = """block unit(x, width) {
  y = x -> conv1: conv(width, 3, pad: 1) -> relu
  return relu(y + x)
}

network small(classes = 10) {
  input image: [N, 8, 16, 16]
  a = image -> unit(8) * 2
  b = a
  b -> globalavgpool -> flatten -> fc: dense(classes) -> output logits
}

network wide = small(classes: 100)
"""


def _doc(tmp_path: Path) -> editor.Document:
    path = tmp_path / "small.net"
    path.write_text(TEXT)
    return editor.analyse(Source(str(path), TEXT, str(tmp_path)))


def test_hover(tmp_path: Path) -> None:
    doc = _doc(tmp_path)
    assert doc.diagnostics == []
    # a layer inside a block called twice: its first instance, 3x3x8x8 weights and 8 biases
    assert editor.hover(doc, TEXT.index("conv1:")) == (
        "**a.0.conv1**: `conv` in network `small`\n\n- output: `[N, 8, 16, 16]`\n"
        "- params: 584 (weight 8x8x3x3, bias 8)\n- MACs: 147.46K\n"
        "- receptive field: 3 (jump 1)")
    # `b = a`: the tensor `a` holds, the last layer of the second unit (one 3x3 conv each)
    shown = editor.hover(doc, TEXT.index("b -> "))
    assert shown is not None and shown.startswith("**a.1.relu**: `relu`")
    assert "receptive field: 5 (jump 1)" in shown
    assert editor.hover(doc, TEXT.index("unit(8)")) == "```netdsl\nblock unit(x, width)\n```"
    called = editor.hover(doc, TEXT.index("globalavgpool") + 2)
    assert called is not None and called.startswith("**globalavgpool**")
    assert editor.hover(doc, TEXT.index("classes = 10")) is None  # a number, not a tensor


def test_definition(tmp_path: Path) -> None:
    doc = _doc(tmp_path)
    _, span = editor.definition(doc, TEXT.index("unit(8)")) or (None, None)
    assert span is not None and (span.start, span.end) == (6, 10)
    _, span = editor.definition(doc, TEXT.index("a\n  b ->")) or (None, None)
    assert span is not None and span.text() == "a"
    assert TEXT[:span.start].endswith("\n  ")
    _, span = editor.definition(doc, TEXT.index("small(classes: 100)")) or (None, None)
    assert span is not None and TEXT[span.start - 8:span.end] == "network small"


def test_completion_reads_the_text_as_typed() -> None:
    text = "block b(x, k = 3) {\n  return x -> conv(4, k"
    assert editor.block_signatures(text, {}) == {"b": "b(x, k = 3)"}
    labels = [c.label for c in editor.completions(text, len(text), {"b": "b(x, k = 3)"})]
    assert labels[:3] == ["out", "kernel", "stride"]
    assert [c.label for c in editor.completions("x -> b(", 7, {"b": "b(x, k = 3)"})] == ["x", "k"]
    top = {c.label: c for c in editor.completions("x -> ", 5, {"b": "b(x, k = 3)"})}
    assert top["b"].kind == "block" and top["conv"].kind == "operator"
    assert top["for"].kind == "keyword"
    assert editor.completions('x -> f("(", ', 11, {})[0].kind == "operator"  # no call is open


IFS = """block unit(x, width, project = true) {
  y = x -> conv(width, 3, pad: 1)
  if project {
    skip = x -> proj: conv(width, 1)
  } else {
    skip = x
  }
  return y + skip
}

network gated {
  input image: [N, 4, 8, 8]
  image -> unit(8) -> output out
}
"""


def test_hover_and_definition_inside_an_if_branch(tmp_path: Path) -> None:
    """The statements of an `if` (or `elif`) branch are in the document's tree as those of an
    `else` are: a tensor defined there hovers and is found."""
    doc = editor.analyse(Source(str(tmp_path / "gated.net"), IFS, str(tmp_path)))
    assert doc.diagnostics == []
    assert editor.hover(doc, IFS.index("skip = x ->")) == (
        "**unit.proj**: `conv` in network `gated`\n\n- output: `[N, 8, 8, 8]`\n"
        "- params: 40 (weight 8x4x1x1, bias 8)\n- MACs: 2.05K\n"
        "- receptive field: 1 (jump 1)")
    _, span = editor.definition(doc, IFS.index("x -> proj")) or (None, None)
    assert span is not None and span.text() == "x"
    assert IFS[:span.start].endswith("block unit(")


def test_hover_on_a_tensor_of_a_repeated_block_call_is_its_first_instance(tmp_path: Path) -> None:
    """`unit(8) * 2`: the two instances share their call's span; `y` is the first's, as it is
    for `unit(8) -> unit(8)` and as its conv1 hovers (a.0.conv1, one 3x3 conv: field 3)."""
    doc = _doc(tmp_path)
    shown = editor.hover(doc, TEXT.index("y + x"))
    assert shown is not None and shown.startswith("**a.0.y.1**: `relu`")
    assert shown.endswith("- receptive field: 3 (jump 1)")


def test_completion_inside_a_block_call_offers_only_its_parameters() -> None:
    """The commas inside a default (a list, a table, a call, a string) part no parameters:
    `bb` and `q` were offered as arguments of `b`."""
    text = ('block b(x, s = [a, bb], t = {k: 1, q: 2}, u = f(1, v), w = "y, z") {\n  return x\n}\n'
            "network n {\n  input image: [N, 3, 8, 8]\n  image -> b(\n}\n")
    blocks = editor.block_signatures(text, {})
    offered = editor.completions(text, text.index("b(\n") + 2, blocks)
    assert [c.label for c in offered] == ["x", "s", "t", "u", "w"]


def test_a_name_on_the_right_of_its_own_assignment_is_its_value_before(tmp_path: Path) -> None:
    """`x = x -> conv(4, 3)`: the `x` on the right is the input (3 channels, 8x8), defined on
    the line above; hover showed the conv's output and definition jumped to the same line."""
    text = ("network n {\n  input x: [N, 3, 8, 8]\n  x = x -> c1: conv(4, 3)\n"
            "  x -> output y\n}\n")
    path = tmp_path / "n.net"
    path.write_text(text)
    doc = editor.analyse(Source(str(path), text, str(tmp_path)))
    right = text.index("x -> c1")
    assert editor.hover(doc, right) == (
        "**x**: `input` in network `n`\n\n- output: `[N, 3, 8, 8]`\n- params: 0\n- MACs: 0\n"
        "- receptive field: 1 (jump 1)")
    _, span = editor.definition(doc, right) or (None, None)
    assert span is not None and span.start == text.index("x: [N")
    shown = editor.hover(doc, text.index("x -> output"))  # below: the conv's output
    assert shown is not None and shown.startswith("**c1**: `conv`")


def test_each_name_of_an_unpacking_assignment_is_its_own_tensor(tmp_path: Path) -> None:
    """`a, b = x -> split([2, 6])`: `a` is the first part (2 channels), `b` the second (6); hover
    on `a` showed the second part, and `b` had no hover and no definition."""
    text = ("network n {\n  input x: [N, 8, 8, 8]\n  a, b = x -> split([2, 6])\n"
            "  a -> relu -> output y\n  b -> output z\n}\n")
    path = tmp_path / "n.net"
    path.write_text(text)
    doc = editor.analyse(Source(str(path), text, str(tmp_path)))
    for name, part, shape in (("a", 0, "[N, 2, 8, 8]"), ("b", 1, "[N, 6, 8, 8]")):
        shown = editor.hover(doc, text.index(f"{name} -> "))
        assert shown is not None and shown.startswith(f"**split.{part}**: `slice`")
        assert f"- output: `{shape}`" in shown
        _, span = editor.definition(doc, text.index(f"{name} -> ")) or (None, None)
        assert span is not None and span.start == text.index(f"{name}, b" if part == 0 else "b =")


def test_hover_in_a_network_for_every_size_names_the_sizes_its_numbers_are_at(
        tmp_path: Path) -> None:
    """An input `[N, 3, H, W]` built at its example H = 5, W = 7: the hover's shape and MACs
    are at those sizes, and it says so (as `check` and `summary` do); it showed `[N, 3, 5, 7]`
    for the input declared `[N, 3, H, W]`, with no word of where 5 and 7 came from."""
    text = ("network anysize {\n  input image: [N, 3, H, W]\n"
            "  image -> c1: conv(4, 3, pad: 1) -> relu -> output y\n"
            "  expect y: [N, 4, 5, 7] at H = 5, W = 7\n}\n")
    path = tmp_path / "any.net"
    path.write_text(text)
    doc = editor.analyse(Source(str(path), text, str(tmp_path)))
    assert editor.hover(doc, text.index("c1")) == (
        "**c1**: `conv` in network `anysize` at H = 5, W = 7\n\n- output: `[N, 4, 5, 7]`\n"
        "- params: 112 (weight 4x3x3x3, bias 4)\n- MACs: 3.78K\n- receptive field: 3 (jump 1)")
