"""One ONNX model for every input size (issue 16, part 3): export.to_onnx with `dims` writes
the varying sizes as dim_params and lowers every op without baking them in. Each dynamic model
is run at several sizes and compared with the model compiled at that size alone (same seed, so
the same weights), and, for fcn_resnet50, with torchvision's outputs at those sizes; onnx's full
checker and strict shape inference accept every dynamic model. A layer that needs a fixed size
is named in an error, never lowered into a silently wrong model."""

from __future__ import annotations

import numpy as np
import pytest
from dynamic_ref import compare_with_fixed, feeds_for, onnx_accepts, varying_dims

import netdsl
from conftest import ZOO, cli
from netdsl import NetdslError, export, rewrite, stream
from netdsl.diagnostics import render_all
from netdsl.options import CompileOptions
from netdsl.pipeline import check_source
from netdsl.source import Source
from op_cases import ROWS, Case, body


def _graph(text: str, **params):
    return check_source(Source("cnn.net", text), None, params).graph


def _builds(text: str, sizes):
    return [_graph(text, h=h, w=w) for h, w in sizes]


def _dims(model):
    return {vi.name: [d.dim_value if d.HasField("dim_value") else
                      (d.dim_param if d.HasField("dim_param") else None)
                      for d in vi.type.tensor_type.shape.dim]
            for vi in (*model.graph.input, *model.graph.value_info, *model.graph.output)}


# A small CNN that uses every size-dependent lowering: `pad: same` with a stride (its padding
# depends on N mod 2), a pool in ceil mode, an upsampling to the size of another tensor, a crop
# centred in a map whose size varies, adaptive pooling and a reshape with -1.
CNN = """\
network cnn(h = 32, w = 32) {
  input image: [N, 3, h, w]
  a = image -> conv(8, 3, stride: 2, pad: same) -> relu -> maxpool(3, stride: 2, ceil: true)
  b = a -> conv(8, 3, pad: 1) -> relu -> up: upsample(like: image, mode: "bilinear")
  c = b -> crop(size: [20, 18]) -> conv(2, 1) -> output scores
  a -> adaptive_avgpool([2, 3]) -> reshape([8, -1]) -> output pooled
}
"""
CNN_SIZES = [(32, 32), (33, 47), (40, 29), (57, 64)]


@pytest.mark.slow
def test_a_small_cnn_runs_at_every_size_as_the_model_compiled_for_it():
    builds = _builds(CNN, CNN_SIZES)
    model, errors, outputs = compare_with_fixed(builds[0], builds)
    assert max(errors) <= 1e-5
    assert [o["scores"].shape for o in outputs] == [(1, 2, 20, 18)] * 4
    onnx_accepts(model)


def test_the_varying_sizes_are_dim_params_and_the_fixed_ones_numbers():
    builds = _builds(CNN, CNN_SIZES[:2])
    dims = _dims(export.to_onnx(builds[0], dims=varying_dims(builds[0], builds)))
    assert dims["image"] == ["N", 3, "H", "W"]
    assert dims["up"] == ["N", 8, None, None]  # unnamed: the language has no symbols yet
    assert dims["scores"] == ["N", 2, 20, 18]  # cropped to a fixed size
    assert dims["pooled"] == ["N", 8, 6]  # adaptive pooling fixes the size
    # with a fixed batch, the batch stays a number
    model = export.to_onnx(builds[0], CompileOptions(batch=2), varying_dims(builds[0], builds))
    assert _dims(model)["image"] == [2, 3, "H", "W"]


def test_without_varying_sizes_the_bytes_are_the_fixed_models():
    g = _graph(CNN)
    fixed = export.to_onnx(g).SerializeToString(deterministic=True)
    assert export.to_onnx(g, dims={}).SerializeToString(deterministic=True) == fixed
    assert export.to_onnx(g, dims={"image": (None,) * 4}).SerializeToString(
        deterministic=True) == fixed


def test_write_streams_the_same_dynamic_model(tmp_path):
    builds = _builds(CNN, CNN_SIZES[:2])
    dims = varying_dims(builds[0], builds)
    stream.write(builds[0], tmp_path / "m.onnx", dims=dims)
    assert (tmp_path / "m.onnx").read_bytes() == export.to_onnx(
        builds[0], dims=dims).SerializeToString(deterministic=True)


