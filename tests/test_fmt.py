"""netdsl fmt: one canonical layout, comments kept, idempotent, and never a change of meaning (the
formatted file elaborates to the same layers, shapes and parameters), over the zoo and over
generated programs: zoo files with their spacing scrambled, and zoo files mutated at random."""

from __future__ import annotations

import random
import re

import pytest
from hypothesis import given, settings, strategies as st

from conftest import ZOO, cli
from fuzz_mutate import mutate
from netdsl import NetdslError
from netdsl.fmt import LINE_WIDTH, format_source
from netdsl.pipeline import check_all
from netdsl.source import Source

TEXTS = {p.name: p.read_text(encoding="utf-8") for p in sorted(ZOO.glob("*.net"))}

MESSY = """\
# a comment at the top
block  pair(x,w){
    y=x->conv(w,3,pad:1)->relu   # first
    return y+x # second, aligned with the first
}
network   tiny( c = 8 ){
input image:[N,3,8,8]
  t = {1: [2,3], 2: [4 ,5]}[1]
  image->stem:conv(c,3,pad:1)PAIRS->relu->output y


  expect params==-(-1)*c  *c*9+c+7*(c*c*9+c)
}
""".replace("PAIRS", "->pair(c)" * 7)  # a pipe of 108 columns

FORMATTED = """\
# a comment at the top
block pair(x, w) {
  y = x -> conv(w, 3, pad: 1) -> relu  # first
  return y + x                         # second, aligned with the first
}
network tiny(c = 8) {
  input image: [N, 3, 8, 8]
  t = {1: [2, 3], 2: [4, 5]}[1]
  image -> stem: conv(c, 3, pad: 1) -> pair(c) -> pair(c) -> pair(c) -> pair(c) -> pair(c)
        -> pair(c) -> pair(c) -> relu -> output y

  expect params == -(-1) * c * c * 9 + c + 7 * (c * c * 9 + c)
}
"""


def _meaning(text: str) -> list[tuple[object, ...]]:
    """Every network of the text, elaborated: its layers (name, op, shape) and parameters."""
    out: list[tuple[object, ...]] = []
    for name, checked in check_all(Source(str(ZOO / "x.net"), text, root=str(ZOO))):
        if isinstance(checked, NetdslError):
            out.append((name, [d.code for d in checked.diagnostics]))
            continue
        graph, stats = checked.graph, checked.stats
        out.append((graph.name, [(n.name, n.op, n.shape) for n in graph.nodes()],
                    stats.params, stats.macs, dict(graph.outputs)))
    return out


def _comments(text: str) -> list[str]:
    """The comments, trailing whitespace aside (fmt drops it)."""
    return [c.rstrip() for c in re.findall(r"#[^\n]*", re.sub(r'"([^"\\\n]|\\.)*"', '""', text))]


def test_the_canonical_layout():
    assert format_source(MESSY) == FORMATTED
    assert format_source(FORMATTED) == FORMATTED


def test_a_syntax_error_is_a_netdsl_error():
    with pytest.raises(NetdslError):
        format_source("network x {\n  input a: [1]\n  a -> relu( -> output y\n}\n")


@pytest.mark.parametrize("name", TEXTS)
def test_the_zoo_is_formatted(name):
    assert format_source(TEXTS[name]) == TEXTS[name]


@pytest.mark.slow
@pytest.mark.parametrize("name", TEXTS)
def test_formatting_keeps_meaning_and_comments(name):
    """Spacing scrambled (seeded): formatting restores the zoo file exactly, so it means what the
    zoo file means; the scrambled file's elaboration is checked equal too."""
    scrambled = _scramble(TEXTS[name], random.Random(name))
    assert scrambled != TEXTS[name]
    assert _meaning(scrambled) == _meaning(TEXTS[name])
    assert format_source(scrambled) == TEXTS[name]


TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"|#.*|(?:\d[\d_]*(?:\.\d+)?|(?<![\w)\]])\.\d+)'
                   r"(?:[eE][+-]?\d+)?[KMGT]?%?|\w+|->|~=|\*\*|//|==|!=|<=|>=|\S")


def _scramble(text: str, rng: random.Random) -> str:
    """Other indentation and other spacing between tokens (none, spaces, tabs): never a newline
    added or removed, and at least one space between two words."""
    out = []
    for line in text.split("\n"):
        joined = ""
        for tok in TOKEN.findall(line):
            gap = rng.choice(["", "", " ", "  ", "\t"])
            if joined and (tok[0] == "#" or ((joined[-1].isalnum() or joined[-1] in '_"')
                           and (tok[0].isalnum() or tok[0] in '_"'))):
                gap = gap or " "
            joined += gap + tok
        out.append(rng.choice(["", " ", "    ", "\t"]) + joined.lstrip() if joined else "")
    return "\n".join(out)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.sampled_from(sorted(TEXTS)), st.integers(0, 2**32 - 1))
