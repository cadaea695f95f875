"""Known mistakes read from the source text around a syntax error (no Lark): an operator that
ends a line (`c = 3 *`), a bracket that starts one after a value, another language's arrow
(`=>`), a number with letters after it (`25k`), a misplaced `=`, brackets left open or closing
nothing. Source text + an offset -> a Diagnostic or a hint, or None where the mistake is not
there. Used by errors.py only, so imported when a parse fails."""

from __future__ import annotations

import re

from netdsl.diagnostics import Diagnostic, error
from netdsl.parse.build import _new_line_bracket
from netdsl.source import Source, Span

PAIRS = {"(": ")", "[": "]", "{": "}"}


_ENDS = re.compile(r"(->|//|\*\*|==|!=|<=|>=|[-+*/%<>=]|\b(?:and|or|not))$")


def dangling_operator(source: Source, pos: int) -> tuple[Span, str, str, list[str]] | None:
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


def negative_percentage(source: Source, pos: int) -> Diagnostic | None:
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


def bracket_after_value(source: Source, pos: int) -> Diagnostic | None:
    """The E101 of a syntax error inside a `(` or `[` that starts a line after a value (a name,
    a number, a string, a closing bracket): the bracket went on as a call or an index of it."""
    opener = unclosed(source.text, pos)
    if opener is None or source.text[opener] not in "([":
        return None
    before = _line_before(source.text, opener)
    m = re.search(r'(\w+|"[^"]*"|[)\]])$', before[1]) if before is not None else None
    if before is None or m is None:
        return None
    return _new_line_bracket(source, opener, source.span(before[0] + m.start(),
                                                         before[0] + m.end()))


def other_arrow(source: Source, pos: int) -> Diagnostic | None:
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


def nested_block(source: Source, pos: int) -> Diagnostic:
    opener = unclosed(source.text, pos)
    return error("E101", "a block is defined inside a network or block",
                 source.span(pos, pos + 5), "a definition starts here",
                 ["definitions go at the top level of a file: is a `}` missing above?"],
                 [] if opener is None else [(source.span(opener, opener + 1), "still open")])


_DIGITS = re.compile(r"(\d[\d_]*(\.\d+)?|\.\d+)([eE][+-]?\d+)?")  # a NUMBER without its suffix


def bad_number(source: Source, pos: int) -> Diagnostic | None:
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


def equals_hint(text: str, pos: int) -> str:
    """What a misplaced `=` at `pos` most likely meant: a keyword argument (`stride=2` in a
    call), a table entry (`{a = 1}`), or else a comparison (`expect params = 0`, `if a = b`)."""
    opener = unclosed(text, pos)
    before = text[opener + 1:pos] if opener is not None else ""
    if opener is not None and text[opener] == "(" and re.fullmatch(
            r"(.*,)?\s*[A-Za-z_]\w*\s*", before, re.S):
        return "keyword arguments are written `name: value`, as in `stride: 2`"
    if opener is not None and text[opener] == "{" and re.search(
            r"[=(,:\[{]\s*$", text[:opener]):  # NOTE: a `{` where a value goes opens a table
        return "a table's entries are written `key: value`, as in `{18: 2, 34: 3}`"
    return "to compare, write `==`: `=` assigns a name on a line of its own"


def closes_nothing(text: str, at: int) -> str | None:
    """The message for a closing bracket at `at` that no bracket of its kind left open before
    it can match ("this `)` closes nothing"), else None (it closes some, too early)."""
    want = {")": "(", "]": "[", "}": "{"}[text[at]]
    if any(text[o] == want for o in _open(text, at)):
        return None
    return f"this `{text[at]}` closes nothing: no `{want}` is open here"


def unclosed(text: str, upto: int) -> int | None:
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
        elif ch in PAIRS:
            stack.append(i)
        elif ch in ")]}" and stack and PAIRS[text[stack[-1]]] == ch:
            stack.pop()
        i += 1
    return stack
