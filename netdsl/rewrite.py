"""Checked graph → checked graph: the lecture's "FC layers become convolutions" (Long, Shelhamer
and Darrell, "Fully Convolutional Networks for Semantic Segmentation", CVPR 2015, section 3.1).

A `flatten -> dense` head sees one fixed-size map. Keeping the map whole instead, the first dense
after a flatten of [N, C, H, W] is a conv with an HxW kernel over it, and every later dense a 1x1
conv: the same weights, reshaped from [out, C*H*W] to [out, C, H, W] (flatten orders C, H, W as a
row-major reshape does). On the original input size the head's values become [N, F, 1, 1] for
[N, F] with the same numbers; on a larger input they become a map of class scores, one per
window position. Softmax and other ops with an axis argument (declared with
ops/base.axis_argument) keep pointing at the features.

The pass builds a new Graph: the flatten goes away, each dense becomes a Conv node of the same
name (so `fc6.weight` keeps its name), every other node is copied, and every shape is inferred
again by the ops themselves. `resize_inputs` re-infers a graph for another input size."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

from netdsl.diagnostics import Diagnostic, NetdslError, error
from netdsl.ir import Graph, InputOp, Node
from netdsl.ops.base import Op, OpError, Shape, fmt_shape
from netdsl.ops.conv import Conv
from netdsl.ops.linear import Dense
from netdsl.ops.tensor import Flatten
from netdsl.record import Record, record


class _Refusal(Exception):
    """A layer of a head that has no convolutional form (E306)."""

    def __init__(self, message: str, hint: str = ""):
        super().__init__(message)
        self.message, self.hint = message, hint


@record
class _Head(Record):
    """A value of a head being rewritten. Between a flatten and its first dense, `kernel` is the
    flattened map's spatial size (the value is the map itself); after a dense it is None and the
    value [N, F] has become [N, F, 1, ..., 1] with `spatial` trailing ones."""

    kernel: tuple[int, ...] | None
    spatial: int


def fully_convolutional(graph: Graph, input_size: Sequence[int] | None = None) -> Graph:
    """The graph with every `flatten -> dense` head turned into convolutions; with `input_size`
    (the spatial size of every input), re-inferred for that size. Raises NetdslError (E306) when
    the network has no such head or a head holds a layer that has no convolutional form."""
    heads = _head_flattens(graph)
    if not heads:
        raise NetdslError([error(
            "E306", f"network `{graph.name}` has no `flatten -> dense` head to turn into "
            "convolutions", graph.inputs[0].span if graph.inputs else None,
            hints=["the rewrite applies to classifiers that flatten a feature map [N, C, H, W] "
                   "and feed it to dense layers"])])
    rewritten, notes = _rewrite(graph, heads)
    return rewritten if input_size is None else resize_inputs(rewritten, input_size, notes)


def _head_flattens(graph: Graph) -> set[str]:
    """Flattens of a map (rank 3 or more) that some dense layer reads, directly or through
    other layers."""
    feeding: set[str] = set()
    for node in graph.nodes():
        if isinstance(node.op, Dense):
            feeding |= graph.ancestors(node.name)
    return {n for n in feeding if isinstance(graph.node(n).op, Flatten)
            and len(_shape(graph, graph.inputs_of(n)[0])) >= 3}


def _shape(graph: Graph, name: str) -> Shape:
    shape = graph.node(name).shape
    assert shape is not None, f"{name} has no shape: the pass needs a checked graph"
    return shape


def _rewrite(graph: Graph, heads: set[str]) -> tuple[Graph, dict[str, str]]:
    """The new graph, and for each dense layer it converted a note for later diagnostics."""
    new = _empty_like(graph)
    notes: dict[str, str] = {}
    alias: dict[str, str] = {}  # a removed flatten -> the map it flattened
    mode: dict[str, _Head] = {}
    diags: list[Diagnostic] = []
    failed: set[str] = set()  # reported, or fed by a reported layer: nothing more to say
    for node in graph.nodes():
        old_ins = graph.inputs_of(node)
        ins = tuple(alias.get(i, i) for i in old_ins)
        if any(i in failed for i in ins):
            failed.add(node.name)
            continue
        if node.name in heads:
            src = _shape(graph, old_ins[0])
            alias[node.name] = ins[0]
            mode[node.name] = _Head(tuple(int(d) for d in src[2:]), len(src) - 2)
            continue
        modes = [mode.get(i) for i in old_ins]
        if all(m is None for m in modes):
            new.add(dataclasses.replace(node), ins)
            continue
        try:
            op, out_mode = _convert(graph, node, modes)
            shape = _infer(op, [_shape(new, i) for i in ins])
            _check_same_values(graph, node, shape, out_mode)
        except OpError as ex:
            diags.append(_diagnostic(node, ex))
            failed.add(node.name)
            continue
        except _Refusal as ex:
            diags.append(error("E306", f"cannot make the head convolutional: {ex.message}",
                               node.span, "no convolutional form", hints=[ex.hint]))
            failed.add(node.name)
            continue
        mode[node.name] = out_mode
        new.add(dataclasses.replace(node, op=op, shape=shape), ins)
        if isinstance(node.op, Dense):
            k = fmt_shape(op.kernel, compact=True)  # type: ignore[attr-defined]
            notes[node.name] = (f"this dense layer became a {k} convolution: the rewritten "
                                "network needs an input at least as large as the original")
    if diags:
        raise NetdslError(diags)
    new.outputs = {o: alias.get(n, n) for o, n in graph.outputs.items()}
    return new, notes


def _convert(graph: Graph, node: Node, modes: list[_Head | None]) -> tuple[Op, _Head]:
    """The op that replaces `node` inside a head, and the kind of value it makes."""
    known = [m for m in modes if m is not None]
    if len(known) != len(modes) or len(set(known)) != 1:
        raise _Refusal(f"{_layer(node)} joins values of the rewritten head with other values")
    m = known[0]
    op = node.op
    if isinstance(op, Dense):
        kernel = m.kernel if m.kernel is not None else (1,) * m.spatial
        return Conv(out=op.out, kernel=kernel, bias=op.bias), _Head(None, m.spatial)
    xs = [_shape(graph, i) for i in graph.inputs_of(node)]
    if m.kernel is not None:
        # Between the flatten and the first dense the map is kept whole: only layers that act
        # on each value alone, with nothing to learn, mean the same on [N, C, H, W].
        if (op.param_shapes(*xs) or op.buffer_shapes(*xs) or op.signature().axes
                or tuple(_shape(graph, node.name)) != tuple(xs[0])):
            raise _Refusal(f"{_layer(node)} sits between a flatten and the first dense layer, "
                           "where the map is kept whole", "only elementwise layers without "
                           "parameters (relu, dropout, ...) may sit there")
        return op, m
    # the features stay on axis 1; the new spatial axes come after the old ones
    return op.axes_from_front(len(xs[0])), m


def _check_same_values(graph: Graph, node: Node, shape: Shape, m: _Head) -> None:
    """On the original input size a head value must be the old one plus trailing 1s (after a
    dense) or the flattened map (before it); anything else computes something different."""
    old = tuple(_shape(graph, node.name))
    want = (*old, *(1,) * m.spatial)
    if m.kernel is None and tuple(shape) != want:
        raise _Refusal(f"{_layer(node)} makes {fmt_shape(shape)} where the convolutional head "
                       f"needs {fmt_shape(want)}, its old shape with the map's axes after it")


def _layer(node: Node) -> str:
    return (f"`{node.name}`" if node.name == node.op.name
            else f"{node.op.name} `{node.name}`")


def _infer(op: Op, xs: list[Shape]) -> Shape:
    op.validate()
    return tuple(op.output_shape(*xs))


def _diagnostic(node: Node, ex: OpError, *hints: str) -> Diagnostic:
    at = node.arg_spans.get(ex.at) or node.span
    return error(ex.code, f"{node.op.name}: {ex.message}", at, hints=[ex.hint, *hints])


def _empty_like(graph: Graph) -> Graph:
    new = Graph(graph.name, graph.source, dict(graph.params))
    new.sizes, new.declared = dict(graph.sizes), dict(graph.declared)  # named input sizes
    new.conditions = list(graph.conditions)
    new.options = dict(graph.options)
    new.scopes = set(graph.scopes)
    return new


def resize_inputs(graph: Graph, size: Sequence[int], notes: Mapping[str, str] | None = None
                  ) -> Graph:
    """The graph re-inferred with every input's spatial size set to `size` (one number: the same
    on every axis). Each op decides its output shape again; a size it cannot take is reported
    at its layer, with the layer's note if `notes` has one."""
    new = _empty_like(graph)
    diags: list[Diagnostic] = []
    failed: set[str] = set()
    for node in graph.nodes():
        op, shape, ins = node.op, node.shape, graph.inputs_of(node)
        if isinstance(op, InputOp):
            old = tuple(op.shape)
            dims = tuple(size) * (len(old) - 2) if len(size) == 1 else tuple(size)
            if len(dims) != len(old) - 2 or any(int(v) <= 0 for v in dims):
                raise NetdslError([error(
                    "E217", f"input `{node.name}` {fmt_shape(old)} has {len(old) - 2} spatial "
                    f"axes; the input size {list(size)} does not fit it", node.span)])
            op = InputOp(shape=(*old[:2], *(int(v) for v in dims)))
            shape = op.shape
        elif any(i in failed for i in ins):
            failed.add(node.name)
            continue
        else:
            try:
                shape = _infer(op, [_shape(new, i) for i in ins])
            except OpError as ex:
                diags.append(_diagnostic(node, ex, (notes or {}).get(node.name, ""),
                                         f"the network was re-inferred for the input size "
                                         f"{list(size)}"))
                failed.add(node.name)
                continue
        new.add(dataclasses.replace(node, op=op, shape=shape), ins)
    if diags:
        raise NetdslError(diags)
    new.outputs = dict(graph.outputs)
    return new


def convert_weights(weights: Mapping[str, Any],
                    expected: Mapping[str, tuple[int, ...]]) -> Mapping[str, Any]:
    """Weights of the original network, reshaped to what the rewritten one expects: a dense
    weight [out, C*H*W] becomes the conv kernel [out, C, H, W]. Names that do not match, or
    whose sizes differ, are passed on unchanged for weights.check to report. A file's arrays
    are not read here (only their headers)."""
    from netdsl.weights import meta, reshaped
    shapes = {}
    for name in weights:
        want, have = expected.get(name), meta(weights, name)[0]
        if want is not None and have != want and math.prod(have) == math.prod(want):
            shapes[name] = want
    return reshaped(weights, shapes)