def test_generated_programs(name, seed):
    """Zoo files mutated at random (tools/fuzz_mutate.py's token mutations): those that still parse
    format idempotently, keep their comments, and (where they elaborate) their meaning."""
    text = mutate(TEXTS[name], random.Random(seed))
    try:
        once = format_source(text)
    except NetdslError:
        return
    assert format_source(once) == once
    assert _comments(once) == _comments(text)
    try:
        before = _meaning(text)
    except NetdslError:
        return
    assert _meaning(once) == before


def test_check_lists_the_files_that_would_change(tmp_path):
    (tmp_path / "a.net").write_text(FORMATTED)
    (tmp_path / "b.net").write_text(MESSY)
    code, out, err = cli("fmt", "--check", str(tmp_path))
    assert (code, out, err) == (1, "", f"would reformat {tmp_path / 'b.net'}\n")
    assert (tmp_path / "b.net").read_text() == MESSY
    assert cli("fmt", "--check", str(tmp_path / "a.net")) == (0, "", "")


def test_diff_prints_a_unified_diff(tmp_path):
    path = tmp_path / "b.net"
    path.write_text(MESSY)
    code, out, _ = cli("fmt", "--diff", str(path))
    assert code == 1
    assert out.startswith(f"--- {path} (original)\n+++ {path} (formatted)\n@@ ")
    assert "\n-block  pair(x,w){\n" in out and "\n+block pair(x, w) {\n" in out
    assert path.read_text() == MESSY


def test_fmt_rewrites_in_place(tmp_path):
    path = tmp_path / "b.net"
    path.write_text(MESSY)
    assert cli("fmt", str(path)) == (0, "", f"reformatted {path}\n")
    assert path.read_text() == FORMATTED
    assert cli("fmt", str(path)) == (0, "", "")


def test_fmt_reports_a_syntax_error(tmp_path):
    path = tmp_path / "bad.net"
    path.write_text("network x {\n  input a: [1]\n  a -> -> relu\n}\n")
    code, out, err = cli("fmt", str(path))
    assert code == 1 and f"{path}:3:" in err and out == ""
    assert cli("fmt", str(tmp_path / "missing.net"))[0] == 2


def test_diff_of_a_file_without_a_final_newline_is_a_valid_patch(tmp_path):
    """The last line lacks its newline: the diff marks it as `diff -u` does, so that `-# two` and
    the `+` lines that follow stay on lines of their own and `patch` applies it."""
    path = tmp_path / "c.net"
    path.write_text("# one\n\n\n# two")
    code, out, _ = cli("fmt", "--diff", str(path))
    assert (code, out) == (1, f"--- {path} (original)\n+++ {path} (formatted)\n"
                              "@@ -1,4 +1,3 @@\n # one\n \n-\n-# two\n"
                              "\\ No newline at end of file\n+# two\n")


def test_fmt_keeps_a_files_crlf_line_ends(tmp_path):
    """A Windows file stays one: `--check` calls a CRLF file in the layout formatted, so
    rewriting it must not turn every line end into LF (a whole-file change in version control)."""
    path = tmp_path / "w.net"
    path.write_bytes(MESSY.replace("\n", "\r\n").encode())
    assert cli("fmt", str(path)) == (0, "", f"reformatted {path}\n")
    assert path.read_bytes() == FORMATTED.replace("\n", "\r\n").encode()
    assert cli("fmt", "--check", str(path)) == (0, "", "")


def test_a_comment_inside_a_continued_statement_stays_inside_it():
    """A comment line between a pipe's stages (or before an operand on the next line) is
    indented as the line after it, not dedented to look like a comment between statements."""
    text = ("network n {\n  input x: [N, 3, 8, 8]\n  y = x -> conv(4, 3, pad: 1)\n"
            "  # then the nonlinearity\n  -> relu\n  z = y\n# a comment\n    -> relu\n"
            "  w = y +\n    # before an operand\n    z\n  # between statements\n"
            "  w -> output o\n}\n")
    assert format_source(text) == """\
network n {
  input x: [N, 3, 8, 8]
  y = x -> conv(4, 3, pad: 1)
        # then the nonlinearity
        -> relu
  z = y
      # a comment
      -> relu
  w = y +
      # before an operand
      z
  # between statements
  w -> output o
}
"""


