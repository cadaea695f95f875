"""Helpers for models compiled for every input size (export.to_onnx with `dims`): which axes
of a graph vary between builds at several input sizes, the dynamic model of a graph, and the
comparison of its outputs with those of a model compiled at each size. Until the language has
symbolic sizes, the builds come from rewrite.resize_inputs or from the program text."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import onnx

from netdsl import export
from netdsl.options import CompileOptions

Dims = dict[str, tuple["str | None", ...]]


def varying_dims(graph: Any, builds: Iterable[Any]) -> Dims:
    """For every node of `graph` with an axis whose size differs in some build (a graph of the
    same program at another input size, with the same node names): per axis "" (varies) or
    None; the inputs' varying axes are named H, W (D first in 3-D), or S1, S2, ..."""
    shapes: dict[str, set[tuple[Any, ...]]] = {n.name: {tuple(n.shape)} for n in graph.nodes()}
    for b in builds:
        for n in b.nodes():
            shapes[n.name].add(tuple(n.shape))
    inputs = {i.name: i for i in graph.inputs}
    dims: Dims = {}
    for name, seen in shapes.items():
        rank = len(next(iter(seen)))
        free = tuple(None if i == 0 or len({s[i] for s in seen}) == 1 else ""
                     for i in range(rank))
        if name in inputs:  # H, W (D, H, W in 3-D; L in 1-D), or S1, S2, ...
            names = {3: ("L",), 4: ("H", "W"), 5: ("D", "H", "W")}.get(rank, ())
            free = tuple(p if p is None else names[i - 2] if names and i >= 2 else f"S{i}"
                         for i, p in enumerate(free))
        if any(p is not None for p in free):
            dims[name] = free
    return dims


def onnx_accepts(model: onnx.ModelProto) -> onnx.ModelProto:
    """onnx's full checker and strict shape inference (on the model as written, and on a copy
    without our value_info, so that its own inference runs everywhere); the inferred model."""
    onnx.checker.check_model(model, full_check=True)
    onnx.shape_inference.infer_shapes(model, strict_mode=True)
    bare = onnx.ModelProto()
    bare.CopyFrom(model)
    del bare.graph.value_info[:]
    return onnx.shape_inference.infer_shapes(bare, strict_mode=True, data_prop=True)


def session(model: onnx.ModelProto) -> Any:
    import onnxruntime as ort
    opts = ort.SessionOptions()
    # NOTE: basic optimisations only, for the fixed and the dynamic model alike: the layout
    # transforms of the full level take half a minute on FCN-VGG16's 134M weights
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    return ort.InferenceSession(model.SerializeToString(), opts,
                                providers=["CPUExecutionProvider"])


def run(model: Any, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The outputs by name of a ModelProto (or an InferenceSession made once for many runs)."""
    s = session(model) if isinstance(model, onnx.ModelProto) else model
    names = [o.name for o in s.get_outputs()]
    return dict(zip(names, s.run(names, dict(feeds))))


def feeds_for(graph: Any, seed: int = 0, batch: int = 1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {i.name: rng.standard_normal([batch if isinstance(d, str) else d
                                         for d in i.shape]).astype(np.float32)
            for i in graph.inputs}


def compare_with_fixed(graph: Any, builds: Sequence[Any], options: CompileOptions | None = None,
                       seed: int = 0) -> tuple[onnx.ModelProto, list[float], list[dict[str, Any]]]:
    """The dynamic model of `graph` (the axes that vary over `builds`), run at the input size of
    each build and compared with the model compiled for that build alone (same options, so the
    same weights): the model, the max abs difference per build, and the dynamic model's
    outputs per build."""
    options = options or CompileOptions()
    dynamic = export.to_onnx(graph, options, varying_dims(graph, builds))
    once = session(dynamic)
    errors, outputs = [], []
    for b in builds:
        feeds = feeds_for(b, seed)
        ours = run(once, feeds)
        fixed = run(export.to_onnx(b, options), feeds)
        assert ours.keys() == fixed.keys()
        for k in ours:
            assert ours[k].shape == fixed[k].shape, (k, ours[k].shape, fixed[k].shape)
        errors.append(max(float(np.abs(ours[k] - fixed[k]).max(initial=0.0)) for k in ours))
        outputs.append(ours)
    return dynamic, errors, outputs
