"""Checked graph + stats → E305 for each `expect` line that does not hold: the pass after
analysis that computes the lines' trees (expectations.py), and what a line reads of one layer or
block: params, buffers, MACs, FLOPs, layers, memory, output shape and receptive field (`expect
layer3.params < 8M`). A `~=` line's numbers are judged in approx.py.

A block is a group of layers under one name prefix, as PyTorch names submodules and `netdsl
summary --depth` folds them: a block call (`layer1.0`), a chain (`layer3`), a label. A group adds
up its layers' params, buffers, MACs and layer count; its output shape and receptive field are
its last layer's (its output), and its memory is the peak of activation bytes live while its
layers run, as the network's `memory` is the peak over all of them.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from netdsl.analysis import LayerStats, Stats, live_bytes
from netdsl.approx import fmt_value, verdict
from netdsl.diagnostics import Diagnostic, NetdslError, did_you_mean, error
from netdsl.expectations import (
    LAYER_MEASURES,
    TENSOR_ATTRS,
    Approx,
    Arith,
    Attr,
    BoolOp,
    Builtin,
    Compare,
    Const,
    Expectation,
    Fail,
    Index,
    LayerMeasure,
    LayerRef,
    LayerShape,
    ListOf,
    Metric,
    Table,
    Tree,
    Unary,
)
from netdsl.ops.base import fmt_shape
from netdsl.source import Span
from netdsl.valueops import (
    add_entry,
    arith,
    attribute,
    call_builtin,
    compare,
    index,
    negate,
    truth,
)
from netdsl.values import POISON, Fault, Key, Tensor, Value, is_number, kind, show

if TYPE_CHECKING:
    from netdsl.ir import Graph


_SCANS = 3  # the names Layers looks up by scanning before it indexes every group


class Layers:
    """The network's layers and blocks by name, for the expectations that read them."""

    def __init__(self, graph: Graph, stats: Stats):
        self._graph = graph
        self._layers: list[LayerStats] = list(stats.layers)
        self._groups: dict[str, list[int]] | None = None  # name -> positions in self._layers
        self._found: dict[str, list[int]] = {}  # the names looked up before the index was made
        self._live: list[int] | None = None

    def _index(self) -> dict[str, list[int]]:
        if self._groups is None:
            self._groups = {}
            groups = self._groups
            for i, lay in enumerate(self._layers):  # under each prefix of its name, and its name
                name = lay.name
                dot = name.find(".")
                while dot >= 0:
                    groups.setdefault(name[:dot], []).append(i)
                    dot = name.find(".", dot + 1)
                groups.setdefault(name, []).append(i)
        return self._groups

    def _positions(self, name: str) -> list[int] | None:
        """The positions of the layer `name` and of the layers under it, in order; None where
        there are none. NOTE: the first few names are found by a scan of the layers' names,
        which costs a third of the index of every group (a network's few `expect` lines name a
        layer or two); the index, after."""
        if self._groups is None and len(self._found) < _SCANS:
            found = self._found.get(name)
            if found is None:
                under = name + "."
                found = self._found[name] = [i for i, lay in enumerate(self._layers)
                                             if lay.name.startswith(under) or lay.name == name]
            return found or None
        return self._index().get(name)

    def find(self, ref: LayerRef) -> list[int]:
        """The positions of the layers that `ref` names; E201 with the close names where it
        names none (inside a block, the names in its instance)."""
        found = self._positions(ref.scope + ref.name)
        if found is not None:
            return found
        here = [k[len(ref.scope):] for k in self._index() if k.startswith(ref.scope)]
        # NOTE: names as deep as the one written first: `layer5` means `layer4`, not `layer3.5`
        same = [k for k in here if k.count(".") == ref.name.count(".")]
        if ref.made_by is not None:
            hint = (f"`{ref.name}` is a value here, made by the layer `{ref.made_by}`; "
                    "an expectation names layers and blocks")
        elif "{" in ref.name:  # NOTE: no layer name holds a brace
            hint = ("an expect line reads a quoted name as it is written: `{...}` is filled in "
                    "only in a label; write the name out, as `netdsl summary FILE` lists it")
        else:
            hint = did_you_mean(ref.name, same, n=3) or did_you_mean(
                ref.name, here, "`netdsl summary FILE` lists the layer names; a block is named "
                "by the prefix its layers share (`layer1`, `layer1.0`)", n=3)
        label = f"not in `{ref.scope[:-1]}`" if ref.scope else "no such layer or block"
        raise Fault("E201", f"no layer or block is named `{ref.name}`", ref.span, label, [hint])

    def last(self, found: list[int]) -> LayerStats:
        return self._layers[found[-1]]

    def span(self, found: list[int]) -> Span:
        """Where the group's output is made: its last layer's call."""
        return self._graph.node(self.last(found).name).span

    def measure(self, found: list[int], name: str, what: str, span: Span) -> Value:
        """`what` of the group `name` (its positions `found`); `span`: the measure's name."""
        lays = [self._layers[i] for i in found]
        sums = {"params": sum(x.params for x in lays), "buffers": sum(x.buffers for x in lays),
                "macs": sum(x.macs for x in lays), "flops": 2 * sum(x.macs for x in lays),
                "layers": len(lays)}
        if what in sums:
            return sums[what]
        if what == "memory":
            if self._live is None:
                self._live = live_bytes(self._graph, self._layers)
            return max(self._live[i] for i in found)
        if what == "rf":
            return _rf_size(name, lays[-1], span)
        if what == "shape" or what in TENSOR_ATTRS:
            return attribute(Tensor(lays[-1].name, lays[-1].shape), what, span)
        known = (*LAYER_MEASURES, *TENSOR_ATTRS)
        raise Fault("E212", f"a layer or block has no measure `{what}`", span, hints=[
            did_you_mean(what, known, f"it has: {', '.join(known)}")])


