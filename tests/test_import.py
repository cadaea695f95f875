"""`netdsl import` (netdsl/importer/): ONNX → .net → ONNX round trips. Zoo networks come back
with the same layer names, shapes and parameter count; torchvision's models, exported by
torch.onnx.export, come back with onnxruntime outputs equal to the original model's."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

import netdsl
from netdsl import export, importer
from netdsl.cli import main
from netdsl.diagnostics import NetdslError, render_all

ZOO = Path(__file__).resolve().parent.parent / "zoo"


def _layers(net: netdsl.Network) -> list[tuple[str, tuple]]:
    """Names and shapes; dropout and identity layers, which the import drops, left out."""
    return [(n.name, tuple(n.shape or ())) for n in net.graph.nodes()
            if getattr(n.op, "name", "") not in ("dropout", "identity")]


def _round_trip(net: netdsl.Network, renamed: dict[str, str] | None = None) -> None:
    """`renamed`: a block's param (`encoder.pos_embedding`) comes back as a network's, whose
    name is an identifier (`encoder_pos_embedding`), declared first (layers compared in any
    order)."""
    model = netdsl.compile(net)
    imported = importer.import_model(model, net.graph.name)
    back = netdsl.loads(imported.text)
    name = (renamed or {}).get
    order = sorted if renamed else list
    assert order(_layers(back)) == order((name(n, n), s) for n, s in _layers(net))
    assert back.stats.params == net.stats.params
    again = netdsl.compile(back, weights=imported.weights)
    assert order(t.name for t in again.graph.initializer if "/const" not in t.name) == order(
        name(t.name, t.name) for t in model.graph.initializer if "/const" not in t.name)
    dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim[1:]]
    x = np.random.default_rng(0).standard_normal([2, *dims]).astype(np.float32)
    a = ort.InferenceSession(model.SerializeToString()).run(None, {model.graph.input[0].name: x})
    b = ort.InferenceSession(again.SerializeToString()).run(None, {again.graph.input[0].name: x})
    for p, q in zip(a, b):
        np.testing.assert_array_equal(p, q)


def test_lenet_round_trip():
    # NOTE: not vgg.net nor alexnet.net: their adaptive_avgpool (same size in and out) lowers
    # to an Identity, which the import drops (the rest of the graph comes back the same)
    _round_trip(netdsl.load(ZOO / "lenet.net"))


@pytest.mark.slow
@pytest.mark.parametrize(("file", "network"), [
    ("resnet.net", "resnet18"),
    ("mobilenet_v2.net", None), ("googlenet.net", "googlenet"), ("resnet.net", "resnet50")])
def test_zoo_round_trip(file, network):
    _round_trip(netdsl.load(ZOO / file, network))


@pytest.mark.slow
def test_zoo_vit_round_trip():
    """netdsl's own lowerings of attention (q, k, v by Gather) and expand (a Where) read back."""
    _round_trip(netdsl.load(ZOO / "vit.net", "vit_b_16"),
                {"encoder.pos_embedding": "encoder_pos_embedding"})


def test_zoo_segnet_round_trip():
    """maxpool(..., indices: true), lowered to two MaxPools (the values', the indices'), and
    maxunpool read back: the same layers, weights and outputs."""
    net = netdsl.load(ZOO / "segnet.net")
    model = netdsl.compile(net)
    imported = importer.import_model(model, "segnet")
    assert ('v_maxpool, v_maxpool_indices = ' in imported.text
            and '"maxpool": maxpool(2, stride: 2, indices: true)' in imported.text
            and '"u1": maxunpool(2, stride: 2, indices: v_maxpool_indices)' in imported.text)
    text = importer.with_example(imported, {"scores": "[N, 12, 64, 64]"}, {"H": 64, "W": 64})
    back = netdsl.loads(text.text)
    assert [n for n, _ in _layers(back)] == [n for n, _ in _layers(net)]
    assert back.stats.params == net.stats.params
    again = netdsl.compile(back, weights=imported.weights)
    x = np.random.default_rng(0).standard_normal([2, 3, 64, 64]).astype(np.float32)
    a = ort.InferenceSession(model.SerializeToString()).run(None, {"image": x})
    b = ort.InferenceSession(again.SerializeToString()).run(None, {"image": x})
    np.testing.assert_array_equal(a[0], b[0])


def test_branches_pads_and_joins(tmp_path):
    net = netdsl.loads("""network t {
  input x: [N, 3, 9, 9]
  a = x -> "l.c": conv(6, 3, pad: [0, 1, 2, 1]) -> "l.r": relu6
  b = x -> "l.d": depthwise(3, multiplier: 2, pad: 1, bias: false) -> "l.bn": bn(eps: 0.001)
  c = a -> "l.add": add(b) -> "m.p": maxpool(2, stride: 2, ceil: true)
  d = c -> "m.cat": concat(c, axis: 1) -> "m.s": softmax(axis: 1)
  d -> "f": flatten -> "g": dense(10, bias: false) -> output y
}""")
    _round_trip(net)


def _model(nodes, inits=()):
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                     ["N", 3, 4, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3, 4, 4])],
                          initializer=list(inits))
    return helper.make_model_gen_version(g, opset_imports=[helper.make_opsetid("", 17)])


def test_torch_pad_before_conv_is_folded_into_its_pads():
    w = np.ones((2, 3, 3, 3), np.float32)
    pads = np.array([0, 0, 1, 2, 0, 0, 1, 2], np.int64)
    model = _model([helper.make_node("Pad", ["x", "pads"], ["p"], name="/pad/Pad"),
                    helper.make_node("Conv", ["p", "conv.weight"], ["y"], name="/conv/Conv")],
                   [onnx.numpy_helper.from_array(w, "conv.weight"),
                    onnx.numpy_helper.from_array(pads, "pads")])
    text = importer.import_model(model, "t").text
    assert '"conv": conv(2, 3, pad: [1, 2], bias: false)' in text
    assert "pad(" not in text.replace("pad: ", "")


def test_unsupported_operators_are_listed_with_their_nodes(tmp_path):
    model = _model([helper.make_node("Relu", ["x"], ["r"], name="relu"),
                    helper.make_node("Erf", ["r"], ["e1"], name="/a/Erf"),
                    helper.make_node("Erf", ["e1"], ["e2"], name="/b/Erf"),
                    helper.make_node("Round", ["e2"], ["y"], name="/c/Round")])
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    with pytest.raises(NetdslError) as e:
        importer.import_model(export.load(path), "t", "m.onnx")
    assert render_all(e.value.diagnostics) == (
        "error[E407]: m.onnx: 3 nodes use operators that netdsl import does not read: Erf x2 "
        "(/a/Erf, /b/Erf); Round x1 (/c/Round)\n"
        "  = hint: it reads " + ", ".join(importer.SUPPORTED))
    out = tmp_path / "m.net"
    assert main(["import", str(path), "-o", str(out), "--weights", str(tmp_path / "w.npz")]) == 1
    assert not out.exists() and not (tmp_path / "w.npz").exists()


def test_cli_import_then_compile_with_the_weights(tmp_path, capsys):
    src = tmp_path / "lenet.onnx"
    export.save(netdsl.compile(netdsl.load(ZOO / "lenet.net"), seed=3), src)
    out, w = tmp_path / "lenet.net", tmp_path / "lenet.safetensors"
    assert main(["import", str(src), "-o", str(out), "--weights", str(w)]) == 0
    assert main(["compile", str(out), "--weights", str(w), "-o", str(tmp_path / "b.onnx")]) == 0
    a, b = export.load(src), export.load(tmp_path / "b.onnx")
    assert {t.name: onnx.numpy_helper.to_array(t).tobytes() for t in a.graph.initializer} == {
        t.name: onnx.numpy_helper.to_array(t).tobytes() for t in b.graph.initializer}


def test_cli_import_weights_into_the_program_file(tmp_path, capsys):
    """-o X --weights X wrote the program, then the weights over it: the .net was lost."""
    src = tmp_path / "lenet.onnx"
    export.save(netdsl.compile(netdsl.load(ZOO / "lenet.net"), init="zeros"), src)
    out = tmp_path / "m.npz"
    assert main(["import", str(src), "-o", str(out), "--weights", str(tmp_path / "." / "m.npz")
                 ]) == 2
    assert capsys.readouterr().err == (f"--weights {tmp_path / 'm.npz'} is the -o file too; give "
                                       "each its own name\nusage: see `netdsl import --help`\n")
    assert not out.exists()


TORCHVISION = ["resnet18", "mobilenet_v2", "alexnet", "vgg11", "googlenet", "squeezenet1_1",
               "resnet50", "densenet121", "efficientnet_b0", "convnext_tiny", "shufflenet_v2_x0_5"]


@pytest.mark.slow
@pytest.mark.parametrize("name", TORCHVISION)
def test_torchvision_export_round_trip(name, torch, torchvision, tmp_path):
    kwargs = {"aux_logits": False, "init_weights": True} if name == "googlenet" else {}
    torch.manual_seed(0)
    model = getattr(torchvision.models, name)(weights=None, **kwargs).eval()
    path = tmp_path / f"{name}.onnx"
    torch.onnx.export(model, (torch.randn(1, 3, 224, 224),), str(path), dynamo=False,
                      opset_version=17, input_names=["image"], output_names=["logits"],
                      dynamic_axes={"image": {0: "N"}, "logits": {0: "N"}})
    imported = importer.import_model(export.load(path), name)
    back = netdsl.compile(netdsl.loads(imported.text), weights=imported.weights)
    x = np.random.default_rng(0).standard_normal((2, 3, 224, 224)).astype(np.float32)
    want = ort.InferenceSession(str(path)).run(None, {"image": x})[0]
    got = ort.InferenceSession(back.SerializeToString()).run(None, {"image": x})[0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * float(np.abs(want).max()))
    state = {k for k in model.state_dict() if not k.endswith("num_batches_tracked")}
    # parameter names follow torch's module paths (a conv with its BN folded in keeps its own)
    assert not [k for k in imported.weights if k.endswith(".weight") and k not in state]


