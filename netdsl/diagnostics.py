"""Diagnostics: the one error type for a user's mistakes, its codes, and its renderings."""

from __future__ import annotations

import enum
import unicodedata
from collections.abc import Iterable

from netdsl.record import Record, record
from netdsl.source import Source, Span


class Severity(enum.Enum):
    ERROR = "error"
    WARNING = "warning"
    NOTE = "note"


# Every diagnostic code, listed once: code -> (slug, one-line meaning). docs/errors.md is generated
# from this table (`python tools/gendocs.py errors`), and a test keeps the two in step.
CODES: dict[str, tuple[str, str]] = {
    "E001": ("file", "a file cannot be read: missing, a directory, unreadable or not UTF-8 text"),
    "W001": ("unused-suppression",
             "a `# netdsl: ignore[CODE]` comment that suppresses nothing, or names no known code"),
    "E101": ("syntax", "the text does not follow the grammar"),
    "E102": ("too-deep", "the program nests deeper than the parser allows"),
    "E201": ("undefined-name", "a name is used that nothing defines"),
    "E202": ("unknown-op", "a call names neither an operator nor a block"),
    "E203": ("unknown-argument", "a keyword or `option` that is not taken there: an argument "
             "the operator, block or network does not take, or an unknown or misplaced option"),
    "E204": ("missing-argument", "a required argument is not given"),
    "E205": ("argument-type",
             "an argument has the wrong type (a tensor where a number is expected...)"),
    "E206": ("argument-value",
             "an argument is out of range (kernel 0, negative stride, unknown mode)"),
    "E207": ("too-many-arguments", "more positional arguments than the operator or block takes"),
    "E208": ("duplicate-argument", "the same argument is given twice"),
    "E209": ("recursion", "a block calls itself, directly or through others"),
    "E210": ("import", "a `use` names a file that cannot be read or lies outside the root of the "
             "compilation, or imports form a cycle"),
    "E211": ("duplicate-name", "two layers or definitions get the same name"),
    "E212": ("type", "an operation on values of the wrong kind (a tensor in arithmetic, ...)"),
    "E213": ("no-network", "the file defines no network, or not the one asked for"),
    "E214": ("bad-parameter", "a value given from outside, a network parameter (--set) or a "
             "compile option (--opset), is unknown, malformed or out of range"),
    "E215": ("limit", "a repetition, loop or graph exceeds netdsl's size limits"),
    "E216": ("no-output", "a network declares no output, or a block returns nothing"),
    "E217": ("bad-input", "an `input` or `param` declaration has an invalid shape or "
                       "initialisation"),
    "E218": ("bad-label", "a quoted label is not a layer name, or inserts a value that no name "
             "can hold"),
    "E219": ("input-sizes", "an input's named sizes (`[N, 3, H, W]`) have no example to build "
             "at, or the sizes given break its `where` conditions"),
    "E301": ("shape", "a layer cannot accept the shape it is given"),
    "E302": ("fractional-size", "a stride does not tile its input: the output size is not whole"),
    "E303": ("shape-mismatch", "two tensors that must agree in shape do not (add, concat, ...)"),
    "E304": ("annotation", "a shape annotation disagrees with the inferred shape"),
    "E305": ("expectation", "an `expect` line does not hold"),
    "E306": ("not-convolutional", "a `flatten -> dense` head cannot be turned into convolutions"),
    "W301": ("receptive-field", "a join whose branches disagree in jump or centre offset"),
    "E401": ("weights", "a weight file is missing, corrupt, or disagrees in names or shapes"),
    "E402": ("output-path", "an output path cannot be written"),
    "E403": ("model", "a model file cannot be read or run"),
    "E404": ("runtime-input", "an input array has the wrong shape or dtype"),
    "E405": ("provider", "the execution provider asked for is not available"),
    "E406": ("nan-weights", "a weight is NaN (not a number): every output would be NaN"),
    "E407": ("import", "an ONNX model uses operators (or forms of them) netdsl cannot express"),
    "W401": ("infinite-weights", "a weight is infinite, or too large for float32"),
}


def closest(word: str, names: Iterable[str]) -> str | None:
    """The known name a misspelt `word` most likely meant, or None (difflib's ratio >= 0.6)."""
    import difflib  # NOTE: lazily, as only a mistake needs it
    close = difflib.get_close_matches(word, list(names), 1)
    return close[0] if close else None


