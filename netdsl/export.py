"""Checked graph → onnx.ModelProto. The only module that imports onnx: it implements the Emitter
that each op's to_onnx writes through, initialises weights, and saves models atomically."""

from __future__ import annotations

import functools
import hashlib
import os
import zlib
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from netdsl import files
from netdsl.diagnostics import NetdslError, error
from netdsl.ir import Graph, InputOp, Node
from netdsl.ops.base import Value
from netdsl.options import CompileOptions
from netdsl.version import VERSION

MIN_OPSET = 17  # the oldest opset every op lowers to (options.DEFAULT_OPSET says why 17)
EXTERNAL_DATA_BYTES = 2 * 1024**3  # protobuf's limit: larger weights go to a side file


def _ir_version(opset: int) -> int:
    # IR version that goes with the opset (onnx.helper.VERSION_TABLE), capped at what onnx knows.
    for row in reversed(helper.VERSION_TABLE):
        if row[2] == opset:
            return int(row[1])
    return int(onnx.IR_VERSION)


class _Emitter:
    """Collects the NodeProtos and initializers of one layer."""

    def __init__(self, exporter: _Exporter, node: Node):
        self.x = exporter
        self.layer = node.name
        self.nodes: list[onnx.NodeProto] = []
        self.doc = _doc(node, exporter.source_lines)

    @property
    def opset(self) -> int:
        return self.x.opset

    def node(self, op_type: str, inputs: Sequence[str], **attrs: Any) -> str:
        k = len(self.nodes)
        out = f"{self.layer}/{op_type}_{k}"
        name = self.layer if k == 0 else f"{self.layer}/{k}"
        n = helper.make_node(op_type, list(inputs), [out], name=name, doc_string=self.doc, **attrs)
        self.nodes.append(n)
        return out

    def weight(self, suffix: str, shape: Sequence[int], init: str, values: Any = None) -> str:
        name = f"{self.layer}.{suffix}" if suffix else self.layer  # "": a `param`'s own tensor
        self.x.add_initializer(
            name, functools.partial(self.x.weight_value, name, tuple(shape), init, values))
        return name

    def const(self, values: Any, dtype: str = "int64") -> str:
        name = f"{self.layer}/const_{len(self.x.initializers)}"
        self.x.add_initializer(name, np.asarray(values, dtype=dtype))
        return name


class _Exporter:
    def __init__(self, graph: Graph, opset: int, seed: int, init: str,
                 weights: Mapping[str, np.ndarray] | None, source_lines: bool = True):
        self.graph, self.opset, self.seed, self.init = graph, opset, seed, init
        self.weights, self.source_lines = weights, source_lines
        self.initializers: list[tuple[str, Any]] = []  # (name, array or a callable making it)

    def add_initializer(self, name: str, array: np.ndarray | Callable[[], np.ndarray]) -> None:
        """An initializer now, or (a callable) made later by materialize(), in parallel."""
        self.initializers.append((name, array))

    def materialize(self, graph: onnx.GraphProto) -> None:
        """Make every initializer's values and append them to `graph` in order. Random weights
        are drawn on all cores: numpy releases the GIL while it fills arrays, and every tensor has
        its own generator, so the result does not depend on the schedule."""
        def make(item: tuple[str, Any]) -> tuple[str, np.ndarray]:
            name, value = item
            return name, value() if callable(value) else value
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            for name, array in pool.map(make, self.initializers):
                t = graph.initializer.add()  # in place: no copy of a large TensorProto
                t.name, t.data_type = name, helper.np_dtype_to_tensor_dtype(array.dtype)
                t.dims.extend(array.shape)
                t.raw_data = np.ascontiguousarray(array, array.dtype.newbyteorder("<")).tobytes()

    def weight_value(self, name: str, shape: tuple[int, ...], init: str, values: Any) -> np.ndarray:
        if self.weights is not None and name in self.weights:
            return np.ascontiguousarray(self.weights[name], dtype=np.float32)
        if init == "zeros":
            return np.zeros(shape, np.float32)
        if init == "ones":
            return np.ones(shape, np.float32)
        if init == "fixed":
            return np.broadcast_to(np.asarray(values, np.float32), shape).copy()
        rng = np.random.default_rng([self.seed, zlib.crc32(name.encode())])
        if init in ("normal", "trunc_normal"):  # a `param`'s normal(std), trunc_normal(std)
            out = rng.standard_normal(shape, dtype=np.float32) * np.float32(values)
            while init == "trunc_normal" and (bad := np.abs(out) > 2).any():
                out[bad] = rng.standard_normal(int(bad.sum()), dtype=np.float32) * values
            return out
        # NOTE: one generator per tensor (above), seeded by its name: changing one layer leaves
        # the others' weights as they were.
        receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
        fan_in, fan_out = shape[1] * receptive, shape[0] * receptive
        if self.init == "xavier":
            std = float(np.sqrt(2.0 / (fan_in + fan_out)))
        else:
            std = float(np.sqrt(2.0 / (fan_out if init == "he_out" else fan_in)))
        return rng.standard_normal(shape, dtype=np.float32) * np.float32(std)