@pytest.mark.slow
def test_torchvision_vit_b_16_round_trip(torch, torchvision, tmp_path):
    """vit_b_16 by the legacy exporter: nn.MultiheadAttention (the batch axis moved, q, k, v by
    Gather) read as `attention`, the class token as `expand(class_token, like: tokens)`."""
    torch.manual_seed(0)
    model = torchvision.models.vit_b_16(weights=None).eval()
    torch.nn.init.normal_(model.heads.head.weight)  # NOTE: zeros at first: every logit 0
    path = tmp_path / "vit_b_16.onnx"
    torch.onnx.export(model, (torch.randn(1, 3, 224, 224),), str(path), dynamo=False,
                      opset_version=17, input_names=["image"], output_names=["logits"],
                      dynamic_axes={"image": {0: "N"}, "logits": {0: "N"}})
    imported = importer.import_model(export.load(path), "vit_b_16")
    assert imported.text.count(": attention(12)") == 12
    assert "class_token -> \"expand\": expand(like: " in imported.text
    back = netdsl.compile(netdsl.loads(imported.text), weights=imported.weights)
    x = np.random.default_rng(0).standard_normal((2, 3, 224, 224)).astype(np.float32)
    want = ort.InferenceSession(str(path)).run(None, {"image": x})[0]
    got = ort.InferenceSession(back.SerializeToString()).run(None, {"image": x})[0]
    assert np.abs(want).max() > 0.1
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * float(np.abs(want).max()))
    state = set(model.state_dict())
    assert {k for k in imported.weights if "self_attention" in k} == {
        k for k in state if "self_attention" in k}


def _dynamic_model(h, w):
    """A conv net exported as torch does with dynamic axes: the sizes are names (or nothing)."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, h, w])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])
    g = helper.make_graph([
        helper.make_node("Conv", ["x", "conv.weight", "conv.bias"], ["c"], name="/conv/Conv",
                         kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("GlobalAveragePool", ["c"], ["p"], name="/pool/GlobalAveragePool"),
        helper.make_node("Flatten", ["p"], ["y"], name="/Flatten")], "g", [x], [y], initializer=[
        onnx.numpy_helper.from_array(np.linspace(-1, 1, 108, dtype=np.float32).reshape(
            4, 3, 3, 3), "conv.weight"),
        onnx.numpy_helper.from_array(np.arange(4, dtype=np.float32), "conv.bias")])
    return helper.make_model_gen_version(g, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize(("h", "w", "names"), [("h", "w", "h = 224, w = 224"),
                                               (None, None, "x_2 = 224, x_3 = 224")])
def test_cli_import_of_dynamic_axes_gives_a_model_for_every_size(tmp_path, capsys, h, w, names):
    """torch's dynamic_axes on H and W: the import was E219 (nothing to build at) about the .net
    it had not written; the program now has an example, and compiles to any size."""
    src, out, weights = tmp_path / "d.onnx", tmp_path / "d.net", tmp_path / "d.npz"
    onnx.save(_dynamic_model(h, w), src)
    assert main(["import", str(src), "-o", str(out), "--weights", str(weights)]) == 0, (
        capsys.readouterr().err)
    assert f"  expect y: [N, 4] at {names}\n}}\n" in out.read_text()
    back = netdsl.compile(str(out), weights=str(weights))
    x = np.random.default_rng(0).standard_normal((2, 3, 37, 50)).astype(np.float32)
    want = ort.InferenceSession(str(src)).run(None, {"x": x})[0]
    np.testing.assert_allclose(netdsl.run(back, {"x": x})["y"], want, rtol=1e-5, atol=1e-6)


def _mean_model(axes, keepdims=1, opset=18):
    """Conv -> ReduceMean -> Flatten -> Gemm, as torch's default (dynamo) exporter writes
    AdaptiveAvgPool2d(1): the axes an input from opset 18 on, an attribute before."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 5])
    rng = np.random.default_rng(0)
    inits = [onnx.numpy_helper.from_array(rng.standard_normal(s).astype(np.float32), name)
             for name, s in [("conv.weight", (4, 3, 3, 3)), ("fc.weight", (5, 4)),
                             ("fc.bias", (5,))]]
    mean_in = ["c"]
    mean_attrs = {"keepdims": keepdims}
    if opset >= 18:
        inits.append(onnx.numpy_helper.from_array(np.array(axes, np.int64), "axes"))
        mean_in.append("axes")
    else:
        mean_attrs["axes"] = axes
    g = helper.make_graph([
        helper.make_node("Conv", ["x", "conv.weight"], ["c"], name="node_conv2d"),
        helper.make_node("ReduceMean", mean_in, ["m"], name="node_mean", **mean_attrs),
        helper.make_node("Flatten", ["m"], ["f"], name="node_flatten"),
        helper.make_node("Gemm", ["f", "fc.weight", "fc.bias"], ["y"], name="node_linear",
                         transB=1)], "main_graph", [x], [y], initializer=inits,
        value_info=[helper.make_tensor_value_info("c", TensorProto.FLOAT, [1, 4, 6, 6])])
    return helper.make_model_gen_version(g, opset_imports=[helper.make_opsetid("", opset)])


@pytest.mark.parametrize(("axes", "keepdims", "opset", "layers"), [
    ([-1, -2], 1, 18, '"node_mean": globalavgpool'),
    ([2, 3], 1, 17, '"node_mean": globalavgpool'),
    ([2, 3], 0, 18, '"node_mean.globalavgpool": globalavgpool\n      -> "node_mean.flatten": '
                    'flatten')])
def test_reduce_mean_over_the_spatial_axes_is_globalavgpool(axes, keepdims, opset, layers):
    """torch >= 2.9's default exporter writes AdaptiveAvgPool2d(1) as ReduceMean: every
    torchvision classifier it exported was E407; `x.mean([2, 3])` keeps no axes."""
    model = _mean_model(axes, keepdims, opset)
    imported = importer.import_model(model, "t")
    assert layers in imported.text
    back = netdsl.compile(netdsl.loads(imported.text), weights=imported.weights)
    x = np.random.default_rng(1).standard_normal((1, 3, 8, 8)).astype(np.float32)
    want = ort.InferenceSession(model.SerializeToString()).run(None, {"x": x})[0]
    np.testing.assert_allclose(netdsl.run(back, {"x": x})["y"], want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("axes", [[1], [3]])
def test_reduce_mean_of_another_form_names_the_node(axes):
    with pytest.raises(NetdslError) as e:
        importer.import_model(_mean_model(axes), "t", "m.onnx")
    assert render_all(e.value.diagnostics) == (
        "error[E407]: m.onnx: node `node_mean` (ReduceMean): only the mean over every spatial "
        "axis (globalavgpool) has a netdsl op")


def test_an_unnamed_node_is_named_by_its_output():
    """ONNX node names are optional: a failing unnamed node was "node `` (Clip)"."""
    model = _model([helper.make_node("Clip", ["x", "lo", "hi"], ["y"])], [
        onnx.numpy_helper.from_array(np.float32(-1), "lo"),
        onnx.numpy_helper.from_array(np.float32(1), "hi")])
    with pytest.raises(NetdslError) as e:
        importer.import_model(model, "t", "m.onnx")
    assert render_all(e.value.diagnostics) == (
        "error[E407]: m.onnx: node `(unnamed, output y)` (Clip): Clip(-1.0, 1.0): only Clip(0, 6) "
        "(relu6) and Clip(0) (relu) have a netdsl op")


def _pad_model(pads, mode="reflect", axes=None, value=None):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 4, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3, "h", "w"])
    inits = [onnx.numpy_helper.from_array(np.array(pads, np.int64), "pads")]
    ins = ["x", "pads", "", ""]
    if value is not None:
        inits.append(onnx.numpy_helper.from_array(np.float32(value), "value"))
        ins[2] = "value"
    if axes is not None:
        inits.append(onnx.numpy_helper.from_array(np.array(axes, np.int64), "axes"))
        ins[3] = "axes"
    g = helper.make_graph([helper.make_node("Pad", [i for i in ins if i] if axes is None
                                            else ins, ["y"], name="pad", mode=mode)],
                          "g", [x], [y], initializer=inits)
    return helper.make_model_gen_version(g, opset_imports=[helper.make_opsetid("", 19)])


def test_pad_with_axes_spreads_its_amounts_over_those_axes():
    """Pad's `axes` input (opset 18): its amounts were read as if for every axis, so that
    [1, 2, 1, 2] on axes [2, 3] was 'padding the batch axis'."""
    model = _pad_model([1, 2, 1, 2], axes=[2, -1])
    imported = importer.import_model(model, "t")
    assert '"pad": pad([1, 2, 1, 2], mode: "reflect")' in imported.text
    x = np.random.default_rng(0).standard_normal((1, 3, 4, 4)).astype(np.float32)
    want = ort.InferenceSession(model.SerializeToString()).run(None, {"x": x})[0]
    got = netdsl.run(netdsl.compile(netdsl.loads(imported.text)), {"x": x})["y"]
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(("mode", "value", "why"), [
    ("wrap", None, "mode wrap: netdsl pads with zeros, reflect or edge"),  # was KeyError: exit 3
    ("constant", 1.0, "the constant 1.0: netdsl pads with zeros"),  # was zeros: wrong outputs
])
def test_pad_netdsl_cannot_express_names_the_node(mode, value, why):
    with pytest.raises(NetdslError) as e:
        importer.import_model(_pad_model([0, 0, 1, 1, 0, 0, 1, 1], mode, value=value), "t",
                              "m.onnx")
    assert render_all(e.value.diagnostics) == f"error[E407]: m.onnx: node `pad` (Pad): {why}"


def _resize_model(mode, coord, rounding="round_prefer_floor", scale=2.0, op="Resize"):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 4, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3, "h", "w"])
    scales = onnx.numpy_helper.from_array(np.array([1, 1, scale, scale], np.float32), "sc")
    node = (helper.make_node("Resize", ["x", "", "sc"], ["y"], name="r", mode=mode,
                             coordinate_transformation_mode=coord, nearest_mode=rounding)
            if op == "Resize" else helper.make_node("Upsample", ["x", "sc"], ["y"], name="r",
                                                    mode=mode))
    g = helper.make_graph([node], "g", [x], [y], initializer=[scales])
    return helper.make_model_gen_version(
        g, opset_imports=[helper.make_opsetid("", 17 if op == "Resize" else 9)])


