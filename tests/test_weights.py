"""Weights: seeded He / Xavier initialisation (statistics checked against torch.nn.init's own fan
and gain rules), fixed `weights:` literals, loading by name from .npz and .safetensors with every
mismatch reported together, byte-identical output, atomic writes and external data."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

import netdsl
from conftest import ROOT, ZOO, cli

CONV = """network t {
  input x: [N, 128, 8, 8]
  x -> c: conv(256, 3, pad: 1) -> b: bn -> relu -> flatten -> f: dense(300) -> output y
}"""


def inits(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    return {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}


def torch_std(shape: tuple[int, ...], mode: str) -> float:
    """The std torch.nn.init gives a tensor of this shape: kaiming_normal_ or kaiming_uniform_
    (gain sqrt 2 for relu) with mode fan_in or fan_out, or xavier_normal_/xavier_uniform_ (the
    normal and uniform forms have the same std)."""
    import torch
    from torch.nn import init
    w = torch.empty(shape)
    fan_in, fan_out = init._calculate_fan_in_and_fan_out(w)
    if mode == "xavier":
        return math.sqrt(2.0 / (fan_in + fan_out))
    return init.calculate_gain("relu") / math.sqrt(fan_in if mode == "fan_in" else fan_out)


def assert_uniform(w: np.ndarray, std: float) -> None:
    """U(-b, b) with torch's kaiming_uniform_/xavier_uniform_ bound b = sqrt(3) * std."""
    n, bound = w.size, math.sqrt(3) * std
    # NOTE: the sample std of n uniforms has relative spread sqrt(1/5n) (below the normal's
    # 1/sqrt(2n)); 5 sigma of 1/sqrt(2n), and of the mean, cannot fail by chance.
    assert abs(w.std() / std - 1) < 5 / math.sqrt(2 * n), (w.std(), std)
    assert abs(w.mean()) < 5 * std / math.sqrt(n)
    assert -bound <= w.min() < -0.99 * bound and 0.99 * bound < w.max() < bound


def test_he_init_uses_fan_out_for_convs_and_fan_in_for_dense_like_torchvision(torch):
    w = inits(netdsl.compile(netdsl.loads(CONV)))
    assert_uniform(w["c.weight"], torch_std((256, 128, 3, 3), "fan_out"))
    assert_uniform(w["f.weight"], torch_std((300, 256 * 64), "fan_in"))


@pytest.mark.parametrize("how", ["option", "flag"])
def test_xavier_init_by_option_or_flag(how, torch):
    if how == "option":
        model = netdsl.compile(netdsl.loads(CONV.replace("{\n", '{\n  option init: "xavier"\n', 1)))
    else:
        model = netdsl.compile(netdsl.loads(CONV), init="xavier")
    w = inits(model)
    assert_uniform(w["c.weight"], torch_std((256, 128, 3, 3), "xavier"))
    assert_uniform(w["f.weight"], torch_std((300, 256 * 64), "xavier"))


def test_biases_zero_and_batch_norm_is_the_identity():
    w = inits(netdsl.compile(netdsl.loads(CONV)))
    assert not w["c.bias"].any() and not w["f.bias"].any() and not w["b.bias"].any()
    assert (w["b.weight"] == 1).all() and (w["b.running_var"] == 1).all()
    assert not w["b.running_mean"].any()


def test_fixed_weights_are_used_exactly():
    text = """network t {
      input x: [N, 1, 5, 5]
      x -> k: conv(1, 3, weights: [[1, 2, 1], [2, 4, 2], [1, 2, 1]] / 16, bias: false)
        -> output y
    }"""
    w = inits(netdsl.compile(netdsl.loads(text)))
    expected = np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]], np.float32) / 16
    assert w["k.weight"].shape == (1, 1, 3, 3)
    np.testing.assert_array_equal(w["k.weight"][0, 0], expected)


def test_seed_changes_weights_and_one_layer_does_not_move_the_others():
    a, b = (inits(netdsl.compile(netdsl.loads(CONV), seed=s)) for s in (0, 1))
    assert not np.array_equal(a["c.weight"], b["c.weight"])
    # a wider dense layer: the conv's weights stay as they were
    c = inits(netdsl.compile(netdsl.loads(CONV.replace("dense(300)", "dense(301)")), seed=0))
    np.testing.assert_array_equal(a["c.weight"], c["c.weight"])


