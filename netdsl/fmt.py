"""Source text → the same program in the one canonical layout (`netdsl fmt`).

The grammar drops comments and whitespace, so the formatter works on the token stream of the text
itself (a scan with the grammar's terminals, comments included) and only ever changes whitespace
between tokens: indentation (2 spaces per `{ }` body, continuation lines under their open bracket,
pipe continuations under the statement's first `->`), one space around binary operators and after
`,` and `:`, pipes longer than LINE_WIDTH broken before a `->`, trailing comments aligned within a
run of lines, at most one blank line. The result is parsed again and its syntax tree compared with
the original's (spans aside), so a formatting bug can never change what a file means."""

from __future__ import annotations

import bisect
import dataclasses
import re
from collections.abc import Iterator
from typing import Any

from netdsl import syntax as s
from netdsl.parse import parse
from netdsl.record import MutableRecord, record
from netdsl.source import Source, Span
from netdsl.suppress import is_suppression

LINE_WIDTH = 100
INDENT = "  "

_TOKEN = re.compile(r"""
    (?P<string>"([^"\\\n]|\\.)*")
  | (?P<comment>\#[^\n]*)
  | (?P<number>(\d[\d_]*(\.\d+)?|(?<![\w)\]])\.\d+)([eE][+-]?\d+)?[KMGT]?%?)
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>->|~=|\*\*|//|==|!=|<=|>=|[-+*/%<>=:,.()\[\]{}])
""", re.VERBOSE)
_BINARY = {"->", "~=", "**", "//", "==", "!=", "<=", ">=", "<", ">", "=", "+", "-", "*", "/",
           "%", "and", "or", "in", "within"}
_KEYWORDS = {"network", "block", "use", "input", "output", "expect", "option", "if", "elif",
             "else", "for", "in", "return", "and", "or", "not", "param"}
# after these a `-`/`+` is a sign and a `{` opens a table, not a body
_OPERAND_START = _BINARY | {"(", "[", "{", ",", ":", "not", "return", "expect", "if", "elif",
                            "for", "option"}
_CONTINUES = _BINARY - {"in"} | {",", ":", ".", "(", "["}  # a line ending in one goes on


@record(frozen=False)
class _Line(MutableRecord):
    first: int  # index of its first code token in the stream
    count: int  # how many code tokens it has
    comment: str  # the trailing (or whole-line) comment, "" if none
    blank_before: bool


@record(frozen=False)
class _Open(MutableRecord):
    token: str  # `{`, `(` or `[`
    body: bool  # a `{ }` body (indented by INDENT), not a bracket or a table
    column: int  # where the bracket stands in the output
    indent: int  # its line's indentation
    hanging: bool  # the last token of its line: contents go on the next lines
    arrow: int | None = None  # column of the first `->` directly inside it


def format_source(text: str, path: str = "<string>") -> str:
    """The canonical layout of `text`; raises NetdslError when `text` does not parse (its
    diagnostics name `path`)."""
    source = Source(path, text)
    before = parse(source)
    tokens, lines, offsets = _scan(source.text)
    # NOTE: `where (` is an input's condition (WHERE needs the space), `where(` a call
    keyword = {i for i in range(1, len(tokens)) if tokens[i] == "(" and tokens[i - 1] == "where"
               and offsets[i] > offsets[i - 1] + len("where")}
    out = _Layout(tokens, *_continued(before.items, tokens, lines, offsets), keyword).run(lines)
    after = parse(Source("<fmt>", out))
    assert _shape(before.items) == _shape(after.items), "fmt changed the program's syntax tree"
    return out


def _scan(text: str) -> tuple[list[str], list[_Line], list[int]]:
    tokens: list[str] = []
    lines: list[_Line] = []
    offsets: list[int] = []  # each token's offset in the text
    blank, start = False, 0
    for raw in text.split("\n"):
        first, comment, pos = len(tokens), "", 0
        while pos < len(raw):
            if raw[pos] in " \t\f\v":
                pos += 1
                continue
            m = _TOKEN.match(raw, pos)
            assert m, f"fmt: no token at {raw[pos:]!r} in a program that parsed"
            if m.lastgroup == "comment":
                comment = m.group().rstrip()
            elif m.lastgroup == "number" and m.group().endswith("%") and tokens[-1:] != [
                    "within"]:  # `10%3`: a modulo, not a percentage
                tokens += [m.group()[:-1], "%"]
                offsets += [start + pos, start + m.end() - 1]
            else:
                tokens.append(m.group())
                offsets.append(start + pos)
            pos = m.end()
        start += len(raw) + 1
        if len(tokens) == first and not comment:
            blank = bool(lines)
            continue
        lines.append(_Line(first, len(tokens) - first, comment, blank))
        blank = False
    return tokens, lines, offsets


