"""Suppressions: `--ignore CODE` and per-line comments `# netdsl: ignore[W301, E302]` → the
diagnostics that are dropped, and W001 for a comment that dropped nothing (as ruff's unused
`noqa` and mypy's unused `type: ignore` are reported)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence

from netdsl.diagnostics import CODES, Diagnostic, did_you_mean, warning
from netdsl.record import Record, record
from netdsl.source import Source, Span

_TOKENS = re.compile(r'"(?:[^"\\\n]|\\.)*"|#[^\n]*')  # the grammar's STRING and COMMENT
_IGNORE = re.compile(r"netdsl\s*:\s*ignore\b(?:\[([^\]\n]*)\])?")
_EXAMPLE = "`# netdsl: ignore[W301]`"


def is_suppression(comment: str) -> bool:
    """Whether a comment's text holds `netdsl: ignore` (fmt keeps such a line whole)."""
    return _IGNORE.search(comment) is not None


@record
class Comment(Record):
    """One `# netdsl: ignore[...]` comment: its line, where it is, and each code it names."""

    line: int
    span: Span
    codes: tuple[tuple[str, Span], ...]


def comments(source: Source) -> dict[int, Comment]:
    """The suppression comments of a file, by line (a `#` inside a string is no comment)."""
    out: dict[int, Comment] = {}
    for token in _TOKENS.finditer(source.text):
        found = _IGNORE.search(token.group()) if token.group().startswith("#") else None
        if found is None:
            continue
        start = token.start() + found.start()
        codes: list[tuple[str, Span]] = []
        if found.group(1) is not None:
            base = token.start() + found.start(1)
            codes = [(m.group(), source.span(base + m.start(), base + m.end()))
                     for m in re.finditer(r"[^,\s]+", found.group(1))]
        line = source.line_col(start)[0]
        out[line] = Comment(line, source.span(start, token.start() + found.end()), tuple(codes))
    return out


class Suppressor:
    """Drops the diagnostics that `--ignore` names or a comment on the line of their primary
    label names, and remembers which comments dropped something (over every file it saw)."""

    def __init__(self, ignore: Iterable[str] = ()) -> None:
        self.ignore = frozenset(ignore)
        self._comments: dict[str, dict[int, Comment]] = {}  # by Source.path
        self._used: set[tuple[str, int, str]] = set()  # (real path, line, code)

    def _of(self, source: Source) -> dict[int, Comment]:
        if source.path not in self._comments:
            self._comments[source.path] = comments(source)
        return self._comments[source.path]

    def _drops(self, d: Diagnostic) -> bool:
        lb = d.primary
        if lb is not None and lb.span.source is not None:
            line = lb.span.source.line_col(lb.span.start)[0]
            comment = self._of(lb.span.source).get(line)
            if comment and d.code in (code for code, _ in comment.codes):
                self._used.add((_real(lb.span.source), line, d.code))
                return True
        return d.code in self.ignore

    def keep(self, diags: Iterable[Diagnostic]) -> list[Diagnostic]:
        return [d for d in diags if not self._drops(d)]

    def unused(self, source: Source) -> list[Diagnostic]:
        """W001 for each code in `source`'s comments that dropped nothing so far, for a comment
        without codes, and for an unknown code (unless --ignore names W001)."""
        found: list[Diagnostic] = []
        for comment in self._of(source).values():
            found += _unused(source, comment, self._used)
        return [d for d in found if d.code not in self.ignore]

    def file(self, source: Source, diags: Sequence[Diagnostic]) -> list[Diagnostic]:
        """One file's diagnostics, suppressions applied, then its unused suppressions."""
        return self.keep(diags) + self.unused(source)


def _real(source: Source) -> str:
    """The file a source was read from, however the path to it was spelt (`lib.net` in a `use`
    line, `/abs/lib.net` on the command line)."""
    return os.path.realpath(source.path)


def _unused(source: Source, comment: Comment, used: set[tuple[str, int, str]]
            ) -> list[Diagnostic]:
    if not comment.codes:
        return [warning("W001", "`# netdsl: ignore` names no codes, so it suppresses nothing",
                        comment.span, "no codes", [f"name the codes in brackets: {_EXAMPLE}"])]
    out = []
    for code, span in comment.codes:
        if code not in CODES:
            out.append(warning(
                "W001", f"`# netdsl: ignore` names `{code}`, which is no diagnostic code", span,
                "unknown code", [did_you_mean(code, CODES, "docs/errors.md lists the codes")]))
        elif (_real(source), comment.line, code) not in used:
            out.append(warning(
                "W001", f"`# netdsl: ignore[{code}]` suppressed nothing: no {code} is reported "
                        f"on line {comment.line}", span, "unused",
                [f"remove it, or move it to the line that {code}'s carets point at"]))
    return out