def test_constant_of_any_attribute_kind():
    """A Constant's value_floats (or value_int) was np.asarray(None): IndexError, exit 3."""
    model = _resize_model("nearest", "asymmetric", "floor")
    model.graph.initializer.pop()
    model.graph.node.insert(0, helper.make_node("Constant", [], ["sc"],
                                                value_floats=[1.0, 1.0, 2.0, 2.0]))
    assert '"r": upsample(2.0)' in importer.import_model(model, "t").text


@pytest.mark.parametrize("args", [
    ("linear", "half_pixel"), ("linear", "pytorch_half_pixel"), ("cubic", "align_corners"),
    ("nearest", "asymmetric", "floor", 3.0), ("nearest", "half_pixel", "round_prefer_ceil", 3.0),
    ("nearest", "asymmetric", "round_prefer_floor", 2.0), ("linear", "half_pixel", "", 1.5)])
def test_resize_that_netdsl_computes_alike_round_trips(args):
    model = _resize_model(*args)
    imported = importer.import_model(model, "t")
    x = np.random.default_rng(0).standard_normal((1, 3, 4, 4)).astype(np.float32)
    want = ort.InferenceSession(model.SerializeToString()).run(None, {"x": x})[0]
    got = netdsl.run(netdsl.compile(netdsl.loads(imported.text)), {"x": x})["y"]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("args", "why"), [
    (("linear", "asymmetric"), "asymmetric coordinates"),
    (("cubic", "tf_crop_and_resize"), "tf_crop_and_resize coordinates"),
    (("nearest", "half_pixel", "ceil"), "nearest_mode ceil with half_pixel coordinates"),
    (("nearest", "asymmetric", "round_prefer_floor", 3.0),
     "nearest_mode round_prefer_floor with asymmetric coordinates"),
    (("linear", "", "", 2.0, "Upsample"), "asymmetric coordinates"),
])
def test_resize_that_netdsl_computes_otherwise_names_the_node(args, why):
    """Each was imported as half-pixel (or floor) upsampling: a model of other outputs."""
    with pytest.raises(NetdslError) as e:
        importer.import_model(_resize_model(*args), "t", "m.onnx")
    assert render_all(e.value.diagnostics) == (
        f"error[E407]: m.onnx: node `r` ({args[4] if len(args) > 4 else 'Resize'}): {why}: "
        "netdsl's upsample computes other values")


def _same_model(op, auto_pad, kernel, stride=1):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 5, 5])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", "c", "h", "w"])
    rng = np.random.default_rng(1)
    inits = [onnx.numpy_helper.from_array(
        rng.standard_normal((2, 3, kernel, kernel)).astype(np.float32), "w")]
    node = helper.make_node(op, ["x", "w"] if op == "Conv" else ["x"], ["y"], name="n",
                            auto_pad=auto_pad, strides=[stride, stride],
                            **({} if op == "Conv" else {"kernel_shape": [kernel, kernel]}))
    g = helper.make_graph([node], "g", [x], [y], initializer=inits if op == "Conv" else [])
    return helper.make_model_gen_version(g, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize("args", [("Conv", "SAME_UPPER", 2, 2), ("Conv", "SAME_LOWER", 3, 1),
                                  ("AveragePool", "SAME_UPPER", 2, 2),
                                  ("MaxPool", "SAME_LOWER", 3, 1)])
def test_auto_pad_same_round_trips(args):
    """AveragePool's SAME padding was counted in the average (ONNX's count_include_pad is 0)."""
    model = _same_model(*args)
    imported = importer.import_model(model, "t")
    x = np.random.default_rng(0).standard_normal((1, 3, 5, 5)).astype(np.float32)
    want = ort.InferenceSession(model.SerializeToString()).run(None, {"x": x})[0]
    got = netdsl.run(netdsl.compile(netdsl.loads(imported.text), weights=imported.weights),
                     {"x": x})["y"]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("op", "kernel", "stride"), [("Conv", 2, 1), ("MaxPool", 3, 2)])
def test_auto_pad_same_lower_with_an_odd_pixel_names_the_node(op, kernel, stride):
    """It was imported as `pad: same`, which puts the odd pixel after: other outputs."""
    with pytest.raises(NetdslError) as e:
        importer.import_model(_same_model(op, "SAME_LOWER", kernel, stride), "t", "m.onnx")
    assert render_all(e.value.diagnostics) == (
        f"error[E407]: m.onnx: node `n` ({op}): auto_pad SAME_LOWER: netdsl's `pad: same` puts "
        "an odd pixel of padding after, as SAME_UPPER does")


def _softmax_model(shape, opset, **attrs):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)
    g = helper.make_graph([helper.make_node("Relu", ["x"], ["r"], name="r"),
                           helper.make_node("Softmax", ["r"], ["y"], name="s", **attrs)],
                          "g", [x], [y])
    return helper.make_model_gen_version(g, opset_imports=[helper.make_opsetid("", opset)])


@pytest.mark.parametrize(("shape", "opset", "attrs"), [
    (["N", 10], 11, {}), (["N", 3, 4, 4], 11, {"axis": 3}), (["N", 3, 4, 4], 13, {"axis": 1})])
def test_softmax_of_every_opset_round_trips(shape, opset, attrs):
    """The rank of the Softmax's input is inferred (legacy torch exports record none)."""
    model = _softmax_model(shape, opset, **attrs)
    imported = importer.import_model(model, "t")
    x = np.random.default_rng(0).standard_normal([2 if d == "N" else d for d in shape]
                                                 ).astype(np.float32)
    want = ort.InferenceSession(model.SerializeToString()).run(None, {"x": x})[0]
    got = netdsl.run(netdsl.compile(netdsl.loads(imported.text)), {"x": x})["y"]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_softmax_before_opset_13_over_several_axes_names_the_node():
    """Before opset 13 Softmax(axis=1) of [N, C, H, W] is over C, H and W at once; it was
    imported as softmax(axis: 1), over C alone: other outputs."""
    with pytest.raises(NetdslError) as e:
        importer.import_model(_softmax_model(["N", 3, 4, 4], 11), "t", "m.onnx")
    assert render_all(e.value.diagnostics) == (
        "error[E407]: m.onnx: node `s` (Softmax): opset 11's Softmax over the axes from 1 on, "
        "together, of a tensor of rank 4: netdsl's is over one axis")


def test_reduce_mean_of_an_export_without_value_infos():
    """torch's legacy exporter records no value_infos; x.mean([2, 3]) (mnasnet) was E407."""
    model = _mean_model([2, 3], 0, 17)
    del model.graph.value_info[:]
    assert '"node_mean.flatten": flatten' in importer.import_model(model, "t").text


def _outputs_model(nodes, outputs):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])
    g = helper.make_graph(nodes, "g", [x], [helper.make_tensor_value_info(
        o, TensorProto.FLOAT, ["N", 3]) for o in outputs])
    return helper.make_model_gen_version(g, opset_imports=[helper.make_opsetid("", 17)])


def test_an_output_that_is_an_identity_is_its_source():
    """A model ending in Dropout (or Identity) was E407 'output is an Identity of another
    tensor'; its output is the tensor before."""
    model = _outputs_model([helper.make_node("Relu", ["x"], ["r"], name="r"),
                            helper.make_node("Dropout", ["r"], ["d"], name="d"),
                            helper.make_node("Sigmoid", ["r"], ["s"], name="s")], ["d", "s"])
    net = netdsl.loads(importer.import_model(model, "t").text)
    assert list(net.graph.outputs) == ["d", "s"]


@pytest.mark.parametrize(("nodes", "outputs", "names"), [
    ([helper.make_node("Relu", ["x"], ["r"], name="r")], ["r", "r"], "`r` and `r`"),
    ([helper.make_node("Relu", ["x"], ["r"], name="r"),
      helper.make_node("Identity", ["r"], ["i"], name="i")], ["r", "i"], "`r` and `i`")])
def test_two_outputs_of_one_tensor_are_e407(nodes, outputs, names):
    """The same tensor listed twice was E211 about the .net that was never written."""
    with pytest.raises(NetdslError) as e:
        importer.import_model(_outputs_model(nodes, outputs), "t", "m.onnx")
    assert render_all(e.value.diagnostics) == (
        f"error[E407]: m.onnx: outputs {names} are one tensor; netdsl names each output once")


def test_cli_import_notes_the_inputs_and_outputs_it_renames(tmp_path, capsys):
    """torch.onnx.export(..., input_names=["input"], output_names=["output"]) (the tutorials'
    names): the program had x_input and y_output, and said nothing; a model compiled from it
    then refused {"input": ...}."""
    model = _outputs_model([helper.make_node("Relu", ["x"], ["output"], name="r")], ["output"])
    model.graph.input[0].name = model.graph.node[0].input[0] = "input"
    src = tmp_path / "m.onnx"
    onnx.save(model, src)
    assert main(["import", str(src), "-o", str(tmp_path / "m.net")]) == 0
    assert capsys.readouterr().err == (
        "note: inputs and outputs renamed in the program (a keyword, not an identifier, or a "
        "name taken): input -> x_input, output -> y_output; a model compiled from it has the "
        "new names\n")


@pytest.mark.parametrize(("inputs", "outputs", "note"), [
    (["x"], ["y.1", "y_1"], "y.1 -> y_1_2"),
    (["a.b", "a_b"], ["y"], "a.b -> a_b_2"),
    (["x"], ["y", "r0"], "r0 -> r0_2"),  # the label of another layer (the first Relu)
    (["r1"], ["y", "z"], "r1 -> r1_2")])  # an input named as a layer
