"""Checked graph + stats → what an `expect` line reads of one layer or block: params, buffers,
MACs, FLOPs, layers, memory, output shape and receptive field (`expect layer3.params < 8M`).

A block is a group of layers under one name prefix, as PyTorch names submodules and `netdsl
summary --depth` folds them: a block call (`layer1.0`), a chain (`layer3`), a label. A group adds
up its layers' params, buffers, MACs and layer count; its output shape and receptive field are
its last layer's (its output), and its memory is the peak of activation bytes live while its
layers run, as the network's `memory` is the peak over all of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from netdsl.analysis import LayerStats, Stats, live_bytes
from netdsl.diagnostics import did_you_mean
from netdsl.expectations import LAYER_MEASURES, TENSOR_ATTRS, LayerRef
from netdsl.ops.base import fmt_shape
from netdsl.source import Span
from netdsl.values import Fault, Tensor, Value, attribute

if TYPE_CHECKING:
    from netdsl.ir import Graph



class Layers:
    """The network's layers and blocks by name, for the expectations that read them."""

    def __init__(self, graph: Graph, stats: Stats):
        self._graph = graph
        self._layers: list[LayerStats] = list(stats.layers)
        self._groups: dict[str, list[int]] | None = None  # name -> positions in self._layers
        self._live: list[int] | None = None

    def _index(self) -> dict[str, list[int]]:
        if self._groups is None:
            self._groups = {}
            for i, lay in enumerate(self._layers):
                parts = lay.name.split(".")
                for k in range(1, len(parts) + 1):
                    self._groups.setdefault(".".join(parts[:k]), []).append(i)
        return self._groups

    def find(self, ref: LayerRef) -> list[int]:
        """The positions of the layers that `ref` names; E201 with the close names where it
        names none (inside a block, the names in its instance)."""
        found = self._index().get(ref.scope + ref.name)
        if found is not None:
            return found
        here = [k[len(ref.scope):] for k in self._index() if k.startswith(ref.scope)]
        # NOTE: names as deep as the one written first: `layer5` means `layer4`, not `layer3.5`
        same = [k for k in here if k.count(".") == ref.name.count(".")]
        if ref.made_by is not None:
            hint = (f"`{ref.name}` is a value here, made by the layer `{ref.made_by}`; "
                    "an expectation names layers and blocks")
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

