"""Checked graph → onnx.ModelProto. The only module that imports onnx: it implements the Emitter
that each op's to_onnx writes through, initialises weights, and saves models atomically."""

from __future__ import annotations

import collections
import hashlib
import os
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from netdsl import files, protowire
from netdsl.diagnostics import NetdslError, error
from netdsl.draw import BLOCK, Draw
from netdsl.ir import Graph, InputOp, Node
from netdsl.ops.base import OpError, Value
from netdsl.options import CompileOptions
from netdsl.version import VERSION

MIN_OPSET = 17  # the oldest opset every op lowers to (options.DEFAULT_OPSET says why 17)
# A model for every input size: tensor (layer) name -> per axis the dim_param its size is
# written as ("": a size that varies, unnamed), or None where the checked size is fixed. A layer
# not named has every size fixed; the batch axis follows CompileOptions.batch as ever.
Dims = Mapping[str, Sequence["str | None"]]
EXAMPLE_SIZES = "example_sizes"  # metadata of a model for every size: `H=572,W=572`
# and the sizes it is valid at (runtime.py refuses others): `;`-separated groups of equal sizes,
# each `H=W=188+16k|200` (a group's names, then its arithmetic progressions, `|` between them)
VALID_SIZES = "valid_sizes"
Valid = Mapping[tuple[str, ...], Sequence[tuple[int, int]]]  # names -> (first, step) progressions
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
        return self.node_outputs(op_type, inputs, 1, **attrs)[0]

    def node_outputs(self, op_type: str, inputs: Sequence[str], count: int, /,
                     **attrs: Any) -> list[str]:
        k = len(self.nodes)
        out = f"{self.layer}/{op_type}_{k}"
        name = self.layer if k == 0 else f"{self.layer}/{k}"
        names = [out, *(f"{out}:{i}" for i in range(1, count))]
        n = helper.make_node(op_type, list(inputs), names, name=name, doc_string=self.doc,
                             **attrs)
        self.nodes.append(n)
        return names

    def weight(self, suffix: str, shape: Sequence[int], init: str, values: Any = None) -> str:
        name = f"{self.layer}.{suffix}" if suffix else self.layer  # "": a `param`'s own tensor
        self.x.add_initializer(name, self.x.weight_value(name, tuple(shape), init, values))
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
        self.initializers: list[_Init] = []

    def add_initializer(self, name: str, values: np.ndarray | Draw) -> None:
        """An initializer: an array, or a Draw whose blocks are made when they are written."""
        self.initializers.append(_Init(name, values))

    def weight_value(self, name: str, shape: tuple[int, ...], init: str,
                     values: Any) -> np.ndarray | Draw:
        if self.weights is not None and name in self.weights:
            return np.ascontiguousarray(self.weights[name], dtype=np.float32)
        return Draw(name, shape, init, values, self.seed, self.init)

    def materialize(self, graph: onnx.GraphProto) -> None:
        """Make every initializer's values and append them to `graph` in order, the blocks of
        all tensors drawn on all cores (numpy releases the GIL while it fills arrays)."""
        arrays = [np.empty(i.size, i.dtype) for i in self.initializers]
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            list(pool.map(lambda job: job[0].fill(job[1], job[2]),
                          ((i, a, b) for i, a in zip(self.initializers, arrays)
                           for b in range(i.blocks))))
        for init, array in zip(self.initializers, arrays):
            t = graph.initializer.add()  # in place: no copy of a large TensorProto
            t.CopyFrom(init.header())
            t.raw_data = array.tobytes()


