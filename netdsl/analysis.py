"""Checked graph → stats: parameters, buffers, MACs, activation memory and receptive fields.
Loops over nodes and asks each node's op; no op is special-cased here. (The `expect` lines over
these stats are checked after, by expectations.py.)"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import field
from typing import Any

from netdsl.diagnostics import Diagnostic, warning
from netdsl.ir import Graph, InputOp, Node
from netdsl.ops.base import Op, Shape, Window
from netdsl.record import MutableRecord, Record, record

BYTES_PER_ELEMENT = {"float32": 4, "int64": 8}  # by Op.dtype


@record
class RF(Record):
    """Receptive field on the input, per spatial axis: size (pixels), jump (effective stride,
    input pixels between neighbouring outputs) and start (input coordinate of the first output's
    centre, pixel centres at 0.5, 1.5, ...)."""

    size: tuple[float, ...]
    jump: tuple[float, ...]
    start: tuple[float, ...]
    is_global: bool = False
    axes: tuple[int, ...] = ()  # the tensor axis each field axis is on; () for 2, 3, ...
    unknown: bool = False  # after an op that mixed its axes: UNKNOWN_RF, the numbers are empty

    def on(self) -> tuple[int, ...]:
        """The tensor axes the field's axes are on (ops that move axes move them)."""
        return self.axes or tuple(range(2, 2 + len(self.size)))


UNKNOWN_RF = RF((), (), (), unknown=True)


@record(frozen=False)
class LayerStats(MutableRecord):
    """One layer's measures: output shape, params, buffers, MACs, output bytes, receptive field."""

    name: str
    op: str
    shape: tuple[Any, ...]
    params: int
    buffers: int
    macs: int
    activation_bytes: int  # the output at batch 1
    rf: RF | None
    param_shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    buffer_shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)


@record(frozen=False)
class Stats(MutableRecord):
    """A network's measures: its layers' LayerStats in graph order, the totals, the peak
    activation memory and the warnings analysis found."""

    layers: list[LayerStats]
    params: int
    buffers: int
    macs: int
    peak_bytes: int  # peak live activations at batch 1, in a topological schedule
    warnings: list[Diagnostic]

    @property
    def flops(self) -> int:
        return 2 * self.macs

    def by_name(self) -> dict[str, LayerStats]:
        return {layer.name: layer for layer in self.layers}

    def tensors(self) -> dict[str, tuple[int, ...]]:
        """Every parameter and buffer: `layer.suffix` -> shape, in graph order (a state_dict)."""
        out: dict[str, tuple[int, ...]] = {}
        for layer in self.layers:
            for suffix, shape in (*layer.param_shapes.items(), *layer.buffer_shapes.items()):
                out[f"{layer.name}.{suffix}" if suffix else layer.name] = shape
        return out


def analyze(graph: Graph) -> Stats:
    """Counts and receptive fields for every node, and the peak activation memory."""
    layers: list[LayerStats] = []
    rfs: dict[str, RF | None] = {}
    warnings: list[Diagnostic] = []
    # NOTE: ops are pure: a node whose op and shapes equal an earlier one's has its costs and
    # window (networks repeat their layers: resnet152 has 516 nodes of about 60 kinds)
    kinds: dict[tuple[object, ...], _Kind] = {}
    # NOTE: and by the op's identity first, which hashes without calling Python (the nodes of a
    # repeated layer share one op: elaborator/calls.py); the ops live as long as the graph
    same: dict[tuple[object, ...], _Kind] = {}
    shapes: dict[str, Shape] = {}  # each node's output shape, by name (nodes() is topological)
    reads: dict[str, tuple[str, ...]] = {}  # each node's value inputs, for the lifetimes
    totals = [0, 0, 0]  # params, buffers, MACs
    for node in graph.nodes():
        ins = graph.inputs_of(node)  # NOTE: once per node: value_inputs_of reuses it
        xs = [shapes[i] for i in ins]
        y = node.shape
        assert y is not None
        shapes[node.name] = y
        kind = same.get(mine := (id(node.op), y, *xs))
        if kind is None:
            kind = kinds.get(key := (node.op, y, *xs))
            if kind is None:
                kind = kinds[key] = _Kind(_costs(node.op, y, xs),
                                          node.op.value_inputs(len(ins)) == range(len(ins)))
            same[mine] = kind
        pshapes, bshapes, params, buffers, macs, act = kind.costs
        reads[node.name] = ins if kind.reads_all else graph.value_inputs_of(node, ins)
        rf = _receptive_field(node, [rfs[i] for i in reads[node.name]], xs, warnings, kind)
        rfs[node.name] = rf
        layers.append(LayerStats(node.name, node.op.name, tuple(y), params, buffers, macs, act,
                                 rf, dict(pshapes), dict(bshapes)))
        totals[0] += params
        totals[1] += buffers
        totals[2] += macs
    return Stats(layers, totals[0], totals[1], totals[2], _peak_bytes(graph, layers, reads),
                 warnings)


