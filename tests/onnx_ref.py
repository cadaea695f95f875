"""Two independent shape checkers for a compiled model: onnx's own (checker + strict shape
inference on the model stripped of our value_info) and onnxruntime's (every tensor we declare
made a graph output and actually computed). Both must give exactly the shapes our checker
inferred, tensor by tensor. Used by the op contract tests and the zoo tests."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx

Dims = tuple[Any, ...]  # ints, or the batch symbol as str


def newest_runnable_opset() -> int:
    """The newest opset both this onnx knows and this onnxruntime loads (onnxruntime 1.23, the
    newest for Python 3.10, stops at opset 23 while onnx 1.23 knows 28): a model of an Identity
    node tried from the newest down, each with the IR version onnx pairs with its opset."""
    import onnxruntime as ort
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "probe", [x], [y])
    for opset in range(onnx.defs.onnx_opset_version(), 17, -1):
        model = helper.make_model_gen_version(graph, opset_imports=[helper.make_opsetid("", opset)])
        try:
            ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        except Exception:  # noqa: BLE001 (onnxruntime raises its own Fail, InvalidGraph...)
            continue
        return opset
    return 17


def declared_shapes(model: onnx.ModelProto) -> dict[str, Dims]:
    """What netdsl wrote into the model (inputs, value_info, outputs): our checker's shapes."""
    g = model.graph
    return {vi.name: _dims(vi) for vi in (*g.input, *g.value_info, *g.output)}


def assert_declares_every_layer(graph: Any, model: onnx.ModelProto,
                                fixed_batch: int | None = None) -> None:
    """Every node of our graph has its tensor declared with its shape (named after the layer, or
    after the output it becomes; a `param`'s by its initializer); with `fixed_batch`, the batch
    symbol is that number."""
    declared = {**{t.name: tuple(t.dims) for t in model.graph.initializer},
                **declared_shapes(model)}
    renamed = {node: out for out, node in graph.outputs.items()}
    for node in graph.nodes():
        name = node.name if node.name in declared else renamed.get(node.name)
        assert name in declared, f"layer {node.name} has no value_info in the model"
        ours = tuple(fixed_batch if fixed_batch and isinstance(d, str) else d for d in node.shape)
        assert declared[name] == ours, (node.name, declared[name], ours)


def onnx_inferred_shapes(model: onnx.ModelProto) -> dict[str, Dims]:
    """onnx's full checker, then strict shape inference on a copy without our value_info, so the
    shapes it reports are its own, not ours echoed back."""
    onnx.checker.check_model(model, full_check=True)
    bare = onnx.ModelProto()
    bare.CopyFrom(model)
    del bare.graph.value_info[:]
    inferred = onnx.shape_inference.infer_shapes(bare, strict_mode=True)
    g = inferred.graph
    return {vi.name: _dims(vi) for vi in (*g.input, *g.value_info, *g.output)}


def assert_onnx_agrees(model: onnx.ModelProto) -> None:
    """onnx's inference gives every tensor we declare exactly our shape, and every tensor of the
    graph (including helpers inside one layer's lowering) a fully known shape."""
    ours = declared_shapes(model)
    theirs = onnx_inferred_shapes(model)
    wrong = {k: (v, theirs.get(k)) for k, v in ours.items() if theirs.get(k) != v}
    assert not wrong, f"onnx infers other shapes (ours, onnx's): {wrong}"
    for node in model.graph.node:
        for out in node.output:
            dims = theirs.get(out)
            assert dims is not None and all(d not in ("", None) for d in dims), (
                f"onnx cannot infer the shape of {out} ({node.op_type}): {dims}")


def ort_shapes(model: onnx.ModelProto, batch: int = 2, seed: int = 0) -> dict[str, Dims]:
    """Run the model on onnxruntime with every declared tensor as an output; their shapes."""
    import onnxruntime as ort
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    outs = {o.name for o in probe.graph.output}
    inputs = {i.name for i in probe.graph.input}
    for vi in model.graph.value_info:
        if vi.name not in outs and vi.name not in inputs:
            probe.graph.output.append(vi)
    opts = ort.SessionOptions()
    # NOTE: no graph optimisation, so that every intermediate tensor really exists
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    s = ort.InferenceSession(probe.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(seed)
    feeds = {i.name: rng.standard_normal([d if isinstance(d, int) else batch for d in i.shape])
             .astype(np.float32) for i in s.get_inputs()}
    names = [o.name for o in s.get_outputs()]
    return {n: tuple(a.shape) for n, a in zip(names, s.run(names, feeds))}


def assert_ort_agrees(model: onnx.ModelProto, batch: int = 2) -> None:
    """onnxruntime computes every declared tensor with exactly our shape (batch substituted)."""
    inputs = {i.name for i in model.graph.input}
    ours = {k: tuple(batch if isinstance(d, str) else d for d in v)
            for k, v in declared_shapes(model).items() if k not in inputs}
    got = ort_shapes(model, batch)
    wrong = {k: (v, got.get(k)) for k, v in ours.items() if got.get(k) != v}
    assert not wrong, f"onnxruntime computes other shapes (ours, onnxruntime's): {wrong}"


def assert_valid(graph: Any, model: onnx.ModelProto, batch: int = 2,
                 fixed_batch: int | None = None) -> None:
    """The whole contract: declared = our checker, onnx agrees, onnxruntime agrees. Give
    `fixed_batch` for a model compiled with a fixed batch size (it is also the batch run)."""
    assert_declares_every_layer(graph, model, fixed_batch)
    batch = fixed_batch or batch
    assert_onnx_agrees(model)
    assert_ort_agrees(model, batch)


def _dims(vi: onnx.ValueInfoProto) -> Dims:
    return tuple(d.dim_value if d.HasField("dim_value") else d.dim_param
                 for d in vi.type.tensor_type.shape.dim)