def _rf_size(name: str, last: LayerStats, span: Span) -> Value:
    """The receptive field's size in input pixels: one number when every spatial axis agrees,
    else one per axis. E212 where there is none: a non-spatial input, or a global layer."""
    of = f"`{name}`" if name == last.name else f"`{name}` (its last layer `{last.name}`)"
    if last.rf is None:
        raise Fault("E212", f"{of} has no receptive field: the input it reads has no spatial "
                    f"axes", span)
    if last.rf.is_global:
        raise Fault("E212", f"{of} sees the whole input: its output {fmt_shape(last.shape)} has "
                    "no receptive-field size", span, hints=[
                        "a global pooling, or a flatten and what follows it, reads every input "
                        "pixel; expect the rf of a layer before it"])
    sizes = [int(v) if float(v).is_integer() else v for v in last.rf.size]
    return sizes[0] if len(set(sizes)) == 1 else list(sizes)


def check_expectations(graph: Graph, stats: Stats) -> None:
    """Evaluate every `expect` line with params, buffers, macs, flops, memory (peak activation
    bytes at batch 1) and layers (count) bound, and the layers and blocks by name; raise E305
    for each that does not hold, and the mistakes found in the lines, in line order. A mistake
    in a line inside a block is reported once, at its first call."""
    metrics: dict[str, Value] = {
        "params": stats.params, "buffers": stats.buffers, "macs": stats.macs,
        "flops": stats.flops, "memory": stats.peak_bytes, "layers": len(stats.layers)}
    layers = Layers(graph, stats)
    diags: list[Diagnostic] = []
    seen: set[tuple[str, str, int, int, int]] = set()
    for ex in graph.expectations:
        run = _Run(metrics, layers, seen)
        failure = run.check(ex)
        found = run.diagnostics or ([failure] if failure else [])
        diags += [dataclasses.replace(d, notes=ex.notes + d.notes) for d in found]
    if diags:
        raise NetdslError(diags)