def test_fmt_keeps_a_byte_order_mark(tmp_path):
    """A file that starts with a UTF-8 byte order mark (Windows Notepad's) and is in the layout
    is formatted: no diff whose two lines look the same, and a rewrite keeps the mark."""
    path = tmp_path / "bom.net"
    path.write_bytes(b"\xef\xbb\xbf" + FORMATTED.encode())
    assert cli("fmt", "--check", str(path)) == (0, "", "")
    path.write_bytes(b"\xef\xbb\xbf" + MESSY.encode())
    assert cli("fmt", str(path)) == (0, "", f"reformatted {path}\n")
    assert path.read_bytes() == b"\xef\xbb\xbf" + FORMATTED.encode()


def test_a_line_with_a_suppression_comment_is_not_broken(tmp_path):
    """`# netdsl: ignore[W301]` applies to its own line: breaking a long pipe would leave the
    comment on the last piece, away from the carets, so `check` would warn W301 and W001."""
    line = ("  y = concat(a, b) -> conv(4, 1) -> relu -> conv(4, 1) -> relu -> conv(4, 1) -> relu"
            " -> conv(4, 1) -> relu  # netdsl: ignore[W301]\n")
    text = ("network n {\n  input x: [N, 1, 8, 8]\n  a = x -> conv(4, 3)\n"
            "  b = x -> crop(size: [7, 7]) -> conv(4, 2)\n" + line + "  y -> output o\n}\n")
    assert format_source(text) == text
    path = tmp_path / "n.net"
    path.write_text(text)
    assert cli("check", str(path)) == (0, f"{path}: n: ok (156 params, 5.33K MACs)\n", "")


def test_fmt_through_a_symlink_formats_its_target(tmp_path):
    """A linked file (a shared model kept once) is formatted where it lives; the link stays a
    link, not replaced by a formatted copy that leaves the target as it was."""
    target = tmp_path / "shared.net"
    target.write_text(MESSY)
    link = tmp_path / "model.net"
    link.symlink_to(target)
    assert cli("fmt", str(link)) == (0, "", f"reformatted {link}\n")
    assert link.is_symlink() and target.read_text() == FORMATTED


@pytest.mark.parametrize("expr", ["1" + " + 1" * 3000, "-" * 3000 + "1"])
def test_a_long_chain_or_deep_nesting_is_formatted(expr):
    """fmt's check that it left the syntax tree alone recursed: a traceback (exit 3) from about
    500 operators on, a flat chain `1 + 1 + ... + 1` included, which check accepts."""
    text = f"network n {{\n  input x: [N, 3]\n  k = {expr}\n  x -> output y\n}}\n"
    assert format_source(text) == text


def test_a_line_that_goes_on_with_a_minus_or_plus_stays_indented_under_its_statement():
    """`k = 4` then `- 1` on the next line is one statement (k = 3: newlines are whitespace):
    the `- 1` line is a continuation, not dedented to look like a statement of its own; a `-`
    that starts a statement (after a pipe, which no `-` continues) stays one."""
    text = ("network n {\n  input x: [N, 3, 8, 8]\n  k = 4\n  - 1\n"
            "  x -> conv(k, 3) -> relu\n  -x -> output y\n  expect params == 3 * 27\n"
            "      + 3\n}\n")
    assert format_source(text) == (
        "network n {\n  input x: [N, 3, 8, 8]\n  k = 4\n      - 1\n"
        "  x -> conv(k, 3) -> relu\n  -x -> output y\n  expect params == 3 * 27\n"
        "      + 3\n}\n")
    assert _meaning(text) == _meaning(format_source(text))


def test_a_number_before_a_modulo_is_no_percentage():
    """`10%3` is 10 modulo 3 (a percentage only follows `within`): one space around the `%`, as
    around every binary operator; it was `10% 3`."""
    text = ("network n {\n  input x: [N, 3, 8, 8]\n  k = 10%3 + 7% 2 + (4)%2\n"
            "  x -> conv(4, k) -> output y\n  expect params ~= 4 * 27 + 4 within 50%\n}\n")
    assert format_source(text) == (
        "network n {\n  input x: [N, 3, 8, 8]\n  k = 10 % 3 + 7 % 2 + (4) % 2\n"
        "  x -> conv(4, k) -> output y\n  expect params ~= 4 * 27 + 4 within 50%\n}\n")


def test_a_where_or_at_clause_on_a_line_of_its_own_stays_under_its_statement():
    """An input's `where` clause, an expected shape's `at` clause or a param's `= value` on the
    next line go on their statement: indented as its continuation, not dedented to look like
    statements of their own."""
    text = ("network n {\n  input x: [N, 3, H, W]\n  where H >= 8,\n  H == W\n"
            "  param g: [3, 1, 1]\n  = 0.5\n  x * g -> relu -> output y\n"
            "  expect y: [N, 3, 8, 8]\n  at H = 8,\n  W = 8\n}\n")
    assert format_source(text) == (
        "network n {\n  input x: [N, 3, H, W]\n      where H >= 8,\n      H == W\n"
        "  param g: [3, 1, 1]\n      = 0.5\n  x * g -> relu -> output y\n"
        "  expect y: [N, 3, 8, 8]\n      at H = 8,\n      W = 8\n}\n")


