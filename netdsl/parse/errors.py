"""Lark errors → Diagnostics: a syntax error explained in plain words (what was expected, an
unclosed bracket, known mistakes keyed by LALR state). Imported when a parse fails."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Any, cast

from lark import Lark, Token
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from netdsl.diagnostics import Diagnostic, error
from netdsl.parse import _OPERATORS
from netdsl.parse.build import _new_line_bracket
from netdsl.parse.lalr import _Compact
from netdsl.parse.loading import _parser
from netdsl.source import Source, Span

# ------------------------------------------------------------------------------- syntax errors

_CLASSES = {"NAME": "a name", "NUMBER": "a number", "STRING": "a string", "PERCENT": "a percentage",
            "$END": "the end of the file"}
_EXPR_START = frozenset({"NAME", "NUMBER", "STRING", "LPAR", "LSQB"})
_STMT_START = frozenset({"INPUT", "OUTPUT", "IF", "FOR", "RETURN", "EXPECT", "OPTION", "PARAM"})
_PAIRS = {"(": ")", "[": "]", "{": "}"}
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
        return _nested_block(source, e.token.start_pos)
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
        arrow = _other_arrow(source, tok.start_pos)
        if arrow is not None:
            return arrow
        span = source.span(tok.start_pos, max(tok.end_pos, tok.start_pos + 1))
        message, hints = _explain(tok, expected, texts, lark, source.text)
        known = _example_states().get(e.state.position) if e.state is not None else None
        if known is not None:
            message, hints = known[0], [known[1]]
    secondary = []
    opener = (_unclosed(source.text, span.end) if at_end else  # NOTE: the last may be one
              _unclosed(source.text, span.start) if tok in (")", "]", "}") else None)
    stray = _stray(source.text, span.start) if not at_end and tok in (")", "]", "}") else None
    if stray is not None:
        message, label, hints = stray, "nothing to close", []
        if opener is not None and source.text[opener] == "{":
            opener = None  # NOTE: a body's `{`, closed further on: the stray bracket is the mistake
    if opener is not None and _PAIRS[source.text[opener]] in texts.values():
        ch = source.text[opener]
        if opener != span.start:  # NOTE: else the caret under it says what it needs
            secondary.append((source.span(opener, opener + 1), f"this `{ch}` is not closed"))
        if at_end:
            line = source.line_col(opener)[0]
            message = f"the file ends before the `{ch}` on line {line} is closed"
            label = f"expected `{_PAIRS[ch]}`"
    if not at_end:
        bracket = _bracket_after_value(source, span.start)
        if bracket is not None:
            return bracket
    negative = None if at_end else _negative_percentage(source, span.start)
    if negative is not None:
        return negative
    dangling = None if at_end else _dangling(source, span.start)
    if dangling is not None:  # NOTE: the operator is the mistake, not what comes after it
        span, message, label, hints = dangling
        secondary = []
    return error("E101", message, span, label, hints, secondary)


_ENDS = re.compile(r"(->|//|\*\*|==|!=|<=|>=|[-+*/%<>=]|\b(?:and|or|not))$")


def _dangling(source: Source, pos: int) -> tuple[Span, str, str, list[str]] | None:
    """An operator that ends the line before the unexpected token at `pos`, which starts its
    own line: the expression went on over the newline and found no operand there (`c = 3 *`,
    `x -> f ->`). Its span, message, label and hints; None where the line before ends
    otherwise."""
    before = _line_before(source.text, pos)
    m = _ENDS.search(before[1]) if before is not None else None
    if before is None or m is None:
        return None
    start = before[0]
    op, line = m.group(), source.line_col(start)[0]
    span = source.span(start + m.start(), start + m.end())
    message = f"`{op}` at the end of line {line} has nothing after it"
    if op == "->":
        return span, message, "expected a layer or block call", [
            "`->` must be followed by a layer or block call: `x -> relu`, `x -> conv(16, 3)`"]
    return span, message, "expected an expression", [
        "after an operator, an expression goes on over the next line: finish it, or "
        f"remove the `{op}`"]


def _negative_percentage(source: Source, pos: int) -> Diagnostic | None:
    """E206 where the line before `pos` ends `within -1%`, which reads as `-1 %` with its
    operand missing: the E206 of `within -1`."""
    before = _line_before(source.text, pos)
    m = re.search(r"\bwithin\s*(-\s*[\d.]+%)$", before[1]) if before is not None else None
    if before is None or m is None:
        return None
    return error("E206", "a tolerance cannot be negative",
                 source.span(before[0] + m.start(1), before[0] + m.end(1)), "negative",
                 [f"write `within {m.group(1).lstrip('- ')}`"])


def _line_before(text: str, pos: int) -> tuple[int, str] | None:
    """Where `pos` starts its line (only spaces before it), the last line before it that holds
    code: its offset and its code, without comment and trailing spaces; else None."""
    start = text.rfind("\n", 0, pos) + 1
    if text[start:pos].strip():
        return None
    while start > 0:
        end, start = start - 1, text.rfind("\n", 0, start - 1) + 1
        code = _without_comment(text[start:end]).rstrip()
        if code:
            return start, code
    return None


def _bracket_after_value(source: Source, pos: int) -> Diagnostic | None:
    """The E101 of a syntax error inside a `(` or `[` that starts a line after a value (a name,
    a number, a string, a closing bracket): the bracket went on as a call or an index of it."""
    opener = _unclosed(source.text, pos)
    if opener is None or source.text[opener] not in "([":
        return None
    before = _line_before(source.text, opener)
    m = re.search(r'(\w+|"[^"]*"|[)\]])$', before[1]) if before is not None else None
    if before is None or m is None:
        return None
    return _new_line_bracket(source, opener, source.span(before[0] + m.start(),
                                                         before[0] + m.end()))


def _other_arrow(source: Source, pos: int) -> Diagnostic | None:
    """The E101 of another language's arrow or pipe, `=>` or `|>`, at or just before `pos`."""
    for start in (pos, pos - 1):
        if source.text[max(start, 0):start + 2] in ("=>", "|>"):
            return error("E101", f"`{source.text[start:start + 2]}` is not netdsl's arrow",
                         source.span(start, start + 2), "not `->`",
                         ["write the arrow as `->`"])
    return None


