"""Valid input sizes (`netdsl sizes`, the E302 hint): a graph → the input sizes that pass its
shape check, for every candidate at once.

The sweep runs each op's vectorised `size_rule` (ops/*) over numpy arrays of candidate sizes, in
graph order, and ANDs their masks: no per-size elaboration. It answers for the graph as built at
the declared size, so conditions on `x.height` or `x.width` are read at that size. A symbolic
derivation (exact progressions from the rules, issue 16) can fill the same Sweep and SizeReport
and be tested against this sweep. Annotations and shape expectations are not evaluated: they
state the shapes at the declared size."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import field
from typing import Any

from netdsl import syntax
from netdsl.diagnostics import NetdslError, did_you_mean
from netdsl.elaborator import Namespace, build
from netdsl.ir import Graph, InputOp, Node
from netdsl.limits import MAX_TENSOR_ELEMENTS
from netdsl.ops.base import Dims, axis_names, fmt_shape
from netdsl.record import Record, record
from netdsl.source import Span
from netdsl.valueops import attribute
from netdsl.values import Fault, Tensor

DEFAULT_RANGE = (1, 4096)
SWEPT_AT_MOST = 1 << 20  # the E302 hint sweeps sizes up to 4x the declared, below this


class SizesError(Exception):
    """A request netdsl sizes cannot answer (unknown input, no spatial axes): a usage error."""


@record(slots=False)
class Sweep(Record):
    """The valid sizes along one sweep: `axis` "square" (every spatial axis the candidate), or
    one axis's name (the others at their declared sizes); each output's dims after the batch at
    every valid size."""

    axis: str
    sizes: list[int]
    outputs: dict[str, list[list[int]]]


@record(slots=False)
class SizeReport(Record):
    """What `netdsl sizes` found for one input of one network."""

    network: str
    input: str
    shape: tuple[Any, ...]  # the input as declared
    range: tuple[int, int]
    square: Sweep
    axes: list[Sweep] = field(default_factory=list)  # per axis (not with --square, nor 1-D)
    notes: list[str] = field(default_factory=list)


def lenient_graph(module: syntax.Module, ns: Namespace, network: str | None,
                  params: Mapping[str, Any] | None) -> Graph:
    """The network's graph, built with fractional window sizes rounded down (NetdslError for
    any other mistake)."""
    return build(module, ns, network, dict(params or {}), lenient=True)


def spatial_input(graph: Graph, name: str | None) -> Node:
    """The input to sweep: the one named, or the first with spatial axes."""
    inputs = graph.inputs
    if name is not None:
        match = [n for n in inputs if n.name == name]
        if not match:
            names = [n.name for n in inputs]
            hint = did_you_mean(name, names, f"its inputs: {', '.join(names)}")
            raise SizesError(f"network `{graph.name}` has no input `{name}`; {hint}")
        node = match[0]
    else:
        node = next((n for n in inputs if _rank(n) >= 3), inputs[0])
    if _rank(node) < 3:
        raise SizesError(f"input `{node.name}` of network `{graph.name}` is "
                         f"{fmt_shape(node.shape or ())}: it has no spatial axes to size")
    return node


def _rank(node: Node) -> int:
    assert isinstance(node.op, InputOp)
    return len(node.op.shape)


Plan = list[tuple[Node, tuple[str, ...], list[Any]]]  # node, its inputs, their shapes


def plan(graph: Graph) -> Plan:
    """The graph in order, with each node's inputs and their declared shapes: what a sweep
    reads, looked up once for several sweeps."""
    return [(n, ins := graph.inputs_of(n), [graph.node(i).shape or () for i in ins])
            for n in graph.nodes()]


def sweep(graph: Graph, input: Node, sizes: Any, axis: int | None,
          limits: list[Node] | None = None, steps: Plan | None = None,
          varied: list[tuple[str, str]] | None = None) -> tuple[Any, dict[str, Dims]]:
    """Every candidate at once: the mask of the sizes (an int64 array) that pass every op of
    the graph when they replace the spatial `axis` of `input` (None: all of them), and each
    output's dims after the batch over the candidates. `limits` collects the nodes that reject
    a candidate every node before them accepted; `varied` the tensor attributes the build read
    (graph.reads, `x.height`) that the candidates change."""
    import numpy as np
    dims: dict[str, Dims] = {}
    reads = {n: [a for r, a in graph.reads if r == n] for n, _ in graph.reads}
    ok = np.ones(sizes.shape, bool) & _where(graph, input, sizes, axis)
    # NOTE: sizes that do not vary stay one-element arrays, which numpy broadcasts: a sweep
    # of one axis costs about half a square one
    for node, ins, shapes in steps if steps is not None else plan(graph):
        if isinstance(node.op, InputOp):
            shape = node.op.shape
            dims[node.name] = tuple(
                sizes if node is input and j >= 2 and axis in (None, j - 2)
                else np.array([int(shape[j])], np.int64) for j in range(1, len(shape)))
        elif not ins:  # a learned tensor (`param`): its own, fixed sizes
            dims[node.name] = tuple(np.array([int(d)], np.int64) for d in (node.shape or ())[1:])
            continue
        else:
            out, mask = node.op.size_rule([dims[i] for i in ins], shapes)
            if mask is not True:
                if limits is not None and not np.all(mask | ~ok):
                    limits.append(node)
                ok &= mask
            dims[node.name] = tuple(out)
        if varied is not None and node.name in reads:
            varied += [(node.name, a) for a in reads[node.name]
                       if _varies(node, dims[node.name], a)]
        ok &= _within_limit(node, dims[node.name])
    return ok, {name: tuple(np.broadcast_to(v, sizes.shape) for v in dims[node])
                for name, node in graph.outputs.items()}


def _where(graph: Graph, input: Node, sizes: Any, axis: int | None) -> Any:
    """The candidates that pass the inputs' `where` clauses (`where H >= 64, H == W`), the
    input's named sizes swept (all, or the one of `axis`), every other at the built size."""
    import numpy as np
    names = graph.declared.get(input.name, ())[2:]
    swept = [d for j, d in enumerate(names) if isinstance(d, str) and axis in (None, j)]
    if not graph.conditions or not swept:
        return True
    return np.array([all(c.evaluate({**graph.sizes, **dict.fromkeys(swept, int(n))})
                         for c, _ in graph.conditions) for n in sizes], bool)