# parameter shapes, buffer shapes, params, buffers, MACs, activation bytes
_Costs = tuple[dict[str, tuple[int, ...]], dict[str, tuple[int, ...]], int, int, int, int]


@record(frozen=False)
class _Kind(MutableRecord):
    """What the nodes of one op on the same shapes share (analyze): costs, whether they read
    the values of all their inputs (Op.value_inputs), and window once asked."""

    costs: _Costs
    reads_all: bool
    window: Window | None = None


def _costs(op: Op, y: Shape, xs: list[Shape]) -> _Costs:
    """What a node of `op` with output y and inputs xs costs."""
    pshapes = op.param_shapes(*xs)  # a `param` has them without inputs
    bshapes = op.buffer_shapes(*xs)
    return (pshapes, bshapes, sum(math.prod(v) for v in pshapes.values()),
            sum(math.prod(v) for v in bshapes.values()), op.mac_count(y, *xs) if xs else 0,
            0 if pshapes and not xs  # NOTE: a `param` is a weight, not an activation
            else math.prod(int(d) for d in y[1:]) * BYTES_PER_ELEMENT[op.dtype])


def _peak_bytes(graph: Graph, layers: list[LayerStats],
                reads: Mapping[str, Sequence[str]]) -> int:
    sizes = {lay.name: lay.activation_bytes for lay in layers}
    return max(live_curve(graph, sizes, reads), default=0)


def live_bytes(graph: Graph, layers: list[LayerStats]) -> list[int]:
    """Activation bytes live at each step, running the nodes in order: a tensor lives from its
    producer until its last consumer that reads its values ran (outputs until the end:
    Graph.lifetimes). The peak memory is the largest of them."""
    return live_curve(graph, {lay.name: lay.activation_bytes for lay in layers})


def live_curve(graph: Graph, size: Mapping[str, Any],
               reads: Mapping[str, Sequence[str]] | None = None) -> list[Any]:
    """live_bytes over any numbers that add: each value's bytes by name (anysize.py passes
    formulas in the named sizes, so each step's live bytes is a polynomial). `reads`: as
    Graph.lifetimes takes it."""
    change: list[Any] = [0] * (len(graph) + 2)  # per step: bytes made live, less those freed
    for name, (first, last) in graph.lifetimes(reads).items():
        change[first] += size[name]
        change[last + 1] -= size[name]
    live, curve = 0, []
    for delta in change[:len(graph)]:
        live += delta
        curve.append(live)
    return curve