@dataclass(frozen=True, slots=True)
class _Init:
    """One initializer: its name and values (an array, or a Draw), made block by block."""

    name: str
    values: np.ndarray | Draw

    @property
    def dtype(self) -> np.dtype[Any]:
        v = self.values
        return np.dtype(np.float32) if isinstance(v, Draw) else v.dtype.newbyteorder("<")

    @property
    def size(self) -> int:
        return self.values.size

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    @property
    def blocks(self) -> int:
        return -(-self.size // BLOCK)

    def block(self, b: int, buffer: np.ndarray | None = None) -> np.ndarray:
        """Elements [b*BLOCK, (b+1)*BLOCK), little-endian; drawn into `buffer` (float32, BLOCK
        long) if given, else into a new array. (An array's block is a view of it.)"""
        if isinstance(self.values, Draw):
            out = None if buffer is None else buffer[:min(BLOCK, self.size - b * BLOCK)]
            return self.values.block(b, out).astype("<f4", copy=False)
        flat = np.ascontiguousarray(self.values, self.dtype).reshape(-1)
        return flat[b * BLOCK:(b + 1) * BLOCK]

    def fill(self, array: np.ndarray, b: int) -> None:
        """Block b into its place in `array` (the whole tensor, flat)."""
        part = array[b * BLOCK:(b + 1) * BLOCK]
        if isinstance(self.values, Draw) and part.dtype == np.float32:
            self.values.block(b, part)
        else:
            part[:] = self.block(b)

    def header(self) -> onnx.TensorProto:
        """The TensorProto without its data: name, type and dims."""
        t = TensorProto()
        t.name, t.data_type = self.name, helper.np_dtype_to_tensor_dtype(self.dtype)
        t.dims.extend(self.values.shape)
        return t


def _doc(node: Node, source_lines: bool) -> str:
    """`lenet.net:9:5: c1 = conv(6, 5)`: where the layer was written, the path relative to the
    root (Source.recorded_path), and the line itself unless `source_lines` is off."""
    src = node.span.source
    if src is None:
        return ""
    line, col = src.line_col(node.span.start)
    where = f"{src.recorded_path()}:{line}:{col}"
    return f"{where}: {src.line_text(line).strip()}" if source_lines else where


def _value_info(name: str, shape: Sequence[Any], batch: int | None,
                dtype: str = "float32", free: Sequence[str | None] = ()) -> onnx.ValueInfoProto:
    dims = [batch if (i == 0 and batch is not None) else d for i, d in enumerate(shape)]
    for i, param in enumerate(free):
        if i and param is not None:
            dims[i] = param or None  # None: an unknown size, neither value nor name
    return helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(np.dtype(dtype)),
                                         dims)


def to_onnx(graph: Graph, options: CompileOptions | None = None,
            dims: Dims | None = None, valid: Valid | None = None) -> onnx.ModelProto:
    """Lower a checked graph. Node names are layer names; initializers are `layer.param`;
    every layer's tensor has a value_info with the shape our checker inferred. `options.weights`
    is None or arrays by name that the pipeline has read and checked against the graph.

    With `dims` (see Dims), the model is one for every input size: the sizes named there are
    dim_params, and each op lowers without baking them in (the graph's own sizes are one
    example); a layer that cannot is NetdslError E301, "layer fc (x.net:9:3) pins the input
    size: ...". Without, the bytes are those of a model for the graph's sizes alone. `valid`:
    the sizes the model is valid at, recorded for runtime.py to check its inputs against."""
    model, x = _skeleton(graph, options or CompileOptions(), dims, valid)
    x.materialize(model.graph)  # NOTE: after make_model, which would copy every initializer
    return model


def _skeleton(graph: Graph, options: CompileOptions, dims: Dims | None = None,
              valid: Valid | None = None) -> tuple[onnx.ModelProto, _Exporter]:
    """The model without its initializers, and the exporter that holds them (not yet made)."""
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
    free = _check_dims(graph, dims or {})
    nodes, inputs, value_infos = _lower(graph, x, batch, rename, free)
    outputs = []
    for o_name, o_node in graph.outputs.items():
        if rename.get(o_node) != o_name:
            nodes.append(helper.make_node("Identity", [rename.get(o_node, o_node)], [o_name],
                                          name=f"{o_name}/output"))
        out = graph.node(o_node)
        outputs.append(_value_info(o_name, out.shape or (), batch, out.op.dtype,
                                   free.get(o_node, ())))
    g = helper.make_graph(nodes, graph.name, inputs, outputs, value_info=value_infos,
                          doc_string=f"netdsl network `{graph.name}` from {source}")
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="netdsl", producer_version=VERSION)
    model.ir_version = _ir_version(opset)
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
    helper.set_model_props(model, props)
    return model, x


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
        list[onnx.NodeProto], list[onnx.ValueInfoProto], list[onnx.ValueInfoProto]]:
    """Every node through its op's to_onnx: the nodes, the graph inputs, the value_infos."""
    nodes: list[onnx.NodeProto] = []
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
        produced = next((n for n in emit.nodes if result in n.output), None)
        if produced is None and result == out_name:  # a `param`: its initializer is the value
            continue
        if produced is None:  # the op returned one of its inputs: name it with an Identity
            result = emit.node("Identity", [result])
            produced = emit.nodes[-1]
        produced.output[list(produced.output).index(result)] = out_name
        nodes.extend(emit.nodes)
        if node.name not in rename:
            value_infos.append(_value_info(out_name, node.shape, batch, node.op.dtype,
                                           free.get(node.name, ())))
    return nodes, inputs, value_infos


