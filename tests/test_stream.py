"""The streamed writer (export.write, `netdsl compile`, netdsl.compile_to) against the in-memory
path (export.to_onnx + save): the same bytes, for zoo networks, every operator case and the
external-data layout; and the block-wise draw of draw.py (deterministic whatever the schedule,
`init: zeros`)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

import netdsl
from conftest import ZOO, cli
from netdsl import draw, export
from netdsl.options import CompileOptions
from netdsl.pipeline import check_source, read_source
from netdsl.source import Source
from onnx_ref import assert_ort_agrees
from op_cases import CASES, body

# small networks, one case per operator (its first), and a dense layer of several draw blocks
ZOO_CASES = [("lenet.net", None), ("mobilenet_v2.net", None), ("resnet.net", "resnet18")]
OP_BODIES = [body(rows[0]) for rows in CASES.values()]
WIDE = "input x: [N, 3000]\nfc = dense(x, 1000)\noutput y = fc\n"  # 12 blocks of draw.BLOCK


def _graph(text: str):
    return check_source(Source("case.net", f"network t {{\n{text}\n}}\n")).graph


def _both(graph, tmp_path, external_bytes=None, **options):
    opts = CompileOptions(**options)
    export.save(export.to_onnx(graph, opts), tmp_path / "memory.onnx", external_bytes)
    export.write(graph, tmp_path / "stream.onnx", opts, external_bytes)
    return tmp_path / "memory.onnx", tmp_path / "stream.onnx"


@pytest.mark.slow
@pytest.mark.parametrize("file,network", ZOO_CASES)
def test_streamed_zoo_networks_are_the_in_memory_bytes(file, network, tmp_path):
    memory, stream = _both(check_source(read_source(ZOO / file), network).graph, tmp_path)
    assert stream.read_bytes() == memory.read_bytes()
    onnx.checker.check_model(str(stream), full_check=True)


def test_streamed_operator_cases_are_the_in_memory_bytes(tmp_path):
    for text in [*OP_BODIES, WIDE]:
        memory, stream = _both(_graph(text), tmp_path, batch=2)
        assert stream.read_bytes() == memory.read_bytes(), text


def test_a_streamed_model_is_valid_and_runs(tmp_path):
    _, stream = _both(_graph(WIDE), tmp_path)
    onnx.checker.check_model(str(stream), full_check=True)
    assert_ort_agrees(onnx.load(str(stream)))


def test_external_data_is_streamed_the_same_way(tmp_path):
    """The external-data layout (protobuf's 2 GB limit), tried with a lowered threshold: model
    and `.data` file the same bytes as save()'s, loadable with their weights."""
    graph = check_source(read_source(ZOO / "lenet.net")).graph
    (tmp_path / "m").mkdir()
    (tmp_path / "s").mkdir()
    opts = CompileOptions()
    export.save(export.to_onnx(graph, opts), tmp_path / "m" / "x.onnx", external_bytes=1000)
    export.write(graph, tmp_path / "s" / "x.onnx", opts, external_bytes=1000)
    for name in ("x.onnx", "x.onnx.data"):
        assert (tmp_path / "s" / name).read_bytes() == (tmp_path / "m" / name).read_bytes()
    onnx.checker.check_model(str(tmp_path / "s" / "x.onnx"), full_check=True)
    bare = onnx.load(str(tmp_path / "s" / "x.onnx"), load_external_data=False)
    assert any(t.data_location == onnx.TensorProto.EXTERNAL for t in bare.graph.initializer)
    loaded = onnx.load(str(tmp_path / "s" / "x.onnx"))
    assert_ort_agrees(loaded)
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == ["x.onnx", "x.onnx.data"]


def test_the_draw_does_not_depend_on_the_blocks_order():
    """Block i of a tensor has its own generator: drawn backwards, one at a time, the values
    are those to_onnx drew on all cores."""
    w = draw.Draw("fc.weight", (1000, 3000), "he_in", seed=7)
    backwards = {i: w.block(i) for i in reversed(range(w.blocks))}
    serial = np.concatenate([backwards[i] for i in range(w.blocks)]).reshape(w.shape)
    model = export.to_onnx(_graph(WIDE), CompileOptions(seed=7))
    drawn = onnx.numpy_helper.to_array(model.graph.initializer[0])
    assert w.blocks == 12 and np.array_equal(drawn, serial)
    bound = (6 / 3000) ** 0.5  # torch.nn.init.kaiming_uniform_: U(-b, b), b = sqrt(6 / fan_in)
    assert -bound <= serial.min() < -0.99 * bound and 0.99 * bound < serial.max() < bound
    assert abs(float(serial.std()) - (2 / 3000) ** 0.5) < 1e-4  # He's variance, 2 / fan_in


def test_init_zeros_zeroes_every_random_weight():
    model = netdsl.compile(ZOO / "resnet.net", "resnet18", init="zeros")
    arrays = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
    assert not arrays["conv1.weight"].any() and not arrays["fc.weight"].any()
    assert (arrays["bn1.weight"] == 1).all() and (arrays["bn1.running_var"] == 1).all()


def test_compile_to_writes_compiles_bytes(tmp_path):
    net = netdsl.compile_to(tmp_path / "a.onnx", ZOO / "lenet.net", seed=3)
    export.save(netdsl.compile(ZOO / "lenet.net", seed=3), tmp_path / "b.onnx")
    assert net.name == "lenet5"
    assert (tmp_path / "a.onnx").read_bytes() == (tmp_path / "b.onnx").read_bytes()


def test_cli_compile_streams_with_init_zeros(tmp_path):
    out = tmp_path / "z.onnx"
    code, stdout, _ = cli("compile", str(ZOO / "lenet.net"), "-o", str(out), "--init", "zeros")
    assert code == 0 and "lenet5" in stdout
    export.save(netdsl.compile(ZOO / "lenet.net", init="zeros"), tmp_path / "m.onnx")
    assert out.read_bytes() == (tmp_path / "m.onnx").read_bytes()
