"""The house rules of docs/architecture.md, checked: every module of netdsl sits on a floor and
imports (at the top, lazily or for typing alike) only from lower floors, so the stages form a
one-way chain; and the page names every module, so that it stays the map of the package."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "netdsl"

# NOTE: a package that is one concept (ops/: the registry and its operators; elaborator/) is one
# unit here; its modules' order among themselves is the package docstring's business.
FLOORS: dict[str, int] = {
    "source": 0, "version": 0, "limits": 0, "protowire": 0, "symbolic": 0,
    "diagnostics": 1, "syntax": 1, "ops": 1, "solve": 1,
    "files": 2, "draw": 2, "parse": 2, "values": 2, "checkpoint": 2, "suppress": 2, "formats": 2,
    "options": 2,
    "expectations": 3, "runtime": 3, "fmt": 3, "weights": 3,
    "ir": 4,
    "elaborator": 5, "analysis": 5, "rewrite": 5, "export": 5, "anysize": 5,
    "sizes": 6, "stream": 6, "report": 6, "expect_check": 6, "importer": 6,
    "serving": 6,
    "pipeline": 7,
    "diff": 8, "checkrun": 8, "pytest_plugin": 8, "__init__": 8, "graph": 8,
    "diff_report": 9,
    "editor": 9,
    "lsp": 10,
    "cli": 11,
    "__main__": 12,
}


def _unit(module: str) -> str:
    """netdsl.ops.conv -> ops; netdsl.cli -> cli; netdsl -> __init__."""
    parts = module.split(".")[1:]
    return parts[0] if parts else "__init__"


def _modules() -> dict[str, set[str]]:
    """Each module's unit -> the units it imports from netdsl."""
    units: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        deps = units.setdefault(_unit(name), set())
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                if node.module == "netdsl":
                    deps.update(_unit(f"netdsl.{a.name}") for a in node.names)
                elif node.module.startswith("netdsl."):
                    deps.add(_unit(node.module))
            elif isinstance(node, ast.Import):
                deps.update(_unit(a.name) for a in node.names if a.name.startswith("netdsl."))
    return units


MODULES = _modules()


def test_every_module_has_a_floor():
    assert set(MODULES) == set(FLOORS)


@pytest.mark.parametrize("unit", sorted(MODULES))
def test_imports_go_only_to_lower_floors(unit):
    upward = {d: FLOORS[d] for d in MODULES[unit] - {unit} if FLOORS[d] >= FLOORS[unit]}
    assert not upward, f"{unit} (floor {FLOORS[unit]}) imports from floors at or above it: {upward}"


def test_the_architecture_page_names_every_module():
    page = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    missing = [u for u in FLOORS if f"`{u}" not in page]
    assert not missing, f"docs/architecture.md does not mention {missing}"
