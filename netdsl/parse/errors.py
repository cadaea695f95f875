"""Lark errors → Diagnostics: a syntax error explained in plain words (what was expected, an
unclosed bracket, known mistakes keyed by LALR state, and those the text around it shows:
mistakes.py). Imported when a parse fails."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Any, cast

from lark import Lark, Token
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from netdsl.diagnostics import Diagnostic, error
from netdsl.parse import _OPERATORS
from netdsl.parse.lalr import _Compact
from netdsl.parse.loading import _parser
from netdsl.parse.mistakes import (
    PAIRS,
    bad_number,
    bracket_after_value,
    closes_nothing,
    dangling_operator,
    equals_hint,
    negative_percentage,
    nested_block,
    other_arrow,
    unclosed,
)
from netdsl.source import Source

# ------------------------------------------------------------------------------- syntax errors

_CLASSES = {"NAME": "a name", "NUMBER": "a number", "STRING": "a string", "PERCENT": "a percentage",
            "$END": "the end of the file"}
_EXPR_START = frozenset({"NAME", "NUMBER", "STRING", "LPAR", "LSQB"})
_STMT_START = frozenset({"INPUT", "OUTPUT", "IF", "FOR", "RETURN", "EXPECT", "OPTION", "PARAM"})
_KEYWORDS = frozenset({"BLOCK", "PARAM", "WHERE", "AT"})  # keywords the grammar matches by regex

# States the expected-token list explains badly, each found by parsing a bad snippet (the idea of
# Lark's match_examples, keyed by the LALR state alone, not by the depth of the stack): the
# message and hint to show instead.
_EXAMPLES: list[tuple[tuple[str, str], list[str]]] = [
    (("a block needs a parameter list", "write `block NAME(x, ...) { ... }`: the first "
      "parameter receives the tensor"), ["block b { return 1 }"]),
    (("`input` needs a colon before its shape", "write `input image: [N, 3, 224, 224]`"),
     ["network a { input x [N, 3] }"]),
    (("`input` is a keyword: it declares a network input", "write `input image: [N, 3, 224, "
      "224]`; name other values differently"), ["network a { input = x }"]),
    (("`output` needs a name", "write `-> output NAME` or `output NAME = value`"),
     ["network a { x -> output }", "network a { output = x }"]),
    (("`->` must be followed by a layer or block call", "write `x -> relu`, or `x -> conv(16, "
      "3)`"), ["network a { x -> }"]),
    (("`return` needs a value", "write `return x`"), ["block b(x) { return }"]),
    (("a condition is followed by a body in braces", "write `if COND { ... }`"),
     ["network a { if x: }", "network a { if x > 1: }", "network a { if x.channels: }"]),
    (("`~=` needs a tolerance", "write `expect macs ~= 4.1G within 1%`, or an absolute "
      "`within 0.2G`"), ["network a { expect macs ~= 4 }"]),
    (("a tolerance is a number or a percentage", "write `within 1%` (no space before `%`) or "
      "`within 0.2G`"), ["network a { expect macs ~= 4 within }"]),
    (("a loop is followed by a body in braces", "write `for i in range(3) { ... }`"),
     ["network a { for i in range(3): }", "network a { for i in n: }"]),
    (("a repeat count is a number, a name or an expression in brackets", "`-> f * n` repeats "
      "the stage n times (n >= 0); a computed count goes in brackets: `* (n - 1)`"),
     [f"network a {{ x -> {stage} * {count} }}" for stage in (
         "f", "f(1)", "l: f", "l: f(1)", '"l": f', '"l": f(1)') for count in (
         "-1", "2 * 2", "n * 2", "(n) * 2", "n[0] * 2", "n.a * 2")]),
]


@lru_cache(maxsize=1)
def _example_states() -> dict[int, tuple[str, str]]:
    lark = _parser()[0]
    states: dict[int, tuple[str, str]] = {}
    for label, snippets in _EXAMPLES:
        for text in snippets:
            try:
                lark.parse(text, start="start")
            except UnexpectedToken as e:
                states.setdefault(e.state.position, label)
    return states


def _syntax_error(source: Source, e: UnexpectedInput, lark: Lark) -> Diagnostic:
    """The one place where a Lark parse error becomes a Diagnostic."""
    if isinstance(e, UnexpectedCharacters):
        return _bad_character(source, e, lark)
    if isinstance(e, UnexpectedToken) and e.token.type == "BLOCK":
        return nested_block(source, e.token.start_pos)
    expected = set(getattr(e, "expected", ()) or ())
    tok = getattr(e, "token", None)
    at_end = isinstance(e, UnexpectedEOF) or tok is None or tok.type == "$END"
    texts = {n: _terminal_text(lark, n) for n in expected}
    shown = _accepted(e, expected, lark)
    label = f"expected {_describe(shown, texts)}" if shown else ""
    hints: list[str]
    if at_end:
        pos = len(source.text.rstrip())
        span = source.span(max(0, pos - 1), pos)
        message, hints = "the file ends in the middle of a statement", []
    else:
        assert isinstance(e, UnexpectedToken) and tok is not None
        arrow = other_arrow(source, tok.start_pos)
        if arrow is not None:
            return arrow
        span = source.span(tok.start_pos, max(tok.end_pos, tok.start_pos + 1))
        message, hints = _explain(tok, expected, texts, lark, source.text)
        known = _example_states().get(e.state.position) if e.state is not None else None
        if known is not None:
            message, hints = known[0], [known[1]]
    secondary = []
    opener = (unclosed(source.text, span.end) if at_end else  # NOTE: the last may be one
              unclosed(source.text, span.start) if tok in (")", "]", "}") else None)
    stray = (closes_nothing(source.text, span.start) if not at_end and tok in (")", "]", "}")
             else None)
    if stray is not None:
        message, label, hints = stray, "nothing to close", []
        if opener is not None and source.text[opener] == "{":
            opener = None  # NOTE: a body's `{`, closed further on: the stray bracket is the mistake
    if opener is not None and PAIRS[source.text[opener]] in texts.values():
        ch = source.text[opener]
        if opener != span.start:  # NOTE: else the caret under it says what it needs
            secondary.append((source.span(opener, opener + 1), f"this `{ch}` is not closed"))
        if at_end:
            line = source.line_col(opener)[0]
            message = f"the file ends before the `{ch}` on line {line} is closed"
            label = f"expected `{PAIRS[ch]}`"
    if not at_end:
        bracket = bracket_after_value(source, span.start)
        if bracket is not None:
            return bracket
    negative = None if at_end else negative_percentage(source, span.start)
    if negative is not None:
        return negative
    dangling = None if at_end else dangling_operator(source, span.start)
    if dangling is not None:  # NOTE: the operator is the mistake, not what comes after it
        span, message, label, hints = dangling
        secondary = []
    return error("E101", message, span, label, hints, secondary)


def _bad_character(source: Source, e: UnexpectedCharacters, lark: Lark) -> Diagnostic:
    # NOTE: lark declares pos_in_stream None; UnexpectedCharacters sets it to the lexer's offset.
    pos = cast(int, e.pos_in_stream)
    ch = source.text[pos] if pos < len(source.text) else ""
    span = source.span(pos, pos + 1)
    if not ch.isprintable() and unicodedata.category(ch) in ("Zs", "Cf"):  # NOTE: a pasted one
        return error("E101", f"unexpected {unicodedata.name(ch, 'invisible character').lower()} "
                     f"(U+{ord(ch):04X})", span, "here", [
                         "write a plain space instead, or nothing: text copied from a web page "
                         "or a document often holds such characters"])
    if not ch.isprintable():
        return error("E101", f"unexpected character {ch!r}: this does not look like netdsl text",
                     span, "here")
    if re.match(r"block\s+[A-Za-z_]\w*\s*[({]", source.text[pos:]):
        return nested_block(source, pos)
    if ch == '"':  # NOTE: STRING matches any `"..."` on one line: this one has no end
        end = source.text.find("\n", pos)
        return error("E101", "this string is not closed before the end of the line",
                     source.span(pos, len(source.text) if end < 0 else end), "not closed",
                     ['end it with `"` on the same line: a string cannot span lines'])
    number = bad_number(source, pos)
    if number is not None:
        return number
    allowed = set(e.allowed or ())
    shown = _accepted(e, allowed, lark)
    label = _describe(shown, {n: _terminal_text(lark, n) for n in shown})
    hints = {"'": 'strings use double quotes: "bilinear"',
             ";": "statements need no `;`: start each on its own line",
             "→": "write the arrow as `->`", "×": "write multiplication as `*`",  # noqa: RUF001
             "−": "write minus as `-`"}  # noqa: RUF001
    if ch in "\u201c\u201d\u2018\u2019":  # NOTE: a word processor's quotes
        hints[ch] = 'strings use straight double quotes: "bilinear"'
    hint = hints.get(ch, "")
    if ch.isalpha() and not ch.isascii():
        hint = "a name holds ASCII letters, digits and `_` only (strings may hold any text)"
    arrow = other_arrow(source, pos)
    if arrow is not None:
        return arrow
    if ch == "=" and "COLON" in allowed:
        hint = equals_hint(source.text, pos)
    return error("E101", f"unexpected `{ch}`", span,
                 f"expected {label}" if label else "not valid here", [hint])


def _terminal_text(lark: Lark, name: str) -> str | None:
    """The literal text of a keyword or punctuation terminal; None for NAME, NUMBER, ..."""
    try:
        pattern = lark.get_terminal(name).pattern
    except KeyError:
        return None
    return str(pattern.value) if pattern.type == "str" else None


def _what(tok: Token, lark: Lark) -> str:
    text = _terminal_text(lark, tok.type)
    if tok.type in ("NAME", "NUMBER"):
        return f"{tok.type.lower()} `{tok}`"
    if tok.type == "STRING":
        return f"string {tok}"
    if text is not None and text.isalpha():
        return f"keyword `{tok}`"
    return f"`{tok}`"


def _accepted(e: UnexpectedInput, names: set[str], lark: Lark) -> set[str]:
    """Those of the terminals `names` (the parser state's) that the parse could go on with:
    the state's reductions made for each in turn, on a copy of its stack, until one shifts it
    or none is left. NOTE: an LALR state merges the lookaheads of its contexts, so its own list
    holds `)` and `]` after a statement that no bracket encloses; `names` where no state is
    known."""
    stack = getattr(getattr(e, "state", None), "state_stack", None)
    if not stack:
        return names
    table = _Compact.of(cast(Any, lark.parser.parser))
    shifted = set()
    for name in names:
        if name == "$END":
            shifted.add(name)
            continue
        states = list(stack)
        while (code := table.states[states[-1]].get(name)) is not None:
            if code >= 0:
                shifted.add(name)
                break
            rule = table.rules[~code]
            if rule.expansion:
                del states[-len(rule.expansion):]
            goto = table.states[states[-1]].get(rule.origin.name) if states else None
            if goto is None:  # NOTE: never, in a table Lark built; a guess is no crash
                break
            states.append(goto)
    return shifted or names


def _describe(names: set[str], texts: dict[str, str | None]) -> str:
    """Expected terminals in plain words: "`)`, `,` or an operator", never Lark's names."""
    names = set(names)
    words: list[str] = []
    starts = {n for n in names if texts.get(n) in ("-", "+", "not", "true", "false")}
    if _STMT_START <= names:
        words.append("a statement")
        names -= _STMT_START | _EXPR_START | starts
    elif _EXPR_START <= names:
        words.append("an expression")
        names -= _EXPR_START | starts
    ops = {n for n in names if texts.get(n) in _OPERATORS + ("and", "or")}
    if len(ops) >= 3:
        names -= ops
    rest = sorted(names, key=lambda n: (n not in _CLASSES, texts.get(n) or n))
    words += [_word(n, texts) for n in rest]
    if len(ops) >= 3:
        words.append("an operator")
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _word(name: str, texts: dict[str, str | None]) -> str:
    """One expected terminal in plain words: "a name", "`)`", "`where`"."""
    if name in _CLASSES:
        return _CLASSES[name]
    text = texts.get(name) or (name.lower() if name in _KEYWORDS else None)
    return f"`{text}`" if text else name.lower()


def _explain(tok: Token, expected: set[str], texts: dict[str, str | None],
             lark: Lark, source_text: str) -> tuple[str, list[str]]:
    """The message for an unexpected token, and hints for the mistakes it usually means."""
    want = {t for t in texts.values() if t}
    text = _terminal_text(lark, tok.type)
    keyword = text is not None and text.isalpha()
    if "network" in want and (tok.type in _STMT_START or (tok.type == "NAME" and tok not in (
            "def", "class", "model", "layer", "import", "from"))):
        return (f"`{tok}` does not go outside a network or block",
                ["put statements inside `network NAME { ... }` or `block NAME(x) { ... }`"])
    hints = []
    word = source_text[source_text.rfind("\n", 0, tok.start_pos or 0) + 1:tok.start_pos].strip()
    if tok == "=" and word in ("true", "false", "and", "or", "not"):  # NOTE: `true = 3`
        return f"unexpected {_what(tok, lark)}", [
            f"`{word}` is a keyword and cannot be used as a name"]
    if tok == "=" and ":" in want:
        hints.append(equals_hint(source_text, tok.start_pos or 0))
    if tok == "(" and "[" in want:
        hints.append("shapes are written in brackets: `[N, 3, 32, 32]`")
    if tok == ":" and "{" in want:
        hints.append("a body goes in braces: `network NAME { ... }`")
    pos = tok.start_pos or 0
    before = source_text[source_text.rfind("\n", 0, pos) + 1:pos]
    first = not before.strip()
    if tok == "else" and re.search(r"\S\s+if\b", before):  # NOTE: Python's `a if c else b`
        return "unexpected keyword `else`", [
            "netdsl has no `A if COND else B`: pick with a table, `{true: A, false: B}[COND]`, "
            "or assign in an `if` statement"]
    if tok == ":" and "=" in want and ")" in want and re.search(r"\(\s*(\w+\s*(=[^,]*)?,\s*)*"
                                                            r"\w+\s*$", before):
        name = before.rstrip().rsplit("(", 1)[-1].rsplit(",", 1)[-1].strip()
        hints.append(f"a parameter has no type: write `{name}` or `{name} = DEFAULT`, whose "
                     "value gives its kind")
    if tok in ("//", "/") and first:
        hints.append("a comment starts with `#`")
    if tok == "if" and before.rstrip().endswith("else"):
        hints.append("write `else if` as `elif`")
    if tok == "in" and not first:  # NOTE: after a value, as Python's `k in [1, 2]`
        hints.append("netdsl has no `in` test: compare, as in `k == 2 or k == 4`")
    elif keyword and "NAME" in expected:
        hints.append(f"`{tok}` is a keyword and cannot be used as a name")
    if tok == "," and want == {"in"}:
        hints.append("a `for` loop binds one name: `for i in range(len(xs)) { ... }` reads "
                     "`xs[i]`")
    if tok.type == "NAME" and ")" in want and "," in want:
        hints.append("separate arguments with `,`")
    if tok in ("import", "from"):
        hints.append('share blocks between files with `use "other.net"`')
    elif "network" in want:
        hints.append("a file holds `network NAME { ... }` and `block NAME(...) { ... }` "
                     "definitions, and `use \"other.net\"` lines")
    return f"unexpected {_what(tok, lark)}", hints
