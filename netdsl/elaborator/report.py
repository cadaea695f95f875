"""Elaboration's diagnostics, collected in one place: de-duplicated (a mistake inside a block is
reported at its first call, not once per call) and noted with the block calls that led there."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from netdsl.diagnostics import Diagnostic, error
from netdsl.elaborator.scope import Frame
from netdsl.source import Span
from netdsl.values import POISON, Fault, Poison


def block_notes(frame: Frame) -> tuple[str, ...]:
    """The block calls that led to `frame`, innermost first, as a diagnostic's notes."""
    return tuple(f"in block `{b}` called at {sp.where()}"
                 for b, sp in zip(reversed(frame.blocks), reversed(frame.trace)))


def line_end_hint(span: Span, op: str, what: str) -> str:
    """Where the operator `op` ends the line before `span` (`what`: the operand it took), or
    `span` is that operator: a hint that the expression went on over the line end; else ""."""
    src = span.source
    if src is None:
        return ""
    text = src.text
    if span.text() == op:
        end = text.find("\n", span.end)
        if text[span.end:None if end < 0 else end].split("#")[0].strip():
            return ""
        line = src.line_col(span.start)[0]
        what = "the next line as " + what
    else:
        start = text.rfind("\n", 0, span.start) + 1
        if text[start:span.start].strip() or not text[:start].rstrip().endswith(op):
            return ""
        line = src.line_col(start)[0] - 1
        what = "this line as " + what
    return f"the `{op}` at the end of line {line} takes {what}: finish line {line}, or remove " \
           f"the `{op}`"


class Reporter:
    def __init__(self) -> None:
        self.diagnostics: list[Diagnostic] = []
        self._reported: set[tuple[str, str, int, int, int]] = set()

    def err(self, code: str, message: str, span: Span | None, label: str = "",
            hints: Sequence[str] = (), frame: Frame | None = None,
            secondary: Sequence[tuple[Span, str]] | None = None) -> Poison:
        """Report a mistake (once) and mark `frame` failed; the value of what failed: POISON."""
        if frame is not None:
            frame.failed = True
        # NOTE: a mistake inside a block would repeat once per call; the first call reports it.
        key = (code, message, id(span.source) if span else 0, span.start if span else -1,
               span.end if span else -1)
        if key in self._reported:
            return POISON
        self._reported.add(key)
        notes = block_notes(frame) if frame else ()
        calls = tuple(reversed(frame.trace)) if frame else ()
        self.diagnostics.append(error(code, message, span, label, hints, secondary or [], notes,
                                      calls))
        return POISON

    def fault(self, f: Fault, frame: Frame | None) -> Poison:
        return self.err(f.code, f.message, f.span, f.label, f.hints, frame, f.secondary)

    def quoted(self, span: Span, keyword: str) -> None:
        """Where the value at `span` of an argument that takes a string failed as an undefined
        name (E201: `mode: nearest`), hint that the string is written in quotes."""
        for i in range(len(self.diagnostics) - 1, -1, -1):
            d = self.diagnostics[i]
            at = d.primary.span if d.primary else None
            if at is not None and at.source is span.source and span.start <= at.start and (
                    at.end == span.end):
                if d.code == "E201":
                    word = at.text()
                    example = f'{keyword}: "{word}"' if at.start > span.start else f'"{word}"'
                    self.diagnostics[i] = dataclasses.replace(d, hints=(
                        *d.hints, f"`{keyword}` takes a string, written in quotes: "
                                  f"`{example}`"))
                return