class _Run:
    """One evaluation of a tree: its value, and the mistakes met on the way (each once, in all
    the runs that share `seen`)."""

    def __init__(self, metrics: dict[str, Value], layers: Layers,
                 seen: set[tuple[str, str, int, int, int]]):
        self.metrics = metrics
        self.layers = layers
        self.diagnostics: list[Diagnostic] = []
        self.failed = False  # a mistake was met (reported now, or by an earlier run)
        self._seen = seen

    def _report(self, d: Diagnostic) -> None:
        sp = d.primary.span if d.primary else None
        key = (d.code, d.message, id(sp.source) if sp else 0, sp.start if sp else -1,
               sp.end if sp else -1)
        self.failed = True
        if key not in self._seen:
            self._seen.add(key)
            self.diagnostics.append(d)

    def check(self, ex: Expectation) -> Diagnostic | None:
        """None where the line holds (or a mistake was reported); else its E305."""
        t = ex.tree
        if isinstance(t, (Approx, LayerShape)):
            return self._approx(t, ex.span) if isinstance(t, Approx) else self._shape(t)
        ok = self.value(t)
        if ok is True or self.failed:
            return None
        if isinstance(t, Compare) and len(t.operands) == 2:
            lhs, rhs = (self.value(o) for o in t.operands)
            message = f"{t.texts[0]} is {fmt_value(lhs)}, expected {t.ops[0]} {fmt_value(rhs)}"
        elif not isinstance(ok, bool):
            return error("E305", f"expectation failed: `{ex.text}` is {kind(ok)}, not a "
                         "condition", ex.span, "not true or false", [
                             "an expect line holds where its condition is true: compare the "
                             "value, as in `expect params < 25M`"])
        else:
            message = f"`{ex.text}` is {show(ok)}"
        return error("E305", f"expectation failed: {message}", ex.span, "does not hold")

    def _shape(self, t: LayerShape) -> Diagnostic | None:
        ref = t.layer
        try:
            found = self.layers.find(ref)
        except Fault as f:
            self._fault(f)
            return None
        shape = self.layers.last(found).shape
        if tuple(shape) == t.dims:
            return None
        return error("E305", f"`{ref.name}` has shape {fmt_shape(shape)}, "
                     f"but the expectation says {fmt_shape(t.dims)}", t.span,
                     f"actual {fmt_shape(shape)}", secondary=[(self.layers.span(found),
                                                                "made here")])

    def _approx(self, t: Approx, span: Span) -> Diagnostic | None:
        """`actual ~= expected within tolerance`: its three values, each a number, judged by
        approx.verdict."""
        vals = [self.value(x) for x in (t.actual, t.expected, t.tolerance)]
        if self.failed:
            return None
        for v, text, at in zip(vals, t.texts, t.spans):
            if not is_number(v):
                self._report(error("E212", f"`~=` compares numbers, but `{text}` is {kind(v)}",
                                   at))
                return None
        try:
            return verdict(t, [v for v in vals if is_number(v)], span)  # NOTE: all three
        except Fault as f:
            self._fault(f)
            return None

    def _fault(self, f: Fault) -> None:
        self._report(error(f.code, f.message, f.span, f.label, f.hints, f.secondary))

    def value(self, t: Tree) -> Value:
        try:
            return self._value(t)
        except Fault as f:
            self._fault(f)
            return POISON

    def _truth(self, v: Value, span: Span) -> bool:
        try:
            return truth(v, span)
        except Fault as f:
            self._fault(f)
            return False

    def _value(self, t: Tree) -> Value:
        match t:
            case Const():
                return t.value
            case Metric():
                return self.metrics[t.name]
            case Fail():
                for d in t.diagnostics:
                    self._report(d)
                return POISON
            case Unary():
                v = self.value(t.operand)
                if v is POISON:
                    return POISON
                return not self._truth(v, t.operand_span) if t.op == "not" else negate(v, t.span)
            case BoolOp():
                return self._boolop(t)
            case Compare():
                vals = [self.value(o) for o in t.operands]
                return POISON if any(v is POISON for v in vals) else compare(t.ops, vals, t.span)
            case Arith():
                return self._arith(t)
            case ListOf():
                items = [self.value(x) for x in t.items]
                return POISON if any(x is POISON for x in items) else items
            case Table():
                return self._table(t)
            case Index():
                v, i = self.value(t.obj), self.value(t.index)
                return POISON if v is POISON or i is POISON else index(v, i, t.span, t.index_span)
            case Attr():
                v = self.value(t.obj)
                return POISON if v is POISON else attribute(v, t.name, t.span)
            case Builtin():
                args = [(self.value(a), sp) for a, sp in t.args]
                return call_builtin(t.name, args, t.keyword, t.span)
            case LayerMeasure():
                found = self.layers.find(t.layer)
                return self.layers.measure(found, t.layer.scope + t.layer.name, t.measure,
                                           t.span)
        raise AssertionError(t)  # LayerShape and Approx are whole lines: check()

    def _arith(self, t: Arith) -> Value:
        # NOTE: `a + b + ... + z` nests to the left: evaluated in a loop, one level deep
        links = [t]
        while isinstance(links[-1].left, Arith):
            links.append(links[-1].left)
        a = self.value(links[-1].left)
        for link in reversed(links):
            b = self.value(link.right)
            try:
                a = POISON if a is POISON or b is POISON else arith(link.op, a, b, link.spans)
            except Fault as f:
                if link is t:
                    raise
                self._fault(f)
                a = POISON
        return a

    def _boolop(self, t: BoolOp) -> Value:
        links = [t]  # NOTE: `a or b or c` nests to the left, as _arith's chains
        while isinstance(links[-1].left, BoolOp):
            links.append(links[-1].left)
        v = self.value(links[-1].left)
        for link in reversed(links):
            if v is POISON:
                return POISON
            lt = self._truth(v, link.left_span)
            if (link.op == "and" and not lt) or (link.op == "or" and lt):
                v = lt
                continue
            right = self.value(link.right)
            v = POISON if right is POISON else self._truth(right, link.right_span)
        return v

    def _table(self, t: Table) -> Value:
        table: dict[Key, Value] = {}
        where: dict[Key, Span] = {}
        for k, v, span in t.entries:
            key, value = self.value(k), self.value(v)
            if key is POISON or value is POISON:
                return POISON
            add_entry(table, where, key, value, span)
        return table