def _varies(node: Node, dims: Dims, name: str) -> bool:
    """Whether the attribute `name` (valueops.attribute) of the node's tensor takes more than one
    value over the candidates."""
    import numpy as np
    try:
        read = attribute(Tensor(node.name, ((node.shape or ("N",))[0], *dims)), name, Span(0, 0))
    except Fault:  # NOTE: none at this rank: the build reported it
        return False
    values: list[Any] = read if isinstance(read, list) else [read]
    return any(np.size(v) > 1 and np.ptp(v) > 0 for v in values)


def _within_limit(node: Node, dims: Dims) -> Any:
    """Whether the node's tensor stays within limits.MAX_TENSOR_ELEMENTS, as E215 checks:
    True where even the largest sizes of every axis do (the usual case: one max per axis)."""
    import numpy as np
    batch = (node.shape or ("N",))[0]
    held: Any = batch if isinstance(batch, int) else 1  # E215 counts a fixed batch too
    bound = held
    for v in dims:
        bound *= int(np.max(v))  # Python ints: exact, no int64 overflow
    if bound <= MAX_TENSOR_ELEMENTS:
        return True
    for v in dims:
        held = held * np.asarray(v, np.float64)  # floats: int64 products could overflow
    return held <= MAX_TENSOR_ELEMENTS


def valid_sizes(graph: Graph, input_name: str | None = None,
                range_: tuple[int, int] = DEFAULT_RANGE, square: bool = False) -> SizeReport:
    """The sizes in `range_` (inclusive) that pass, square and (unless `square`) per axis."""
    import numpy as np
    node = spatial_input(graph, input_name)
    candidates = np.arange(range_[0], range_[1] + 1, dtype=np.int64)
    shape = node.op.shape if isinstance(node.op, InputOp) else ()
    names = axis_names(len(shape) - 2)
    limits: list[Node] = []
    varied: list[tuple[str, str]] = []
    steps = plan(graph)
    sweeps = [_one(graph, node, candidates, None, "square", limits, steps, varied)]
    if not square and len(names) > 1:
        sweeps += [_one(graph, node, candidates, i, a, limits, steps, varied)
                   for i, a in enumerate(names)]
    return SizeReport(graph.name, node.name, tuple(shape), range_, sweeps[0], sweeps[1:],
                      _notes(graph, limits, varied))


