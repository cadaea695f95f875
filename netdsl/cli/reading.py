"""The commands that read and report (cli stage): check, list, summary, explain, diff, sizes and
graph (a picture of the network). Arguments → what they print; each imports the stages it needs
inside its function, so that a check imports none of the others' modules."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from netdsl.cli.base import EXIT_ERRORS, EXIT_OK, EXIT_USAGE, _color, _emit, _params, _Usage


def cmd_check(a: argparse.Namespace) -> int:
    """Check every file (a directory: every `*.net` below it), every network in it (or
    --network); exit 0, 1 (errors; warnings too with --warnings-as-errors) or 2 (a file that
    cannot be read). Each file and network is checked on its own: one's errors do not hide
    another's. The work is checkrun.run's."""
    from netdsl.checkrun import Options, PathError, run
    from netdsl.diagnostics import CODES, did_you_mean
    for code in a.ignore or ():
        if len(many := code.replace(",", " ").split()) > 1:
            raise _Usage(f"--ignore takes one diagnostic code, not {code!r}: repeat the flag, "
                         f"as in {' '.join(f'--ignore {c}' for c in many)}")
        if code not in CODES:
            hint = did_you_mean(code, CODES, "docs/errors.md lists the codes")
            raise _Usage(f"--ignore takes a diagnostic code, not {code!r}: {hint}")
    opts = Options(a.network, _params(a.set), a.format, a.quiet, a.warnings_as_errors,
                   frozenset(a.ignore or ()), _color(sys.stderr), a.root)
    try:
        return run(a.files, opts)
    except PathError as e:
        raise _Usage(str(e)) from None


def cmd_list(a: argparse.Namespace) -> int:
    """The networks and blocks a file defines (not those it `use`s), with their parameters."""
    from netdsl import syntax as s
    from netdsl.elaborator import load_module
    from netdsl.pipeline import read_source
    module, _ = load_module(read_source(a.file, a.root))
    for item in module.items:
        if isinstance(item, s.Network):
            print(f"network {item.name.id}({_param_list(item.params)})")
        elif isinstance(item, s.NetworkAlias):
            args = [x.span.text() for x in item.args] + [k.span.text() for k in item.kwargs]
            print(f"network {item.name.id} = {item.target.id}({', '.join(args)})")
        elif isinstance(item, s.Block):
            print(f"block {item.name.id}({_param_list(item.params)})")
    return EXIT_OK


def _param_list(params: Sequence[Any]) -> str:
    return ", ".join(p.name.id + (f" = {p.default.span.text()}" if p.default else "")
                     for p in params)


def cmd_summary(a: argparse.Namespace) -> int:
    from netdsl.pipeline import check_source, read_source
    from netdsl.report import summary
    if a.depth is not None and a.depth < 1:
        raise _Usage(f"--depth takes a positive number of name parts, not {a.depth}")
    checked = check_source(read_source(a.file, a.root), a.network, _params(a.set))
    _emit(checked.stats.warnings)
    print(summary(checked.graph, checked.stats, a.format, a.depth))
    return EXIT_OK


def cmd_graph(a: argparse.Namespace) -> int:
    from netdsl import files
    from netdsl.graph import FORMATS, DotMissing, render
    from netdsl.pipeline import check_source, read_source
    if a.depth is not None and a.depth < 1:
        raise _Usage(f"--depth takes a positive number of name parts, not {a.depth}")
    if Path(a.output).suffix.lower() not in FORMATS:
        raise _Usage(f"-o {a.output}: the suffix picks the format, one of {', '.join(FORMATS)}")
    # NOTE: as compile: checked before the work, regular files only
    files.check_writable(Path(a.output), example=f"network{Path(a.output).suffix.lower()}")
    checked = check_source(read_source(a.file, a.root), a.network, _params(a.set))
    _emit(checked.stats.warnings)
    try:
        render(checked.graph, checked.stats, Path(a.output), a.depth)
    except DotMissing as e:
        print(f"netdsl graph: {e}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


def cmd_explain(a: argparse.Namespace) -> int:
    from netdsl.pipeline import check_source, read_source
    from netdsl.report import explain
    checked = check_source(read_source(a.file, a.root), a.network, _params(a.set))
    print(explain(checked.graph, checked.stats, a.layer))
    return EXIT_OK


def cmd_diff(a: argparse.Namespace) -> int:
    """Two files, or one against a git revision (its `use`d files from the working tree)."""
    from netdsl import diff, diff_report
    from netdsl.pipeline import read_source
    from netdsl.source import Source
    if (a.against is None) == (a.new is None):
        raise _Usage("give two files (netdsl diff OLD NEW), or one and --against REV")
    params = _params(a.set)
    label = None
    if a.against is None:
        old, new = read_source(a.old, a.root), read_source(a.new, a.root)
    else:  # NOTE: the file first, so that a missing one is reported as missing
        new = read_source(a.old, a.root)
        old = Source(a.old, diff.read_revision(Path(a.old), a.against), new.root)
        label = f"{a.against}:{a.old}"
    result = diff.diff_sources(old, new, a.network, params, label)
    print(diff_report.render(result, a.format))
    return EXIT_ERRORS if a.exit_code and result.differs else EXIT_OK


def cmd_sizes(a: argparse.Namespace) -> int:
    from netdsl import sizes
    from netdsl.elaborator import load_module
    from netdsl.pipeline import read_source
    module, ns = load_module(read_source(a.file))
    graph = sizes.lenient_graph(module, ns, a.network, _params(a.set))
    try:
        report = sizes.valid_sizes(graph, a.input, a.range, a.square)
    except sizes.SizesError as e:
        raise _Usage(f"netdsl sizes: {e}") from None
    print(sizes.to_json(report) if a.format == "json" else sizes.to_text(report))
    return EXIT_OK
