"""The scripts in bench/ run, each in a tiny configuration, so that they cannot rot: their tables
come out with every column (the numbers are not checked: nothing anywhere asserts a time)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


def _script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # NOTE: dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_every_latency_case_builds_at_its_input_shape():
    """bench/run.py's cases load as their parameters say (the zoo's unet lost its `size`
    parameter to named sizes, and only a run of that case would have shown it)."""
    import netdsl
    for case in _script("run").CASES.values():
        inputs = netdsl.load(case.path, case.network, case.params).graph.inputs
        assert tuple(inputs[0].shape[1:]) == case.input_shape[1:], case.name


@pytest.mark.slow
def test_check_bench_runs(capsys):
    _script("check").main(["--network", "resnet18", "--repeats", "1", "--layers", "10,40",
                           "--tower-repeats", "1", "--against", str(BENCH.parent)])
    out = capsys.readouterr().out
    assert "netdsl check resnet18" in out and "import lark, networkx" in out
    assert "without the teardown" in out
    assert f"the checkout {BENCH.parent}, in the same turns" in out
    assert "netdsl.load resnet18" in out and "parse" in out and "analyse" in out
    rows = out.split("ms/layer")[-1].split("\n")[1:3]
    assert [r.split()[:2] for r in rows] == [["2", "9"], ["9", "37"]]  # units, layers


def test_tower_of_a_hundred_thousand_layers_fits_the_limits():
    check = _script("check")
    text, units = check.tower(100_000)
    assert units == 24_999 and text.count("res * 10000") == 2 and "res * 4999" in text


@pytest.mark.slow
def test_sizes_bench_runs(capsys):
    _script("sizes").main(["--networks", "unet", "--brute", "2", "--repeats", "1"])
    out = capsys.readouterr().out
    assert out.splitlines()[-1].startswith("unet ") and out.count("\n") == 3


@pytest.mark.slow
def test_process_bench_runs(capsys, torchvision):
    _script("process").main(["--models", "resnet18", "--repeats", "1"])
    out = capsys.readouterr().out
    assert "wall ratio" in out and "CPU ratio" in out
    assert out.splitlines()[-1].startswith("resnet18 ")


@pytest.mark.slow
def test_run_bench_runs(capsys, torchvision):
    _script("run").main(["--models", "lenet", "--repeats", "1", "--rounds", "1", "--runs", "1",
                         "--batches", "1,2", "--levels", "ORT_ENABLE_ALL"])
    out = capsys.readouterr().out
    assert "GFLOP/s" in out and "of GEMM" in out and "lenet ours:" in out
    rows = [line.split() for line in out.splitlines() if line.startswith("lenet ")]
    assert [r[:2] for r in rows if len(r) == 10] == [["lenet", "1"], ["lenet", "2"]]
