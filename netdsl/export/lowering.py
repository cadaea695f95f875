"""Checked graph → the model as plain data (export's first stage): each node through its op's
to_onnx, written through the Emitter, gives NodeRecords, ValueRecords and initializers (Init:
drawn, an op's constant, or given weights, not yet made), with the model's metadata; what
proto.py builds into a ModelProto and stream.py encodes itself. Imports no onnx but for an
opset beyond IR_VERSIONS."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from netdsl.diagnostics import NetdslError, error
from netdsl.draw import Draw
from netdsl.ir import Graph, InputOp, Node
from netdsl.ops.base import OpError, Value
from netdsl.options import CompileOptions
from netdsl.version import VERSION

if TYPE_CHECKING:
    import numpy as np

MIN_OPSET = 17  # the oldest opset every op lowers to (options.DEFAULT_OPSET says why 17)
# opset -> the IR version that goes with it (onnx.helper.VERSION_TABLE), for the opsets every
# onnx netdsl supports (>= 1.15) knows: these need no onnx import (tests check the table)
IR_VERSIONS = {17: 8, 18: 8, 19: 9, 20: 9}
# A model for every input size: tensor (layer) name -> per axis the dim_param its size is
# written as ("": a size that varies, unnamed), or None where the checked size is fixed. A layer
# not named has every size fixed; the batch axis follows CompileOptions.batch as ever.
Dims = Mapping[str, Sequence["str | None"]]
EXAMPLE_SIZES = "example_sizes"  # metadata of a model for every size: `H=572,W=572`
# and the sizes it is valid at (runtime.py refuses others): `;`-separated groups of equal sizes,
# each `H=W=188+16k|200` (a group's names, then its arithmetic progressions, `|` between them)
VALID_SIZES = "valid_sizes"
Valid = Mapping[tuple[str, ...], Sequence[tuple[int, int]]]  # names -> (first, step) progressions
# NOTE: the records below are NamedTuples, not dataclasses: a tenth of the time to create at
# import, which every `netdsl compile` pays


class NodeRecord(NamedTuple):
    """One ONNX node as plain data: what helper.make_node takes (attrs as its keywords)."""

    op_type: str
    inputs: list[str]
    outputs: list[str]  # NOTE: mutable: _lower renames a layer's result to the layer's name
    name: str
    doc: str
    attrs: dict[str, Any]


# a tensor's ValueInfo as plain data: name, numpy dtype name, dims (int, dim_param, None)
ValueRecord = tuple[str, str, tuple["int | str | None", ...]]


class Model(NamedTuple):
    """A lowered model as plain data, its initializers aside: what to_onnx builds with
    onnx.helper and stream.write encodes itself. `props`: metadata_props, in order."""

    name: str
    doc: str
    nodes: list[NodeRecord]
    inputs: list[ValueRecord]
    outputs: list[ValueRecord]
    value_infos: list[ValueRecord]
    opset: int
    ir_version: int
    props: dict[str, str]


class Const(NamedTuple):
    """An op's constant (emit.const): a number or nested lists, and the numpy dtype name (its
    bytes without numpy: stream.packed)."""

    values: Any
    dtype: str

    def array(self) -> np.ndarray:
        import numpy as np
        return np.asarray(self.values, dtype=self.dtype)


class Init(NamedTuple):
    """One initializer: its name and values: drawn (Draw), an op's constant, or an array of
    given weights (float32, read and checked by the pipeline)."""

    name: str
    values: Draw | Const | np.ndarray


class _Emitter:
    """Records the nodes and initializers of one layer."""

    def __init__(self, exporter: _Exporter, node: Node):
        self.x = exporter
        self.layer = node.name
        self.nodes: list[NodeRecord] = []
        self.doc = exporter.doc(node)

    @property
    def opset(self) -> int:
        return self.x.opset

    def node(self, op_type: str, inputs: Sequence[str], **attrs: Any) -> str:
        return self.node_outputs(op_type, inputs, 1, **attrs)[0]

    def node_outputs(self, op_type: str, inputs: Sequence[str], count: int, /,
                     **attrs: Any) -> list[str]:
        k = len(self.nodes)
        out = f"{self.layer}/{op_type}_{k}"
        name = self.layer if k == 0 else f"{self.layer}/{k}"
        names = [out, *(f"{out}:{i}" for i in range(1, count))]
        self.nodes.append(NodeRecord(op_type, list(inputs), names, name, self.doc, attrs))
        return names

    def weight(self, suffix: str, shape: Sequence[int], init: str, values: Any = None) -> str:
        name = f"{self.layer}.{suffix}" if suffix else self.layer  # "": a `param`'s own tensor
        self.x.initializers.append(Init(name, self.x.weight_value(name, tuple(shape), init,
                                                                   values)))
        return name

    def const(self, values: Any, dtype: str = "int64") -> str:
        name = f"{self.layer}/const_{len(self.x.initializers)}"
        self.x.initializers.append(Init(name, Const(_frozen(values), dtype)))
        return name


def _frozen(values: Any) -> Any:
    """Nested lists as nested tuples: a constant as it was when emitted (np.asarray copied)."""
    return tuple(_frozen(v) for v in values) if isinstance(values, (list, tuple)) else values


class _Exporter:
    def __init__(self, graph: Graph, opset: int, seed: int, init: str,
                 weights: Mapping[str, np.ndarray] | None, source_lines: bool = True):
        self.graph, self.opset, self.seed, self.init = graph, opset, seed, init
        self.weights, self.source_lines = weights, source_lines
        self.initializers: list[Init] = []
        self._paths: dict[int, str] = {}  # id(Source) -> its recorded path (resolves files)

    def weight_value(self, name: str, shape: tuple[int, ...], init: str,
                     values: Any) -> np.ndarray | Draw:
        if self.weights is not None and name in self.weights:
            import numpy as np
            return np.ascontiguousarray(self.weights[name], dtype=np.float32)
        return Draw(name, shape, init, values, self.seed, self.init)

    def doc(self, node: Node) -> str:
        """`lenet.net:9:5: c1 = conv(6, 5)`: where the layer was written, the path relative to
        the root (Source.recorded_path), and the line itself unless `source_lines` is off."""
        src = node.span.source
        if src is None:
            return ""
        path = self._paths.get(id(src))
        if path is None:
            path = self._paths[id(src)] = src.recorded_path()
        line, col = src.line_col(node.span.start)
        where = f"{path}:{line}:{col}"
        return f"{where}: {src.line_text(line).strip()}" if self.source_lines else where


def _value_info(name: str, shape: Sequence[Any], batch: int | None,
                dtype: str = "float32", free: Sequence[str | None] = ()) -> ValueRecord:
    dims = [batch if (i == 0 and batch is not None) else d for i, d in enumerate(shape)]
    for i, param in enumerate(free):
        if i and param is not None:
            dims[i] = param or None  # None: an unknown size, neither value nor name
    return name, dtype, tuple(dims)



def lowered(graph: Graph, options: CompileOptions, dims: Dims | None = None,
            valid: Valid | None = None) -> tuple[Model, list[Init]]:
    """The model as plain data and its initializers (not yet made); see to_onnx."""
    opset, batch, weights = options.opset, options.batch, options.weights
    assert weights is None or isinstance(weights, Mapping), "the pipeline reads weight files"
    x = _Exporter(graph, opset, options.seed, options.init or graph.options.get("init", "he"),
                  weights, options.source_lines)
    ir_version = _ir_version(opset)
    rename = _output_names(graph)
    source = graph.source.recorded_path()  # NOTE: relative to the root: the same bytes anywhere
    free = _check_dims(graph, dims or {})
    nodes, inputs, value_infos = _lower(graph, x, batch, rename, free)
    outputs = []
    for o_name, o_node in graph.outputs.items():
        if rename.get(o_node, o_node) != o_name:  # NOTE: `x -> output x`: the input itself
            nodes.append(NodeRecord("Identity", [rename.get(o_node, o_node)], [o_name],
                                    f"{o_name}/output", "", {}))
        out = graph.node(o_node)
        outputs.append(_value_info(o_name, out.shape or (), batch, out.op.dtype,
                                   free.get(o_node, ())))
    props = {
        "netdsl_version": VERSION,
        "source_sha256": hashlib.sha256(graph.source.text.encode()).hexdigest(),
        "source": source, "network": graph.name,
        "params": ",".join(f"{k}={v}" for k, v in sorted(graph.params.items())),
    }
    example = _example_sizes(graph, free)
    if example:  # `netdsl run` feeds random inputs at this size unless told another
        props[EXAMPLE_SIZES] = ",".join(f"{k}={v}" for k, v in example.items())
    if valid:
        props[VALID_SIZES] = ";".join("=".join(names) + "=" + "|".join(
            str(a) if b == 0 else f"{a}+{b}k" for a, b in progs) for names, progs in valid.items())
    return Model(graph.name, f"netdsl network `{graph.name}` from {source}", nodes, inputs,
                 outputs, value_infos, opset, ir_version, props), x.initializers


def _ir_version(opset: int) -> int:
    """The IR version that goes with `opset`; E214 for an opset this onnx does not know (onnx
    imported only for an opset beyond IR_VERSIONS)."""
    if opset in IR_VERSIONS:
        return IR_VERSIONS[opset]
    import onnx
    from onnx import helper
    if not MIN_OPSET <= opset <= onnx.defs.onnx_opset_version():
        raise NetdslError([error("E214", f"opset {opset} is not supported: netdsl lowers to "
                                 f"opsets {MIN_OPSET} to {onnx.defs.onnx_opset_version()} (the "
                                 f"newest this onnx {onnx.__version__} knows)")])
    for row in reversed(helper.VERSION_TABLE):  # capped at what onnx knows
        if row[2] == opset:
            return int(row[1])
    return int(onnx.IR_VERSION)


def _example_sizes(graph: Graph, free: Mapping[str, tuple[str | None, ...]]) -> dict[str, int]:
    """Each named size of an input, at the graph's own size (the example it was checked at)."""
    sizes: dict[str, int] = {}
    for node in graph.inputs:
        for param, d in zip(free.get(node.name, ()), node.shape or ()):
            if param and isinstance(d, int):
                sizes.setdefault(param, d)
    return sizes