def test_same_source_seed_and_options_give_byte_identical_files(tmp_path):
    """Once in this process, once in a fresh one with another hash seed."""
    src = tmp_path / "m.net"
    src.write_text(CONV)
    first, second = tmp_path / "a.onnx", tmp_path / "b.onnx"
    assert cli("compile", str(src), "-o", str(first), "--seed", "7")[0] == 0
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-m", "netdsl", "compile", str(src), "-o", str(second),
                    "--seed", "7"], check=True, env=env, capture_output=True)
    assert first.read_bytes() == second.read_bytes()


# ------------------------------------------------------------------------- loading by name

def lenet_arrays(seed: int = 3) -> dict[str, np.ndarray]:
    shapes = netdsl.load(ZOO / "lenet.net").stats.tensors()
    rng = np.random.default_rng(seed)
    return {k: rng.standard_normal(v).astype(np.float32) for k, v in shapes.items()}


@pytest.mark.parametrize("fmt", ["npz", "safetensors"])
def test_weights_load_by_name_exactly(tmp_path, fmt):
    arrays = lenet_arrays()
    path = tmp_path / f"w.{fmt}"
    if fmt == "npz":
        np.savez(path, **arrays)
    else:
        from safetensors.numpy import save_file
        save_file(arrays, str(path))
    out = tmp_path / "lenet.onnx"
    code, _, err = cli("compile", str(ZOO / "lenet.net"), "-o", str(out), "--weights", str(path))
    assert code == 0, err
    got = inits(onnx.load(str(out)))
    for k, v in arrays.items():
        np.testing.assert_array_equal(got[k], v)


def test_bfloat16_safetensors_load_exactly(tmp_path, torch):
    """bfloat16 (most checkpoints on the Hugging Face hub) was E401 'numpy cannot hold' in a
    .safetensors file, though the same tensors in a .pt file loaded."""
    from safetensors.torch import save_file
    tensors = {k: torch.from_numpy(v).to(torch.bfloat16) for k, v in lenet_arrays().items()}
    save_file(tensors, str(tmp_path / "w.safetensors"))
    got = inits(netdsl.compile(ZOO / "lenet.net", weights=tmp_path / "w.safetensors"))
    for k, v in tensors.items():
        np.testing.assert_array_equal(got[k], v.float().numpy())


def test_a_prefix_on_every_name_is_named_with_the_rename_that_strips_it(tmp_path):
    """A DataParallel checkpoint (`module.conv1.weight`): the hint pointed at the layer names,
    not at --rename, which was what the user needed."""
    path = tmp_path / "w.npz"
    np.savez(path, **{f"module.{k}": v for k, v in lenet_arrays().items()})
    code, _, err = cli("compile", str(ZOO / "lenet.net"), "-o", str(tmp_path / "m.onnx"),
                       "--weights", str(path))
    assert code == 1
    assert ("  = hint: the file's names begin with `module.`: --rename '^module\\.=' (rename= "
            "in the API) strips it\n") in err
    assert cli("compile", str(ZOO / "lenet.net"), "-o", str(tmp_path / "m.onnx"), "--weights",
               str(path), "--rename", "^module\\.=")[0] == 0


def test_missing_unexpected_and_misshaped_keys_are_reported_together(tmp_path):
    arrays = lenet_arrays()
    del arrays["c1.bias"], arrays["f7.weight"]
    arrays["c1.weights"] = np.zeros(3, np.float32)
    arrays["c3.weight"] = np.zeros((16, 6, 3, 3), np.float32)
    path, out = tmp_path / "w.npz", tmp_path / "lenet.onnx"
    np.savez(path, **arrays)
    code, _, err = cli("compile", str(ZOO / "lenet.net"), "-o", str(out), "--weights",
                       str(path))
    assert code == 1 and not out.exists()
    assert f"error[E401]: {path}: 2 missing: `c1.bias`, `f7.weight`" in err
    assert f"error[E401]: {path}: 1 unexpected: `c1.weights`" in err
    assert (f"error[E401]: {path}: `c3.weight` has shape [16, 6, 3, 3], the network needs "
            "[16, 6, 5, 5]") in err
    assert "Traceback" not in err