def test_cli_import_gives_names_that_meet_distinct_names(tmp_path, capsys, inputs, outputs,
                                                         note):
    """Two outputs (or inputs) whose names became one identifier (`y.1`, `y_1`), or a layer's
    label, were E211 about the .net that was never written."""
    nodes = [helper.make_node("Relu", [inputs[0]], [o], name=f"r{k}")
             for k, o in enumerate(outputs)]
    if len(inputs) > 1:
        nodes[0] = helper.make_node("Add", inputs, [outputs[0]], name="r0")
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(
        i, TensorProto.FLOAT, ["N", 3]) for i in inputs], [helper.make_tensor_value_info(
            o, TensorProto.FLOAT, ["N", 3]) for o in outputs])
    model = helper.make_model_gen_version(g, opset_imports=[helper.make_opsetid("", 17)])
    src, out = tmp_path / "m.onnx", tmp_path / "m.net"
    onnx.save(model, src)
    assert main(["import", str(src), "-o", str(out)]) == 0
    assert capsys.readouterr().err == (
        "note: inputs and outputs renamed in the program (a keyword, not an identifier, or a "
        f"name taken): {note}; a model compiled from it has the new names\n")
    feeds = {i: np.full((1, 3), k - 1.5, np.float32) for k, i in enumerate(inputs)}
    want = ort.InferenceSession(model.SerializeToString()).run(None, feeds)
    renamed = dict([note.split(" -> ")])
    got = netdsl.run(netdsl.compile(str(out)), {renamed.get(i, i): v for i, v in feeds.items()})
    assert [renamed.get(o, o) for o in outputs] == list(got)
    for p, q in zip(want, got.values()):
        np.testing.assert_array_equal(p, q)


def _scoped(node, scopes, metadata="pkg.torch.onnx.name_scopes"):
    """A node as torch's default (dynamo) exporter writes it: its module path in metadata."""
    value = (repr(["", *scopes]) if metadata == "pkg.torch.onnx.name_scopes" else
             ": torchvision.models.resnet.ResNet" + "".join(f"/{s}: torch.nn.Module"
                                                            for s in scopes))
    node.metadata_props.add(key=metadata, value=value)
    return node


def test_labels_of_the_default_exporter_follow_its_module_paths():
    """torch's default exporter names nodes `node_relu_1`; the labels were those, where the
    legacy exporter's node names (`/layer1/layer1.0/relu_1/Relu`) give `layer1.0.relu_1`."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2, 4, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])
    w = onnx.numpy_helper.from_array(np.ones((2, 2, 3, 3), np.float32), "layer1.0.conv1.weight")
    block = ["layer1", "layer1.0"]
    g = helper.make_graph([
        _scoped(helper.make_node("Relu", ["x"], ["r0"], name="node_relu"), ["relu", "relu"]),
        _scoped(helper.make_node("Conv", ["r0", w.name], ["c"], name="node_Conv_7", pads=[1] * 4),
                [*block, "layer1.0.bn1", "_native_batch_norm_legit_no_training"]),
        _scoped(helper.make_node("Relu", ["c"], ["r1"], name="node_relu_1"),
                [*block, "layer1.0.relu", "relu_1"]),
        _scoped(helper.make_node("Add", ["r1", "r0"], ["a"], name="node_add"), [*block, "add"]),
        _scoped(helper.make_node("Relu", ["a"], ["r2"], name="node_relu_2"),
                [*block, "layer1.0.relu", "relu_2"], "namespace"),
        _scoped(helper.make_node("GlobalAveragePool", ["r2"], ["p"], name="node_mean"),
                ["avgpool", "mean"]),
        _scoped(helper.make_node("Flatten", ["p"], ["y"], name="node_flatten"), ["flatten"])],
        "main_graph", [x], [y], initializer=[w])
    model = helper.make_model_gen_version(g, opset_imports=[helper.make_opsetid("", 18)])
    assert importer.import_model(model, "t").text == """\
# imported by `netdsl import` from model.onnx
network t {
  option floor: true
  input x: [N, 2, 4, 4]
  v_relu = x -> "relu": relu
  v_flatten = v_relu -> "layer1.0.conv1": conv(2, 3, pad: 1, bias: false)
      -> "layer1.0.relu": relu
      -> "layer1.0.add": add(v_relu)
      -> "layer1.0.relu_1": relu
      -> "avgpool": globalavgpool
      -> "flatten": flatten
  v_flatten -> output y
}
"""


@pytest.mark.slow
def test_default_exporter_labels_equal_the_legacy_exporters(torch, torchvision, tmp_path):
    """resnet18 by torch's default exporter: every label is the legacy export's, blocks
    included (torch.flatten, a Reshape to [1, 512] there, is flatten); the outputs are the
    model's."""
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None).eval()
    x = torch.randn(1, 3, 224, 224)
    labels, texts = [], []
    for dynamo in (False, True):
        path = tmp_path / f"{dynamo}.onnx"
        torch.onnx.export(model, (x,), str(path), dynamo=dynamo, opset_version=18,
                          input_names=["image"], output_names=["logits"])
        imported = importer.import_model(export.load(path), "r")
        labels.append(re.findall(r'"([^"]+)":', imported.text))
        texts.append(imported.text)
    assert labels[0] == labels[1] and labels[1][-3:] == ["avgpool", "flatten", "fc"]
    assert "block unit1(" in texts[1]
    back = netdsl.compile(netdsl.loads(texts[1]), weights=imported.weights)
    got = netdsl.run(back, {"image": x.numpy()})["logits"]
    np.testing.assert_allclose(got, model(x).detach().numpy(), rtol=1e-4, atol=1e-4)


def _reshape_model(shape, x_shape, **attrs):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [f"d{k}" for k in range(len(shape))])
    g = helper.make_graph([helper.make_node("Relu", ["x"], ["r"], name="/relu/Relu"),
                           helper.make_node("Reshape", ["r", "s"], ["y"], name="/view/Reshape",
                                            **attrs)],
                          "g", [x], [y], initializer=[
                              onnx.numpy_helper.from_array(np.array(shape, np.int64), "s")])
    return helper.make_model_gen_version(g, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize(("shape", "x_shape", "call"), [
    ([0, 0, 2, 2], ["N", 3, 4], "reshape([3, 2, 2])"),  # was E206 in the unwritten .net
    ([-1, 12], ["N", 3, 4], "flatten"), ([-1, 3, 4], ["N", 12], "reshape([3, 4])"),
    ([2, -1], [2, 3, 4], "flatten"),
    ([0, -1], ["N", 3, 4], "flatten")])
def test_reshape_that_keeps_the_batch_axis_round_trips(shape, x_shape, call):
    model = _reshape_model(shape, x_shape)
    imported = importer.import_model(model, "t")
    assert f'"view": {call}' in imported.text
    x = np.random.default_rng(0).standard_normal([2 if d == "N" else d for d in x_shape]
                                                 ).astype(np.float32)
    want = ort.InferenceSession(model.SerializeToString()).run(None, {"x": x})[0]
    np.testing.assert_array_equal(netdsl.run(netdsl.compile(netdsl.loads(imported.text)),
                                             {"x": x})["y"], want)


def test_reshape_of_a_size_that_varies_keeps_the_batch_where_it_fits():
    """x.view(-1, 12) of [N, 3, w] keeps the batch at w = 4 (the size the program checks at);
    it is the importer's reshape([12]), as at a fixed size."""
    model = _reshape_model([-1, 12], ["N", 3, "w"])
    imported = importer.import_model(model, "t")
    assert '"view": reshape([12])' in imported.text
    x = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
    want = ort.InferenceSession(model.SerializeToString()).run(None, {"x": x})[0]
    back = netdsl.compile(netdsl.loads(imported.text, params={"w": 4}))
    np.testing.assert_array_equal(netdsl.run(back, {"x": x})["y"], want)


@pytest.mark.parametrize(("shape", "x_shape", "attrs", "why"), [
    ([-1, 4], ["N", 3, 4], {}, "shape [-1, 4] of [N, 3, 4] does not keep the batch axis: "
                               "netdsl's reshape keeps axis 0 (the batch) and reshapes the others"),
    ([3, -1], ["N", 3, 4], {}, "shape [3, -1] of [N, 3, 4] does not keep the batch axis: "
                               "netdsl's reshape keeps axis 0 (the batch) and reshapes the others"),
    ([0, 0, 0], ["N", 3, 4], {"allowzero": 1}, "shape [0, 0, 0] with allowzero: sizes of 0, "
                                               "which netdsl's reshape does not make")])
def test_reshape_that_does_not_keep_the_batch_axis_names_the_node(shape, x_shape, attrs, why):
    """[-1, 4] was E301 about the .net never written; [3, -1] was imported as flatten, a model
    of other outputs."""
    with pytest.raises(NetdslError) as e:
        importer.import_model(_reshape_model(shape, x_shape, **attrs), "t", "m.onnx")
    assert render_all(e.value.diagnostics) == (
        f"error[E407]: m.onnx: node `/view/Reshape` (Reshape): {why}")


def test_cli_import_of_dynamic_axes_writes_an_example_that_checks(tmp_path, capsys):
    """The program is checked once per example size tried, and written with the example at
    which it checked (no second check of the text with it written in): the file checks, and its
    examples are the ONNX model's output shapes at that size."""
    model = _dynamic_model("h", "w")
    g = model.graph
    g.output.insert(0, helper.make_tensor_value_info("c", TensorProto.FLOAT,
                                                     ["batch", 4, "h2", "w2"]))
    src, out = tmp_path / "d.onnx", tmp_path / "d.net"
    onnx.save(model, src)
    assert main(["import", str(src), "-o", str(out)]) == 0
    assert capsys.readouterr().out == f"{out}: g, 3 layers in 12 lines, 112 params\n"
    x = np.zeros((1, 3, 224, 224), np.float32)
    c, y = ort.InferenceSession(str(src)).run(None, {"x": x})
    assert out.read_text().endswith(
        f"  expect c: [N, {', '.join(map(str, c.shape[1:]))}] at h = 224, w = 224\n"
        f"  expect y: [N, {y.shape[1]}] at h = 224, w = 224\n}}\n")
    assert main(["check", str(out)]) == 0


def _relu_model(x_shape, x="x", y="y"):
    g = helper.make_graph([helper.make_node("Relu", [x], [y], name="r")], "g",
                          [helper.make_tensor_value_info(x, TensorProto.FLOAT, x_shape)],
                          [helper.make_tensor_value_info(y, TensorProto.FLOAT, x_shape)])
    return helper.make_model_gen_version(g, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize(("shape", "dims"), [(["N"], "[N]"), ([], "[]")])
def test_cli_import_of_an_input_without_channels_is_e407(tmp_path, capsys, shape, dims):
    """An input of rank 0 or 1 was E217 at d.net:4:12, a file never written."""
    src, out = tmp_path / "d.onnx", tmp_path / "d.net"
    onnx.save(_relu_model(shape), src)
    assert main(["import", str(src), "-o", str(out)]) == 1
    assert capsys.readouterr().err == (
        f"error[E407]: d.onnx: input `x` has the shape {dims}: netdsl's inputs are [N, C, ...], "
        "a batch and at least one more axis\n\n")
    assert not out.exists()


def test_cli_import_renames_names_outside_ascii(tmp_path, capsys):
    """`é` (an identifier to Python) was written as is: E101 at d.net:4:9, never written."""
    src, out = tmp_path / "d.onnx", tmp_path / "d.net"
    onnx.save(_relu_model(["N", 3], "é", "sortie_ñ"), src)
    assert main(["import", str(src), "-o", str(out)]) == 0
    assert capsys.readouterr().err == (
        "note: inputs and outputs renamed in the program (a keyword, not an identifier, or a "
        "name taken): é -> _, sortie_ñ -> sortie__; a model compiled from it has the new names\n")


@pytest.mark.parametrize(("h", "w", "names"), [
    ("h-1", "w", "h_1 = 224, w = 224"), ("in", "for", "s_in = 224, s_for = 224"),
    ("2h", "N", "s_2h = 224, s_N = 224")])
def test_cli_import_of_sizes_whose_names_are_no_identifiers(tmp_path, capsys, h, w, names):
    """A size named `h-1` was written as is (h minus 1), `in` or `2h` too: each was E407 'checks
    at none of 224, ...'; one named `N` was the batch."""
    src, out = tmp_path / "d.onnx", tmp_path / "d.net"
    onnx.save(_dynamic_model(h, w), src)
    assert main(["import", str(src), "-o", str(out)]) == 0, capsys.readouterr().err
    assert f"  expect y: [N, 4] at {names}\n}}\n" in out.read_text()
    assert main(["check", str(out)]) == 0


def _graph(nodes, inputs, outputs, inits=(), opset=17):
    """A model of `nodes`, its inputs and outputs given as (name, shape) pairs."""
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(
        n, TensorProto.FLOAT, s) for n, s in inputs], [helper.make_tensor_value_info(
            n, TensorProto.FLOAT, s) for n, s in outputs], initializer=[
        onnx.numpy_helper.from_array(np.asarray(v, np.float32), n) for n, v in inits])
    return helper.make_model_gen_version(g, opset_imports=[helper.make_opsetid("", opset)])


