"""Lowering to ONNX: the validity contract over every operator in REGISTRY (onnx's checker, onnx's
strict shape inference and onnxruntime all agree with our shapes), at opset 17 (the default) and
the newest onnx knows; naming, value_info, metadata, doc strings, batch, opset choice."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import onnx
import pytest

import netdsl
from conftest import ROOT, ZOO, cli
from netdsl.ops import REGISTRY
from netdsl.options import DEFAULT_OPSET, CompileOptions
from netdsl.pipeline import compile_source
from netdsl.source import Source
from onnx_ref import assert_valid, declared_shapes

X4 = "input x: [N, 3, 8, 8]\n"
X9 = "input x: [N, 3, 9, 9]\n"
X4B = "input x: [N, 3, 8, 8]\ninput b: [N, 3, 8, 8]\n"

# op -> cases; each case is a network body using the op once (or twice, with its variants).
OP_CASES: dict[str, list[str]] = {
    "conv": [X4 + "x -> conv(4, 3, pad: 1) -> output y",
             X4 + "x -> conv(6, [3, 2], stride: 2, pad: same, dilation: [1, 2], groups: 3,"
                  " bias: false) -> output y",
             "input x: [N, 2, 9]\nx -> conv(4, 3, stride: 2) -> output y",
             X4 + "x -> conv(1, 3, weights: [[0, -1, 0], [-1, 5, -1], [0, -1, 0]]) -> output y"],
    "depthwise": [X9 + "x -> depthwise(3, stride: 2, pad: 1, multiplier: 2) -> output y"],
    "conv_transpose": [X4 + "x -> conv_transpose(4, 3, stride: 2, pad: 1, output_pad: 1)"
                            " -> output y",
                       X4 + "x -> conv_transpose(6, 2, stride: 2, groups: 3, bias: false)"
                            " -> output y"],
    "maxpool": [X9 + "x -> maxpool(3, stride: 2, pad: 1) -> output y",
                "input x: [N, 3, 9, 9]\nx -> maxpool(2, ceil: true) -> output y",
                X4 + "x -> maxpool(2, stride: 1, dilation: 2) -> output y"],
    "avgpool": [X9 + "x -> avgpool(3, stride: 2, pad: 1, count_include_pad: false) -> output y",
                X9 + "x -> avgpool(3, stride: 2, pad: 1) -> output y",
                "input x: [N, 3, 9, 9]\nx -> avgpool(2, ceil: true) -> output y"],
    "adaptive_avgpool": [X4 + "x -> adaptive_avgpool(4) -> output y",
                         X4 + "x -> adaptive_avgpool([3, 5]) -> output y",
                         X4 + "x -> adaptive_avgpool(8) -> output y"],
    "globalavgpool": [X4 + "x -> globalavgpool -> output y"],
    "globalmaxpool": [X4 + "x -> globalmaxpool -> output y"],
    "dense": ["input x: [N, 16]\nx -> dense(5) -> output y",
              "input x: [N, 16]\nx -> dense(5, bias: false) -> output y"],
    "flatten": [X4 + "x -> flatten -> output y"],
    "reshape": [X4 + "x -> reshape([3, -1]) -> output y"],
    "relu": [X4 + "x -> relu -> output y"],
    "relu6": [X4 + "x -> relu6 -> output y"],
    "leaky_relu": [X4 + "x -> leaky_relu(0.2) -> output y"],
    "elu": [X4 + "x -> elu(0.5) -> output y"],
    "tanh": [X4 + "x -> tanh -> output y"],
    "sigmoid": [X4 + "x -> sigmoid -> output y"],
    "softmax": ["input x: [N, 10]\nx -> softmax -> output y", X4 + "x -> softmax -> output y"],
    "gelu": [X4 + "x -> gelu -> output y"],
    "silu": [X4 + "x -> silu -> output y"],
    "swish": [X4 + "x -> swish -> output y"],
    "hardswish": [X4 + "x -> hardswish -> output y"],
    "hardsigmoid": [X4 + "x -> hardsigmoid -> output y"],
    "dropout": [X4 + "x -> conv(3, 1) -> dropout(0.3) -> output y"],
    "identity": [X4 + "x -> conv(3, 1) -> identity -> output y"],
    "bn": [X4 + "x -> bn -> output y", "input x: [N, 16]\nx -> bn(eps: 0.001) -> output y"],
    "lrn": [X4 + "x -> lrn(size: 3) -> output y"],
    "add": [X4B + "output y = x + b", X4B + "output y = x + b + x"],
    "mul": [X4 + "input g: [N, 3, 1, 1]\noutput y = x * g", X4B + "output y = x * b"],
    "concat": [X4B + "output y = concat(x, b)", X4B + "output y = concat(x, b, x, axis: 3)"],
    "crop": [X4 + "x -> crop(size: [5, 4]) -> output y",
             X4 + "input b: [N, 3, 5, 5]\noutput y = crop(x, like: b)"],
    "pad": [X4 + "x -> pad(1) -> output y",
            X4 + 'x -> pad([1, 2, 0, 3], mode: "reflect") -> output y',
            X4 + 'x -> pad(2, mode: "edge") -> output y',
            X4 + "x -> pad(channels: 5) -> output y"],
    "upsample": [X4 + "x -> upsample(scale: 2) -> output y",
                 X4 + 'x -> upsample(size: [5, 12], mode: "bilinear") -> output y',
                 X4 + 'x -> upsample(scale: 1.5, mode: "bicubic") -> output y',
                 X4 + 'x -> upsample(scale: 2, mode: "bilinear", align_corners: true)'
                      ' -> output y',
                 X4 + "input b: [N, 3, 16, 16]\noutput y = upsample(x, like: b)"],
}
CASES = [(op, i, body) for op, bodies in OP_CASES.items() for i, body in enumerate(bodies)]
OPSETS = [DEFAULT_OPSET, onnx.defs.onnx_opset_version()]  # 17 and the newest onnx knows


def compiled(body: str, **options):
    checked, model = compile_source(Source("case.net", f"network t {{\n{body}\n}}\n"),
                                    options=CompileOptions(**options))
    return checked.graph, model


def test_every_operator_has_a_contract_case():
    assert set(OP_CASES) == set(REGISTRY)


@pytest.mark.parametrize("opset", OPSETS, ids=["opset17", "newest"])
@pytest.mark.parametrize("op,i,body", CASES, ids=[f"{op}-{i}" for op, i, _ in CASES])
def test_operator_lowering_is_valid_and_shapes_agree(op, i, body, opset):
    graph, model = compiled(body, opset=opset)
    assert model.opset_import[0].version == opset
    assert_valid(graph, model)


@pytest.mark.parametrize("batch", [1, 3])
def test_fixed_batch_is_in_every_shape(batch):
    graph, model = compiled(OP_CASES["upsample"][4], batch=batch)
    shapes = declared_shapes(model)
    assert shapes and all(dims[0] == batch for dims in shapes.values())
    assert_valid(graph, model, fixed_batch=batch)


# ------------------------------------------------------------------- opset, names, metadata

def test_default_opset_is_17():
    assert DEFAULT_OPSET == 17  # README and `netdsl compile --help` say why
    assert compiled(OP_CASES["conv"][0])[1].opset_import[0].version == 17


def test_same_bytes_without_onnxruntime(tmp_path):
    """Lowering never asks onnxruntime anything: a process where it cannot be imported writes
    the same bytes as this one."""
    ours = tmp_path / "ours.onnx"
    assert cli("compile", str(ZOO / "lenet.net"), "-o", str(ours))[0] == 0
    blocked = tmp_path / "blocked.onnx"
    probe = ("import sys\nsys.modules['onnxruntime'] = None  # import onnxruntime fails\n"
             "from netdsl.cli import main\n"
             f"sys.exit(main(['compile', {str(ZOO / 'lenet.net')!r}, '-o', {str(blocked)!r}]))\n")
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert r.returncode == 0, r.stderr
    assert blocked.read_bytes() == ours.read_bytes()
    assert onnx.load(str(ours)).opset_import[0].version == 17


LENET_TEXT = (ZOO / "lenet.net").read_text()


def test_names_are_layer_and_parameter_names():
    checked, model = compile_source(Source(str(ZOO / "lenet.net"), LENET_TEXT))
    assert [t.name for t in model.graph.initializer] == list(checked.stats.tensors())
    layer_names = {n.name for n in checked.graph.nodes() if n.op.name != "input"}
    onnx_names = {n.name.split("/")[0] for n in model.graph.node}
    assert layer_names == onnx_names
    assert {"c1", "s2", "c3", "f6", "f7"} <= onnx_names
    conv = next(n for n in model.graph.node if n.name == "c1")
    assert conv.op_type == "Conv" and list(conv.input[1:]) == ["c1.weight", "c1.bias"]
    assert [o.name for o in model.graph.output] == ["probs"]


def test_every_layer_has_value_info_and_onnx_agrees_on_a_whole_network():
    checked, model = compile_source(Source(str(ZOO / "lenet.net"), LENET_TEXT))
    inner = [n for n in checked.graph.nodes() if n.op.name != "input"
             and n.name not in checked.graph.outputs.values()]
    assert {vi.name for vi in model.graph.value_info} == {n.name for n in inner}
    assert_valid(checked.graph, model)


def test_metadata_records_version_and_source_hash():
    import hashlib
    from importlib import metadata

    import netdsl
    _, model = compile_source(Source(str(ZOO / "lenet.net"), LENET_TEXT))
    props = {p.key: p.value for p in model.metadata_props}
    assert props["netdsl_version"] == netdsl.__version__ == metadata.version("netdsl")
    assert model.producer_version == netdsl.__version__
    assert props["source_sha256"] == hashlib.sha256(LENET_TEXT.encode()).hexdigest()
    assert props["network"] == "lenet5"
    assert model.producer_name == "netdsl"


def test_doc_strings_point_at_source_lines():
    _, model = compile_source(Source(str(ZOO / "lenet.net"), LENET_TEXT))
    lines = LENET_TEXT.splitlines()
    for node in model.graph.node:
        if node.name.endswith("/output"):
            continue
        path, line, col, text = node.doc_string.split(":", 3)
        assert path == str(ZOO / "lenet.net")
        assert text.strip() == lines[int(line) - 1].strip(), node.name
    c3 = next(n for n in model.graph.node if n.name == "c3")
    line, col = map(int, c3.doc_string.split(":")[1:3])
    assert lines[line - 1][col - 1:].startswith("c3: conv(16, 5)")


@pytest.mark.parametrize("body", [
    "input x: [N, 4]\noutput a = x\noutput b = x", "input x: [N, 4]\ny = x -> relu\n"
    "output a = y\noutput b = y\noutput c = x"], ids=["input-twice", "layer-twice"])
def test_one_tensor_under_several_output_names(body):
    graph, model = compiled(body)
    assert_valid(graph, model)
    x = np.random.default_rng(0).standard_normal((2, 4)).astype(np.float32)
    out = netdsl.run(model, {"x": x})
    assert sorted(out) == sorted(graph.outputs)
    for name, node in graph.outputs.items():
        np.testing.assert_array_equal(out[name], x if node == "x" else np.maximum(x, 0))