PINNED = """\
network classifier(h = 16, w = 16) {
  input image: [N, 1, h, w]
  image -> conv(4, 3, pad: 1) -> relu -> maxpool(2) -> flatten -> fc: dense(10) -> output logits
}
"""


def test_a_dense_head_pins_the_input_size():
    builds = [_graph(PINNED, h=s, w=s) for s in (16, 24)]
    with pytest.raises(NetdslError) as e:
        export.to_onnx(builds[0], dims=varying_dims(builds[0], builds))
    assert render_all(e.value.diagnostics) == """\
cnn.net:3:67: error[E301]: layer fc (cnn.net:3:67) pins the input size: its weight [10, 256] \
is sized by the 256 features of its input, which vary with the input size
  |
3 |   image -> conv(4, 3, pad: 1) -> relu -> maxpool(2) -> flatten -> fc: dense(10) -> output \
logits
  |                                                                   ^^^^^^^^^^^^^ needs a \
fixed size
  |
  = hint: compile the network at one input size"""


@pytest.mark.slow
def test_fully_convolutional_lifts_the_pin():
    # the head as convolutions: fc's 8x8 kernel slides over a larger map
    fc = [rewrite.fully_convolutional(_graph(PINNED), (s, s)) for s in (16, 24, 34)]
    _, errors, outputs = compare_with_fixed(fc[0], fc)
    assert max(errors) <= 1e-5
    assert [o["logits"].shape for o in outputs] == [(1, 10, 1, 1), (1, 10, 5, 5),
                                                    (1, 10, 10, 10)]


# ------------------------------------------------------------------ every operator's cases

def _grown(case: Case, d: int) -> str:
    """The case's program with every axis after the channels d larger."""
    ins = tuple(tuple(v + d if i else v for i, v in enumerate(s)) for s in case.inputs)
    return f"network t {{\n{body(Case(case.call, ins, (), 0, 0, setup=case.setup))}\n}}\n"


# the operators whose weights or cuts are sized by an axis that the rows grow
PINS = {("dense", 2), ("dense", 3), ("layer_norm", 0), ("attention", 0), ("attention", 1),
        ("chunk", 1)}


@pytest.mark.slow
@pytest.mark.parametrize("op,i,case", [r for r in ROWS if max(len(s) for s in r[2].inputs) > 1],
                         ids=lambda v: v if isinstance(v, str) else "")
def test_every_operator_lowers_for_every_size_or_says_it_cannot(op, i, case):
    g0 = check_source(Source("case.net", f"network t {{\n{body(case)}\n}}\n"), None, {}).graph
    builds = []
    for d in range(1, 30):  # the next three sizes the operator accepts
        try:
            builds.append(check_source(Source("case.net", _grown(case, d)), None, {}).graph)
        except NetdslError:
            continue
        if len(builds) == 3:
            break
    if not builds:
        pytest.skip("no other size fits all inputs alike")
    if (op, i) in PINS:
        with pytest.raises(NetdslError) as e:
            compare_with_fixed(g0, builds)
        assert "pins the input size" in e.value.diagnostics[0].message
        return
    model, errors, _ = compare_with_fixed(g0, builds)
    assert max(errors) <= 1e-5
    onnx_accepts(model)


@pytest.mark.parametrize("call, message", [
    ("reshape([3, 81])", "it reshapes to the fixed shape [3, 81], which holds 243 values per "
                         "example only at this input size"),
    ("maxpool(2, stride: 2, pad: same, dilation: 2)",
     "`pad: same` with a stride and a dilation pads by the input size, and onnxruntime's pools "
     "take SAME padding only without a dilation"),
])
def test_lowerings_that_need_a_fixed_size_say_why(call, message):
    text = f"network t {{\n  input x: [N, 3, 9, 9]\n  x -> l: {call} -> output y\n}}\n"
    with pytest.raises(NetdslError) as e:
        export.to_onnx(_graph(text), dims={"x": (None, None, "H", "W")})
    assert e.value.diagnostics[0].message == "layer l (cnn.net:3:8) pins the input size: " \
        + message


