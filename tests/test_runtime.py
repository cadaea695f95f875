"""The Python API: load (a path) and loads (text) return a checked Network; netdsl.compile returns
an onnx.ModelProto, netdsl.run numpy arrays, from a ModelProto, an .onnx file, a .net file or a
Network; network parameters only as params={...}; inputs are checked."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

import netdsl
from conftest import ZOO
from netdsl import NetdslError

SMALL = """network small(width = 4) {
  input x: [N, 3, 6, 6]
  x -> conv(width, 3, pad: 1) -> relu -> globalavgpool -> flatten -> dense(2) -> output logits
}"""


def reference(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    """The same network in numpy, from the model's own initializers."""
    from onnx import numpy_helper
    w = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    conv = next(k[:-7] for k in w if k.endswith(".weight") and w[k].ndim == 4)
    dense = next(k[:-7] for k in w if k.endswith(".weight") and w[k].ndim == 2)
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    win = np.lib.stride_tricks.sliding_window_view(xp, (3, 3), axis=(2, 3))  # N C H W 3 3
    y = np.einsum("nchwij,ocij->nohw", win, w[f"{conv}.weight"])
    y = np.maximum(y + w[f"{conv}.bias"][:, None, None], 0).mean(axis=(2, 3))
    return y @ w[f"{dense}.weight"].T + w[f"{dense}.bias"]


def test_compile_returns_a_model_proto_and_run_returns_arrays(tmp_path):
    model = netdsl.compile(netdsl.loads(SMALL, params={"width": 5}), seed=3)
    assert isinstance(model, onnx.ModelProto)
    x = np.random.default_rng(0).standard_normal((4, 3, 6, 6)).astype(np.float32)
    out = netdsl.run(model, {"x": x})
    assert list(out) == ["logits"] and out["logits"].dtype == np.float32
    np.testing.assert_allclose(out["logits"], reference(model, x), rtol=1e-5, atol=1e-5)


def test_run_from_file_text_and_proto_agree(tmp_path):
    src = tmp_path / "small.net"
    src.write_text(SMALL)
    model = netdsl.compile(src, seed=2)
    onnx.save(model, str(tmp_path / "small.onnx"))
    x = {"x": np.random.default_rng(1).standard_normal((2, 3, 6, 6)).astype(np.float32)}
    a = netdsl.run(model, x)["logits"]
    onnx_file = tmp_path / "small.onnx"
    for other in (src, str(src), netdsl.loads(SMALL), onnx_file, str(onnx_file)):
        np.testing.assert_array_equal(netdsl.run(other, x, seed=2)["logits"], a)


def test_random_inputs_are_seeded_and_take_the_batch():
    a = netdsl.run(ZOO / "lenet.net", batch=3, seed=5)["probs"]
    b = netdsl.run(ZOO / "lenet.net", batch=3, seed=5)["probs"]
    assert a.shape == (3, 10)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("feeds,message", [
    ({"image": np.zeros((1, 1, 32, 31), np.float32)},
     "input `image` has shape [1, 1, 32, 31]; the model expects float32 [N, 1, 32, 32]"),
    ({"image": np.zeros((1, 32, 32), np.float32)},
     "input `image` has shape [1, 32, 32]; the model expects float32 [N, 1, 32, 32]"),
    ({"image": np.zeros((1, 1, 32, 32), bool)},
     "input `image` has dtype bool; the model expects float32 [N, 1, 32, 32]"),
    ({"image": np.zeros((1, 1, 32, 32)), "extra": np.zeros(1)}, "the model has no input `extra`"),
    ({}, "input `image` is missing: the model expects float32 [N, 1, 32, 32]"),
])
def test_run_checks_inputs(feeds, message):
    with pytest.raises(NetdslError) as e:
        netdsl.run(ZOO / "lenet.net", feeds)
    assert e.value.diagnostics[0].code == "E404"
    assert e.value.diagnostics[0].message == message


def test_float64_inputs_are_converted():
    x = np.random.default_rng(0).standard_normal((1, 1, 32, 32))
    a = netdsl.run(ZOO / "lenet.net", {"image": x})["probs"]
    b = netdsl.run(ZOO / "lenet.net", {"image": x.astype(np.float32)})["probs"]
    np.testing.assert_array_equal(a, b)


