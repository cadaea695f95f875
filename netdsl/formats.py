"""Diagnostics → GitHub workflow commands and SARIF 2.1.0, for `netdsl check --format github|sarif`
(CI annotations on a pull request's diff, and code scanning). Pure functions: diagnostics in, text
out; paths are written relative to the working directory (absolute when outside it)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

from netdsl.diagnostics import CODES, Diagnostic, Label, Severity, printable
from netdsl.version import version

# NOTE: a placeholder (RFC 2606 reserves `.invalid`): netdsl has no published home yet. SARIF
# (3.19.8, 3.49.12) and GitHub's upload want absolute URIs here; set the real one in this one place.
HOME = "https://netdsl.invalid"
ERRORS_DOC = f"{HOME}/docs/errors.md"
SARIF_SCHEMA = ("https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/"
                "sarif-schema-2.1.0.json")

# One diagnostic of a checked file: the path it was checked as (where a diagnostic without a
# place, such as E001, is reported) and the diagnostic.
Item = tuple[str, Diagnostic]


def relative(path: str) -> str:
    """`path` relative to the working directory, with `/`; absolute when it lies outside."""
    full = os.path.abspath(path)
    rel = os.path.relpath(full)
    return Path(full if rel.split(os.sep)[0] == ".." else rel).as_posix()


def _where(lb: Label) -> tuple[str, int, int, int, int] | None:
    """(path, line, column, end line, end column) of a label: 1-based, the end inclusive."""
    src = lb.span.source
    if src is None:
        return None
    line, col = src.line_col(lb.span.start)
    end_line, end_col = src.line_col(max(lb.span.start, lb.span.end - 1))
    return relative(src.path), line, col, end_line, end_col


def _shown_at(d: Diagnostic) -> Label | None:
    """Where a review tool places `d`: its primary label, unless that lies outside the working
    directory (a prelude block's line in netdsl's installed copy, a `use`d file elsewhere),
    which a pull request's diff cannot show; then the innermost block call in a file inside it,
    marked "called here" (the primary's place goes into the message, as a related place)."""
    primary = d.primary
    if primary is None or primary.span.source is None or not _outside(primary.span.source.path):
        return primary
    call = next((c for c in d.calls if c.source is not None and not _outside(c.source.path)),
                None)
    return primary if call is None else Label(call, "called here")


def _outside(path: str) -> bool:
    return os.path.isabs(relative(path))


def _text(d: Diagnostic, related: bool) -> str:
    """The message, then (if `related`) the places of the other labels (the primary's too where
    the diagnostic is shown at a block call: _shown_at), notes and hints."""
    lines = [d.message]
    moved = d.primary is not None and _shown_at(d) is not d.primary
    for lb in d.labels if related else ():
        where = _where(lb)
        if where and (lb.message or lb.primary) and (not lb.primary or moved):
            text = lb.message or "here, in the block"
            lines.append(f"{where[0]}:{where[1]}:{where[2]}: {text}")
    return "\n".join(lines + [f"note: {n}" for n in d.notes] + [f"hint: {h}" for h in d.hints])


# ------------------------------------------------------------------------------------- GitHub

def _escape_data(s: str) -> str:
    """As GitHub's toolkit (@actions/core, command.ts escapeData) escapes a command's message;
    other control characters are escaped as in the text rendering (a workflow log is a
    terminal: an ESC in it would recolour or rewrite it)."""
    lines = s.replace("%", "%25").replace("\r", "%0D").split("\n")
    return "%0A".join(printable(line) for line in lines)


def _escape_property(s: str) -> str:
    """As @actions/core's escapeProperty: the message's escapes, and `:` and `,` too."""
    return _escape_data(s).replace(":", "%3A").replace(",", "%2C")


_COMMAND = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.NOTE: "notice"}


def _place(path: str, d: Diagnostic) -> list[tuple[str, str]]:
    """The command's place properties. NOTE: the runner drops a command whose `col`/`endColumn`
    span lines (actions/runner: "cannot be set if 'line' and 'endLine' are different"), so
    those get lines only; `endColumn` is exclusive, as in SARIF (github/docs#40038)."""
    at = _shown_at(d)
    where = _where(at) if at else None
    if where is None:
        return [("file", relative(path))]
    file, line, col, end_line, end_col = where
    if line != end_line:
        return [("file", file), ("line", str(line)), ("endLine", str(end_line))]
    return [("file", file), ("line", str(line)), ("col", str(col)), ("endLine", str(end_line)),
            ("endColumn", str(end_col + 1))]