def _same_outputs(model, shape, exact=False, seed=0):
    """The model imported, compiled with the imported weights and run on a random `x` of
    `shape` gives onnxruntime's outputs of the model (within 1e-5, or exactly); its text."""
    imported = importer.import_model(model, "t")
    x = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    want = ort.InferenceSession(model.SerializeToString()).run(None, {"x": x})
    got = netdsl.run(netdsl.compile(netdsl.loads(imported.text), weights=imported.weights),
                     {"x": x})
    for p, q in zip(want, got.values(), strict=True):
        if exact:
            np.testing.assert_array_equal(q, p)
        else:
            np.testing.assert_allclose(q, p, rtol=1e-5, atol=1e-5)
    return imported.text


def _e407(model):
    with pytest.raises(NetdslError) as e:
        importer.import_model(model, "t", "m.onnx")
    return render_all(e.value.diagnostics)


def _gemm(bias):
    return _graph([helper.make_node("Gemm", ["x", "w", "b"], ["y"], name="fc", transB=1)],
                  [("x", ["N", 3])], [("y", ["N", 2])], [("w", np.ones((2, 3))), ("b", bias)])


def test_gemm_with_a_bias_of_one_row_round_trips():
    """Gemm's C of shape [1, 2] (broadcast over the rows) was a ValueError: exit 3."""
    _same_outputs(_gemm([[1, 2]]), (2, 3))


def test_gemm_with_a_bias_per_row_names_the_node():
    assert _e407(_gemm(np.ones((3, 2)))) == (
        "error[E407]: m.onnx: node `fc` (Gemm): a bias of shape [3, 2]: dense adds one per "
        "output")


@pytest.mark.parametrize(("node", "outputs", "why"), [
    (helper.make_node("Dropout", ["x"], ["y", "mask"], name="d"),
     [("y", ["N", 3, 4, 4]), ("mask", ["N", 3, 4, 4])], "`d` (Dropout): its output `mask`")])
def test_a_second_output_in_use_names_the_node(node, outputs, why):
    """MaxPool's indices as a graph output were a KeyError: exit 3."""
    assert _e407(_graph([node], [("x", ["N", 3, 4, 4])], outputs)) == (
        f"error[E407]: m.onnx: node {why} is used: a netdsl layer has one output")


@pytest.mark.parametrize("axis", [0, -2])
def test_concat_along_the_batch_names_the_node(axis):
    """It was E206 at a line of the .net never written."""
    model = _graph([helper.make_node("Concat", ["x", "x"], ["y"], name="c", axis=axis)],
                   [("x", ["N", 3])], [("y", ["M", 3])])
    assert _e407(model) == (f"error[E407]: m.onnx: node `c` (Concat): along axis {axis}, the "
                            "batch: netdsl's concat joins the examples' other axes")


def _pad(pads, conv=False):
    nodes = [helper.make_node("Pad", ["x", "p"], ["q" if conv else "y"], name="pad")]
    if conv:
        nodes.append(helper.make_node("Conv", ["q", "w"], ["y"], name="conv"))
    model = _graph(nodes, [("x", ["N", 2, 4, 4])], [("y", ["N", 2, "h", "w"])],
                   [("w", np.ones((2, 2, 1, 1)))])
    model.graph.initializer.append(onnx.numpy_helper.from_array(np.array(pads, np.int64), "p"))
    return model


@pytest.mark.parametrize("conv", [False, True])
def test_pad_of_negative_amounts_names_the_node(conv):
    """A crop (negative pads) was E206 at a line of the .net never written."""
    assert _e407(_pad([0, 0, -1, 0, 0, 0, 1, 0], conv)) == (
        "error[E407]: m.onnx: node `pad` (Pad): pads [0, 0, -1, 0, 0, 0, 1, 0]: a negative "
        "amount crops, and netdsl's pad adds")


def test_batch_normalization_in_training_mode_names_the_node():
    """training_mode 1 normalizes by the batch's own statistics; it was imported as inference
    bn: other outputs."""
    model = _graph([helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"],
                                     name="bn", training_mode=1)],
                   [("x", ["N", 3, 2, 2])], [("y", ["N", 3, 2, 2])],
                   [(k, np.ones(3)) for k in "sbmv"], opset=15)
    assert _e407(model) == (
        "error[E407]: m.onnx: node `bn` (BatchNormalization): training_mode 1 (the batch's own "
        "statistics): netdsl's bn normalizes by the running ones")


def _resize_of(y_shape, scales=None, sizes=None, opset=17, **attrs):
    ins, inits = ["x", "", "s" if scales else ""], [("s", scales or [])]
    model = _graph([helper.make_node("Resize", ins + (["z"] if sizes else []), ["y"], name="r",
                                     mode="nearest", nearest_mode="floor",
                                     coordinate_transformation_mode="asymmetric", **attrs)],
                   [("x", ["N", 3, 4, 4])], [("y", y_shape)], inits if scales else [], opset)
    if sizes:
        model.graph.initializer.append(onnx.numpy_helper.from_array(np.array(sizes, np.int64),
                                                                    "z"))
    return model


@pytest.mark.parametrize(("scales", "sizes", "why"), [
    ([1, 2, 2, 2], None, "scales [1.0, 2.0, 2.0, 2.0]"), ([2, 1, 1, 1], None,
                                                           "scales [2.0, 1.0, 1.0, 1.0]"),
    (None, [1, 6, 8, 8], "sizes [1, 6, 8, 8] of [N, 3, 4, 4]")])
def test_resize_of_the_batch_or_channels_names_the_node(scales, sizes, why):
    """Scales (or sizes) of the channel axis were left out: upsample(2.0) made [N, 3, 8, 8]
    where the model makes [N, 6, 8, 8]."""
    assert _e407(_resize_of(["N", "c", 8, 8], scales, sizes)) == (
        f"error[E407]: m.onnx: node `r` (Resize): {why}: netdsl's upsample resizes the spatial "
        "axes only")


@pytest.mark.parametrize("kwargs", [{"scales": [2, 3], "axes": [2, 3]},
                                    {"scales": [3], "axes": [-1]},
                                    {"sizes": [6, 8], "axes": [3, 2]}])
def test_resize_of_some_axes_round_trips(kwargs):
    """Resize's `axes` (opset 18): its two scales were read as those of the batch and the
    channels: upsample([]), E205 at a line of the .net never written."""
    _same_outputs(_resize_of(["N", 3, "h", "w"], opset=18, **kwargs), (2, 3, 4, 4))


def test_resize_keeping_the_aspect_ratio_names_the_node():
    model = _resize_of(["N", 3, "h", "w"], sizes=[8, 6], opset=18, axes=[2, 3],
                       keep_aspect_ratio_policy="not_larger")
    assert _e407(model) == ("error[E407]: m.onnx: node `r` (Resize): keep_aspect_ratio_policy "
                            "not_larger: netdsl's upsample computes other values")


@pytest.mark.parametrize("auto_pad", ["VALID", "SAME_UPPER"])
def test_pad_before_a_conv_of_auto_pad_round_trips(auto_pad):
    """The Pad was folded into the Conv's pads, which auto_pad VALID or SAME then left out:
    outputs of another shape."""
    model = _graph([helper.make_node("Pad", ["x", "p"], ["q"], name="pad"),
                    helper.make_node("Conv", ["q", "w"], ["y"], name="conv", auto_pad=auto_pad)],
                   [("x", ["N", 2, 5, 5])], [("y", ["N", 2, "h", "w"])],
                   [("w", np.linspace(-1, 1, 36).reshape(2, 2, 3, 3))])
    model.graph.initializer.append(onnx.numpy_helper.from_array(
        np.array([0, 0, 1, 2, 0, 0, 1, 2], np.int64), "p"))
    _same_outputs(model, (2, 2, 5, 5))