def _without_comment(line: str) -> str:
    """A line of source without its comment (a `#` outside a string)."""
    quoted = False
    i = 0
    while i < len(line):
        if line[i] == "\\" and quoted:
            i += 1
        elif line[i] == '"':
            quoted = not quoted
        elif line[i] == "#" and not quoted:
            return line[:i]
        i += 1
    return line


def _nested_block(source: Source, pos: int) -> Diagnostic:
    opener = _unclosed(source.text, pos)
    return error("E101", "a block is defined inside a network or block",
                 source.span(pos, pos + 5), "a definition starts here",
                 ["definitions go at the top level of a file: is a `}` missing above?"],
                 [] if opener is None else [(source.span(opener, opener + 1), "still open")])


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
        return _nested_block(source, pos)
    if ch == '"':  # NOTE: STRING matches any `"..."` on one line: this one has no end
        end = source.text.find("\n", pos)
        return error("E101", "this string is not closed before the end of the line",
                     source.span(pos, len(source.text) if end < 0 else end), "not closed",
                     ['end it with `"` on the same line: a string cannot span lines'])
    number = _bad_number(source, pos)
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
    arrow = _other_arrow(source, pos)
    if arrow is not None:
        return arrow
    if ch == "=" and "COLON" in allowed:
        hint = _equals_hint(source.text, pos)
    return error("E101", f"unexpected `{ch}`", span,
                 f"expected {label}" if label else "not valid here", [hint])


_DIGITS = re.compile(r"(\d[\d_]*(\.\d+)?|\.\d+)([eE][+-]?\d+)?")  # a NUMBER without its suffix


def _bad_number(source: Source, pos: int) -> Diagnostic | None:
    """A number that letters follow (`25k`, `4.1g`, `0x10`, `3x3`), named whole where the lexer
    stops at it (at its start, or after its `.` for `4.1g`); None where `pos` is in no such."""
    text = source.text
    start = pos
    while start > 0 and (text[start - 1].isalnum() or text[start - 1] in "_."):
        start -= 1
    word = re.match(r"[\w.]*\w", text[start:])
    digits = _DIGITS.match(text, start)
    if word is None or digits is None or digits.end() >= start + word.end():
        return None
    run = word.group()
    suffix = text[digits.end():start + len(run)]
    if suffix.upper() in ("K", "M", "G", "T"):
        hint = f"the suffixes are upper case: `{digits.group()}{suffix.upper()}`"
    else:
        hint = ("a number is written in decimal digits (`_` may separate them), with an optional "
                "suffix `K`, `M`, `G` or `T`")
    return error("E101", f"`{run}` is not a number", source.span(start, start + len(run)),
                 "not a number", [hint])


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
        hints.append(_equals_hint(source_text, tok.start_pos or 0))
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


def _equals_hint(text: str, pos: int) -> str:
    """What a misplaced `=` at `pos` most likely meant: a keyword argument (`stride=2` in a
    call), a table entry (`{a = 1}`), or else a comparison (`expect params = 0`, `if a = b`)."""
    opener = _unclosed(text, pos)
    before = text[opener + 1:pos] if opener is not None else ""
    if opener is not None and text[opener] == "(" and re.fullmatch(
            r"(.*,)?\s*[A-Za-z_]\w*\s*", before, re.S):
        return "keyword arguments are written `name: value`, as in `stride: 2`"
    if opener is not None and text[opener] == "{" and re.search(
            r"[=(,:\[{]\s*$", text[:opener]):  # NOTE: a `{` where a value goes opens a table
        return "a table's entries are written `key: value`, as in `{18: 2, 34: 3}`"
    return "to compare, write `==`: `=` assigns a name on a line of its own"


def _stray(text: str, at: int) -> str | None:
    """The message for a closing bracket at `at` that no bracket of its kind left open before
    it can match ("this `)` closes nothing"), else None (it closes some, too early)."""
    want = {")": "(", "]": "[", "}": "{"}[text[at]]
    if any(text[o] == want for o in _open(text, at)):
        return None
    return f"this `{text[at]}` closes nothing: no `{want}` is open here"


def _unclosed(text: str, upto: int) -> int | None:
    """The offset of the innermost bracket still open at `upto` (strings and comments skipped)."""
    stack = _open(text, upto)
    return stack[-1] if stack else None


def _open(text: str, upto: int) -> list[int]:
    """The offsets of the brackets still open at `upto`, outermost first."""
    stack: list[int] = []
    i = 0
    while i < upto:
        ch = text[i]
        if ch == "#":
            i = text.find("\n", i)
            i = upto if i < 0 else i
        elif ch == '"':
            i += 1
            while i < upto and text[i] not in '"\n':
                i += 2 if text[i] == "\\" else 1
        elif ch in _PAIRS:
            stack.append(i)
        elif ch in ")]}" and stack and _PAIRS[text[stack[-1]]] == ch:
            stack.pop()
        i += 1
    return stack