def _output_names(graph: Graph) -> dict[str, str]:
    """Layer -> output name: a layer that is an output produces its tensor under the output's
    name directly (the first output naming it; inputs and further outputs get an Identity)."""
    rename: dict[str, str] = {}
    for o_name, o_node in graph.outputs.items():
        if o_node not in rename and not isinstance(graph.node(o_node).op, InputOp):
            rename[o_node] = o_name
    return rename


def _check_dims(graph: Graph, dims: Dims) -> dict[str, tuple[str | None, ...]]:
    """`dims` checked against the graph (a programming mistake is an AssertionError)."""
    free = {}
    for name, params in dims.items():
        shape = graph.node(name).shape or ()  # KeyError for a name the graph does not have
        assert len(params) == len(shape), f"{name}: dims {params} for the shape {shape}"
        free[name] = tuple(params)
    return free


def _value(name: str, shape: Sequence[Any], free: Sequence[str | None]) -> Value:
    return Value(name, tuple(shape), frozenset(i for i, p in enumerate(free)
                                               if i and p is not None))


def _lower(graph: Graph, x: _Exporter, batch: int | None, rename: Mapping[str, str],
           free: Mapping[str, tuple[str | None, ...]]) -> tuple[
        list[NodeRecord], list[ValueRecord], list[ValueRecord]]:
    """Every node through its op's to_onnx: the nodes, the graph inputs, the value_infos."""
    nodes: list[NodeRecord] = []
    inputs, value_infos = [], []
    for node in graph.nodes():
        assert node.shape is not None
        if isinstance(node.op, InputOp):
            inputs.append(_value_info(node.name, node.shape, batch, free=free.get(node.name, ())))
            continue
        emit = _Emitter(x, node)
        xs = [_value(rename.get(p.name, p.name), p.shape or (), free.get(p.name, ()))
              for p in graph.producers(node)]
        out_name = rename.get(node.name, node.name)
        try:
            result = node.op.to_onnx(emit, _value(out_name, node.shape,
                                                  free.get(node.name, ())), *xs)
        except OpError as ex:  # only a model for every size raises: a size it must fix
            raise NetdslError([error(
                ex.code, f"layer {node.name} ({node.span.where()}) pins the input size: "
                f"{ex.message}", node.span, "needs a fixed size",
                hints=[ex.hint, "compile the network at one input size"])]) from None
        produced = next((n for n in emit.nodes if result in n.outputs), None)
        if produced is None and result == out_name:  # a `param`: its initializer is the value
            continue
        if produced is None:  # the op returned one of its inputs: name it with an Identity
            result = emit.node("Identity", [result])
            produced = emit.nodes[-1]
        produced.outputs[produced.outputs.index(result)] = out_name
        nodes.extend(emit.nodes)
        if node.name not in rename:
            value_infos.append(_value_info(out_name, node.shape, batch, node.op.dtype,
                                           free.get(node.name, ())))
    return nodes, inputs, value_infos