def test_an_operator_of_another_domain_is_listed_with_its_domain():
    """A Relu of domain com.example was listed as `Relu`, which the hint lists as supported."""
    model = _model([helper.make_node("Relu", ["x"], ["y"], name="r", domain="com.example")])
    model.opset_import.append(helper.make_opsetid("com.example", 1))
    assert _e407(model).splitlines()[0] == (
        "error[E407]: m.onnx: 1 node uses an operator that netdsl import does not read: "
        "com.example.Relu x1 (r)")


def test_weights_that_are_graph_inputs_name_the_node():
    """torch.onnx.export(..., export_params=False): the first input of rank 1 (a bias) was
    named as if the model's input were wrong; a weight of higher rank was 'computed'."""
    model = _graph([helper.make_node("Gemm", ["x", "w", "b"], ["y"], name="fc", transB=1)],
                   [("x", ["N", 3]), ("w", [2, 3]), ("b", [2])], [("y", ["N", 2])])
    assert _e407(model) == (
        "error[E407]: m.onnx: node `fc` (Gemm): `w` is an input of the model, not a stored "
        "weight (exported without its parameters?)")


def test_cli_import_of_a_file_whose_name_breaks_the_line(tmp_path, capsys):
    """The name went into the program's first line as is: its second half was read as code
    (for a model for every size, 'checks at none of 224, ...')."""
    src, out = tmp_path / "we\nird.onnx", tmp_path / "d.net"
    onnx.save(_dynamic_model("h", "w"), src)
    assert main(["import", str(src), "-o", str(out)]) == 0, capsys.readouterr().err
    assert out.read_text().startswith("# imported by `netdsl import` from we\\x0aird.onnx\n")


@pytest.mark.parametrize("attrs", [
    {"strides": [2, 2], "pads": [1, 1, 1, 1], "output_padding": [1, 1]},
    {"strides": [2, 3], "pads": [0, 1, 2, 1], "dilations": [2, 1], "group": 2},
    {"auto_pad": "VALID", "strides": [2, 2]}])
def test_conv_transpose_round_trips(attrs):
    """netdsl has conv_transpose; the import listed ConvTranspose as an operator netdsl does
    not support (zoo/unet.net's, torch's ConvTranspose2d)."""
    inits = [("w", np.linspace(-1, 1, 4 * 3 * 9).reshape(4, 3, 3, 3)), ("b", [1, 2, 3, 4, 5, 6])]
    if attrs.get("group") != 2:
        inits = [("w", np.linspace(-1, 1, 4 * 6 * 9).reshape(4, 6, 3, 3)), inits[1]]
    model = _graph([helper.make_node("ConvTranspose", ["x", "w", "b"], ["y"], name="up",
                                     **attrs)],
                   [("x", ["N", 4, 5, 5])], [("y", ["N", 6, "h", "w"])], inits)
    _same_outputs(model, (2, 4, 5, 5))


def test_a_module_called_again_after_a_function_of_the_root_is_a_new_call():
    """`act` then the root's `x + x` then `act` again: the legacy names are act, add, act_1
    (the second call was counted as the first one's, named `act` again)."""
    g = helper.make_graph([
        _scoped(helper.make_node("Relu", ["x"], ["a"], name="node_relu"), ["act", "relu"]),
        _scoped(helper.make_node("Add", ["a", "a"], ["b"], name="node_add"), ["add"]),
        _scoped(helper.make_node("Relu", ["b"], ["y"], name="node_relu_1"), ["act", "relu_1"])],
        "main_graph", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])])
    text = importer.import_model(helper.make_model(g), "t").text
    assert re.findall(r'"([^"]+)":', text) == ["act", "add", "act_1"]


def test_cli_import_into_a_directory_suggests_a_net_file(tmp_path, capsys):
    """-o DIR said 'give a file name such as DIR/model.onnx', for the .net program."""
    src = tmp_path / "m.onnx"
    onnx.save(_relu_model(["N", 3]), src)
    assert main(["import", str(src), "-o", str(tmp_path)]) == 1
    assert capsys.readouterr().err == (f"error[E402]: {tmp_path} is a directory; give a file "
                                       f"name such as {tmp_path / 'model.net'}\n\n")


def test_cli_import_of_a_file_name_that_is_not_utf8(tmp_path, capsys):
    """A name onnx cannot take (its paths are UTF-8) gave E403 "TypeError: check_model_path():
    incompatible function arguments"."""
    import os
    src = Path(os.fsdecode(bytes(tmp_path) + b"/bad\xff.onnx"))
    onnx.save(_relu_model(["N", 3]), src)
    assert main(["import", str(src), "-o", str(tmp_path / "m.net")]) == 1
    assert capsys.readouterr().err == (
        f"error[E403]: {tmp_path}/bad\\udcff.onnx: the file name is not valid UTF-8, which onnx "
        "needs\n  = hint: rename the file\n\n")


@pytest.mark.parametrize("eps", [float("inf"), float("nan")])
def test_a_number_that_is_not_finite_names_the_node(eps):
    """bn(eps: inf) was written, and the check of the unwritten .net said `inf` is not
    defined (E201)."""
    model = _graph([helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"],
                                     name="bn", epsilon=eps)],
                   [("x", ["N", 2, 4, 4])], [("y", ["N", 2, 4, 4])],
                   [(k, np.ones(2)) for k in "sbmv"])
    assert _e407(model) == (f"error[E407]: m.onnx: node `bn` (BatchNormalization): the number "
                            f"{eps} is not finite, and a .net program writes finite numbers")


@pytest.mark.parametrize(("elem", "name"), [(TensorProto.FLOAT16, "float16"),
                                            (TensorProto.INT64, "int64")])
def test_an_input_that_is_not_float32_is_e407(elem, name):
    """A float16 or int64 input was imported as a float32 program, silently."""
    g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"], name="r")], "g",
                          [helper.make_tensor_value_info("x", elem, ["N", 2])],
                          [helper.make_tensor_value_info("y", elem, ["N", 2])])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    assert _e407(model) == (f"error[E407]: m.onnx: input `x` is {name}: netdsl's inputs are "
                            "float32\n  = hint: export the model in float32")


@pytest.mark.parametrize(("perm", "call"), [([0, 2, 3, 1], "permute([0, 2, 3, 1])"),
                                            ([0, 1, 3, 2], "transpose(2, 3)")])
def test_transpose_round_trips(perm, call):
    model = _graph([helper.make_node("Transpose", ["x"], ["y"], name="/t/Transpose", perm=perm)],
                   [("x", ["N", 2, 3, 4])], [("y", [None] * 4)])
    assert f'"t": {call}' in importer.import_model(model, "t").text
    _same_outputs(model, (2, 2, 3, 4))


def test_transpose_of_the_batch_names_the_node():
    model = _graph([helper.make_node("Transpose", ["x"], ["y"], name="t", perm=[1, 0, 2])],
                   [("x", ["N", 2, 3])], [("y", [None] * 3)])
    assert _e407(model) == ("error[E407]: m.onnx: node `t` (Transpose): perm [1, 0, 2] moves "
                            "the batch axis: netdsl's permute keeps axis 0 first")


@pytest.mark.parametrize(("axis", "eps", "bias", "call"), [
    (-1, 1e-5, True, "layer_norm"), (3, 1e-6, True, "layer_norm(eps: 1e-06)"),
    (-1, 1e-5, False, "layer_norm")])
def test_layer_normalization_over_the_last_axis_round_trips(axis, eps, bias, call):
    rng = np.random.default_rng(1)
    inits = [("ln.weight", rng.standard_normal(4))] + (
        [("ln.bias", rng.standard_normal(4))] if bias else [])
    model = _graph([helper.make_node("LayerNormalization", ["x", *(n for n, _ in inits)], ["y"],
                                     name="/ln/LayerNormalization", axis=axis, epsilon=eps)],
                   [("x", ["N", 2, 3, 4])], [("y", ["N", 2, 3, 4])], inits)
    assert f'"ln": {call}\n' in importer.import_model(model, "t").text
    _same_outputs(model, (2, 2, 3, 4))


def test_layer_normalization_over_several_axes_names_the_node():
    model = _graph([helper.make_node("LayerNormalization", ["x", "w"], ["y"], name="ln",
                                     axis=2)],
                   [("x", ["N", 2, 3, 4])], [("y", ["N", 2, 3, 4])], [("w", np.ones((3, 4)))])
    assert _e407(model) == ("error[E407]: m.onnx: node `ln` (LayerNormalization): axis 2 of a "
                            "rank 4 input normalizes over the axes from 2 on: netdsl's "
                            "layer_norm normalizes over one axis")


def _matmul(bias=None, bias_first=True):
    """x @ W (+ b), as torch's legacy exporter writes a Linear on [N, ..., C]."""
    rng = np.random.default_rng(2)
    nodes = [helper.make_node("MatMul", ["x", "onnx::MatMul_7"], ["m"], name="/fc/MatMul")]
    inits = [("onnx::MatMul_7", rng.standard_normal((4, 5)))]
    if bias is not None:
        nodes.append(helper.make_node("Add", ["fc.bias", "m"] if bias_first else ["m", "fc.bias"],
                                      ["y"], name="/fc/Add"))
        inits.append(("fc.bias", bias))
    else:
        nodes[0].output[0] = "y"
    return _graph(nodes, [("x", ["N", 3, 4])], [("y", ["N", 3, 5])], inits)


@pytest.mark.parametrize(("bias", "first", "call"), [
    (np.arange(5.0), True, "dense(5)"), (np.arange(5.0), False, "dense(5)"),
    (None, True, "dense(5, bias: false)")])
def test_matmul_by_a_weight_is_dense(bias, first, call):
    model = _matmul(bias, first)
    imported = importer.import_model(model, "t")
    assert f'"fc": {call}\n' in imported.text
    assert sorted(imported.weights) == (["fc.bias", "fc.weight"] if bias is not None
                                        else ["fc.weight"])
    _same_outputs(model, (2, 3, 4))