def test_a_fixed_batch_model_rejects_another_batch():
    model = netdsl.compile(ZOO / "lenet.net", batch=2)
    assert netdsl.run(model, batch=2)["probs"].shape == (2, 10)
    with pytest.raises(NetdslError) as e:
        netdsl.run(model, {"image": np.zeros((3, 1, 32, 32), np.float32)})
    assert e.value.diagnostics[0].message == (
        "input `image` has shape [3, 1, 32, 32]; the model expects float32 [2, 1, 32, 32]")


def test_weights_by_mapping_or_file(tmp_path):
    shapes = netdsl.loads(SMALL).stats.tensors()
    arrays = {k: np.full(v, 0.5, np.float32) for k, v in shapes.items()}
    np.savez(tmp_path / "w.npz", **arrays)
    x = {"x": np.ones((1, 3, 6, 6), np.float32)}
    a = netdsl.run(netdsl.compile(netdsl.loads(SMALL), weights=arrays), x)["logits"]
    b = netdsl.run(netdsl.compile(netdsl.loads(SMALL), weights=tmp_path / "w.npz"), x)["logits"]
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(
        a, reference(netdsl.compile(netdsl.loads(SMALL), weights=arrays), x["x"]), rtol=1e-6)


def test_cuda_provider_without_onnxruntime_gpu_is_a_clear_error():
    import onnxruntime as ort
    if "CUDAExecutionProvider" in ort.get_available_providers():
        out = netdsl.run(ZOO / "lenet.net", provider="cuda")
        assert out["probs"].shape == (1, 10)
        return
    with pytest.raises(NetdslError) as e:
        netdsl.run(ZOO / "lenet.net", provider="cuda")
    d = e.value.diagnostics[0]
    assert d.code == "E405" and "no CUDA execution provider" in d.message
    assert d.hints == ("install onnxruntime-gpu and a CUDA runtime, or use --provider cpu",)


# ------------------------------------------------------------------------- the API's rules

def test_load_takes_a_path_and_loads_text(tmp_path):
    import dataclasses
    src = tmp_path / "small.net"
    src.write_text(SMALL)
    by_path, by_text = netdsl.load(src), netdsl.loads(SMALL, path="small.net")
    assert isinstance(by_path, netdsl.Network) and by_path.name == by_text.name == "small"
    assert by_path.stats.tensors() == by_text.stats.tensors()
    assert by_path.graph.source.path == str(src) and by_text.graph.source.path == "small.net"
    assert netdsl.loads(SMALL).graph.source.path == "<string>"
    with pytest.raises(dataclasses.FrozenInstanceError):
        by_path.stats = by_text.stats  # type: ignore[misc]
    with pytest.raises(TypeError, match="loads"):
        netdsl.load(SMALL)
    with pytest.raises(NetdslError) as e:
        netdsl.load("small.net")  # a one-line str is a path too: E001, not a syntax error
    assert e.value.diagnostics[0].code == "E001"


def test_params_never_collide_with_options():
    text = "network n(batch = 2, seed = 1) {\n  input x: [N, 3]\n" \
           "  x -> dense(batch * seed) -> output y\n}\n"
    net = netdsl.loads(text, params={"batch": 5, "seed": 1})
    model = netdsl.compile(net, batch=3, seed=7)
    dims = [d.dim_value for d in model.graph.output[0].type.tensor_type.shape.dim]
    assert dims == [3, 5]
    with pytest.raises(TypeError, match="network= and params="):
        netdsl.compile(net, params={"batch": 4})


def test_one_suffix_rule_for_onnx_in_the_api_and_the_cli(tmp_path):
    from netdsl import files
    assert [files.is_onnx(p) for p in ("m.onnx", "M.ONNX", "m.net", "m.onnx.net", "m")] == \
        [True, True, False, False, False]
    model = netdsl.compile(netdsl.loads(SMALL))
    onnx.save(model, str(tmp_path / "S.ONNX"))
    x = {"x": np.ones((1, 3, 6, 6), np.float32)}
    np.testing.assert_array_equal(netdsl.run(tmp_path / "S.ONNX", x)["logits"],
                                  netdsl.run(model, x)["logits"])
    from conftest import cli
    code, _, err = cli("run", str(tmp_path / "S.ONNX"), "--random")
    assert code == 0, err
