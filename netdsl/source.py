"""Source text and spans: character offsets, resolved to line/column only when rendering."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from pathlib import Path

from netdsl.record import Record, record


@record
class Span(Record):
    """A character range [start, end) in one Source (end exclusive)."""

    start: int
    end: int
    source: Source | None = field(default=None, compare=False, repr=False)

    def text(self) -> str:
        return self.source.text[self.start:self.end] if self.source else ""

    def where(self) -> str:
        """`path:line:col` of the span's start ("?" without a source)."""
        return self.source.where(self.start) if self.source else "?"

    def covers(self, other: Span | None) -> bool:
        """Whether `other` starts inside this span, in the same source."""
        return other is not None and other.source is self.source and (
            self.start <= other.start < self.end)


@dataclass(eq=False)
class Source:
    """One `.net` file's text. `path` is what messages print ("<string>" for inline text);
    `root` is the folder `use` lines may read in and below (elaborator/modules.py): the main
    file's folder unless the user names one (--root, root=); None: the current directory."""

    path: str
    text: str
    root: str | None = None
    _line_starts: list[int] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        # NOTE: CRLF and a UTF-8 BOM are normalised once here, so offsets agree with what Lark sees.
        self.text = self.text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
        self._line_starts = [0] + [i + 1 for i, ch in enumerate(self.text) if ch == "\n"]

    def span(self, start: int, end: int) -> Span:
        return Span(start, end, self)

    def line_col(self, offset: int) -> tuple[int, int]:
        """1-based line and column of a character offset."""
        offset = max(0, min(offset, len(self.text)))
        line = bisect.bisect_right(self._line_starts, offset) - 1
        return line + 1, offset - self._line_starts[line] + 1

    def offset(self, line: int, col: int) -> int:
        """The character offset of a 1-based line and column (line_col's inverse), clamped."""
        line = max(1, min(line, len(self._line_starts)))
        end = self._line_starts[line] - 1 if line < len(self._line_starts) else len(self.text)
        return min(self._line_starts[line - 1] + max(col, 1) - 1, end)

    def where(self, offset: int) -> str:
        """`path:line:col` of a character offset: how every message names a place in a file."""
        line, col = self.line_col(offset)
        return f"{self.path}:{line}:{col}"

    def recorded_path(self) -> str:
        """The path a compiled model records: relative to the root, so that the bytes do not
        depend on how the path was spelled nor show the machine's folders (a file outside the
        root: its name only)."""
        if self.path.startswith("<"):
            return self.path
        path = Path(self.path).resolve()
        root = Path(self.root).resolve() if self.root else Path.cwd()
        return path.relative_to(root).as_posix() if path.is_relative_to(root) else path.name

    def line_text(self, line: int) -> str:
        start = self._line_starts[line - 1]
        end = self.text.find("\n", start)
        return self.text[start:] if end < 0 else self.text[start:end]