def _doc(node: Node, source_lines: bool) -> str:
    """`lenet.net:9:5: c1 = conv(6, 5)`: where the layer was written, the path relative to the
    root (Source.recorded_path), and the line itself unless `source_lines` is off."""
    src = node.span.source
    if src is None:
        return ""
    line, col = src.line_col(node.span.start)
    where = f"{src.recorded_path()}:{line}:{col}"
    return f"{where}: {src.line_text(line).strip()}" if source_lines else where


def _value_info(name: str, shape: Sequence[Any], batch: int | None) -> onnx.ValueInfoProto:
    dims = [batch if (i == 0 and batch is not None) else d for i, d in enumerate(shape)]
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, dims)


def to_onnx(graph: Graph, options: CompileOptions | None = None) -> onnx.ModelProto:
    """Lower a checked graph. Node names are layer names; initializers are `layer.param`;
    every layer's tensor has a value_info with the shape our checker inferred. `options.weights`
    is None or arrays by name that the pipeline has read and checked against the graph."""
    options = options or CompileOptions()
    opset, batch, weights = options.opset, options.batch, options.weights
    assert weights is None or isinstance(weights, Mapping), "the pipeline reads weight files"
    if not MIN_OPSET <= opset <= onnx.defs.onnx_opset_version():
        raise NetdslError([error("E214", f"opset {opset} is not supported: netdsl lowers to "
                                 f"opsets {MIN_OPSET} to {onnx.defs.onnx_opset_version()} (the "
                                 f"newest this onnx {onnx.__version__} knows)")])
    x = _Exporter(graph, opset, options.seed, options.init or graph.options.get("init", "he"),
                  weights, options.source_lines)
    rename = _output_names(graph)
    source = graph.source.recorded_path()  # NOTE: relative to the root: the same bytes anywhere
    nodes, inputs, value_infos = _lower(graph, x, batch, rename)
    outputs = []
    for o_name, o_node in graph.outputs.items():
        if rename.get(o_node) != o_name:
            nodes.append(helper.make_node("Identity", [rename.get(o_node, o_node)], [o_name],
                                          name=f"{o_name}/output"))
        outputs.append(_value_info(o_name, graph.node(o_node).shape or (), batch))
    g = helper.make_graph(nodes, graph.name, inputs, outputs, value_info=value_infos,
                          doc_string=f"netdsl network `{graph.name}` from {source}")
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="netdsl", producer_version=VERSION)
    model.ir_version = _ir_version(opset)
    x.materialize(model.graph)  # NOTE: after make_model, which would copy every initializer
    helper.set_model_props(model, {
        "netdsl_version": VERSION,
        "source_sha256": hashlib.sha256(graph.source.text.encode()).hexdigest(),
        "source": source, "network": graph.name,
        "params": ",".join(f"{k}={v}" for k, v in sorted(graph.params.items())),
    })
    return model


def _output_names(graph: Graph) -> dict[str, str]:
    """Layer -> output name: a layer that is an output produces its tensor under the output's
    name directly (the first output naming it; inputs and further outputs get an Identity)."""
    rename: dict[str, str] = {}
    for o_name, o_node in graph.outputs.items():
        if o_node not in rename and not isinstance(graph.node(o_node).op, InputOp):
            rename[o_node] = o_name
    return rename