def did_you_mean(word: str, names: Iterable[str], otherwise: str = "", n: int = 1) -> str:
    """The hint for a misspelt name: "did you mean `x`?" (with n > 1 up to n of them: "`x`, `y`
    or `z`?"), else `otherwise` ("" adds no hint)."""
    import difflib  # NOTE: lazily, as only a mistake needs it
    folded: dict[str, str] = {}  # NOTE: compared case-blind: `SAME` is `same`, `Relux` `relu`
    for name in names:
        folded.setdefault(name.lower(), name)
    close = [f"`{folded[c]}`" for c in difflib.get_close_matches(word.lower(), list(folded), n)]
    if not close:
        return otherwise
    return "did you mean " + (close[0] if len(close) == 1 else
                              ", ".join(close[:-1]) + " or " + close[-1]) + "?"


@record
class Label(Record):
    """A span marked under its source line, with a message: ^^^ primary, --- secondary."""

    span: Span
    message: str = ""
    primary: bool = True  # ^^^ under primary, --- under secondary


@record
class Diagnostic(Record):
    """One problem found: a code of CODES, a message that stands on its own, labels under
    source spans, hints and notes (render() prints it, to_dict() for JSON)."""

    code: str  # a key of CODES
    message: str  # must make sense without the labels
    labels: tuple[Label, ...] = ()
    hints: tuple[str, ...] = ()
    severity: Severity = Severity.ERROR
    notes: tuple[str, ...] = ()  # e.g. "in block `bottleneck` called from zoo/resnet.net:30:5"
    calls: tuple[Span, ...] = ()  # the block calls that led to it, innermost first (in notes)

    def __post_init__(self) -> None:
        assert self.code in CODES, f"unlisted diagnostic code {self.code}"

    @property
    def slug(self) -> str:
        return CODES[self.code][0]

    @property
    def primary(self) -> Label | None:
        return next((lb for lb in self.labels if lb.primary), None)

    def location(self) -> tuple[str, int, int] | None:
        lb = self.primary
        if lb is None or lb.span.source is None:
            return None
        line, col = lb.span.source.line_col(lb.span.start)
        return lb.span.source.path, line, col


class NetdslError(Exception):
    """The user's program or input is wrong. Carries every diagnostic the failing stage found."""

    def __init__(self, diagnostics: Iterable[Diagnostic]):
        self.diagnostics = tuple(diagnostics)
        assert self.diagnostics, "NetdslError needs at least one diagnostic"
        super().__init__(render_all(self.diagnostics, color=False))


def error(code: str, message: str, span: Span | None = None, label: str = "",
          hints: Iterable[str] = (), secondary: Iterable[tuple[Span, str]] = (),
          notes: Iterable[str] = (), calls: tuple[Span, ...] = ()) -> Diagnostic:
    """Shorthand for the common case: one primary span, optional secondary spans and hints."""
    labels = [Label(span, label)] if span is not None else []
    labels += [Label(s, m, primary=False) for s, m in secondary if s is not None]
    return Diagnostic(code, message, tuple(labels), tuple(h for h in hints if h),
                      notes=tuple(notes), calls=calls)


def warning(code: str, message: str, span: Span | None = None, label: str = "",
            hints: Iterable[str] = ()) -> Diagnostic:
    d = error(code, message, span, label, hints)
    return Diagnostic(d.code, d.message, d.labels, d.hints, Severity.WARNING)


# ---------------------------------------------------------------------------------------- rendering

def printable(text: str) -> str:
    """`text` with every control character (C0 but tab, DEL, C1), every bidirectional or
    invisible format character (Unicode Cf: U+202E, U+2066, ...) and the line and paragraph
    separators (U+2028, U+2029: a line break to many terminals) written as `\\x1b` or
    `\\u202e`, so that a source line, a file name or a message cannot move the cursor, recolour
    the terminal or reorder what a reader sees; and a lone surrogate (the undecodable bytes of a
    file name) as `\\udcfe`, which no strict encoder takes. Other text, non-ASCII letters
    included, is kept."""
    if text.isprintable() or all(_shown(c) for c in text):
        return text
    return "".join(c if _shown(c) else (f"\\x{ord(c):02x}" if ord(c) < 0x100
                                        else f"\\u{ord(c):04x}") for c in text)


def _shown(c: str) -> bool:
    return c == "\t" or unicodedata.category(c) not in ("Cc", "Cf", "Cs", "Zl", "Zp")


