"""`netdsl compile` of a network whose inputs name their sizes (`input x: [N, 3, H, W]`): one
model for every valid size, with the sizes anysize.py derives as dim_params (`H - 184`), unless
a size is given (--set H=..); the layer that pins a network to one size is named, and
--fully-convolutional lifts a `flatten -> dense` head's pin. `netdsl run` feeds such a model
at its example size or at the size given."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from dynamic_ref import onnx_accepts, run

import netdsl
from conftest import ZOO, cli
from netdsl import NetdslError
from netdsl.diagnostics import render_all
from netdsl.export import value_shape

# Two levels of U-Net (unpadded 3x3 convs, a 2x2 pool, a 2x2 up-convolution, copy and crop)
UNET2 = """\
network unet2 {
  input image: [N, 1, H, W]
  down = image -> conv(4, 3) -> relu -> conv(4, 3) -> relu
  low = down -> maxpool(2) -> conv(8, 3) -> relu -> conv(8, 3) -> relu
  up = low -> conv_transpose(4, 2, stride: 2)
  concat(crop(down, like: up), up) -> conv(4, 3) -> relu -> conv(2, 1) -> output scores
  expect scores: [N, 2, 22, 22] at H = 36, W = 36
}
"""

HEAD = """\
network classifier {
  input image: [N, 1, H, W]
  image -> conv(4, 3, pad: 1) -> relu -> maxpool(2) -> flatten -> fc: dense(10) -> output logits
  expect logits: [N, 10] at H = 16, W = 16
}
"""


def _file(tmp_path, text, name="net.net"):
    path = tmp_path / name
    path.write_text(text)
    return path


def _shapes(model: onnx.ModelProto) -> dict[str, list]:
    g = model.graph
    return {v.name: value_shape(v) for v in (*g.input, *g.value_info, *g.output)}


def _image(h: int, w: int) -> dict[str, np.ndarray]:
    return {"image": np.random.default_rng(0).standard_normal((1, 1, h, w)).astype(np.float32)}


def test_named_sizes_compile_to_one_model_with_their_expressions(tmp_path):
    model = netdsl.compile(_file(tmp_path, UNET2))
    shapes = _shapes(model)
    assert shapes["image"] == ["N", 1, "H", "W"]
    assert shapes["scores"] == ["N", 2, "H - 14", "W - 14"]
    assert {p.key: p.value for p in model.metadata_props}["example_sizes"] == "H=36,W=36"
    onnx_accepts(model)


@pytest.mark.slow
def test_the_one_model_equals_the_model_compiled_at_each_valid_size(tmp_path):
    path = _file(tmp_path, UNET2)
    model = netdsl.compile(path)
    for h, w in [(36, 36), (40, 52), (64, 44)]:  # the valid sizes: 16 + 2k
        fixed = netdsl.compile(path, params={"H": h, "W": w})
        assert _shapes(fixed)["image"] == ["N", 1, h, w]
        ours, theirs = run(model, _image(h, w)), run(fixed, _image(h, w))
        assert ours["scores"].shape == (1, 2, h - 14, w - 14)
        np.testing.assert_array_equal(ours["scores"], theirs["scores"])


def test_run_refuses_a_size_the_model_is_not_valid_at(tmp_path):
    model = netdsl.compile(_file(tmp_path, UNET2), init="zeros")
    assert {p.key: p.value for p in model.metadata_props}["valid_sizes"] == \
        "H=16+2k;W=16+2k"
    with pytest.raises(NetdslError) as e:
        netdsl.run(model, _image(37, 36))  # onnxruntime would round 33/2 down
    assert render_all(e.value.diagnostics) == """\
error[E404]: input `image` has H = 37, a size the model is not valid at: H = 16 + 2k
  = hint: the nearest valid sizes: 36, 38"""
    square = UNET2.replace("[N, 1, H, W]", "[N, 1, H, W] where H == W")
    model = netdsl.compile(_file(tmp_path, square), init="zeros")
    with pytest.raises(NetdslError) as e:
        netdsl.run(model, _image(36, 38))
    assert e.value.diagnostics[0].message == "the sizes H = 36, W = 38 must be equal"
    assert netdsl.run(model, _image(38, 38))["scores"].shape == (1, 2, 24, 24)


def test_a_dense_head_pins_the_size_and_says_how_to_compile(tmp_path):
    with pytest.raises(NetdslError) as e:
        netdsl.compile(_file(tmp_path, HEAD, "head.net"))
    assert render_all(e.value.diagnostics).replace(str(tmp_path), "DIR") == """\