def _lower(graph: Graph, x: _Exporter, batch: int | None, rename: Mapping[str, str]) -> tuple[
        list[onnx.NodeProto], list[onnx.ValueInfoProto], list[onnx.ValueInfoProto]]:
    """Every node through its op's to_onnx: the nodes, the graph inputs, the value_infos."""
    nodes: list[onnx.NodeProto] = []
    inputs, value_infos = [], []
    for node in graph.nodes():
        assert node.shape is not None
        if isinstance(node.op, InputOp):
            inputs.append(_value_info(node.name, node.shape, batch))
            continue
        emit = _Emitter(x, node)
        xs = [Value(rename.get(p.name, p.name), p.shape or ()) for p in graph.producers(node)]
        out_name = rename.get(node.name, node.name)
        result = node.op.to_onnx(emit, Value(out_name, node.shape), *xs)
        produced = next((n for n in emit.nodes if n.output[0] == result), None)
        if produced is None and result == out_name:  # a `param`: its initializer is the value
            continue
        if produced is None:  # the op returned one of its inputs: name it with an Identity
            emit.node("Identity", [result])
            produced = emit.nodes[-1]
        produced.output[0] = out_name
        nodes.extend(emit.nodes)
        if node.name not in rename:
            value_infos.append(_value_info(out_name, node.shape, batch))
    return nodes, inputs, value_infos


def save(model: onnx.ModelProto, path: str | Path) -> None:
    """Write atomically (netdsl.files): a failed or interrupted save leaves any earlier file as
    it was. Weights over EXTERNAL_DATA_BYTES go to external data, `<name>.data` beside the model
    (renamed into place just before the model)."""
    path = Path(path)
    files.check_writable(path)
    if sum(len(t.raw_data) for t in model.graph.initializer) <= EXTERNAL_DATA_BYTES:
        files.write_bytes(path, lambda f: f.write(model.SerializeToString(deterministic=True)))
        return
    data = path.with_name(path.name + ".data")
    with files.atomic(data, path) as (tmp_data, tmp_model):
        external = _to_external(model, data.name, tmp_data)
        tmp_model.write_bytes(external.SerializeToString(deterministic=True))


def _to_external(model: onnx.ModelProto, location: str, file: Path) -> onnx.ModelProto:
    """A copy of `model` whose large initializers live in `file`, referred to as `location`."""
    from onnx.external_data_helper import set_external_data
    out = onnx.ModelProto()
    out.CopyFrom(model)
    with open(file, "wb") as f:
        for t in out.graph.initializer:
            if len(t.raw_data) < 1024:  # small tensors (shapes, scalars) stay inline
                continue
            offset = f.tell()
            f.write(t.raw_data)
            set_external_data(t, location=location, offset=offset, length=len(t.raw_data))
            t.data_location = TensorProto.EXTERNAL
            t.ClearField("raw_data")
    return out


def check_file(path: str | Path) -> None:
    """E403 unless `path` is an ONNX model that onnx's checker accepts (external data, if any,
    beside it)."""
    p = Path(path)
    if not p.is_file():
        raise NetdslError([error("E403", f"{p}: no such file" if not p.exists()
                                 else f"{p}: not a file")])
    try:
        onnx.checker.check_model(str(p))  # by path: also for models over protobuf's 2 GB
    except Exception as e:  # noqa: BLE001 - protobuf and onnx raise many kinds for a bad file
        text = str(e).strip()
        raise NetdslError([error("E403", f"{p}: not a valid ONNX model ({type(e).__name__}: "
                                 f"{text.splitlines()[0][:200] if text else 'corrupt'})")]
                          ) from None


def load(path: str | Path) -> onnx.ModelProto:
    """Read an .onnx file (with its external data), or E403."""
    check_file(path)
    return onnx.load_model(str(path))


def attributes(node: onnx.NodeProto) -> dict[str, Any]:
    """A node's attributes as plain Python values (strings decoded, tensors as arrays), for
    importer.py, which reads a ModelProto without importing onnx."""
    out: dict[str, Any] = {}
    for a in node.attribute:
        v = helper.get_attribute_value(a)
        if isinstance(v, bytes):
            v = v.decode("utf-8", "replace")
        elif isinstance(v, TensorProto):
            v = numpy_helper.to_array(v)
        elif isinstance(v, list) and v and isinstance(v[0], bytes):
            v = [s.decode("utf-8", "replace") for s in v]
        out[a.name] = v
    return out


def initializers(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    """The graph's initializers (their external data already loaded) as arrays by name."""
    return {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}


def value_shape(info: onnx.ValueInfoProto) -> list[int | str]:
    """A graph input's or output's dims: an int, or the symbol's name ("" when unnamed)."""
    return [d.dim_value if d.HasField("dim_value") else d.dim_param
            for d in info.type.tensor_type.shape.dim]