def save(model: onnx.ModelProto, path: str | Path, external_bytes: int | None = None) -> None:
    """Write atomically (netdsl.files): a failed or interrupted save leaves any earlier file as
    it was. Weights over `external_bytes` (EXTERNAL_DATA_BYTES) go to external data,
    `<name>.data` beside the model (renamed into place just before the model)."""
    path = Path(path)
    files.check_writable(path)
    limit = EXTERNAL_DATA_BYTES if external_bytes is None else external_bytes
    if sum(len(t.raw_data) for t in model.graph.initializer) <= limit:
        files.write_bytes(path, lambda f: f.write(model.SerializeToString(deterministic=True)))
        return
    data = path.with_name(path.name + ".data")
    with files.atomic(data, path) as (tmp_data, tmp_model):  # the streamed write's twin
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


# ----------------------------------------------------------------------- streamed writing

MODEL_GRAPH, GRAPH_INITIALIZER, TENSOR_RAW_DATA = 7, 5, 9  # field numbers of onnx.proto


def write(graph: Graph, path: str | os.PathLike[str], options: CompileOptions | None = None,
          external_bytes: int | None = None, dims: Dims | None = None,
          valid: Valid | None = None) -> onnx.ModelProto:
    """to_onnx and save in one pass that never holds the weights: the same bytes as
    save(to_onnx(graph, options), path, external_bytes), written as a stream. The model's small
    parts are serialised by protobuf; around them this writes the framing of the graph and of
    each initializer itself (lengths are known from shapes), and each initializer's data block
    by block (draw.BLOCK elements), drawn on all cores a few blocks ahead of the writer. Returns
    the model without its initializers."""
    model, x = _skeleton(graph, options or CompileOptions(), dims, valid)
    path = Path(path)
    files.check_writable(path)
    limit = EXTERNAL_DATA_BYTES if external_bytes is None else external_bytes
    if sum(i.nbytes for i in x.initializers) <= limit:
        files.write_bytes(path, lambda f: _stream(model, x.initializers, f, None))
        return model
    data = path.with_name(path.name + ".data")
    with files.atomic(data, path) as (tmp_data, tmp_model):
        with open(tmp_model, "wb") as f, open(tmp_data, "wb") as d:
            _stream(model, x.initializers, f, (data.name, d))
    return model


def _stream(model: onnx.ModelProto, inits: Sequence[_Init], f: BinaryIO,
            external: tuple[str, BinaryIO] | None) -> None:
    heads, inline, offset = [], [], 0
    for i in inits:
        h = i.header()
        if external is not None and i.nbytes >= 1024:  # as _to_external: small ones inline
            from onnx.external_data_helper import set_external_data
            h.raw_data = b""
            set_external_data(h, location=external[0], offset=offset, length=i.nbytes)
            h.ClearField("raw_data")
            offset += i.nbytes
            heads.append(h.SerializeToString(deterministic=True))
            inline.append(False)
        else:
            heads.append(h.SerializeToString(deterministic=True)
                         + protowire.frame(TENSOR_RAW_DATA, i.nbytes))
            inline.append(True)
    sizes = [len(h) + (i.nbytes if keep else 0) for h, i, keep in zip(heads, inits, inline)]
    before, after = protowire.split(model.graph, GRAPH_INITIALIZER)
    graph_size = (len(before) + len(after)
                  + sum(protowire.framed_size(GRAPH_INITIALIZER, n) for n in sizes))
    head, tail = protowire.split(model, MODEL_GRAPH)
    f.write(head + protowire.frame(MODEL_GRAPH, graph_size) + before)
    blocks = _drawn(inits)
    for h, i, keep, n in zip(heads, inits, inline, sizes):
        f.write(protowire.frame(GRAPH_INITIALIZER, n) + h)
        out = f if keep or external is None else external[1]
        for _ in range(i.blocks):
            out.write(next(blocks).data)
    f.write(after + tail)


def _drawn(inits: Sequence[_Init]) -> Iterator[np.ndarray]:
    """Every initializer's blocks in order, made on all cores at most a few blocks ahead, each
    drawn into one of a ring of buffers. (A fresh 1 MiB array per block is a fresh mapping whose
    pages the kernel faults in and zeroes: a third of vgg16's drawing time.) A buffer is drawn
    into again only after the block it held was yielded and the caller came back for the next:
    `ahead` blocks are pending, one is being written, so ahead + 2 buffers suffice."""
    workers = os.cpu_count() or 1
    ahead = 2 * workers
    ring = [np.empty(BLOCK, np.float32) for _ in range(ahead + 2)]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: collections.deque[Future[np.ndarray]] = collections.deque()
        k = 0
        for i in inits:
            for b in range(i.blocks):
                pending.append(pool.submit(i.block, b, ring[k % len(ring)]))
                k += 1
                if len(pending) > ahead:
                    yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


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
