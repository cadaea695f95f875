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
    "record": 0,
    "source": 1, "version": 1, "limits": 1, "protowire": 1, "symbolic": 1,
    "diagnostics": 2, "syntax": 2, "ops": 2, "solve": 2,
    "files": 3, "draw": 3, "parse": 3, "values": 3, "checkpoint": 3, "suppress": 3, "formats": 3,
    "options": 3,
    "expectations": 4, "valueops": 4, "runtime": 4, "fmt": 4, "weights": 4,
    "ir": 5, "approx": 5,
    "elaborator": 6, "analysis": 6, "rewrite": 6, "export": 6, "anysize": 6,
    "sizes": 7, "stream": 7, "report": 7, "expect_check": 7, "importer": 7,
    "serving": 7,
    "pipeline": 8,
    "diff": 9, "checkrun": 9, "pytest_plugin": 9, "__init__": 9, "graph": 9,
    "diff_report": 10,
    "editor": 10,
    "lsp": 11,
    "cli": 12,
    "__main__": 13,
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


def _dataclasses() -> list[type]:
    import dataclasses
    import importlib
    import inspect
    import pkgutil

    import netdsl
    from netdsl.ops import load_all

    load_all()
    found = []
    for info in pkgutil.walk_packages(netdsl.__path__, "netdsl."):
        if info.name.endswith("__main__") or info.name == "netdsl.lsp":  # lsp: pygls optional
            continue
        module = importlib.import_module(info.name)
        found += [c for c in vars(module).values() if inspect.isclass(c)
                  and c.__module__ == info.name and dataclasses.is_dataclass(c)]
    return found


def _frozen_dataclasses() -> list[type]:
    from netdsl.record import MutableRecord

    return [c for c in _dataclasses() if not issubclass(c, MutableRecord)]


def test_every_dataclass_is_declared_with_record():
    """netdsl/record.py: a dataclass is declared `@record` on Record (frozen) or
    `@record(frozen=False)` on MutableRecord, which inherit ==, hash() (frozen only), repr() and
    the frozen __setattr__ from Record, and compile __init__ on first use: a class (or a base
    between it and Record) that generated its own methods would compare other fields, and cost
    a compile each when it is created. (Source compares by identity: one file's text, whatever
    its contents.)"""
    from netdsl.record import MutableRecord, Record

    classes = [c for c in _dataclasses() if f"{c.__module__}.{c.__qualname__}"
               != "netdsl.source.Source"]
    assert len(classes) > 150
    mutable = [c for c in classes if issubclass(c, MutableRecord)]
    assert len(mutable) > 10
    wrong = [f"{c.__module__}.{c.__qualname__}" for c in classes
             if not issubclass(c, Record) or c.__dataclass_params__.init  # type: ignore[attr-defined]
             or c.__dataclass_params__.frozen  # type: ignore[attr-defined]
             or (c.__eq__, c.__repr__, c.__setattr__) != (
                 Record.__eq__, Record.__repr__,
                 (MutableRecord if c in mutable else Record).__setattr__)
             or c.__hash__ is not (None if c in mutable else Record.__hash__)]
    assert not wrong, f"declare these @record on Record or MutableRecord: {wrong}"


def test_every_frozen_dataclass_has_its_own_docstring():
    """Without one, @dataclass writes one from inspect.signature while it creates the class,
    which costs as much as compiling a method."""
    undocumented = [f"{c.__module__}.{c.__qualname__}" for c in _frozen_dataclasses()
                    if "__doc__" not in vars(c) or c.__doc__ is None
                    or c.__doc__.startswith(f"{c.__name__}(")]
    assert not undocumented