DIR/head.net:3:67: error[E301]: layer fc (DIR/head.net:3:67) is not size-independent: it \
needs a fixed H·W for its weights
  |
3 |   image -> conv(4, 3, pad: 1) -> relu -> maxpool(2) -> flatten -> fc: dense(10) -> output \
logits
  |                                                                   ^^^^^^^^^^^^^ needs a \
fixed size
  |
  = hint: compile it for one size: --set H=16 --set W=16
  = hint: or, for a `flatten -> dense` head, --fully-convolutional makes it convolutions"""


def test_a_size_given_compiles_a_model_for_that_size(tmp_path):
    model = netdsl.compile(_file(tmp_path, HEAD), params={"H": 20, "W": 12})
    assert _shapes(model)["image"] == ["N", 1, 20, 12]
    assert "example_sizes" not in {p.key for p in model.metadata_props}


@pytest.mark.slow
def test_fully_convolutional_lifts_the_pin_of_a_dense_head(tmp_path):
    path = _file(tmp_path, HEAD)
    model = netdsl.compile(path, fully_convolutional=True)
    assert _shapes(model)["logits"] == ["N", 10, "H/2 - 7", "W/2 - 7"]
    onnx_accepts(model)
    for h, w in [(16, 16), (20, 30), (42, 18)]:
        # the head's kernel is sized at the example (16x16), the model re-inferred at h x w
        fixed = netdsl.compile(path, fully_convolutional=True, input_size=(h, w))
        ours, theirs = run(model, _image(h, w)), run(fixed, _image(h, w))
        assert ours["logits"].shape == (1, 10, h // 2 - 7, w // 2 - 7)
        np.testing.assert_allclose(ours["logits"], theirs["logits"], rtol=1e-6, atol=1e-6)


def test_compile_and_run_on_the_command_line(tmp_path):
    src, out = _file(tmp_path, UNET2), tmp_path / "unet2.onnx"
    code, text, err = cli("compile", str(src), "-o", str(out))
    assert code == 0, err
    code, text, err = cli("run", str(out), "--random")
    assert code == 0, err
    assert "input image: shape [1, 1, 36, 36]" in text and "scores: shape [1, 2, 22, 22]" in text
    code, text, err = cli("run", str(out), "--random", "--set", "H=52", "--set", "W=40")
    assert code == 0, err
    assert "scores: shape [1, 2, 38, 26]" in text
    code, text, err = cli("run", str(src), "--random")  # a .net: compiled for every size too
    assert code == 0, err
    assert "scores: shape [1, 2, 22, 22]" in text
    for flags in (["--input-size", "40x52"], ["--set", "H=40", "--set", "W=52"]):
        code, text, err = cli("compile", str(src), "-o", str(out), *flags)  # for one size
        assert code == 0, err
        assert _shapes(onnx.load(out))["scores"] == ["N", 2, 26, 38]


def test_compile_input_size_and_set_that_disagree(tmp_path):
    """--input-size 40x52 --set H=36 compiled for 40 x 52 and said nothing of H."""
    src, out = _file(tmp_path, UNET2), tmp_path / "unet2.onnx"
    code, _, err = cli("compile", str(src), "-o", str(out), "--input-size", "40x52", "--set",
                       "H=36")
    assert (code, err) == (2, "--set H=36 and --input-size 40x52 disagree; give one\n"
                              "usage: see `netdsl compile --help`\n")
    assert not out.exists()
    assert cli("compile", str(src), "-o", str(out), "--input-size", "40x52", "--set",
               "H=40")[0] == 0
    with pytest.raises(ValueError) as e:
        netdsl.compile(src, params={"H": 36}, input_size=(40, 52))
    assert str(e.value) == "params={'H': 36} and input_size=(40, 52) disagree"


SEGMENTATION = [("unet.net", "unet"), ("fcn.net", "fcn32s"), ("fcn.net", "fcn8s"),
                ("fcn.net", "fcn_resnet50"), ("segnet.net", "segnet")]


@pytest.mark.slow
@pytest.mark.parametrize("path, network", SEGMENTATION)
def test_the_zoos_segmentation_networks_compile_for_every_size(path, network):
    net = netdsl.load(ZOO / path, network)
    if not any(isinstance(d, str) for dims in net.graph.declared.values() for d in dims[2:]):
        pytest.skip("its input declares no named sizes")
    model = netdsl.compile(net, init="zeros")
    assert all(isinstance(d, str) for d in _shapes(model)["image"][2:])
    onnx_accepts(model)