def _continued(items: Any, tokens: list[str], lines: list[_Line], offsets: list[int]
               ) -> tuple[set[int], set[int]]:
    """The first tokens of lines inside a statement, after its start (the statement goes on:
    newlines are whitespace; `- 1`, `where H >= 8`), and the `-` and `+` that start one (a
    sign: `-x -> output y`)."""
    spans = sorted(_statement_spans(items))  # NOTE: disjoint: a bisection finds the one
    starts = [a for a, _ in spans]
    first = {line.first for line in lines if line.count}
    inside = {i for i in first if (k := bisect.bisect_left(starts, offsets[i]) - 1) >= 0
              and offsets[i] < spans[k][1]}
    return inside, {i for i in first - inside if tokens[i] in ("-", "+")}


def _statement_spans(stmts: Any) -> Iterator[tuple[int, int]]:
    """(start, end) of every statement that is not an `if` or `for` (whose bodies are
    searched), in the items or statements given."""
    for st in stmts:
        if isinstance(st, (s.Network, s.Block, s.For)):
            yield from _statement_spans(st.body)
        elif isinstance(st, s.If):
            yield from _statement_spans([x for _, body in st.branches for x in body])
            yield from _statement_spans(st.orelse)
        elif not isinstance(st, (s.Use, s.NetworkAlias)):
            yield st.span.start, st.span.end


def _spacing(tokens: list[str], signs: set[int], keyword: set[int]
             ) -> tuple[list[bool], list[bool]]:
    """Per token: whether one space precedes it (after the line's first), and whether a `{`
    opens a body (else a table). `signs`: the `-` and `+` known to start a statement;
    `keyword`: the `(` after a keyword that takes no call (`where (H == W)`)."""
    space = [False] * len(tokens)
    body = [False] * len(tokens)
    stack: list[bool] = []
    for i, b in enumerate(tokens):
        a = tokens[i - 1] if i else None
        operand_start = a is None or a in _OPERAND_START
        if b == "{":
            body[i] = not operand_start
            stack.append(body[i])
        elif b == "}":
            body[i] = stack.pop() if stack else True
        if a is None or b in (",", ")", "]", ".", ":") or a in (".", "(", "["):
            continue
        if (a == "{" and not body[i - 1]) or (b == "}" and not body[i]):
            continue
        if b in ("(", "[") and (a in (")", "]") or a[0] == '"' or (a == "}" and not body[i - 1])
                                or (_wordy(a) and a not in _KEYWORDS and a != "within"
                                    and i not in keyword)):
            continue
        sign = a in ("-", "+") and (i < 2 or tokens[i - 2] in _OPERAND_START or i - 1 in signs)
        space[i] = not sign
    return space, body