def test_weights_that_are_no_real_numbers_say_what_they_are(tmp_path):
    """A complex or boolean array was 'not numeric'."""
    arrays = lenet_arrays()
    arrays["c1.bias"] = arrays["c1.bias"].astype(np.complex64)
    arrays["f7.bias"] = arrays["f7.bias"] > 0
    path, out = tmp_path / "w.npz", tmp_path / "lenet.onnx"
    np.savez(path, **arrays)
    code, _, err = cli("compile", str(ZOO / "lenet.net"), "-o", str(out), "--weights",
                       str(path))
    assert (code, err) == (1, f"""\
error[E401]: {path}: not real numbers (boolean, complex): `c1.bias`, `f7.bias`
  = hint: netdsl reads integer and floating-point weights

""")
    assert not out.exists()


@pytest.mark.parametrize("case", ["missing", "directory", "corrupt npz", "corrupt safetensors",
                                  "wrong format", "pickled"])
def test_bad_weight_files_are_clear_errors_and_nothing_is_written(tmp_path, case):
    path = {"missing": tmp_path / "none.npz", "directory": tmp_path,
            "corrupt npz": tmp_path / "w.npz", "corrupt safetensors": tmp_path / "w.safetensors",
            "wrong format": tmp_path / "w.ckpt", "pickled": tmp_path / "p.npz"}[case]
    if case.startswith("corrupt"):
        path.write_bytes(b"\x00garbage, not weights\xff" * 10)
    elif case == "wrong format":
        path.write_bytes(b"PK")
    elif case == "pickled":
        np.savez(path, **{"c1.weight": np.array([object()], dtype=object)})
    out = tmp_path / "m.onnx"
    out.write_bytes(b"an earlier model")
    code, _, err = cli("compile", str(ZOO / "lenet.net"), "-o", str(out), "--weights", str(path))
    expected = {"missing": "no such file", "directory": "is a directory",
                "corrupt npz": "corrupt or not a .npz file",
                "corrupt safetensors": "cannot read", "wrong format": "unknown format `.ckpt`",
                "pickled": "corrupt or not a .npz file"}[case]
    assert code == 1 and f"error[E401]: weight file {path}: {expected}" in err, err
    assert "Traceback" not in err
    assert out.read_bytes() == b"an earlier model"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


# ------------------------------------------------------------------------------ writing

def test_failed_compile_leaves_an_existing_file_alone(tmp_path, net_file):
    bad = net_file("network t {\n  input x: [N, 3, 7, 7]\n  x -> conv(4, 3, stride: 3)"
                   " -> output y\n}")
    out = tmp_path / "m.onnx"
    out.write_bytes(b"an earlier model")
    code, _, err = cli("compile", str(bad), "-o", str(out))
    assert code == 1 and "error[E302]" in err
    assert out.read_bytes() == b"an earlier model"


def test_interrupted_save_leaves_no_file_and_no_temporary(tmp_path, monkeypatch):
    from netdsl import export, files

    def interrupt(*_):
        raise KeyboardInterrupt
    model = netdsl.compile(ZOO / "lenet.net")
    out = tmp_path / "m.onnx"
    monkeypatch.setattr(files.os, "replace", interrupt)
    with pytest.raises(KeyboardInterrupt):
        export.save(model, out)
    assert list(tmp_path.iterdir()) == []


def test_large_weights_go_to_external_data(tmp_path, monkeypatch):
    from netdsl import export
    monkeypatch.setattr(export, "EXTERNAL_DATA_BYTES", 100_000)  # LeNet has 246,824 bytes
    out = tmp_path / "lenet.onnx"
    assert cli("compile", str(ZOO / "lenet.net"), "-o", str(out))[0] == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lenet.onnx", "lenet.onnx.data"]
    assert out.stat().st_size < 20_000
    assert (tmp_path / "lenet.onnx.data").stat().st_size >= 61_706 * 4 - 4096
    reloaded = onnx.load(str(out))  # onnx resolves the data file by its relative name
    onnx.checker.check_model(str(out), full_check=True)
    ref = inits(netdsl.compile(ZOO / "lenet.net"))
    for k, v in inits(reloaded).items():
        np.testing.assert_array_equal(v, ref[k])
    x = np.random.default_rng(0).standard_normal((2, 1, 32, 32)).astype(np.float32)
    np.testing.assert_array_equal(netdsl.run(out, {"image": x})["probs"],
                                  netdsl.run(netdsl.compile(ZOO / "lenet.net"),
                                             {"image": x})["probs"])
