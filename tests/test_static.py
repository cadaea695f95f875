"""The checkout type-checks and lints clean: mypy and ruff, each with the settings in
pyproject.toml, run from the repository root as a developer would run them."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import ROOT

CHECKS = {
    "mypy": [sys.executable, "-m", "mypy"],  # [tool.mypy] names the files: netdsl/
    "ruff": [sys.executable, "-m", "ruff", "check", "netdsl", "tests", "bench", "tools"],
}


@pytest.mark.parametrize("tool", list(CHECKS), ids=list(CHECKS))
def test_checkout_passes(tool):
    r = subprocess.run(CHECKS[tool], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"{tool} failed:\n{r.stdout}{r.stderr}"