def _receptive_field(node: Node, ins: list[RF | None], xs: list[Any],
                     warnings: list[Diagnostic], kind: _Kind) -> RF | None:
    """The recurrence of Araujo, Norris and Sim, "Computing receptive fields of convolutional
    neural networks" (Distill 2019), run forward one layer at a time, per spatial axis. A layer
    whose output o reads `extent` inputs centred on input index offset + o * f (ops.base.Window;
    for a conv extent = D(F - 1) + 1, f = S, offset = D(F - 1)/2 - P) maps the input's field
    (size r, jump j, start u: the input coordinate of output 0's centre) to
        r' = r + (extent - 1) * j        j' = j * f        u' = u + offset * j
    which is their r_{l} = r_{l-1} + (k_l - 1) * j_{l-1}, j_l = j_{l-1} * s_l and
    u_l = u_{l-1} + ((k_l - 1)/2 - p_l) * j_{l-1}. Pixel centres sit at 0.5, 1.5, ... of the
    input. Upsampling (f < 1) and transposed convs are approximated by their average centre;
    a global window sees the whole input. Branches join by _join.

    The field is unknown (None, never a guess) after an op that mixes the axes it lies on
    (Window "unknown"; a "moves" window sending one of them nowhere), after a sliding window
    over axes the field has been moved off (a permute that the network has not undone), and
    where an unknown field joins others. `kind`: the node's op window, once known (analyze)."""
    if isinstance(node.op, InputOp):
        n = len(node.shape or ()) - 2
        return RF((1.0,) * n, (1.0,) * n, (0.5,) * n) if n > 0 else None
    known = [r for r in ins if r is not None]
    if not known:
        return None
    base = _join(node, known, warnings)
    win = kind.window
    if win is None:
        win = kind.window = node.op.window(*xs)
    if win.kind == "global" or base.is_global:
        return RF(base.size, base.jump, base.start, True)
    if base.unknown or win.kind == "unknown":
        return UNKNOWN_RF
    if win.kind == "moves":
        if any(a >= len(win.moves) for a in base.on()):
            # NOTE: the input has lost the field's axes (flatten of one position, whose field
            # is every output's): every value it moves has that field still
            return base
        axes = [win.moves[a] for a in base.on()]
        if any(a is None for a in axes):
            return UNKNOWN_RF
        new = tuple(a for a in axes if a is not None)
        return dataclasses.replace(base, axes=() if new == tuple(range(2, 2 + len(new))) else new)
    if win.kind == "pointwise" or len(win.extent) != len(base.size):
        return base
    if base.axes:  # a window over axes 2, 3, ... that the field is no longer on
        return UNKNOWN_RF
    return RF(tuple(r + (e - 1) * j for r, e, j in zip(base.size, win.extent, base.jump)),
              tuple(j * f for j, f in zip(base.jump, win.jump)),
              tuple(u + c * j for u, c, j in zip(base.start, win.offset, base.jump)))


def _join(node: Node, rfs: list[RF], warnings: list[Diagnostic]) -> RF:
    """Where branches meet (add, concat, mul), an output sees the union of its inputs' fields:
    per axis, from the lowest begin (u - r/2) to the highest end (u + r/2); for aligned branches
    that is the largest field. The jump is the first input's. Branches whose jumps or centres
    differ are misaligned (an output mixes different places of the image): warning W301."""
    if len(rfs) == 1:
        return rfs[0]
    first = rfs[0]
    if any(r.is_global for r in rfs):
        return RF(first.size, first.jump, first.start, True)
    if any(r.unknown or r.axes != first.axes for r in rfs):  # or on different axes
        return UNKNOWN_RF
    if not all(len(r.size) == len(first.size) for r in rfs):
        return first
    if any(r.jump != first.jump or r.start != first.start for r in rfs):
        warnings.append(warning(
            "W301", f"{node.op.name} `{node.name}` joins branches whose receptive fields are "
            f"misaligned: jumps {_axes([r.jump for r in rfs])}, centres "
            f"{_axes([r.start for r in rfs])} (input pixels)", node.span,
            hints=["crop or pad one branch so that both see the same place of the input; the "
                   "summary reports the union of the fields"]))
    lo = [min(r.start[i] - r.size[i] / 2 for r in rfs) for i in range(len(first.size))]
    hi = [max(r.start[i] + r.size[i] / 2 for r in rfs) for i in range(len(first.size))]
    return RF(tuple(h - lw for lw, h in zip(lo, hi)), first.jump,
              tuple((lw + h) / 2 for lw, h in zip(lo, hi)))


def _axes(values: list[tuple[float, ...]]) -> str:
    return " vs ".join(f"{axes[0]:g}" if len(set(axes)) == 1 else "x".join(f"{v:g}" for v in axes)
                       for axes in values)


def si(n: float) -> str:
    """A count as the reports show it, in K/M/G with two decimals: 429.36K, 4.12G."""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f}{unit}"
    return str(int(n))