def _one(graph: Graph, node: Node, candidates: Any, axis: int | None, name: str,
         limits: list[Node], steps: Plan, varied: list[tuple[str, str]]) -> Sweep:
    ok, outs = sweep(graph, node, candidates, axis, limits, steps, varied)
    return Sweep(name, candidates[ok].tolist(),
                 {o: [list(r) for r in zip(*(v[ok].tolist() for v in d))]
                  for o, d in outs.items()})


def _notes(graph: Graph, limits: list[Node], varied: list[tuple[str, str]]) -> list[str]:
    """What limits the sizes that is not a window: a layer whose input has no spatial axes left
    (`flatten -> dense`: the weights fix the features); and what the sweep cannot answer for: a
    build that read a size the candidates change (`conv(x.height // 4, 3)`)."""
    notes = [f"the build reads `{a}` of `{n}`, which the input size changes: these are the "
             "sizes and shapes of the layers built at the declared size, which may differ at "
             "another" for n, a in dict.fromkeys(varied)]
    for name in dict.fromkeys(n.name for n in limits):
        shape = graph.node(graph.inputs_of(name)[0]).shape or ()
        if len(shape) == 2:
            notes.append(f"`{name}` pins the input size: its input {fmt_shape(shape)} has "
                         "the features of the declared size")
    return notes


# ------------------------------------------------------------------------------ the E302 hint

def with_size_hint(e: NetdslError, module: syntax.Module, ns: Namespace, network: str | None,
                   params: Mapping[str, Any] | None) -> NetdslError:
    """`e` with the nearest valid input sizes added to its E302 hints, where the input size is
    the reason (some input sizes pass) and the build reads no size that the input changes
    (whose layers would differ there); `e` itself otherwise."""
    if not any(d.code == "E302" for d in e.diagnostics):
        return e
    try:
        graph = lenient_graph(module, ns, network, params)
        node = spatial_input(graph, None)
    except (NetdslError, SizesError):
        return e
    hint = _nearest(graph, node)
    if not hint:
        return e
    return NetdslError([dataclasses.replace(d, hints=(*d.hints, hint)) if d.code == "E302" else d
                        for d in e.diagnostics])


def _nearest(graph: Graph, node: Node) -> str:
    import numpy as np
    assert isinstance(node.op, InputOp)
    spatial = [int(v) for v in node.op.shape[2:]]
    if max(spatial) > SWEPT_AT_MOST:
        return ""  # NOTE: no hint rather than arrays of billions of candidates (or overflow)
    candidates = np.arange(1, max(DEFAULT_RANGE[1], 4 * max(spatial)) + 1, dtype=np.int64)
    square = len(set(spatial)) == 1
    axes: Sequence[int | None] = [None] if square else range(len(spatial))
    parts = []
    for axis in axes:
        declared = spatial[axis or 0]
        varied: list[tuple[str, str]] = []
        ok = sweep(graph, node, candidates, axis, varied=varied)[0]
        if varied:
            return ""  # NOTE: the layers differ at other sizes (`maxpool(x.height // 4)`)
        if ok[declared - 1]:
            continue
        below = candidates[ok & (candidates < declared)][-1:]
        above = candidates[ok & (candidates > declared)][:1]
        fits = [int(v) for v in (*below.tolist(), *above.tolist())]
        if fits:
            what = "input size" if axis is None else f"input {axis_names(len(spatial))[axis]}"
            parts.append(f"{what}{'s' if len(fits) > 1 else ''} "
                         f"{' and '.join(map(str, fits))} fit{'s' if len(fits) == 1 else ''}")
    return "; ".join(parts)


# ------------------------------------------------------------------------------ formats

