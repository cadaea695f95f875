"""Layer names and graph outputs: a node's hierarchical name (`layer1.0.conv1`, `relu_2` when
generated), the clashes between names the author chose (E211), and adding a node to the Graph."""

from __future__ import annotations

import re

from netdsl import syntax as s
from netdsl.diagnostics import NetdslError
from netdsl.elaborator.report import Reporter
from netdsl.elaborator.scope import MAX_NODES, Frame
from netdsl.ir import Graph, Node
from netdsl.ops.base import Op, Shape
from netdsl.source import Span
from netdsl.values import POISON, Tensor, Value, kind


class Naming:
    def __init__(self, graph: Graph | None, report: Reporter):
        self.graph = graph  # None while an `expect` line is evaluated: no layers can be made
        self._err = report.err
        self.diags = report.diagnostics
        self._hard: dict[str, Span] = {}  # names the author chose (labels, chain indices): where
        self._repeated: set[Span] = set()  # labels reported as repeating (E211 once each)
        self._output_spans: dict[str, Span] = {}
        self._next: dict[str, int] = {}  # the suffix from which name() looks for a free name
        self.params = 0  # the parameters of the layers made so far (limits.MAX_TOTAL_PARAMS)

    def add_node(self, local: str, op: Op, inputs: tuple[str, ...], span: Span,
                  arg_spans: dict[str, Span], shape: Shape, frame: Frame, hard: bool,
                  name_span: Span | None = None) -> Tensor:
        assert self.graph is not None
        if len(self.graph) >= MAX_NODES:
            self._err("E215", f"the network exceeds {MAX_NODES} layers", span, frame=frame)
            raise NetdslError(self.diags)
        full = self.name(frame, local, hard, name_span or span, moves=local != op.name,
                         input=op.name == "input")
        shape = tuple(shape)
        self.graph.add(Node(full, op, span, arg_spans, shape, frame.trace), inputs)
        return Tensor(full, shape)

    def scope_base(self, name: str, frame: Frame) -> str:
        """The chain prefix for `name = x -> ...`: `name`, or `name_1`... when reassigned."""
        base, k = name, self._next.get("chain:" + frame.prefix + name, 0)
        if k:
            base = f"{name}_{k}"
        while self.taken(frame.prefix + base + ".0") or self.taken(frame.prefix + base):
            k += 1
            base = f"{name}_{k}"
        if k:
            assert self.graph is not None
            self.graph.moved[frame.prefix + base] = frame.prefix + name
        self._next["chain:" + frame.prefix + name] = k
        return base

    def taken(self, full: str) -> bool:
        assert self.graph is not None
        return self.graph.taken(full)

    def name(self, frame: Frame, local: str, hard: bool, span: Span, moves: bool = False,
             input: bool = False) -> str:
        """The full name of a new layer or block instance: `hard` if the author chose it (a
        clash is E211), else the first of `local`, `local_1`, ... that is free (noted in
        graph.moved if `moves`: a variable's name, not an operator's, moved on). `input`: it
        names a network input."""
        assert self.graph is not None
        full = frame.prefix + local
        if not self.graph.taken(full):
            if hard:
                self._hard[full] = span
            return full
        if hard and self._hard.get(full) == span:
            self._repeated_label(full, span, frame)
        elif hard:
            self._name_clash(full, span, frame, input)
        # NOTE: names are only ever taken, never freed: the search resumes where it last
        # stopped, so that 10,000 unlabelled `relu`s cost linear time, not quadratic
        k = self._next.get(full, 1)
        while self.taken(f"{full}_{k}"):
            k += 1
        if moves:
            assert self.graph is not None
            self.graph.moved[f"{full}_{k}"] = full
        self._next[full] = k + 1
        return f"{full}_{k}"

    def _repeated_label(self, full: str, span: Span, frame: Frame) -> None:
        """E211, once, for a label that names a layer again each time its line runs (a loop)."""
        if span in self._repeated:
            return
        self._repeated.add(span)
        local = full.removeprefix(frame.prefix)
        written = span.text()[1:-1] if span.text().startswith('"') else local
        # NOTE: every loop running here repeats the line: each variable the label lacks
        loops = frame.loops or ("i",)
        missing = [v for v in loops if not re.search(rf"{{[^}}]*\b{v}\b", written)]
        fix = written + ("_" if "{" in written else "") + "_".join(
            f"{{{v}}}" for v in missing or loops[-1:])
        self._err("E211", f"the label `{local}` names a layer on every pass of the loop, but a "
                  "name can be given only once", span, "the same name each time", frame=frame,
                  hints=[f"put the loop variable{'s' if len(frame.loops) > 1 else ''} into the "
                         f'label: `"{fix}": ...`'])

    def _name_clash(self, full: str, span: Span, frame: Frame, input: bool) -> None:
        """E211 for a name the author chose (a label, or an input's if `input`) that something
        else already has."""
        g = self.graph
        assert g is not None
        first = g.node(full) if full in g else None
        if first is not None and full in self._hard and first.op.name == "input":
            self._err("E211", f"two inputs are named `{full}`" if input else
                      f"`{full}` is already the name of an input", span, "second use",
                      frame=frame, secondary=[(first.span, "first use" if input else "the input")],
                      hints=["rename one of the inputs" if input else
                             "rename the layer or the input"])
        elif full in g.outputs:
            self._err("E211", f"`{full}` is already the name of an output", span, "second use",
                      frame=frame, secondary=[(self._output_spans[full], "the output")],
                      hints=["rename the layer or the output"])
        elif full in g and full in self._hard:
            self._err("E211", f"two layers are named `{full}`", span, "second use",
                      frame=frame, secondary=[(g.node(full).span, "first use")],
                      hints=["rename the input or the label" if input else
                             "rename one of the labels"])
        elif full in g:
            node = g.node(full)
            self._err("E211", f"`{full}` is already the automatic name of an earlier layer",
                      span, "second use", frame=frame,
                      secondary=[(node.span, f"this {node.op.name} was named `{full}` "
                                  "automatically")],
                      hints=["label the earlier layer too, or choose another label"])
        else:
            member = next((n.name for n in g.nodes() if n.name.startswith(full + ".")), "")
            self._err("E211", f"`{full}` already names a group of layers"
                      + (f" (`{member}`, ...)" if member else ""), span, "second use",
                      frame=frame, hints=["a name is either one layer or a group of layers "
                                          "(a block call or a chain), as in PyTorch; choose "
                                          "another label"])

    def node_span(self, t: Tensor) -> Span:
        assert self.graph is not None
        return self.graph.node(t.node).span

    def output(self, name: s.Name, value: Value, frame: Frame) -> None:
        """`output NAME = value` and `-> output NAME`: the network's result called NAME."""
        if frame.prefix:
            self._err("E216", "`output` belongs in a network; a block returns its result",
                      name.span, hints=["write `return VALUE`"], frame=frame)
            return
        if value is POISON:
            return
        if not isinstance(value, Tensor):
            self._err("E212", f"output `{name.id}` must be a tensor, not {kind(value)}",
                      name.span, frame=frame)
            return
        assert self.graph is not None  # NOTE: after the checks: an `expect` line has no graph
        if name.id in self.graph.outputs and self._output_spans[name.id] == name.span:
            self._err("E211", f"output `{name.id}` is declared on every pass of the loop, but "
                      "an output is declared once", name.span, "the same output each time",
                      frame=frame, hints=["declare the output after the loop"])
            return
        if name.id in self.graph.outputs:
            self._err("E211", f"output `{name.id}` is declared twice", name.span, "second "
                      "declaration", frame=frame,
                      secondary=[(self._output_spans[name.id], "first declared here")])
            return
        if name.id in self.graph and name.id != value.node:
            # NOTE: ONNX names an output's tensor after the output: it must not be a layer's.
            other = self.graph.node(name.id)
            self._err("E211", f"output `{name.id}` has the name of another layer", name.span,
                      f"the layer `{name.id}` is a different one", frame=frame,
                      secondary=[(other.span, f"`{name.id}` is this {other.op.name} layer")],
                      hints=["choose another name for the output"])
            return
        self.graph.outputs[name.id] = value.node
        self._output_spans[name.id] = name.span
