"""Shared helpers: compile .net text the way a user would, and run the CLI in-process."""

from __future__ import annotations

import io
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ZOO = ROOT / "zoo"


def check_text(text: str, network: str | None = None, **params):
    """Parse + elaborate + analyse inline .net text; returns pipeline.Checked."""
    from netdsl.pipeline import check_source
    from netdsl.source import Source
    return check_source(Source("test.net", text), network, params)


def errors_of(text: str, network: str | None = None, **params) -> list:
    """The diagnostics a program produces (asserts that it fails)."""
    from netdsl import NetdslError
    with pytest.raises(NetdslError) as e:
        check_text(text, network, **params)
    return list(e.value.diagnostics)


def rendered(text: str, network: str | None = None, **params) -> str:
    from netdsl.diagnostics import render_all
    return render_all(errors_of(text, network, **params))


def cli(*args: str) -> tuple[int, str, str]:
    """Run `netdsl ARGS` in-process; returns (exit code, stdout, stderr)."""
    from netdsl.cli import main
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def net_file(tmp_path):
    """Write .net text to a file in tmp_path; returns its Path."""
    def write(text: str, name: str = "model.net") -> Path:
        p = tmp_path / name
        p.write_text(text, encoding="utf-8")
        return p
    return write


sys.path.insert(0, str(Path(__file__).resolve().parent))
