"""`netdsl check` over files and directories: paths → every `*.net` below them (sorted) → a report
per file, suppressions applied → text, JSON, GitHub workflow commands or SARIF, and an exit code
(0 passed, 1 errors, 2 a file that cannot be read)."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from dataclasses import field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from netdsl.diagnostics import Diagnostic, NetdslError, Severity, printable, render, to_dict
from netdsl.record import MutableRecord, Record, record
from netdsl.source import Source
from netdsl.suppress import Suppressor

if TYPE_CHECKING:
    from netdsl.pipeline import Network

CHECK_SCHEMA = "netdsl-check/1"  # `check --format json`; documented in docs/errors.md


@record(slots=False)
class Options(Record):
    """The flags of `netdsl check` that decide what is checked and how it is reported."""

    network: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    format: str = "text"
    quiet: bool = False  # only the diagnostics that fail the check
    warnings_as_errors: bool = False
    ignore: frozenset[str] = frozenset()
    color: bool = False
    root: str | None = None  # --root: where `use` may read (default: each file's folder)

    def fails(self, d: Diagnostic) -> bool:
        return d.severity is Severity.ERROR or (self.warnings_as_errors
                                                and d.severity is Severity.WARNING)


class PathError(Exception):
    """A directory that cannot be walked or holds no `.net` file: a usage error (exit 2)."""


@record(frozen=False, slots=False)
class FileReport(MutableRecord):
    """One file's result; `events` holds its diagnostics and its stdout lines, in order."""

    path: str
    networks: list[dict[str, Any]] = field(default_factory=list)
    events: list[Diagnostic | str] = field(default_factory=list)
    unreadable: bool = False
    results: list[tuple[str, Network | NetdslError]] = field(default_factory=list, repr=False)
    judged: Source | None = None  # whose suppression comments are judged (W001), all checked

    @property
    def diagnostics(self) -> list[Diagnostic]:
        return [e for e in self.events if isinstance(e, Diagnostic)]


# -------------------------------------------------------------------------------------- paths

# NOTE: ruff's default `exclude` (and pytest's norecursedirs): not the project's own files
SKIPPED = frozenset(("__pycache__", "__pypackages__", "_build", "buck-out", "build", "dist",
                     "node_modules", "site-packages", "venv"))


def expand(paths: Sequence[str]) -> list[str]:
    """The files to check: a file as given (a missing one is reported as E001), a directory as
    every `*.net` below it, sorted by path components, symbolic links followed (once each);
    below it, hidden directories and those SKIPPED names are not walked (a path given is).
    Each file once, by its real path, where it first comes (`a.net ./a.net`, `a.net .`)."""
    files: list[str] = []
    seen: set[str] = set()
    for p in paths:
        for f in _walk(p) if os.path.isdir(p) else [p]:
            if (real := os.path.realpath(f)) not in seen:
                seen.add(real)
                files.append(f)
    return files


def _walk(top: str) -> list[str]:
    problems: list[OSError] = []
    seen: set[str] = set()
    found: list[str] = []
    skipped = False
    for here, dirs, names in os.walk(top, onerror=problems.append, followlinks=True):
        real = os.path.realpath(here)
        if real in seen:  # NOTE: a link back to a directory already walked: its files are listed
            dirs[:] = []
            continue
        seen.add(real)
        kept = sorted(d for d in dirs if not d.startswith(".") and d not in SKIPPED)
        skipped = skipped or len(kept) < len(dirs)
        dirs[:] = kept  # NOTE: sorted, so that a directory reached twice is named by its first path
        found += [os.path.normpath(os.path.join(here, n)) for n in names if n.endswith(".net")]
    if problems:
        e = problems[0]
        raise PathError(f"{e.filename}: cannot read this directory: {e.strerror or e}")
    if not found:
        raise PathError(f"{top}: is a directory with no .net file in it or below it" + (
            ", outside the directories a walk skips (hidden ones, build, dist, venv, "
            "node_modules...: docs/ci.md): give such a directory by name to check it"
            if skipped else ""))
    return sorted(found, key=lambda f: Path(os.path.relpath(f, top)).parts)


# ----------------------------------------------------------------------------------- checking

def check_file(path: str, opts: Options, sup: Suppressor, judge: bool = True) -> FileReport:
    """Every network of one file (or --network), each on its own; suppressions applied, and
    unused ones reported when the whole file was checked without errors (with `judge`; else
    the caller judges `report.judged` once every file was checked)."""
    from netdsl.pipeline import read_source
    try:
        source = read_source(path, opts.root)
    except NetdslError as e:
        report = FileReport(path)
        kept = sup.keep(e.diagnostics)
        report.events += kept
        report.unreadable = bool(kept) and all(d.code == "E001" for d in kept)
        return report
    return check_text(source, opts, sup, judge)


