"""The vertical slice: LeNet-5 checks, compiles and runs from the README's commands."""

from __future__ import annotations

import numpy as np
import onnx

import netdsl
from conftest import ZOO, cli


def test_lenet_checks_with_published_parameter_count():
    g = netdsl.load(ZOO / "lenet.net")
    assert g.stats.params == 61_706  # LeCun et al. 1998; the lecture's "60k parameters"
    conv_dense = sum(lay.macs for lay in g.stats.layers if lay.op in ("conv", "dense"))
    assert conv_dense == 117_600 + 240_000 + 48_000 + 10_080 + 840


def test_lenet_compiles_to_valid_onnx_and_runs():
    model = netdsl.compile(ZOO / "lenet.net")
    onnx.checker.check_model(model, full_check=True)
    out = netdsl.run(model, {"image": np.zeros((3, 1, 32, 32), np.float32)})
    assert out["probs"].shape == (3, 10)
    np.testing.assert_allclose(out["probs"].sum(axis=1), 1.0, rtol=1e-5)


def test_readme_commands(tmp_path):
    onnx_path = tmp_path / "lenet.onnx"
    assert cli("check", str(ZOO / "lenet.net"))[0] == 0
    assert cli("compile", str(ZOO / "lenet.net"), "-o", str(onnx_path))[0] == 0
    code, out, _ = cli("run", str(onnx_path), "--random", "--top", "5")
    assert code == 0
    assert "probs: shape [1, 10]" in out and "top-5" in out
