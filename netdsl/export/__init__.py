"""Checked graph → ONNX: the lowering records each layer's nodes, value infos and initializers
as plain data (the Emitter that each op's to_onnx writes through), from which to_onnx builds a
ModelProto with onnx.helper and stream.py writes the same bytes without onnx. The only package
that imports onnx, and only inside the functions that make or read a ModelProto (~100 ms):
`netdsl compile` (stream.write) imports none. Two stages:
- lowering.py: Graph + CompileOptions → the model as plain records (Model, NodeRecord, Init,
  Const), each op's to_onnx through the Emitter; no onnx (but for an opset beyond IR_VERSIONS);
- proto.py: records ↔ onnx protobuf: the ModelProto built with onnx.helper and its
  initializers made, saving (external data too), loading and checking a file, and reading a
  ModelProto's attributes, initializers and shapes as plain values (for importer/, serving);
- here: to_onnx(), the two in a row; every name callers use (`export.lowered`,
  `export.INLINE_BYTES`, `export.save`, ...) re-exported from its module."""

from __future__ import annotations

from typing import TYPE_CHECKING

from netdsl.export.lowering import (
    EXAMPLE_SIZES,
    IR_VERSIONS,
    MIN_OPSET,
    VALID_SIZES,
    Const,
    Dims,
    Init,
    Model,
    NodeRecord,
    Valid,
    ValueRecord,
    lowered,
)
from netdsl.export.proto import (
    EXTERNAL_DATA_BYTES,
    INLINE_BYTES,
    _materialize,
    _proto as _proto,
    attributes,
    check_file,
    initializers,
    little_endian,
    load,
    save,
    shapes,
    value_shape,
    value_type,
)
from netdsl.ir import Graph
from netdsl.options import CompileOptions

if TYPE_CHECKING:
    import onnx

__all__ = [
    "EXAMPLE_SIZES", "EXTERNAL_DATA_BYTES", "INLINE_BYTES", "IR_VERSIONS", "MIN_OPSET",
    "VALID_SIZES", "Const", "Dims", "Init", "Model", "NodeRecord", "Valid", "ValueRecord",
    "attributes", "check_file", "initializers", "little_endian", "load", "lowered", "save",
    "shapes",
    "to_onnx", "value_shape", "value_type",
]


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
    model, inits = lowered(graph, options or CompileOptions(), dims, valid)
    proto = _proto(model)
    _materialize(inits, proto.graph)  # NOTE: after make_model, which would copy every initializer
    return proto