def check_text(source: Source, opts: Options, sup: Suppressor, judge: bool = True
               ) -> FileReport:
    """check_file on a Source already read (an editor's unsaved text: lsp.py)."""
    from netdsl.analysis import si
    from netdsl.pipeline import check_all
    path = source.path
    shown = printable(path)  # NOTE: escaped as in diagnostics: a file name may hold an ESC
    report = FileReport(path)
    try:
        results = check_all(source, opts.network, opts.params)
    except NetdslError as e:
        kept = sup.keep(e.diagnostics)
        report.events += kept
        report.unreadable = bool(kept) and all(d.code == "E001" for d in kept)
        return report
    report.results = results
    if not results:
        report.events.append(f"{shown}: ok (blocks only, no network)")
    seen: set[str] = set()  # NOTE: a mistake in a family's body is every variant's: shown once
    for name, result in results:
        kept = sup.keep(result.diagnostics if isinstance(result, NetdslError)
                        else result.stats.warnings)
        ok = not any(opts.fails(d) for d in kept)
        for d in kept:
            if (text := render(d)) not in seen:
                seen.add(text)
                report.events.append(d)
        if isinstance(result, NetdslError):
            report.networks.append({"name": name, "ok": ok})
            if ok:
                report.events.append(f"{shown}: {name}: not measured (its errors are ignored)")
            continue
        graph, stats = result.graph, result.stats
        sym = result.symbolic or _derive(graph)
        report.networks.append({
            "name": name, "ok": ok, "params": stats.params, "macs": stats.macs,
            "outputs": {o: list(graph.node(n).shape or ()) for o, n in graph.outputs.items()},
            **_sizes_json(sym)})
        if ok:
            report.events.append(f"{shown}: {name}: ok ({stats.params:,} params, "
                                 f"{si(stats.macs)} MACs{_at(graph.sizes)})" + _sizes(sym))
    # NOTE: an error stops a network's checking, so a warning that a comment suppresses may not
    # have been reached: comments are judged only when every network was checked to the end
    if opts.network is None and results and all(
            not isinstance(r, NetdslError) for _, r in results):
        report.judged = source
        if judge:
            report.events += sup.unused(source)
    return report


def _at(sizes: dict[str, int]) -> str:
    return " at " + ", ".join(f"{k} = {v}" for k, v in sizes.items()) if sizes else ""


def _derive(graph: Any) -> Any:
    """anysize.derive for a network with named input sizes; None for one without."""
    if not graph.declared:
        return None
    from netdsl.anysize import derive
    return derive(graph)


def _sizes(sym: Any) -> str:
    """For a network with named input sizes: each size's valid set, the outputs' shapes over
    them and the layer that pins them, as indented lines under the verdict. A pin that stopped
    the derivation leaves the pin alone: the conditions of the layers past it are unknown."""
    if sym is None:
        return ""
    lines = []
    for group, vs in zip(sym.groups, [] if sym.stopped else sym.valid):
        name = " = ".join(group)
        if vs is None:
            lines.append(f"{name}: not solved exactly (a condition multiplies sizes)")
        else:
            first = ", ".join(map(str, vs.members(3)))
            lines.append(f"{vs} ({first}, ...)" if str(vs).count("+") else str(vs))
    lines += [f"and {c}" for c in ([] if sym.stopped else sym.cross)]
    for out, node in sym.graph.outputs.items():
        if node in sym.shapes:
            lines.append(f"{out}: {sym.shape_text(sym.shapes[node])}")
    if sym.pin is not None:
        lines.append(str(sym.pin))
    return "".join(f"\n  {line}" for line in lines)


def _sizes_json(sym: Any) -> dict[str, Any]:
    """anysize.sizes_json, for `--format json`; nothing for a network without named sizes."""
    if sym is None:
        return {}
    from netdsl.anysize import sizes_json
    return sizes_json(sym)


def _code(report: FileReport, opts: Options) -> int:
    if report.unreadable:
        return 2
    return 1 if any(opts.fails(d) for d in report.diagnostics) else 0


# ------------------------------------------------------------------------------------- output

def run(paths: Sequence[str], opts: Options) -> int:
    """Check every file, print in opts.format, return the exit code. Raises PathError."""
    start = time.perf_counter()
    files = expand(paths)
    sup = Suppressor(opts.ignore)
    reports = []
    for path in files:
        reports.append(check_file(path, opts, sup, judge=False))
        if opts.format == "text":
            _print_text(reports[-1].events, opts)
    # NOTE: comments are judged once every file was checked: a file that another `use`s may
    # hold a comment that drops only what that file's call of its block raises
    for r in reports:
        unused = sup.unused(r.judged) if r.judged is not None else []
        r.events += unused
        if opts.format == "text":
            _print_text(unused, opts)
    code = max((_code(r, opts) for r in reports), default=0)
    shown = [[d for d in r.diagnostics if opts.fails(d) or not opts.quiet] for r in reports]
    items = [(r.path, d) for r, ds in zip(reports, shown) for d in ds]
    if opts.format == "json":
        import json  # NOTE: here: a check printed as text (the usual) need not import it
        print(json.dumps({"schema": CHECK_SCHEMA, "ok": code == 0, "files": [
            {"path": r.path, "ok": _code(r, opts) == 0 and all(n["ok"] for n in r.networks),
             "networks": r.networks, "diagnostics": [to_dict(d) for d in ds]}
            for r, ds in zip(reports, shown)]}, indent=2))
    elif opts.format in ("github", "sarif"):
        from netdsl import formats  # NOTE: here: a check printed as text need not import it
        sys.stdout.write((formats.github if opts.format == "github" else formats.sarif)(items))
    elif not opts.quiet and (len(files) > 1 or any(os.path.isdir(p) for p in paths)):
        print(summary(reports, time.perf_counter() - start), file=sys.stderr)
    return code


def _print_text(events: Sequence[Diagnostic | str], opts: Options) -> None:
    for event in events:
        if isinstance(event, str):
            if not opts.quiet:
                print(event)
        elif opts.fails(event) or not opts.quiet:
            print(render(event, color=opts.color) + "\n", file=sys.stderr)


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def summary(reports: Sequence[FileReport], seconds: float) -> str:
    """`checked 3 files, 5 networks: 1 error, 2 warnings (0.41 s)`."""
    diags = [d for r in reports for d in r.diagnostics]
    errors = sum(d.severity is Severity.ERROR for d in diags)
    warnings = sum(d.severity is Severity.WARNING for d in diags)
    return (f"checked {_count(len(reports), 'file')}, "
            f"{_count(sum(len(r.networks) for r in reports), 'network')}: "
            f"{_count(errors, 'error')}, {_count(warnings, 'warning')} ({seconds:.2f} s)")
