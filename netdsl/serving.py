"""A compiled ModelProto → a Triton Inference Server model repository entry: DIR/NAME/1/model.onnx
and DIR/NAME/config.pbtxt for the onnxruntime backend (docs/serving.md). Beside the lowering:
it reads the model's inputs and outputs through export/ and saves the model with it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from netdsl import export, files
from netdsl.diagnostics import NetdslError, error

# ONNX TensorProto data types -> Triton's DataType names (model_config.proto)
_TYPES = {1: "TYPE_FP32", 10: "TYPE_FP16", 11: "TYPE_FP64", 6: "TYPE_INT32", 7: "TYPE_INT64",
          9: "TYPE_BOOL", 2: "TYPE_UINT8", 3: "TYPE_INT8", 16: "TYPE_BF16"}


def config_text(model: Any, name: str, max_batch: int = 8, dynamic_batching: bool = False) -> str:
    """config.pbtxt for `model`: a symbolic first axis (N) is Triton's batch axis, up to
    `max_batch`; a fixed one makes max_batch_size 0 and stays in the dims. Another symbolic
    axis (a model for every input size: H, W) is -1, a variable-size dimension."""
    batched = batch_varies(model)
    lines = [f'name: "{name}"', 'platform: "onnxruntime_onnx"',
             f"max_batch_size: {max_batch if batched else 0}"]
    for kind, group in (("input", model.graph.input), ("output", model.graph.output)):
        for p in group:
            dims = [-1 if isinstance(d, str) else d
                    for d in export.value_shape(p)[1 if batched else 0:]]
            dtype = _TYPES.get(p.type.tensor_type.elem_type, "TYPE_FP32")
            lines += [f"{kind} [", "  {", f'    name: "{p.name}"', f"    data_type: {dtype}",
                      f"    dims: [ {', '.join(str(d) for d in dims)} ]", "  }", "]"]
    if dynamic_batching and batched:
        lines.append("dynamic_batching { }")
    return "\n".join(lines) + "\n"


def batch_varies(model: Any) -> bool:
    """Whether every input and output's first axis is symbolic (N): Triton's batch axis."""
    ports = [*model.graph.input, *model.graph.output]
    return all(ports) and all(isinstance(export.value_shape(p)[0], str)
                              for p in ports if export.value_shape(p))


def write_repository(model: Any, directory: Path, name: str, max_batch: int = 8,
                     dynamic_batching: bool = False) -> Path:
    """Write DIR/NAME/1/model.onnx and DIR/NAME/config.pbtxt (each atomically); the entry."""
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name) or name in (".", ".."):
        raise NetdslError([error("E214", f"`{name}` cannot name a Triton model folder")])
    entry = directory / name
    try:
        (entry / "1").mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise NetdslError([error("E402", f"{entry}: cannot write: {e.strerror or e}")]) from None
    text = config_text(model, name, max_batch, dynamic_batching)
    export.save(model, entry / "1" / "model.onnx")
    files.write_bytes(entry / "config.pbtxt", lambda f: f.write(text.encode()))
    return entry
