"""The checkout type-checks and lints clean: mypy and ruff, each with the settings in
pyproject.toml, run from the repository root as a developer would run them. And the test
modules keep the torch-free tier (README, "Quick start") importable without torch."""

from __future__ import annotations

import ast
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


def _imports_torch(node: ast.stmt) -> bool:
    if isinstance(node, ast.Import):
        return any(a.name.split(".")[0] in ("torch", "torchvision") for a in node.names)
    return isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in (
        "torch", "torchvision")


def _is_importorskip(node: ast.stmt) -> bool:
    return (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
            and ast.unparse(node.value.func) == "pytest.importorskip")


@pytest.mark.parametrize("path", sorted((ROOT / "tests").glob("*.py")), ids=lambda p: p.name)
def test_torch_is_imported_at_the_top_only_after_a_skip(path):
    """Without torch (the `test` extra) a module that imports torch or torchvision at its top
    must skip, not fail to import: pytest.importorskip comes first (tests/conftest.py)."""
    skips = False
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        skips = skips or _is_importorskip(node)
        assert skips or not _imports_torch(node), \
            f"{path.name}:{node.lineno} imports torch or torchvision before pytest.importorskip"


@pytest.mark.slow
def test_the_tests_collect_without_torch():
    """The torch-free tier as a user without torch meets it: every test module collects (those
    that need torch skip); a torch class defined while a table is built was a NameError that
    failed seven modules."""
    blocked = ("import sys\nsys.modules['torch'] = sys.modules['torchvision'] = None\n"
               "import pytest\nsys.exit(pytest.main(['--collect-only', '-q', '-p', "
               "'no:cacheprovider', 'tests']))\n")
    r = subprocess.run([sys.executable, "-c", blocked], cwd=ROOT, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0 and " error" not in r.stdout, r.stdout[-3000:]