def github(items: Sequence[Item]) -> str:
    """One workflow command a diagnostic: `::error file=F,line=L,col=C,endLine=L,endColumn=C2,
    title=E302 fractional-size::message` (`::warning` for warnings, `::notice` for notes).
    Empty for no diagnostics, else newline-terminated."""
    lines = []
    for path, d in items:
        props = _place(path, d) + [("title", f"{d.code} {d.slug}")]
        joined = ",".join(f"{k}={_escape_property(v)}" for k, v in props)
        lines.append(f"::{_COMMAND[d.severity]} {joined}::{_escape_data(_text(d, related=True))}\n")
    return "".join(lines)


# -------------------------------------------------------------------------------------- SARIF

def _anchor(code: str) -> str:
    """The heading anchor of a code in docs/errors.md (`## E302 fractional-size`)."""
    return f"{code.lower()}-{CODES[code][0]}"


def _rule(code: str) -> dict[str, object]:
    slug, meaning = CODES[code]
    level = "warning" if code.startswith("W") else "error"
    return {"id": code, "name": slug, "shortDescription": {"text": meaning},
            "helpUri": f"{ERRORS_DOC}#{_anchor(code)}",
            "help": {"text": f"{meaning}; see docs/errors.md#{_anchor(code)}"},
            "defaultConfiguration": {"level": level}}


def _artifact(rel: str) -> dict[str, object]:
    """A SARIF artifactLocation for a path as relative() writes it."""
    if os.path.isabs(rel):
        return {"uri": Path(rel).as_uri()}
    # NOTE: the name's bytes (os.fsencode): a name that is not UTF-8 holds lone surrogates
    return {"uri": quote(os.fsencode(rel), safe="/"), "uriBaseId": "%SRCROOT%"}


def _location(lb: Label) -> dict[str, object]:
    """A SARIF location: the label's file and region (1-based; endColumn exclusive)."""
    where = _where(lb)
    assert where is not None
    file, line, col, end_line, end_col = where
    physical = {"artifactLocation": _artifact(file),
                "region": {"startLine": line, "startColumn": col, "endLine": end_line,
                           "endColumn": end_col + 1}}
    return {"physicalLocation": physical, **({"message": {"text": lb.message}}
                                             if lb.message else {})}


def _result(path: str, d: Diagnostic, rules: list[str]) -> dict[str, object]:
    placed = [lb for lb in d.labels if lb.span.source is not None]
    at = _shown_at(d)
    primary = d.primary if at is d.primary else None  # NOTE: else a related location
    locations = ([_location(at)] if at is not None and at.span.source is not None
                 else [{"physicalLocation": {"artifactLocation": _artifact(relative(path))}}])
    result: dict[str, object] = {
        "ruleId": d.code, "ruleIndex": rules.index(d.code),
        "level": {Severity.ERROR: "error", Severity.WARNING: "warning"}.get(d.severity, "note"),
        "message": {"text": _text(d, related=False)}, "locations": locations}
    related = [{"id": i, **_location(lb)}
               for i, lb in enumerate((lb for lb in placed if lb is not primary), 1)]
    if related:
        result["relatedLocations"] = related
    return result


def sarif(items: Sequence[Item]) -> str:
    """One SARIF 2.1.0 log, one run: a rule per code that occurs (sorted by code) and a result
    per diagnostic, in order. Deterministic: no times, no absolute paths for files below the
    working directory (their URIs are relative to %SRCROOT%, the directory netdsl ran in)."""
    rules = sorted({d.code for _, d in items})
    log = {
        "$schema": SARIF_SCHEMA, "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "netdsl", "version": version(),
                                "informationUri": HOME, "rules": [_rule(c) for c in rules]}},
            "columnKind": "unicodeCodePoints",
            "results": [_result(path, d, rules) for path, d in items],
        }],
    }
    import json  # NOTE: here: `check --format github` need not import it
    return json.dumps(log, indent=2) + "\n"