def render(d: Diagnostic, color: bool = False) -> str:
    """Render one diagnostic as text: `file:line:col: error[E301]: message`, the source lines
    with carets (^^^ primary, --- secondary), `::: file` before lines of another file, notes and
    hints. Tabs in source lines are shown as spaces, control characters escaped (printable), and
    the carets follow both, and the columns of wide and combining characters (_width)."""
    def paint(s: str, code: str) -> str:
        return f"\x1b[{code}m{s}\x1b[0m" if color else s

    sev = paint(d.severity.value, "1;31" if d.severity is Severity.ERROR else "1;33")
    at = d.primary
    head = f"{at.span.where()}: " if at is not None and at.span.source is not None else ""
    out = [f"{printable(head)}{sev}[{d.code}]: {printable(d.message)}"]
    labelled = [lb for lb in d.labels if lb.span.source is not None]
    if labelled:
        groups: dict[tuple[int, int], list[Label]] = {}  # (file order, line) -> labels
        files: list[Source] = []
        for lb in sorted(labelled, key=lambda lb: (not lb.primary, lb.span.start)):
            src = lb.span.source
            assert src is not None
            if src not in files:
                files.append(src)
            groups.setdefault((files.index(src), src.line_col(lb.span.start)[0]), []).append(lb)
        width = len(str(max(line for _, line in groups)))
        out.append(f"{' ' * width} |")
        shown = 0
        for (f, line), group in sorted(groups.items()):
            src = files[f]
            if f != shown:
                first = min(group, key=lambda lb: lb.span.start)
                out += [f"{' ' * width} ::: {printable(src.where(first.span.start))}",
                        f"{' ' * width} |"]
                shown = f
            text = src.line_text(line)
            out.append(f"{line:>{width}} | {_line(text)}")
            for lb in sorted(group, key=lambda lb: (lb.span.start, not lb.primary)):
                col = src.line_col(lb.span.start)[1]
                end_line, end_col = src.line_col(max(lb.span.start, lb.span.end - 1))
                stop = end_col if end_line == line else len(text)
                before = _width(_line(text[:col - 1]))
                n = max(1, _width(_line(text[:stop])) - before)
                mark = ("^" if lb.primary else "-") * n
                tint = "1;31" if lb.primary else "1;34"
                out.append(f"{' ' * width} | {' ' * before}{paint(mark, tint)}"
                           + (f" {printable(lb.message)}" if lb.message else ""))
        out.append(f"{' ' * width} |")
    for note in d.notes:
        out.append(f"  = note: {printable(note)}")
    for hint in d.hints:
        out.append(f"  = hint: {printable(hint)}")
    return "\n".join(out)


def _line(text: str) -> str:
    """A source line as rendered: tabs as spaces, then control characters escaped."""
    return printable(text.expandtabs(4))


def _width(text: str) -> int:
    """The terminal columns `text` takes: two for a wide character (CJK, most emoji), none for
    a combining mark (an accent written after its letter), one for the others."""
    if text.isascii():
        return len(text)
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else
               0 if unicodedata.category(c) in ("Mn", "Me") else 1 for c in text)


def render_all(ds: Iterable[Diagnostic], color: bool = False) -> str:
    return "\n\n".join(render(d, color) for d in ds)


def to_dict(d: Diagnostic) -> dict[str, object]:
    """A stable JSON-able form, for `--format json` and for tools (editors, CI annotations);
    the fields are documented in docs/errors.md. Lines and columns are 1-based, columns count
    characters, `end_*` is inclusive (the last character), `start`/`end` are character offsets."""
    loc = d.location()
    return {
        "code": d.code, "slug": d.slug, "severity": d.severity.value, "message": d.message,
        "file": loc[0] if loc else None, "line": loc[1] if loc else None,
        "column": loc[2] if loc else None,
        "labels": [_label_dict(lb) for lb in d.labels],
        "hints": list(d.hints), "notes": list(d.notes),
    }


def _label_dict(lb: Label) -> dict[str, object]:
    src = lb.span.source
    line, col = src.line_col(lb.span.start) if src else (None, None)
    end_line, end_col = src.line_col(max(lb.span.start, lb.span.end - 1)) if src else (None, None)
    return {"file": src.path if src else None, "line": line, "column": col,
            "end_line": end_line, "end_column": end_col, "start": lb.span.start,
            "end": lb.span.end, "message": lb.message, "primary": lb.primary}