# --------------------------------------------------------------------------------- the zoo

def _zoo(path, network, sizes):
    """The network at its default size, and re-inferred at each size (the same weights)."""
    g = netdsl.load(ZOO / path, network).graph
    return g, [rewrite.resize_inputs(g, s) for s in sizes]


@pytest.mark.slow
def test_unet_one_model_for_every_valid_size():
    g, builds = _zoo("unet.net", "unet", [(188, 188), (204, 236), (252, 252)])
    model, errors, outputs = compare_with_fixed(g, builds)
    assert errors == [0.0, 0.0, 0.0]
    assert [o["scores"].shape for o in outputs] == [(1, 2, 4, 4), (1, 2, 20, 52),
                                                    (1, 2, 68, 68)]  # H - 184
    onnx_accepts(model)


@pytest.mark.slow
@pytest.mark.parametrize("network", ["fcn32s", "fcn16s", "fcn8s"])
def test_fcn_vgg16_one_model_for_every_size(network):
    # conv1_1 pads by 100: any size passes, and the smallest keep the test short
    g, builds = _zoo("fcn.net", network, [(32, 32), (45, 61), (70, 70)])
    model, errors, outputs = compare_with_fixed(g, builds)
    assert max(errors) <= 1e-5
    assert [o["score"].shape[2:] for o in outputs] == [(32, 32), (45, 61), (70, 70)]
    onnx_accepts(model)


@pytest.mark.slow
def test_segnet_one_model_for_every_size():
    # the unpooling without `like` has the default size; any multiple of 8 fits
    g, builds = _zoo("segnet.net", "segnet", [(64, 64), (48, 96), (120, 80)])
    model, errors, outputs = compare_with_fixed(g, builds)
    assert max(errors) <= 1e-5
    assert [o["scores"].shape[2:] for o in outputs] == [(64, 64), (48, 96), (120, 80)]
    onnx_accepts(model)


@pytest.mark.slow
def test_fcn_resnet50_one_model_matches_fixed_models_and_torchvision(torch, torchvision):
    from test_zoo_segmentation import _randomise_bn_stats
    from torchvision.models.segmentation import fcn_resnet50

    from torchvision_ref import max_relative_error, torch_state
    torch.manual_seed(0)
    ref = fcn_resnet50(weights=None, weights_backbone=None, aux_loss=False).eval()
    _randomise_bn_stats(ref)
    sizes = [(64, 64), (97, 120), (131, 131)]
    g, builds = _zoo("fcn.net", "fcn_resnet50", sizes)
    options = CompileOptions(weights=torch_state(ref))
    model, errors, outputs = compare_with_fixed(g, builds, options)
    assert max(errors) <= 1e-4 * max(float(np.abs(o["out"]).max()) for o in outputs)
    for b, ours in zip(builds, outputs):
        x = feeds_for(b)["image"]
        with torch.no_grad():
            theirs = ref(torch.from_numpy(x))["out"].numpy()
        assert max_relative_error(ours["out"], theirs) <= 1e-4
    onnx_accepts(model)


# ------------------------------------------------------------------------------ netdsl run

def test_run_feeds_a_dynamic_model_at_its_example_size_or_the_size_given(tmp_path):
    builds = _builds(CNN, CNN_SIZES[:2])
    path = tmp_path / "cnn.onnx"
    export.save(export.to_onnx(builds[0], dims=varying_dims(builds[0], builds)), path)
    code, out, err = cli("run", str(path), "--random")
    assert code == 0, err
    assert "input image: shape [1, 3, 32, 32]" in out  # where the model was checked
    assert "up: " not in out and "scores: shape [1, 2, 20, 18]" in out
    code, out, err = cli("run", str(path), "--random", "--set", "H=41", "--set", "W=35")
    assert code == 0, err
    assert "input image: shape [1, 3, 41, 35]" in out
    assert netdsl.run(path)["scores"].shape == (1, 2, 20, 18)
    assert cli("run", str(path), "--random", "--set", "H=0")[0] == 2
