"""The pytest plugin (entry point `pytest11: netdsl`): `*.net` files → one test item per network.

Off unless asked for, so that installing netdsl never changes another project's test run: it
collects only with `pytest --netdsl` (or `--netdsl-run`, `--netdsl-strict`, which imply it) or
`netdsl = true` in the ini file (`[tool.pytest.ini_options]` in pyproject.toml, or `[pytest]`).

Each network of a collected `*.net` file is an item `file.net::network` that checks it as
`netdsl check` does (pipeline.check_all: shapes, expectations); `--netdsl-run` then lowers it to
ONNX and runs it once on onnxruntime with random input (batch 1). A failing item shows the
rendered diagnostics (diagnostics.render, no colour) instead of a traceback, also in
`--junitxml` reports. Warnings (W codes) appear in pytest's warnings summary; `--netdsl-strict`
makes them failures; `# netdsl: ignore[...]` comments drop diagnostics as in `netdsl check`,
and, as there, the file's comments that dropped nothing (W001) are reported (by the last of its
networks to run) once every network of the file was checked to the end in this process: none
under `-k` or a split of the items, none where a network has errors.
A file that cannot be read or parsed is one failing item `file.net::<file>`; a file of blocks
only has no items. Paths in messages are relative to the working directory, as
`netdsl check` prints them when run from there; a file outside it is named by its absolute
path."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from netdsl.diagnostics import Diagnostic, NetdslError, Severity, render, render_all
from netdsl.pipeline import check_all, network_names, read_source
from netdsl.suppress import Suppressor

if TYPE_CHECKING:
    from _pytest._code.code import TerminalRepr, TracebackStyle

    from netdsl.ir import Graph
    from netdsl.source import Source

FILE_ITEM = "<file>"  # the item of a file that fails as a whole (no network is an identifier)


class NetdslWarning(UserWarning):
    """A netdsl warning diagnostic, reported at its place in the `.net` file."""

    diagnostic: Diagnostic | None = None  # NOTE: shown whole when pytest makes it an error


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("netdsl", "netdsl: .net architectures as tests")
    group.addoption("--netdsl", action="store_true",
                    help="collect *.net files: one test per network, which checks its shapes "
                         "and expectations")
    group.addoption("--netdsl-run", action="store_true",
                    help="also compile each network to ONNX and run it once on onnxruntime "
                         "with random input, batch 1 (implies --netdsl)")
    group.addoption("--netdsl-strict", action="store_true",
                    help="netdsl warnings fail the test (implies --netdsl)")
    parser.addini("netdsl", "collect *.net files, as --netdsl does", type="bool", default=False)


def _enabled(config: pytest.Config) -> bool:
    return bool(config.getoption("netdsl") or config.getoption("netdsl_run")
                or config.getoption("netdsl_strict") or config.getini("netdsl"))


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> NetFile | None:
    if file_path.suffix == ".net" and _enabled(parent.config):
        return NetFile.from_parent(parent, path=file_path)
    return None


class NetFile(pytest.File):
    """One `.net` file: its networks' names are read here (parsing only); items check them, with
    one Suppressor for the file, which judges its comments (W001) when `waiting` is empty and
    every network was `clean` (an error stops a network's checking before what a comment drops)."""

    suppressor: Suppressor
    waiting: set[str]  # the networks not run yet
    clean: bool

    def collect(self) -> Iterator[NetItem]:
        self.suppressor, self.waiting, self.clean = Suppressor(), set(), True
        shown = os.path.relpath(self.path)
        try:
            source = read_source(shown if not shown.startswith("..") else self.path)
            names = network_names(source)
            if not names:
                check_all(source)  # [] for a file of blocks only, else E213 (defines nothing)
        except NetdslError as e:
            yield NetItem.from_parent(self, name=FILE_ITEM, error=e)
            return
        self.waiting = set(names)
        for name in names:
            yield NetItem.from_parent(self, name=name, source=source)


class NetItem(pytest.Item):
    """One network (`source` and its `name`), or a whole file that failed (`error`)."""

    def __init__(self, *, source: Source | None = None, error: NetdslError | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.source, self.error = source, error

    def runtest(self) -> None:
        if self.error is not None:
            self._report(self.error.diagnostics)
            return
        assert self.source is not None and isinstance(self.parent, NetFile)
        ((_, result),) = check_all(self.source, self.name)
        self.parent.waiting.discard(self.name)
        if isinstance(result, NetdslError):
            self.parent.clean = False
            self._report(result.diagnostics)
            return  # every error ignored: passes, not measured and not run (as `netdsl check`)
        last = not self.parent.waiting and self.parent.clean
        self._report(result.stats.warnings, self.source if last else None)
        if self.config.getoption("netdsl_run"):
            _run_once(result.graph)

    def _report(self, diags: Iterable[Diagnostic], judged: Source | None = None) -> None:
        """Fail with the diagnostics that `# netdsl: ignore[...]` comments do not drop (and the
        comments of `judged`, the file whose last network this is, that dropped nothing: W001),
        if one fails the test (an error; a warning with --netdsl-strict); else warn with them."""
        assert isinstance(self.parent, NetFile)
        kept = self.parent.suppressor.keep(diags)
        if judged is not None:
            kept += self.parent.suppressor.unused(judged)
        strict = self.config.getoption("netdsl_strict")
        if any(strict or d.severity is Severity.ERROR for d in kept):
            raise NetdslError(kept)
        for d in kept:
            _warn(d)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: TracebackStyle | None = None) -> str | TerminalRepr:
        if isinstance(excinfo.value, NetdslError):
            return render_all(excinfo.value.diagnostics, color=False)
        if isinstance(excinfo.value, NetdslWarning) and excinfo.value.diagnostic is not None:
            return render(excinfo.value.diagnostic, color=False)  # `filterwarnings = error`
        return super().repr_failure(excinfo, style)  # a bug in netdsl: its traceback

    def reportinfo(self) -> tuple[os.PathLike[str] | str, int | None, str]:
        return self.path, None, self.nodeid


def _warn(d: Diagnostic) -> None:
    """A warning diagnostic as a pytest warning at its place (its rendering without the
    `path:line:col: ` that the warnings summary prints already)."""
    text, where = render(d, color=False), d.location()
    path, line = (where[0], where[1]) if where else ("<netdsl>", 0)
    if where and text.startswith(f"{path}:{line}:{where[2]}: "):
        text = text[len(f"{path}:{line}:{where[2]}: "):]
    warning = NetdslWarning(text)
    warning.diagnostic = d
    warnings.warn_explicit(warning, NetdslWarning, path, line)


def _run_once(graph: Graph) -> None:
    """Lower to ONNX and run on onnxruntime once, with standard normal input of batch 1."""
    from netdsl import export, runtime
    session = runtime.Session(export.to_onnx(graph))
    session.run(runtime.random_inputs(session.inputs, batch=1, seed=0))