def test_a_long_line_of_one_stage_after_its_arrow_is_kept_whole(tmp_path):
    """A pipe's continuation line `-> conv(...)` longer than LINE_WIDTH has no other `->` to
    break before: it stays whole; fmt crashed (IndexError, exit 3)."""
    stage = ("-> conv(channels_of_the_first_stage, 3, stride: stride_of_the_first_stage, "
             "pad: 1, bias: false)")
    text = (f"network n(channels_of_the_first_stage = 4, stride_of_the_first_stage = 1) {{\n"
            f"  input x: [N, 3, 8, 8]\n  y = x -> relu\n        {stage}\n  y -> output z\n}}\n")
    assert len(f"        {stage}") > LINE_WIDTH
    path = tmp_path / "long.net"
    path.write_text(text)
    assert cli("fmt", "--check", str(path)) == (0, "", "")
    assert format_source(text) == text


def test_a_parenthesised_where_condition_keeps_its_space(tmp_path):
    """`where (H == W)` is an input's condition; `where(H == W)` would call something named
    `where`, so the space stays: fmt removed it and then reported a syntax error, at `<fmt>`,
    in a file that checks. A tolerance in parentheses keeps its space after `within` too."""
    text = ("network n {\n  input x: [N, 3, H, W] where (H == W), H >= 6\n"
            "  x -> relu -> output y\n  expect params ~= 0 within (50)\n"
            "  expect y: [N, 3, 8, 8] at H = 8, W = 8\n}\n")
    path = tmp_path / "where.net"
    path.write_text(text)
    assert cli("fmt", "--check", str(path)) == (0, "", "")
    assert cli("check", "-q", str(path))[0] == 0


def test_the_diff_of_a_crlf_file_is_a_patch_that_applies_to_it(tmp_path):
    """The diff's lines keep the file's CRLF ends, as its rewrite does: with LF lines, `patch`
    failed on the file ("different line endings")."""
    path = tmp_path / "w.net"
    path.write_bytes(b"network n {\r\n  input x: [N, 3, 8, 8]\r\n  x  ->relu -> output y\r\n}\r\n")
    code, out, _ = cli("fmt", "--diff", str(path))
    assert (code, out) == (1, f"--- {path} (original)\n+++ {path} (formatted)\n"
                              "@@ -1,4 +1,4 @@\n network n {\r\n   input x: [N, 3, 8, 8]\r\n"
                              "-  x  ->relu -> output y\r\n+  x -> relu -> output y\r\n }\r\n")


def test_the_diff_of_a_file_with_a_form_feed_is_a_valid_patch(tmp_path):
    """A form feed (whitespace to the grammar) ends no line of a diff: splitlines() split there,
    and the diff said `\\ No newline at end of file` in the middle of the file."""
    path = tmp_path / "f.net"
    path.write_text("network n {\n  input x: [N, 3, 8, 8]  \f\n  x  ->relu -> output y\n}\n")
    code, out, _ = cli("fmt", "--diff", str(path))
    assert (code, out) == (1, f"--- {path} (original)\n+++ {path} (formatted)\n"
                              "@@ -1,4 +1,4 @@\n network n {\n-  input x: [N, 3, 8, 8]  \f\n"
                              "-  x  ->relu -> output y\n+  input x: [N, 3, 8, 8]\n"
                              "+  x -> relu -> output y\n }\n")


def test_fmt_of_standard_input_writes_standard_output(monkeypatch):
    """`netdsl fmt -`, as an editor pipes a buffer: the formatted text on stdout, CRLF kept;
    with --check the exit code alone; a syntax error writes nothing to stdout (exit 1); `-`
    with files is a usage error."""
    import io
    import sys

    def run(text: str, *flags: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(text.encode())))
        return cli("fmt", "-", *flags)

    messy = "network n {\r\ninput x:[N,3,8,8]\r\n  x->relu->output y\r\n}\r\n"
    tidy = "network n {\r\n  input x: [N, 3, 8, 8]\r\n  x -> relu -> output y\r\n}\r\n"
    assert run(messy) == (0, tidy, "")
    assert run(tidy) == (0, tidy, "")
    assert run(messy, "--check") == (1, "", "would reformat <stdin>\n")
    code, out, err = run("network n {\n  input x: [N, 3\n}\n")
    assert (code, out) == (1, "") and err.startswith("<stdin>:3:1: error[E101]: unexpected `}`")
    assert cli("fmt", "-", str(ZOO / "lenet.net"))[0] == 2
