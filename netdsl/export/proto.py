"""Plain records ↔ onnx protobuf (export's second stage): the ModelProto built with onnx.helper
from a lowered Model and its initializers made (drawn blocks on all cores); atomic saving, with
large weights as external data; loading and checking an .onnx file; a ModelProto's attributes,
initializers and shapes read as plain values. onnx is imported inside the functions only."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from netdsl import files
from netdsl.diagnostics import NetdslError, error
from netdsl.draw import BLOCK, Draw
from netdsl.export.lowering import Const, Init, Model, ValueRecord
from netdsl.version import VERSION

if TYPE_CHECKING:
    import numpy as np
    import onnx

EXTERNAL_DATA_BYTES = 2 * 1024**3  # protobuf's limit: larger weights go to a side file
INLINE_BYTES = 1024  # with external data, a smaller tensor (shapes, scalars) stays in the model


def _proto(m: Model) -> onnx.ModelProto:
    """`m` built with onnx.helper (initializers aside): the in-memory model, and the reference
    that protowire's bytes are tested against."""
    import numpy as np
    from onnx import helper

    def info(v: ValueRecord) -> onnx.ValueInfoProto:
        return helper.make_tensor_value_info(v[0], helper.np_dtype_to_tensor_dtype(
            np.dtype(v[1])), list(v[2]))

    nodes = [helper.make_node(n.op_type, n.inputs, n.outputs, name=n.name, doc_string=n.doc,
                              **n.attrs) for n in m.nodes]
    g = helper.make_graph(nodes, m.name, [info(v) for v in m.inputs],
                          [info(v) for v in m.outputs],
                          value_info=[info(v) for v in m.value_infos], doc_string=m.doc)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", m.opset)],
                              producer_name="netdsl", producer_version=VERSION)
    model.ir_version = m.ir_version
    helper.set_model_props(model, m.props)
    return model


def little_endian(a: np.ndarray) -> np.ndarray:
    """The array with ONNX's byte order (raw_data is little-endian); itself where it has it."""
    return a.astype(a.dtype.newbyteorder("<"), copy=False)


def _materialize(inits: Sequence[Init], graph: onnx.GraphProto) -> None:
    """Make every initializer's values and append them to `graph` in order, the blocks of all
    drawn tensors made on all cores (numpy releases the GIL while it fills arrays)."""
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np
    from onnx import helper
    arrays = []
    for i in inits:
        v = i.values
        a = np.empty(v.size, np.float32) if isinstance(v, Draw) else (
            v.array() if isinstance(v, Const) else v)
        arrays.append(little_endian(a))
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        list(pool.map(lambda job: job[0].block(job[1], job[2][job[1] * BLOCK:][:BLOCK]),
                      ((i.values, b, a) for i, a in zip(inits, arrays)
                       if isinstance(i.values, Draw) for b in range(i.values.blocks))))
    for init, a in zip(inits, arrays):
        t = graph.initializer.add()  # in place: no copy of a large TensorProto
        t.name, t.data_type = init.name, helper.np_dtype_to_tensor_dtype(a.dtype)
        t.dims.extend(init.values.shape if isinstance(init.values, Draw) else a.shape)
        t.raw_data = a.tobytes()



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
        with files.open_temp(tmp_model) as f:
            f.write(external.SerializeToString(deterministic=True))


def _to_external(model: onnx.ModelProto, location: str, file: Path) -> onnx.ModelProto:
    """A copy of `model` whose large initializers live in `file` (a temporary file of
    files.atomic), referred to as `location`."""
    import onnx
    from onnx.external_data_helper import set_external_data
    out = onnx.ModelProto()
    out.CopyFrom(model)
    with files.open_temp(file) as f:
        for t in out.graph.initializer:
            if len(t.raw_data) < INLINE_BYTES:
                continue
            offset = f.tell()
            f.write(t.raw_data)
            set_external_data(t, location=location, offset=offset, length=len(t.raw_data))
            t.data_location = onnx.TensorProto.EXTERNAL
            t.ClearField("raw_data")
    return out