MAX_RUNS = 12  # text lists this many runs per sweep; json lists every size


@record(slots=False)
class Run(Record):
    """Sizes start + step*k (k = 0..count-1) over which every output dim is affine in k too."""

    start: int
    step: int
    count: int
    outputs: dict[str, list[tuple[int, int]]]  # per output, per dim: (first, step)


def runs(s: Sweep) -> list[Run]:
    """The valid sizes cut greedily into the longest runs that are arithmetic progressions in
    the input and in every output dim."""
    out, i, n = [], 0, len(s.sizes)
    while i < n:
        j = i + 1
        if j < n:
            while j + 1 < n and _same_step(s, j - 1, j, j + 1):
                j += 1
        else:
            j = i
        step = s.sizes[i + 1] - s.sizes[i] if j > i else 0
        out.append(Run(s.sizes[i], step, j - i + 1, {
            o: [(v, (s.outputs[o][i + 1][a] - v) if j > i else 0)
                for a, v in enumerate(s.outputs[o][i])] for o in s.outputs}))
        i = j + 1
    return out


def _same_step(s: Sweep, i: int, j: int, k: int) -> bool:
    if s.sizes[k] - s.sizes[j] != s.sizes[j] - s.sizes[i]:
        return False
    return all(r[k][a] - r[j][a] == r[j][a] - r[i][a]
               for r in s.outputs.values() for a in range(len(r[i])))


def _term(r: Run, first: int, step: int) -> str:
    """One output dim over a run: a constant, in the input size n where that is whole
    (`n - 184`), else in k."""
    if step == 0:
        return str(first)
    if step % r.step == 0:
        c = step // r.step
        const = first - c * r.start
        lead = "n" if c == 1 else "-n" if c == -1 else f"{c}n"
        return lead + (f" + {const}" if const > 0 else f" - {-const}" if const < 0 else "")
    k = "k" if step == 1 else f"{step}k"
    return f"{first} + {k}"


def _run_text(r: Run) -> str:
    if r.count == 1:
        sizes = str(r.start)
    elif r.step == 1:
        sizes = f"{r.start}..{r.start + r.count - 1}"
    else:
        sizes = f"{r.start} + {r.step}k (k = 0..{r.count - 1})"
    outs = ", ".join(f"{o} [N, " + ", ".join(_term(r, f, st) for f, st in dims) + "]"
                     for o, dims in r.outputs.items())
    return f"  {sizes} -> {outs}"


def _sweep_text(s: Sweep, title: str) -> list[str]:
    if not s.sizes:
        return [f"{title}: none"]
    rs = runs(s)
    lines = [f"{title}: {len(s.sizes)} size{'s' if len(s.sizes) != 1 else ''}"]
    lines += [_run_text(r) for r in rs[:MAX_RUNS]]
    if len(rs) > MAX_RUNS:
        lines.append(f"  ... and {len(rs) - MAX_RUNS} more runs (--format json lists every size)")
    return lines


def to_text(rep: SizeReport) -> str:
    lo, hi = rep.range
    lines = [f"{rep.network}: input {rep.input} {fmt_shape(rep.shape)}, sizes {lo}..{hi}"]
    lines += _sweep_text(rep.square, "square" if len(rep.shape) > 3 else "length")
    names = axis_names(len(rep.shape) - 2)
    for i, s in enumerate(rep.axes):
        others = ", ".join(f"{a} {rep.shape[2 + j]}" for j, a in enumerate(names) if j != i)
        lines += _sweep_text(s, f"{s.axis} ({others})")
    lines += [f"note: {n}" for n in rep.notes]
    return "\n".join(lines)


def to_json(rep: SizeReport) -> str:
    doc: dict[str, Any] = {"network": rep.network, "input": rep.input,
                           "shape": list(rep.shape), "range": list(rep.range),
                           "sizes": rep.square.sizes, "outputs": rep.square.outputs}
    if rep.axes:
        doc["axes"] = {s.axis: {"sizes": s.sizes, "outputs": s.outputs} for s in rep.axes}
    doc["notes"] = rep.notes
    return json.dumps(doc)