def test_matmul_of_two_tensors_round_trips():
    model = _graph([helper.make_node("Transpose", ["x"], ["t"], name="/t/Transpose",
                                     perm=[0, 2, 1]),
                    helper.make_node("MatMul", ["x", "t"], ["y"], name="/m/MatMul")],
                   [("x", ["N", 3, 4])], [("y", ["N", 3, 3])])
    assert '-> "m": matmul(' in importer.import_model(model, "t").text
    _same_outputs(model, (2, 3, 4))


def test_matmul_by_a_weight_on_the_left_names_the_node():
    model = _graph([helper.make_node("MatMul", ["w", "x"], ["y"], name="mm")],
                   [("x", ["N", 4, 4])], [("y", ["N", 4, 4])], [("w", np.ones((4, 4)))])
    assert _e407(model) == ("error[E407]: m.onnx: node `mm` (MatMul): a constant left operand: "
                            "dense is x @ W, a weight on the right")


def _gelu_nodes(form):
    """GELU's erf form as torch's legacy exporter (`torch`) or netdsl's lowering writes it."""
    c = helper.make_node
    nodes = [c("Constant", [], ["r2"], value_float=2 ** 0.5),
             c("Constant", [], ["one"], value_float=1.0),
             c("Constant", [], ["half"], value_float=0.5),
             c("Div", ["x", "r2"], ["d"], name="/act/Div"), c("Erf", ["d"], ["e"]),
             c("Add", ["e", "one"], ["a"])]
    if form == "torch":
        return nodes + [c("Mul", ["x", "a"], ["m"]), c("Mul", ["m", "half"], ["y"])]
    if form == "dynamo":
        return nodes + [c("Mul", ["half", "a"], ["m"]), c("Mul", ["x", "m"], ["y"])]
    return nodes + [c("Mul", ["x", "half"], ["h"]), c("Mul", ["h", "a"], ["y"])]


@pytest.mark.parametrize("form", ["torch", "dynamo", "netdsl"])
def test_gelu_of_the_erf_form_is_gelu(form):
    model = _graph(_gelu_nodes(form), [("x", ["N", 3])], [("y", ["N", 3])])
    assert '"act": gelu\n' in importer.import_model(model, "t").text
    _same_outputs(model, (2, 3))


def test_gelu_op_round_trips_and_netdsls_own_gelu_comes_back():
    model = _graph([helper.make_node("Gelu", ["x"], ["y"], name="/act/Gelu")],
                   [("x", ["N", 3])], [("y", ["N", 3])], opset=20)
    assert '"act": gelu\n' in importer.import_model(model, "t").text
    _same_outputs(model, (2, 3))
    _round_trip(netdsl.loads("network t {\n  input x: [N, 3]\n  x -> a: gelu -> output y\n}"))


def test_an_erf_form_whose_inner_value_is_read_elsewhere_is_not_gelu():
    nodes = _gelu_nodes("torch")
    nodes[-1].output[0] = "y0"
    nodes.append(helper.make_node("Add", ["y0", "e"], ["y"]))
    model = _graph(nodes, [("x", ["N", 3])], [("y", ["N", 3])])
    assert _e407(model).startswith("error[E407]: m.onnx: 2 nodes use operators that netdsl "
                                   "import does not read: Div x1 (/act/Div); Erf x1 (e)\n")


@pytest.mark.parametrize("first", [True, False])
def test_mul_and_add_of_a_weight_are_a_param(first):
    """ConvNeXt's `layer_scale * x` (a [C, 1, 1] weight) and ViT's `x + pos_embedding`."""
    rng = np.random.default_rng(3)
    scale, bias = rng.standard_normal((2, 1, 1)), rng.standard_normal((1, 2, 3, 3))
    model = _graph([helper.make_node("Mul", ["b.ls", "x"] if first else ["x", "b.ls"], ["m"],
                                     name="/b/Mul"),
                    helper.make_node("Add", ["m", "pos"], ["y"], name="/Add")],
                   [("x", ["N", 2, 3, 3])], [("y", ["N", 2, 3, 3])],
                   [("b.ls", scale), ("pos", bias)])
    imported = importer.import_model(model, "t")
    assert "  param b_ls: [2, 1, 1]\n" in imported.text
    assert sorted(imported.weights) == ["b_ls", "pos"]
    _same_outputs(model, (2, 2, 3, 3))


def test_mul_by_a_constant_number_names_the_node():
    model = _graph([helper.make_node("Constant", [], ["c"], value_float=2.0),
                    helper.make_node("Mul", ["x", "c"], ["y"], name="m")],
                   [("x", ["N", 2])], [("y", ["N", 2])])
    assert _e407(model) == ("error[E407]: m.onnx: node `m` (Mul): the constant operand c of "
                            "shape []: netdsl adds and multiplies tensors, and learned ones of "
                            "one axis or more")


def _legacy_export(torch, module, shape, path):
    """`module` by torch's legacy exporter with a dynamic batch, and the import of it."""
    torch.manual_seed(0)
    torch.onnx.export(module.eval(), (torch.randn(*shape),), str(path), dynamo=False,
                      opset_version=17, input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {0: "N"}, "y": {0: "N"}})
    model = export.load(path)
    x = np.random.default_rng(0).standard_normal((2, *shape[1:])).astype(np.float32)
    imported = importer.import_model(model, "t")
    want = ort.InferenceSession(str(path)).run(None, {"x": x})[0]
    got = netdsl.run(netdsl.compile(netdsl.loads(imported.text), weights=imported.weights),
                     {"x": x})["y"]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    return imported.text


@pytest.mark.slow
def test_sizes_computed_from_the_input_shape_are_read(torch, tmp_path):
    """With a dynamic batch the legacy exporter computes `x.view(x.size(0), -1)`'s shape and
    `F.interpolate(size=...)`'s sizes from the input's (Shape, Gather, Slice, Concat): E407."""
    F = torch.nn.functional

    class M(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(2, 3, 3)

        def forward(self, x):
            up = F.interpolate(self.conv(x), size=(7, 9), mode="bilinear", align_corners=False)
            return up.view(up.size(0), -1)

    text = _legacy_export(torch, M(), (1, 2, 5, 5), tmp_path / "m.onnx")
    assert 'upsample(size: [7, 9], mode: "bilinear")' in text and ": flatten" in text


def test_sizes_computed_from_a_size_that_varies_name_the_node():
    model = _graph([helper.make_node("Shape", ["x"], ["s"], name="shape"),
                    helper.make_node("Reshape", ["x", "s"], ["y"], name="view")],
                   [("x", ["N", 3, "h"])], [("y", ["N", 3, "h"])])
    assert _e407(model) == ("error[E407]: m.onnx: node `view` (Reshape): sizes [N, 3, h] "
                            "computed from sizes that vary with the input: netdsl's layers are "
                            "sized at one input size, the batch's aside")


@pytest.mark.parametrize(("starts", "ends", "axes", "steps", "calls"), [
    ([1], [3], [1], [1], ["slice(1, 1, 3)"]),
    ([0, -2], [2**63 - 1, 2**63 - 1], [2, 3], [2, 1], ["slice(2, 0, step: 2)", "slice(3, -2)"])])
def test_slice_round_trips(starts, ends, axes, steps, calls):
    ints = [("s", starts), ("e", ends), ("a", axes), ("t", steps)]
    g = helper.make_graph([helper.make_node("Slice", ["x", "s", "e", "a", "t"], ["y"],
                                            name="/sl/Slice")], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4, 5, 5])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None] * 4)],
                          initializer=[onnx.numpy_helper.from_array(np.array(v, np.int64), k)
                                       for k, v in ints])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    text = importer.import_model(model, "t").text
    assert all(c in text for c in calls), text
    _same_outputs(model, (2, 4, 5, 5))


@pytest.mark.parametrize("split", [[1, 3], None])
def test_split_round_trips(split):
    inits = [onnx.numpy_helper.from_array(np.array(split, np.int64), "sp")] if split else []
    node = helper.make_node("Split", ["x", "sp"] if split else ["x"], ["a", "b"], name="/p/Split",
                            axis=1)
    g = helper.make_graph([node, helper.make_node("Concat", ["b", "a"], ["y"], axis=1)], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4, 3])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4, 3])],
                          initializer=inits)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    _same_outputs(model, (2, 4, 3))


def test_slice_of_the_batch_names_the_node():
    g = helper.make_graph([helper.make_node("Slice", ["x", "s", "e"], ["y"], name="sl")], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None] * 2)],
                          initializer=[onnx.numpy_helper.from_array(np.array([0], np.int64), k)
                                       for k in "se"])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    assert _e407(model) == ("error[E407]: m.onnx: node `sl` (Slice): axes [0] with steps [1]: "
                            "netdsl's slice keeps the batch axis and steps forward")


def _called(node, scopes, fx, module):
    """A node of torch's default exporter with its fx node and module class (class_hierarchy)."""
    node = _scoped(node, scopes)
    node.metadata_props.add(key="pkg.torch.onnx.fx_node", value=f"%{fx} : [num_users=1] = "
                            f"call_function[target=torch.ops.aten.sigmoid.default](args = ())")
    node.metadata_props.add(key="pkg.torch.onnx.class_hierarchy",
                            value=repr(["__main__.M", module, "aten.sigmoid.default"]))
    return node


@pytest.mark.parametrize(("module", "labels"), [
    ("torch.nn.modules.activation.Sigmoid", ["act", "act_1"]),
    ("__main__.B", ["act.sigmoid", "act.sigmoid_1"])])
def test_a_module_called_twice_in_a_row_is_two_calls(module, labels):
    """`self.act(self.act(x))` by the default exporter: one call (`act.sigmoid`,
    `act.sigmoid_1`), where the legacy names are act, act_1; a module of one's own whose
    forward is `x.sigmoid().sigmoid()` stays one call, as the legacy names have it."""
    g = helper.make_graph([
        _called(helper.make_node("Sigmoid", ["x"], ["a"], name="node_sigmoid"),
                ["act", "sigmoid"], "sigmoid", module),
        _called(helper.make_node("Sigmoid", ["a"], ["y"], name="node_sigmoid_1"),
                ["act", "sigmoid_1"], "sigmoid_1", module)],
        "main_graph", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])])
    text = importer.import_model(helper.make_model(g), "t").text
    assert re.findall(r'"([^"]+)":', text) == labels