def check_file(path: str | Path) -> None:
    """E403 unless `path` is an ONNX model that onnx's checker accepts (external data, if any,
    beside it)."""
    import onnx
    p = Path(path)
    if not p.is_file():
        raise NetdslError([error("E403", f"{p}: no such file" if not p.exists()
                                 else f"{p}: not a file")])
    try:  # NOTE: onnx takes paths as UTF-8 text: undecodable bytes are lone surrogates here
        str(p).encode("utf-8")
    except UnicodeEncodeError:
        raise NetdslError([error("E403", f"{p}: the file name is not valid UTF-8, which onnx "
                                 "needs", hints=["rename the file"])]) from None
    try:
        onnx.checker.check_model(str(p))  # by path: also for models over protobuf's 2 GB
    except Exception as e:  # noqa: BLE001 - protobuf and onnx raise many kinds for a bad file
        text = str(e).strip()
        raise NetdslError([error("E403", f"{p}: not a valid ONNX model ({type(e).__name__}: "
                                 f"{text.splitlines()[0][:200] if text else 'corrupt'})")]
                          ) from None


def load(path: str | Path) -> onnx.ModelProto:
    """Read an .onnx file (with its external data), or E403."""
    import onnx
    check_file(path)
    return onnx.load_model(str(path))


def attributes(node: onnx.NodeProto) -> dict[str, Any]:
    """A node's attributes as plain Python values (strings decoded, tensors as arrays), for
    importer/, which reads a ModelProto without importing onnx."""
    from onnx import TensorProto, helper, numpy_helper
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
    from onnx import numpy_helper
    return {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}


def shapes(model: onnx.ModelProto, known: dict[str, np.ndarray] | None = None
           ) -> dict[str, list[int | str]]:
    """The dims (as value_shape gives them) of every tensor whose shape onnx's shape inference
    finds (those the model's value_infos state, where it cannot follow the model), for
    importer/; `known`: tensors whose values importer/ computed (sizes), constants there."""
    import onnx
    from onnx import helper, numpy_helper, shape_inference
    # NOTE: a copy with the weights as typed inputs: their data is not copied
    light = onnx.ModelProto(ir_version=model.ir_version)
    light.opset_import.extend(model.opset_import)
    g, old = light.graph, model.graph
    known = known or {}
    for field in ("input", "output", "value_info"):
        getattr(g, field).extend(getattr(old, field))
    g.node.extend(n for n in old.node if not any(o in known for o in n.output))
    g.initializer.extend(numpy_helper.from_array(v, name) for name, v in known.items())
    given = {i.name for i in old.input}
    for t in old.initializer:
        if t.name in given or t.ByteSize() <= INLINE_BYTES:
            g.initializer.append(t)
        else:
            g.input.append(helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)))
    try:
        graph = shape_inference.infer_shapes(light, data_prop=True).graph  # Shape -> Reshape
    except Exception:  # noqa: BLE001 - an operator onnx does not know, a malformed graph
        graph = model.graph
    return {v.name: value_shape(v) for v in (*graph.value_info, *graph.input, *graph.output)
            if v.type.tensor_type.HasField("shape")}


def value_type(info: onnx.ValueInfoProto) -> str:
    """A graph input's or output's element type as numpy names it (`float32`, `int64`), for
    importer/; "" where none is recorded."""
    from onnx import helper
    elem = info.type.tensor_type.elem_type
    return helper.tensor_dtype_to_np_dtype(elem).name if elem else ""


def value_shape(info: onnx.ValueInfoProto) -> list[int | str]:
    """A graph input's or output's dims: an int, or the symbol's name ("" when unnamed)."""
    return [d.dim_value if d.HasField("dim_value") else d.dim_param
            for d in info.type.tensor_type.shape.dim]
