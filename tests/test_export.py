"""Lowering to ONNX: the validity contract over every row of tests/op_cases.py, so every operator
in REGISTRY (onnx's checker, onnx's strict shape inference and onnxruntime all agree with our
shapes), at opset 17 (the default) and the newest onnx and onnxruntime know;
naming, value_info, metadata, doc strings, batch, opset choice."""

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
from onnx_ref import (
    assert_valid,
    declared_shapes,
    newest_runnable_opset,
)
from op_cases import CASES, IDS, ROWS, body

LIKE = next(c for c in CASES["upsample"] if "like:" in c.call)  # two inputs, one a size
OPSETS = [DEFAULT_OPSET, newest_runnable_opset()]  # 17 and the newest onnx and onnxruntime know


def compiled(body: str, **options):
    checked, model = compile_source(Source("case.net", f"network t {{\n{body}\n}}\n"),
                                    options=CompileOptions(**options))
    return checked.graph, model


def test_every_operator_has_a_contract_case():
    assert set(CASES) == set(REGISTRY)


@pytest.mark.parametrize("opset", OPSETS, ids=["opset17", "newest"])
@pytest.mark.parametrize("op,i,case", ROWS, ids=IDS)
def test_operator_lowering_is_valid_and_shapes_agree(op, i, case, opset):
    graph, model = compiled(body(case), opset=opset)
    assert model.opset_import[0].version == opset
    assert_valid(graph, model)


@pytest.mark.parametrize("batch", [1, 3])
def test_fixed_batch_is_in_every_shape(batch):
    graph, model = compiled(body(LIKE), batch=batch)
    shapes = declared_shapes(model)
    assert shapes and all(dims[0] == batch for dims in shapes.values())
    assert_valid(graph, model, fixed_batch=batch)


# ------------------------------------------------------------------- opset, names, metadata

def test_default_opset_is_17():
    assert DEFAULT_OPSET == 17  # README and `netdsl compile --help` say why
    assert compiled(body(CASES["conv"][0]))[1].opset_import[0].version == 17


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
    _, model = compile_source(Source(str(ZOO / "lenet.net"), LENET_TEXT, str(ZOO)))
    lines = LENET_TEXT.splitlines()
    for node in model.graph.node:
        if node.name.endswith("/output"):
            continue
        path, line, col, text = node.doc_string.split(":", 3)
        assert path == "lenet.net"  # relative to the root: the same bytes in every checkout
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


def test_maxunpool_to_the_size_of_like_has_a_shape_onnx_infers():
    """onnx's shape inference gives no shape to a MaxUnpool with an output_shape input; as an
    inner layer (whose value_info the check strips) its size must come from the lowering."""
    graph, model = compiled("input x: [N, 2, 9, 11]\n"
                            "p, idx = x -> maxpool(3, 2, floor: true, indices: true)\n"
                            "u = p -> maxunpool(3, 2, indices: idx, like: x)\n"
                            "output y = u -> relu")
    assert_valid(graph, model)


def test_an_input_that_is_an_output_under_its_own_name(tmp_path):
    """`x -> output x` lowered to an Identity from x to x: not SSA, onnx's checker refused the
    file `netdsl compile` wrote (exit 0) and `netdsl run` of it failed."""
    net = netdsl.loads("network t {\n  input x: [N, 3]\n  x -> output x\n}\n")
    netdsl.compile_to(tmp_path / "t.onnx", net)
    onnx.checker.check_model(str(tmp_path / "t.onnx"), full_check=True)
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(netdsl.run(tmp_path / "t.onnx", {"x": x})["x"], x)