def test_a_transposed_weight_is_read_as_that_weight():
    """netdsl's dense on [N, L, C] lowers to MatMul(x, Transpose(W)): the Transpose of the
    weight was E407 ("perm [1, 0] moves the batch axis")."""
    net = netdsl.loads("network t {\n  input x: [N, 3, 4]\n  x -> fc: dense(5) -> output y\n}")
    _round_trip(net)


def test_a_slice_at_offsets_computed_from_sizes_that_vary_names_them():
    """netdsl's crop of a model for every input size (zoo unet.net): the offsets are
    (x.shape - like.shape) / 2 at run time; it said "`up4.crop/Div_3` is computed, not a
    stored weight"."""
    net = netdsl.loads("""network t {
  input x: [N, 3, h, h]
  a = x -> c: conv(3, 3)
  x -> k: crop(like: a) -> output y
  expect y: [N, 3, 6, 6] at h = 8
}""")
    assert _e407(netdsl.compile(net)) == (
        "error[E407]: m.onnx: node `k/5` (Slice): sizes [?, ?] computed from sizes that vary "
        "with the input: netdsl's layers are sized at one input size, the batch's aside")


def test_sizes_computed_element_by_element_where_the_batch_varies():
    """(Shape(x) - Shape(a)) / 2 with a batch that varies: the spatial offsets are known (the
    whole difference was unknown: E407 on Sub and Div)."""
    c = helper.make_node
    model = _graph([c("Conv", ["x", "w"], ["a"], name="conv"), c("Shape", ["x"], ["sx"]),
                    c("Shape", ["a"], ["sa"]), c("Sub", ["sx", "sa"], ["d"]),
                    c("Div", ["d", "two"], ["o"]), c("Slice", ["o", "i2", "i4"], ["off"]),
                    c("Add", ["off", "six"], ["end"]),
                    c("Slice", ["x", "off", "end", "axes"], ["y"], name="crop")],
                   [("x", ["N", 3, 8, 8])], [("y", ["N", 3, 6, 6])], [("w", np.ones((3, 3, 3, 3)))])
    ints = [("two", 2), ("i2", [2]), ("i4", [4]), ("six", [6, 6]), ("axes", [2, 3])]
    model.graph.initializer.extend(onnx.numpy_helper.from_array(np.array(v, np.int64), k)
                                   for k, v in ints)
    text = importer.import_model(model, "t").text
    assert "slice(2, 1, 7)" in text and "slice(3, 1, 7)" in text
    _same_outputs(model, (2, 3, 8, 8))


def _gather_model(axis, index):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 5, 6])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    g = helper.make_graph([helper.make_node("Gather", ["x", "i"], ["y"], name="/Gather",
                                            axis=axis)], "g", [x], [y], initializer=[
        onnx.numpy_helper.from_array(np.array(index, np.int64), "i")])
    return helper.make_model_gen_version(g, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize(("axis", "index", "call"), [(1, 0, "slice(1, 0, 1)"),
                                                     (-1, -1, "slice(2, 5, 6)")])
def test_gather_of_one_index_is_a_slice_then_flatten(axis, index, call):
    """ViT's `x[:, 0]` (the class token's output), as torch's legacy exporter writes it."""
    text = _same_outputs(_gather_model(axis, index), (2, 5, 6), exact=True, seed=1)
    assert f'"slice": {call}\n      -> "flatten": flatten' in text


@pytest.mark.parametrize(("axis", "index"), [(0, 0), (1, [0, 1])])
def test_gather_of_another_form_names_the_node(axis, index):
    with pytest.raises(NetdslError) as e:
        importer.import_model(_gather_model(axis, index), "t", "m.onnx")
    assert render_all(e.value.diagnostics) == (
        "error[E407]: m.onnx: node `/Gather` (Gather): only one constant index of an axis but "
        "the batch, of a tensor of rank 3, is read (a slice, then flatten)")


def _unpool_model(*shape_input):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2, 4, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2, 4, 4])
    g = helper.make_graph([
        helper.make_node("MaxPool", ["x"], ["p", "i"], name="/pool", kernel_shape=[2, 2],
                         strides=[2, 2]),
        helper.make_node("MaxUnpool", ["p", "i", *shape_input], ["y"], name="/unpool",
                         kernel_shape=[2, 2], strides=[2, 2])], "g", [x], [y], initializer=[
        onnx.numpy_helper.from_array(np.array([1, 2, 4, 4], np.int64), "s")])
    return helper.make_model_gen_version(g, opset_imports=[helper.make_opsetid("", 17)])


def test_max_pool_with_both_outputs_read_then_unpooled_round_trips():
    model = _unpool_model()
    assert ('  v_maxpool, v_maxpool_indices = x -> "maxpool": maxpool(2, stride: 2, indices: '
            'true)\n  v_maxunpool = v_maxpool -> "maxunpool": maxunpool(2, stride: 2, indices: '
            'v_maxpool_indices)\n') in _same_outputs(model, (2, 2, 4, 4), exact=True, seed=1)


def test_max_unpool_to_a_given_shape_names_the_node():
    with pytest.raises(NetdslError) as e:
        importer.import_model(_unpool_model("s"), "t", "m.onnx")
    assert render_all(e.value.diagnostics) == (
        "error[E407]: m.onnx: node `/unpool` (MaxUnpool): an output_shape input: netdsl's "
        "maxunpool is sized by its kernel, stride and pad (or `like:` a tensor)")


def test_max_pool_indices_as_an_output_round_trip():
    """They were E407 ("a netdsl layer has one output"): `p, idx = x -> maxpool(...)`."""
    g = helper.make_graph([helper.make_node("MaxPool", ["x"], ["y", "idx"], name="p",
                                            kernel_shape=[2, 2], strides=[2, 2])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 4, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3, 2, 2]),
                           helper.make_tensor_value_info("idx", TensorProto.INT64,
                                                         ["N", 3, 2, 2])])
    model = helper.make_model_gen_version(g, opset_imports=[helper.make_opsetid("", 17)])
    back = netdsl.compile(netdsl.loads(importer.import_model(model, "t").text))
    x = np.random.default_rng(1).standard_normal((2, 3, 4, 4)).astype(np.float32)
    want = ort.InferenceSession(model.SerializeToString()).run(None, {"x": x})
    got = netdsl.run(back, {"x": x})
    np.testing.assert_array_equal(got["y"], want[0])
    np.testing.assert_array_equal(got["idx"], want[1])


def test_max_unpool_like_a_tensor_of_sizes_that_vary_round_trips():
    """netdsl's lowering of `like:` where sizes vary: MaxUnpool's output_shape is Shape(x)."""
    net = netdsl.loads("network t {\n  option floor: true\n  input x: [N, 2, h, w]\n"
                       "  p, i = x -> maxpool(2, indices: true)\n"
                       "  p -> maxunpool(2, indices: i, like: x) -> output y\n"
                       "  expect y: [N, 2, 5, 7] at h = 5, w = 7\n}\n")
    model = netdsl.compile(net)
    imported = importer.import_model(model, "t")
    assert "maxunpool(2, stride: 2, indices: v_maxpool_indices, like: x)" in imported.text
    back = netdsl.compile(netdsl.loads(importer.with_example(
        imported, {"y": "[N, 2, 5, 7]"}, {"h": 5, "w": 7}).text))
    x = np.random.default_rng(1).standard_normal((2, 2, 5, 7)).astype(np.float32)
    want = ort.InferenceSession(model.SerializeToString()).run(None, {"x": x})[0]
    np.testing.assert_array_equal(netdsl.run(back, {"x": x})["y"], want)


def _class_token_model(size):
    """torch's legacy export of `torch.cat([token.expand(x.shape[0], size, -1), x], 1)`."""
    mk, i64 = helper.make_node, (lambda v, n: onnx.numpy_helper.from_array(
        np.array(v, np.int64), n))
    nodes = [mk("Shape", ["x"], ["s0"]), mk("Gather", ["s0", "zero"], ["n"], axis=0),
             mk("Unsqueeze", ["n", "axes"], ["n1"]),
             mk("Concat", ["n1", "size", "minus"], ["cat"], axis=0),
             mk("Reshape", ["cat", "flat"], ["s"]), mk("Shape", ["s"], ["ss"]),
             mk("ConstantOfShape", ["ss"], ["ones"], value=helper.make_tensor(
                 "v", TensorProto.INT64, [1], [1])),
             mk("Mul", ["ones", "minus"], ["m"]), mk("Equal", ["s", "m"], ["eq"]),
             mk("Where", ["eq", "ones", "s"], ["w"]), mk("Expand", ["token", "w"], ["e"]),
             mk("Concat", ["e", "x"], ["y"], axis=1)]
    token = np.arange(4, dtype=np.float32).reshape(1, 1, 4)
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, ["N", 3, 4])], [helper.make_tensor_value_info(
            "y", TensorProto.FLOAT, None)], initializer=[
        onnx.numpy_helper.from_array(token, "token"), i64(0, "zero"), i64([0], "axes"),
        i64([size], "size"), i64([-1], "minus"), i64([-1], "flat")])
    return helper.make_model_gen_version(g, opset_imports=[helper.make_opsetid("", 17)])


def test_class_token_expanded_to_the_batch_is_expand():
    text = _same_outputs(_class_token_model(-1), (2, 3, 4), exact=True, seed=1)
    assert 'token -> "expand": expand(like: x)' in text


def test_a_token_expanded_along_another_axis_is_e407():
    with pytest.raises(NetdslError) as e:
        importer.import_model(_class_token_model(3), "t", "m.onnx")
    assert render_all(e.value.diagnostics).startswith(
        "error[E407]: m.onnx: 4 nodes use operators that netdsl import does not read: "
        "ConstantOfShape x1 (ones); Equal x1 (eq); Expand x1 (e); Where x1 (w)\n")


@pytest.mark.parametrize("call", ["attention(2)", "attention(2, bias: false)"])
def test_attention_as_netdsl_lowers_it_round_trips(call):
    net = netdsl.loads(f"network t {{\n  input x: [N, 5, 8]\n  x -> {call} -> output y\n}}\n")
    text = _same_outputs(netdsl.compile(net), (2, 5, 8), exact=True, seed=1)
    assert f'"attention": {call}' in text