class _Layout:
    """Lines of tokens → text: indentation, pipe breaks, aligned comments."""

    def __init__(self, tokens: list[str], continued: set[int], signs: set[int],
                 keyword: set[int]):
        self.tokens, self.continued = tokens, continued
        self.space, self.body = _spacing(tokens, signs, keyword)
        self.stack: list[_Open] = []
        self.stmt_indent = 0
        self.arrow: int | None = None  # column of the statement's first top-level `->`
        self.top = 0  # stack depth at the statement's start

    def run(self, lines: list[_Line]) -> str:
        rows: list[tuple[str, str, bool]] = []  # code, comment, blank line before
        last: str | None = None  # the last code token so far
        for k, line in enumerate(lines):
            idx = list(range(line.first, line.first + line.count))
            if not idx:
                after = next((self.tokens[n.first] for n in lines[k + 1:] if n.count), None)
                rows.append((" " * self._indent(None, last, after), line.comment,
                             line.blank_before))
                continue
            # NOTE: a suppression comment applies to its own line: that line stays whole
            pieces = self._render(idx, last, whole=is_suppression(line.comment))
            for n, code in enumerate(pieces):
                rows.append((code, line.comment if n == len(pieces) - 1 else "",
                             line.blank_before and n == 0))
            last = self.tokens[idx[-1]]
        return _align(rows)

    def _indent(self, first: int | None, last: str | None, after: str | None = None) -> int:
        """The indentation of a line starting with token `first` (None: a comment line, whose
        next code line starts with token `after`)."""
        tok = self.tokens[first] if first is not None else None
        opened = self.stack[-1] if self.stack else None
        if opened and not opened.body:
            if tok == "->" and opened.arrow is not None:
                return opened.arrow
            if tok in (")", "]", "}"):
                return opened.indent if opened.hanging else opened.column
            return opened.indent + len(INDENT) if opened.hanging else opened.column + 1
        if first is None:  # a comment line: indented as the line after it, no state change
            tok = after
        continues = ((last is not None and last in _CONTINUES) or tok in _BINARY - {"-", "+"}
                     or first in self.continued)
        if first is None and not continues:
            return len(INDENT) * sum(o.body for o in self.stack)
        if continues:
            if tok == "->" and self.arrow is not None:
                return self.arrow
            return self.stmt_indent + 2 * len(INDENT)
        depth = sum(o.body for o in self.stack) - (tok == "}")
        self.stmt_indent, self.arrow = len(INDENT) * depth, None
        self.top = len(self.stack) - (tok == "}")
        return self.stmt_indent

    def _render(self, idx: list[int], last: str | None, whole: bool = False) -> list[str]:
        """One source line, broken before a `->` where it is longer than LINE_WIDTH (unless
        `whole`)."""
        indent = self._indent(idx[0], last)
        saved = (list(self.stack), self.arrow)
        code, arrows = self._emit(idx, indent)
        # NOTE: a line of one `->` stays whole: `x -> f(...)`, or `-> f(...)` that goes on a pipe
        if whole or len(code) <= LINE_WIDTH or len(arrows) < 2:
            return [code]
        self.stack, self.arrow = saved
        cut = [a for a in arrows if a != idx[0]]
        fits = [a for a in cut if len(self._text(idx[:idx.index(a)], indent)) <= LINE_WIDTH]
        at = idx.index(fits[-1] if fits else cut[0])
        head, _ = self._emit(idx[:at], indent)
        return [head] + self._render(idx[at:], self.tokens[idx[at - 1]])

    def _text(self, idx: list[int], indent: int) -> str:
        return " " * indent + "".join(
            (" " if n and self.space[i] else "") + self.tokens[i] for n, i in enumerate(idx))

    def _emit(self, idx: list[int], indent: int) -> tuple[str, list[int]]:
        """Render tokens `idx` at `indent`, tracking brackets; the top-level `->` among them."""
        code = " " * indent
        arrows: list[int] = []
        for n, i in enumerate(idx):
            tok = self.tokens[i]
            code += (" " if n and self.space[i] else "") + tok
            top = len(self.stack) == self.top
            if tok == "->" and top:
                arrows.append(i)
                if self.arrow is None:
                    self.arrow = len(code) - 2
            elif tok == "->" and self.stack and not self.stack[-1].body:
                if self.stack[-1].arrow is None:
                    self.stack[-1].arrow = len(code) - 2
            if tok in ("{", "(", "["):
                self.stack.append(_Open(tok, self.body[i], len(code) - 1, indent,
                                        n == len(idx) - 1))
            elif tok in ("}", ")", "]") and self.stack:
                self.stack.pop()
        return code, arrows


def _align(rows: list[tuple[str, str, bool]]) -> str:
    """Join the rows; the trailing comments of consecutive lines start in one column, as long
    as that keeps the run's lines within LINE_WIDTH."""
    out: list[str] = []
    run: list[tuple[int, str]] = []  # (row in out, comment) of the current run

    def flush() -> None:
        column = max(len(out[j]) for j, _ in run) + 2
        for j, comment in run:
            out[j] = out[j].ljust(column) + comment
        run.clear()

    for code, comment, blank in rows:
        code = code.rstrip() if code.strip() else code
        trailing = bool(comment and code.strip())
        if run and (blank or not trailing or _too_wide(out, run, code, comment)):
            flush()
        if blank and out:
            out.append("")
        out.append(code if trailing else code + comment)
        if trailing:
            run.append((len(out) - 1, comment))
    if run:
        flush()
    return "\n".join(out) + "\n" if out else ""


def _too_wide(out: list[str], run: list[tuple[int, str]], code: str, comment: str) -> bool:
    column = max([len(out[j]) for j, _ in run] + [len(code)]) + 2
    return column + max([len(c) for _, c in run] + [len(comment)]) > LINE_WIDTH


def _wordy(tok: str) -> bool:
    return tok[0].isalnum() or tok[0] in "_\""


_OPEN, _CLOSE = object(), object()  # _shape's brackets: no value of a program is either


def _shape(node: Any) -> list[Any]:
    """A syntax tree without its spans, flattened in order with its brackets: what formatting
    must leave alone. NOTE: a loop, not recursion: a chain `1 + 1 + ... + 1` nests thousands
    deep."""
    out: list[Any] = []
    todo: list[Any] = [node]
    while todo:
        n = todo.pop()
        if n is _CLOSE:
            out.append(n)
        elif isinstance(n, (list, tuple)):
            out.append(_OPEN)
            todo.append(_CLOSE)
            todo.extend(reversed(n))
        elif isinstance(n, Span):
            out.append(None)
        elif dataclasses.is_dataclass(n) and not isinstance(n, type):
            out += [_OPEN, type(n).__name__]
            todo.append(_CLOSE)
            todo.extend(reversed([getattr(n, f.name) for f in dataclasses.fields(n)
                                  if f.name != "span" and not f.name.endswith("_span")]))
        else:
            out.append(n)
    return out
