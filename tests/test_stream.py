"""The streamed writer (stream.write, `netdsl compile`, netdsl.compile_to) against the in-memory
path (export.to_onnx + save): the same bytes, for zoo networks, every operator case and the
external-data layout; protowire.py's hand encoding against onnx's own serialisation of what
onnx.helper builds, for every zoo network and every operator case row; and the block-wise draw
of draw.py (deterministic whatever the schedule, `init: zeros`)."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import onnx
import pytest

import netdsl
from conftest import ROOT, ZOO, cli
from netdsl import NetdslError, draw, export, protowire, stream
from netdsl.elaborator import load_module
from netdsl.options import CompileOptions
from netdsl.pipeline import any_size, check_source, read_source
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
    stream.write(graph, tmp_path / "stream.onnx", opts, external_bytes)
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
    stream.write(graph, tmp_path / "s" / "x.onnx", opts, external_bytes=1000)
    for name in ("x.onnx", "x.onnx.data"):
        assert (tmp_path / "s" / name).read_bytes() == (tmp_path / "m" / name).read_bytes()
    onnx.checker.check_model(str(tmp_path / "s" / "x.onnx"), full_check=True)
    bare = onnx.load(str(tmp_path / "s" / "x.onnx"), load_external_data=False)
    assert any(t.data_location == onnx.TensorProto.EXTERNAL for t in bare.graph.initializer)
    loaded = onnx.load(str(tmp_path / "s" / "x.onnx"))
    assert_ort_agrees(loaded)
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == ["x.onnx", "x.onnx.data"]


def _hand_encoded_is_onnxs(graph, options, dims=None, valid=None):
    """protowire's bytes of the model without initializers, and of each initializer's header
    (with its data for an op's constant), are onnx's of the same (to_onnx's helper-built model;
    numpy_helper.from_array)."""
    model, inits = export.lowered(graph, options, dims, valid)
    ours = io.BytesIO()
    stream._stream(model, [], ours, None)
    assert ours.getvalue() == export._proto(model).SerializeToString(deterministic=True)
    for i in inits:
        t = stream._Tensor.of(i)
        if isinstance(i.values, export.Const):
            theirs = onnx.numpy_helper.from_array(i.values.array(), i.name)
        else:  # the weights' header (their data is tested by the streamed files above)
            theirs = onnx.TensorProto(name=i.name, data_type=onnx.TensorProto.FLOAT,
                                      dims=t.dims, raw_data=b"")
        data = t.data if isinstance(i.values, export.Const) else b""
        assert (protowire.tensor_header(t.name, t.data_type, t.dims)
                + protowire.blob(protowire.TENSOR_RAW_DATA, data)
                == theirs.SerializeToString(deterministic=True)), i.name


ZOO_NETWORKS = [(path.name, name) for path in sorted(ZOO.glob("*.net"))
                for name in load_module(read_source(path))[1].order]


@pytest.mark.slow
def test_hand_encoded_zoo_networks_are_onnxs_bytes():
    """Every zoo network, as a model for its sizes and, where its inputs name their sizes, for
    every size (dim_params)."""
    assert len(ZOO_NETWORKS) > 20
    for file, name in ZOO_NETWORKS:
        net = check_source(read_source(ZOO / file), name)
        _hand_encoded_is_onnxs(net.graph, CompileOptions())
        try:
            dims, valid = any_size(net, CompileOptions())
        except NetdslError:  # E301: a layer pins the size
            continue
        if dims:
            _hand_encoded_is_onnxs(net.graph, CompileOptions(batch=3), dims, valid)


def test_hand_encoded_operator_cases_are_onnxs_bytes():
    """Every row of every operator, with the batch symbolic and fixed, at opset 17 and the
    newest this onnx knows (its IR version from onnx)."""
    newest = onnx.defs.onnx_opset_version()
    for rows in CASES.values():
        for row in rows:
            graph = _graph(body(row))
            _hand_encoded_is_onnxs(graph, CompileOptions())
            _hand_encoded_is_onnxs(graph, CompileOptions(batch=2, opset=newest,
                                                         source_lines=False))


def test_attributes_of_every_kind_are_onnxs():
    for value in [0, -1, 2**40, True, 1.5, -0.1, 1e-5, "nearest", b"x", [1, -2, 3], (0.5, 2),
                  [1, 2.5], ["a", "b"], [float("inf")]]:
        theirs = onnx.helper.make_attribute("a", value).SerializeToString(deterministic=True)
        assert protowire.attribute("a", value) == theirs, value


def test_constants_pack_as_numpy_does():
    for values, dtype in [(0, "int64"), ([], "int64"), ([[1, 2], [3, 4]], "int64"), (-5, "int64"),
                          ([True, 2], "int64"), ([1.7, -2.2], "int64"), (0.1, "float32"),
                          ([[1, 2.5]], "float32"), (np.int64(3), "int64"), ((1, (2,)), "int64")]:
        try:
            array = np.asarray(values, dtype=dtype)
        except ValueError:  # ragged: numpy's own error, as before
            with pytest.raises(ValueError):
                stream.packed(export.Const(values, dtype))
            continue
        assert stream.packed(export.Const(values, dtype)) == (array.shape, array.tobytes()), values


def test_ir_versions_are_onnxs():
    for opset, ir in export.IR_VERSIONS.items():
        assert ir == max(row[1] for row in onnx.helper.VERSION_TABLE if row[2] == opset), opset


def test_compile_imports_no_onnx_and_zeros_no_numpy(tmp_path):
    """`netdsl compile` encodes the model itself; with `--init zeros` nothing needs numpy."""
    probe = ("import sys; sys.argv = ['netdsl', 'compile', {file!r}, '-o', {out!r}, {extra}]\n"
             "from netdsl.cli import main\ntry: main()\nexcept SystemExit: pass\n"
             "print(sorted(m for m in ('onnx', 'numpy') if m in sys.modules))")
    for extra, expected in [("", "['numpy']"), ("'--init', 'zeros'", "[]")]:
        code = probe.format(file=str(ZOO / "lenet.net"), out=str(tmp_path / "r.onnx"),
                            extra=extra)
        run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             cwd=ROOT, env={"PYTHONPATH": str(ROOT)}, check=True)
        assert run.stdout.splitlines()[-1] == expected, run.stderr


def test_zeros_written_as_holes_are_the_same_bytes(tmp_path):
    """`--init zeros` leaves large all-zero tensors as holes (stream.HOLE_BYTES): the files read
    as save()'s, also where the external data ends in a hole (the last tensor, 12 MB)."""
    graph = _graph("input x: [N, 3000]\nfc = dense(x, 1000, false)\noutput y = fc\n")
    memory, stream_ = _both(graph, tmp_path, init="zeros")
    assert stream_.read_bytes() == memory.read_bytes()
    for external in (True, False):
        (tmp_path / "m").mkdir(exist_ok=True)
        (tmp_path / "s").mkdir(exist_ok=True)
        opts = CompileOptions(init="zeros")
        limit = 1000 if external else None
        export.save(export.to_onnx(graph, opts), tmp_path / "m" / "x.onnx", limit)
        stream.write(graph, tmp_path / "s" / "x.onnx", opts, limit)
        names = ["x.onnx", "x.onnx.data"] if external else ["x.onnx"]
        for name in names:
            assert (tmp_path / "s" / name).read_bytes() == (tmp_path / "m" / name).read_bytes()


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
