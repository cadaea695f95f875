"""The lecture's "FC layers become convolutions" (netdsl/rewrite.py): a classifier's
`flatten -> dense` head rewritten into convolutions computes the same numbers on its input size,
and on a larger input the same classifier at every window position."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

import netdsl
from conftest import ZOO, cli
from netdsl import rewrite
from netdsl.analysis import analyze
from netdsl.diagnostics import render_all
from netdsl.options import CompileOptions
from netdsl.pipeline import check_source, compile_source, read_source
from netdsl.source import Source

# AlexNet's head in miniature: dropout, three dense layers, a softmax over the last axis.
ALEXNET_LIKE = """\
network alexnet_like(classes = 10) {
  input image: [N, 3, 32, 32]
  features = image -> conv(16, 5, pad: 2) -> relu -> maxpool(2)
                   -> conv(32, 3, pad: 1) -> relu -> maxpool(2)
                   -> conv(32, 3, pad: 1) -> relu -> maxpool(2)
  features -> flatten -> dropout(0.5) -> fc6: dense(64) -> relu -> dropout(0.5)
           -> fc7: dense(64) -> relu -> fc8: dense(classes) -> softmax(axis: -1)
           -> output probs
}
"""

CLASSIFIERS = {
    "lenet5": (read_source(ZOO / "lenet.net"), "probs"),
    "alexnet_like": (Source("alexnet_like.net", ALEXNET_LIKE), "probs"),
    "cnn_prototype": (read_source(ZOO / "cnn_prototype.net"), "probs"),
}


def _weights(model: onnx.ModelProto, names) -> dict[str, np.ndarray]:
    return {t.name: numpy_helper.to_array(t) for t in model.graph.initializer if t.name in names}


def _pair(source: Source, network: str | None = None, input_size=None):
    """The original model (random weights) and its fully convolutional form with those weights."""
    checked, model = compile_source(source, network, options=CompileOptions(seed=3))
    weights = _weights(model, checked.stats.tensors())
    _, fc = compile_source(source, network, options=CompileOptions(
        fully_convolutional=True, input_size=input_size, weights=weights))
    return model, fc


def _run(model: onnx.ModelProto, x: np.ndarray, output: str) -> np.ndarray:
    return netdsl.run(model, {model.graph.input[0].name: x}, provider="cpu")[output]


@pytest.mark.parametrize("name", list(CLASSIFIERS))
def test_same_numbers_on_the_original_input(name):
    source, output = CLASSIFIERS[name]
    network = name if name != "alexnet_like" else None
    model, fc = _pair(source, network)
    shape = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim[1:]]
    x = np.random.default_rng(0).standard_normal((3, *shape)).astype(np.float32)
    ours, ref = _run(fc, x, output), _run(model, x, output)
    assert ours.shape == (*ref.shape, 1, 1)
    np.testing.assert_allclose(ours.reshape(ref.shape), ref, rtol=1e-5, atol=1e-6)
    onnx.checker.check_model(fc, full_check=True)
    kinds = {n.op_type for n in fc.graph.node}
    assert "Gemm" not in kinds and "Flatten" not in kinds


def test_dense_layers_become_convolutions_with_reshaped_kernels():
    g = rewrite.fully_convolutional(check_source(CLASSIFIERS["alexnet_like"][0]).graph)
    layers = {n.name: n for n in g.nodes()}
    # fc6 read a flattened [N, 32, 4, 4] map: a 4x4 kernel; later dense layers: 1x1
    assert (layers["fc6"].op.name, layers["fc6"].op.kernel, layers["fc6"].shape) == \
        ("conv", (4, 4), ("N", 64, 1, 1))
    assert (layers["fc8"].op.kernel, layers["fc8"].shape) == ((1, 1), ("N", 10, 1, 1))
    assert layers["softmax"].op.axis == 1  # -1 of [N, 10] is the class axis
    assert "flatten" not in layers
    stats = analyze(g)
    original = netdsl.loads(ALEXNET_LIKE)
    assert stats.tensors()["fc6.weight"] == (64, 32, 4, 4)
    assert stats.params == original.stats.params
    assert stats.macs == original.stats.macs


def test_a_larger_input_slides_the_classifier_over_it():
    # LeNet-5 has only valid convolutions and a total stride of 4: output (i, j) of the
    # rewritten net on a larger image is LeNet-5 on the 32x32 window at (4i, 4j).
    model, fc = _pair(read_source(ZOO / "lenet.net"), input_size=(48, 40))
    x = np.random.default_rng(1).standard_normal((2, 1, 48, 40)).astype(np.float32)
    maps = _run(fc, x, "probs")
    assert maps.shape == (2, 10, 5, 3)  # (48 - 32) / 4 + 1, (40 - 32) / 4 + 1
    windows = np.stack([x[:, :, 4 * i:4 * i + 32, 4 * j:4 * j + 32]
                        for i in range(5) for j in range(3)], axis=1).reshape(-1, 1, 32, 32)
    ref = _run(model, windows, "probs").reshape(2, 5, 3, 10).transpose(0, 3, 1, 2)
    np.testing.assert_allclose(maps, ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(maps.sum(axis=1), 1.0, rtol=1e-5)  # a distribution per pixel


def test_reshaped_dense_weights_equal_torchs_conv_form(torch):
    # Independent reference: torch's Linear on a flattened map equals conv2d with the weight
    # viewed as [out, C, H, W]; on a larger map that conv gives the score map.
    text = """network n {
      input x: [N, 4, 6, 6]
      x -> conv: conv(5, 3) -> relu -> flatten -> fc: dense(7) -> output y
    }"""
    torch.manual_seed(0)
    conv, fc = torch.nn.Conv2d(4, 5, 3), torch.nn.Linear(5 * 4 * 4, 7)
    weights = {"conv.weight": conv.weight, "conv.bias": conv.bias, "fc.weight": fc.weight,
               "fc.bias": fc.bias}
    weights = {k: v.detach().numpy() for k, v in weights.items()}
    _, model = compile_source(Source("n.net", text), options=CompileOptions(
        fully_convolutional=True, input_size=(9, 11), weights=weights))
    x = torch.randn(2, 4, 9, 11)
    with torch.no_grad():
        ref = torch.nn.functional.conv2d(conv(x).relu(), fc.weight.view(7, 5, 4, 4), fc.bias)
    np.testing.assert_allclose(_run(model, x.numpy(), "y"), ref.numpy(), rtol=1e-5, atol=1e-5)


def test_cli_compiles_a_fully_convolutional_model(tmp_path):
    out = tmp_path / "lenet_fc.onnx"
    code, stdout, stderr = cli("compile", str(ZOO / "lenet.net"), "--fully-convolutional",
                               "--input-size", "64", "-o", str(out))
    assert code == 0, stderr
    model = onnx.load(str(out))
    onnx.checker.check_model(model, full_check=True)
    dims = [d.dim_value or d.dim_param for d in model.graph.output[0].type.tensor_type.shape.dim]
    assert dims == ["N", 10, 9, 9]  # 64 -> c1 60 -> s2 30 -> c3 26 -> s4 13 -> c5 9
    code, stdout, _ = cli("run", str(out), "--random")
    assert code == 0 and "probs: shape [1, 10, 9, 9]" in stdout


def test_cli_input_size_needs_the_rewrite(tmp_path):
    code, _, stderr = cli("compile", str(ZOO / "lenet.net"), "--input-size", "64",
                          "-o", str(tmp_path / "x.onnx"))
    assert code == 2 and stderr == (
        "--input-size needs the fully convolutional rewrite (--fully-convolutional, "
        "fully_convolutional=True), or inputs that name their sizes ([N, 3, H, W])\n"
        "usage: see `netdsl compile --help`\n")


def test_api_input_size_needs_the_rewrite_or_named_sizes():
    with pytest.raises(ValueError) as e:
        netdsl.compile(ZOO / "lenet.net", input_size=(64, 64), init="zeros")
    assert str(e.value) == (
        "input_size= needs the fully convolutional rewrite (--fully-convolutional, "
        "fully_convolutional=True), or inputs that name their sizes ([N, 3, H, W])")


def test_api_input_size_binds_named_sizes_as_the_cli_does(tmp_path):
    """netdsl.compile(input_size=) of a network that names its sizes builds it at that size (it
    used to be ignored: the model was the first example's), the same model as `--input-size`."""
    model = netdsl.compile(ZOO / "unet.net", "unet", input_size=(204, 236), init="zeros")
    dims = [d.dim_value or d.dim_param for d in model.graph.output[0].type.tensor_type.shape.dim]
    assert dims == ["N", 2, 20, 52]  # U-Net's valid convolutions: H - 184, W - 184
    out = tmp_path / "u.onnx"
    code, _, _ = cli("compile", str(ZOO / "unet.net"), "--network", "unet", "--input-size",
                     "204x236", "--init", "zeros", "-o", str(out))
    assert code == 0 and out.read_bytes() == model.SerializeToString(deterministic=True)
    with pytest.raises(ValueError) as e:
        netdsl.compile(ZOO / "unet.net", "unet", input_size=(200, 200, 200), init="zeros")
    assert str(e.value) == "input_size= gives 3 sizes for the 2 named sizes H, W"
    checked = netdsl.load(ZOO / "unet.net", "unet")
    with pytest.raises(ValueError, match="check the Network at that size"):
        netdsl.compile(checked, input_size=(204, 236))


# ----------------------------------------------------------------------------------- errors

def _rewrite_errors(text: str, input_size=None) -> str:
    graph = check_source(Source("test.net", text)).graph
    with pytest.raises(netdsl.NetdslError) as e:
        rewrite.fully_convolutional(graph, input_size)
    return render_all(e.value.diagnostics)


def test_error_without_a_head():
    text = "network n {\n  input x: [N, 3, 8, 8]\n  x -> conv(4, 3) -> output y\n}\n"
    assert _rewrite_errors(text) == """\
test.net:2:3: error[E306]: network `n` has no `flatten -> dense` head to turn into convolutions
  |
2 |   input x: [N, 3, 8, 8]
  |   ^^^^^^^^^^^^^^^^^^^^^
  |
  = hint: the rewrite applies to classifiers that flatten a feature map [N, C, H, W] and feed \
it to dense layers"""


def test_error_for_a_layer_with_parameters_between_flatten_and_dense():
    text = ("network n {\n  input x: [N, 3, 8, 8]\n"
            "  x -> conv(4, 3) -> flatten -> bn -> dense(10) -> output y\n}\n")
    assert _rewrite_errors(text) == """\
test.net:3:33: error[E306]: cannot make the head convolutional: `bn` sits between a flatten and \
the first dense layer, where the map is kept whole
  |
3 |   x -> conv(4, 3) -> flatten -> bn -> dense(10) -> output y
  |                                 ^^ no convolutional form
  |
  = hint: only elementwise layers without parameters (relu, dropout, ...) may sit there"""


def test_error_for_a_reshape_after_the_dense_layer():
    text = ("network n {\n  input x: [N, 3, 8, 8]\n"
            "  x -> conv(4, 3) -> flatten -> dense(12) -> reshape([3, 4]) -> output y\n}\n")
    assert _rewrite_errors(text) == """\
test.net:3:46: error[E306]: cannot make the head convolutional: `reshape` makes [N, 3, 4] where \
the convolutional head needs [N, 3, 4, 1, 1], its old shape with the map's axes after it
  |
3 |   x -> conv(4, 3) -> flatten -> dense(12) -> reshape([3, 4]) -> output y
  |                                              ^^^^^^^^^^^^^^^ no convolutional form
  |"""


def test_error_for_an_input_smaller_than_the_classifier_window():
    text = ("network n {\n  input x: [N, 3, 8, 8]\n"
            "  x -> conv(4, 3) -> flatten -> dense(10) -> output y\n}\n")
    assert _rewrite_errors(text, (5, 5)) == """\
test.net:3:33: error[E301]: conv: the input height 3 is smaller than the window 6: \
(3 - 6 + 2*0)/1 + 1 = -2, not a positive size
  |
3 |   x -> conv(4, 3) -> flatten -> dense(10) -> output y
  |                                 ^^^^^^^^^
  |
  = hint: use a smaller kernel, more padding, or a larger input
  = hint: this dense layer became a 6x6 convolution: the rewritten network needs an input at \
least as large as the original
  = hint: the network was re-inferred for the input size [5, 5]"""


def test_error_for_an_input_size_of_the_wrong_rank():
    text = ("network n {\n  input x: [N, 3, 8, 8]\n"
            "  x -> conv(4, 3) -> flatten -> dense(10) -> output y\n}\n")
    assert _rewrite_errors(text, (9, 9, 9)) == """\
test.net:2:3: error[E217]: input `x` [N, 3, 8, 8] has 2 spatial axes; the input size [9, 9, 9] \
does not fit it
  |
2 |   input x: [N, 3, 8, 8]
  |   ^^^^^^^^^^^^^^^^^^^^^
  |"""
