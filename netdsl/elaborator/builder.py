"""AST → Graph: pick a network, bind its parameters, run its body into a Graph. The graph
builder: it owns the graph and wires the parts (statements.py, pipelines.py, calls.py,
naming.py) to the expression evaluator (evaluator.py), answering its Graphs interface."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from netdsl import syntax as s
from netdsl.diagnostics import Diagnostic, NetdslError, did_you_mean, error
from netdsl.elaborator.calls import Calls
from netdsl.elaborator.evaluator import Arg, Evaluator
from netdsl.elaborator.modules import Namespace, block_not_network
from netdsl.elaborator.naming import Naming
from netdsl.elaborator.pipelines import Pipelines
from netdsl.elaborator.report import Reporter
from netdsl.elaborator.scope import MAX_DEPTH, MAX_STEPS, Budget, Frame, Return, TooDeep, TooLong
from netdsl.elaborator.statements import Statements, skipped
from netdsl.elaborator.symbols import channels, examples, not_a_size, size_symbols, where_hint
from netdsl.ir import Graph
from netdsl.ops import REGISTRY
from netdsl.source import Source, Span
from netdsl.valueops import equal
from netdsl.values import POISON, Fault, Value, from_outside, is_number, kind, plural, show


class UnmetShapes(NetdslError):
    """A build whose only errors are annotations and shape expectations (E304, E305) that do not
    hold: its graph is whole, so that the other `expect` lines can be checked too."""

    def __init__(self, diagnostics: Sequence[Diagnostic], graph: Graph):
        super().__init__(diagnostics)
        self.graph = graph


def build(module: s.Module, ns: Namespace, network: str | None = None,
          overrides: dict[str, Value] | None = None, lenient: bool = False,
          example: Span | None = None) -> Graph:
    """Elaborate one network of a module into a checked Graph. `lenient`: a window that does
    not tile its input rounds down instead of failing (E302), and annotations and shape
    expectations (E304, E305) go unchecked, so that netdsl sizes gets the whole graph of a
    network that fails at its declared size. `example`: a build at the sizes of the example on
    that line, whose annotations and shape expectations elsewhere (about the network's own
    sizes) go unchecked."""
    name = _pick_network(module, ns, network)
    graph = Graph(name, module.source, {})
    builder = Builder(module.source, ns, graph)
    builder.calls.lenient = lenient
    builder.example = example
    try:
        return builder.network(name, dict(overrides or {}))
    finally:
        # NOTE: the builder's parts refer to each other (the evaluator asks the builder back):
        # a cycle, freed only by a garbage collection. Holding the graph, it would keep every
        # graph ever built alive until a full collection, which would then scan them all.
        builder.graph = builder.naming.graph = None


def _pick_network(module: s.Module, ns: Namespace, network: str | None) -> str:
    if network is not None:
        if network not in ns.networks and network in ns.blocks:
            raise NetdslError([block_not_network(ns, ns.blocks[network])])
        if network not in ns.networks:
            hint = did_you_mean(network, ns.networks,
                                f"this file defines: {', '.join(ns.order)}" if ns.order else "")
            raise NetdslError([error("E213", f"{module.source.path} defines no network "
                                     f"`{network}`", hints=[hint])])
        return network
    if not ns.order:
        raise NetdslError([error("E213", f"{module.source.path} defines no network",
                                 module.source.span(0, 0),
                                 hints=["a file needs `network NAME { ... }` to check or "
                                        "compile"])])
    if len(ns.order) > 1:
        raise NetdslError([error("E213", f"{module.source.path} defines {len(ns.order)} networks; "
                                 "choose one", hints=[f"pass --network with one of: "
                                                      f"{', '.join(ns.order)}"])])
    return ns.order[0]


class Builder:
    def __init__(self, source: Source, ns: Namespace, graph: Graph | None):
        """`graph` None: a builder for `expect` lines, which may not make layers."""
        self.source = source
        self.ns = ns
        self.graph = graph
        self.report = Reporter()
        self._err = self.report.err
        self.diags = self.report.diagnostics
        self.options: dict[str, object] = {}
        self.example: Span | None = None  # build(): the example line whose sizes it is at
        self.written: dict[str, Span] = {}  # a variant's arguments: where each is written
        self.returned = False  # the network's body ended at a `return`
        budget = Budget()
        self.naming = Naming(graph, self.report)
        self.ev = Evaluator(self, self.report, budget)
        self.statements = Statements(self.ev, self.naming, self.report, budget, self.options,
                                     self._evaluate_alone)
        self.calls = Calls(ns, self.options, self.ev, self.naming, self.report,
                           self.statements.body)
        self.pipelines = Pipelines(self.ev, self.calls, self.naming, self.report)

    # -- the Graphs interface of the evaluator
    def knows(self, name: str) -> bool:
        return name in REGISTRY or name in self.ns.blocks

    def call(self, func: s.Name, args: list[Arg], kwargs: Sequence[s.Keyword], frame: Frame,
             name: str | None, span: Span) -> Value:
        return self.calls.call_named(func, args, kwargs, frame, name, span)

    def call_op(self, op: str, args: list[Arg], frame: Frame, name: str | None,
                span: Span) -> Value:
        return self.calls.call_op(REGISTRY[op], args, [], frame, name, span, hard=False)

    def pipeline(self, e: s.Pipeline, frame: Frame, name: str | None) -> Value:
        return self.pipelines.pipeline(e, frame, name)

    def _evaluate_alone(self, e: s.Expr, scope: dict[str, Value]) -> Value | NetdslError:
        """A part of an `expect` line, evaluated before analysis. NOTE: its names are looked up
        as if in a file of its own (no blocks, no tensors), and its mistakes are reported with
        the expectation's verdict, after analysis."""
        scratch = Builder(self.source, Namespace(), None)
        value = scratch.ev.eval(e, Frame("", dict(scope)))
        for i, d in enumerate(scratch.diags):  # NOTE: the tensors are out of scope here
            name = d.primary.span.text() if d.primary else ""
            hint = (self._named_size(name, batch=True) or self._layer_hint(name)
                    if d.code == "E201" and d.message.endswith("is not defined") else "")
            if hint:
                scratch.diags[i] = dataclasses.replace(d, hints=(*d.hints, hint))
        return NetdslError(scratch.diags) if scratch.diags else value

    # -- entry
    def network(self, name: str, overrides: dict[str, Value]) -> Graph:
        graph = self.graph
        assert graph is not None
        item = self.ns.networks[name]
        net: s.Network | s.NetworkAlias = item
        try:  # NOTE: the limits hold from the first expression on: an alias's arguments and
            # the parameters' defaults are as deep as the program makes them
            net, overrides = self._target(item, overrides)
            frame = Frame("", {})
            symbols = size_symbols(net)
            given = {k: overrides.pop(k) for k in list(overrides) if k in symbols}
            self._bind_network_params(net, overrides, frame, symbols, item)
            graph.params = dict(frame.env)
            graph.sizes = self._sizes(net, symbols, given, frame)
            self.statements.bind(graph.sizes, keep_examples=not given)
            self._run(net, frame)
        except TooLong as long:
            self.diags.append(error("E215", f"elaboration runs more than {MAX_STEPS} statements",
                                    long.span, "still running here", hints=[
                                        "a loop runs far more often than a network needs"]))
        except TooDeep as deep:
            self.diags.append(error("E102", f"the program nests more than {MAX_DEPTH} levels "
                                    "deep", deep.span, "too deep here", hints=[
                                        "name intermediate values, or repeat with `* n` or "
                                        "`for`, instead of nesting"]))
        except RecursionError:
            self.diags.append(error("E102", "the program nests too deeply to elaborate",
                                    item.name.span))
        if not graph.outputs and not self.diags:
            self.diags.append(error("E216", f"network `{name}` declares no output", net.name.span,
                                    hints=["`return` ends a network but makes no output: write "
                                           "`output NAME = value`, or end a pipeline with "
                                           "`-> output NAME`" if self.returned else
                                           "end a pipeline with `-> output NAME`, or write "
                                           "`output NAME = value`"]))
        graph.options = dict(self.options)
        graph.reads = self.ev.reads
        if self.calls.lenient:  # NOTE: annotations and shape expectations state the declared
            self.diags[:] = [d for d in self.diags if d.code not in ("E304", "E305")]  # sizes
        elif self.example is not None:
            self.diags[:] = [d for d in self.diags if d.code not in ("E304", "E305")
                             or self.example.covers(d.primary.span if d.primary else None)]
        if self.diags:
            self._hint_undefined(net)
            if self.example is None and all(d.code in ("E304", "E305") for d in self.diags):
                raise UnmetShapes(self.diags, graph)
            raise NetdslError(self.diags)
        return graph

    def _hint_undefined(self, net: s.Network | s.NetworkAlias) -> None:
        """An undefined name (E201) that a branch or loop which did not run would define, or a
        parameter's default that names a later parameter, says so (found on the error path
        only, by scanning the definitions)."""
        owners: list[s.Block | s.Network] = list(self.ns.blocks.values())
        if isinstance(net, s.Network):
            owners.append(net)
        for i, d in enumerate(self.diags):
            if d.code == "E201" and d.message.endswith("is not defined") and d.primary:
                name, use = d.primary.span.text(), d.primary.span
                hint = (skipped([o.body for o in owners], name, use)
                        or _later(owners, name, use) or self._example_hint(net, name, use)
                        or where_hint(net, use)
                        or self._named_size(name))
                if hint:
                    self.diags[i] = dataclasses.replace(d, hints=(*d.hints, hint))

    def _example_hint(self, net: s.Network | s.NetworkAlias, name: str, use: Span) -> str:
        """Where the named size `name` is used in a shape expectation without `at`: a hint to
        state it as an example."""
        sizes = self.graph.sizes if self.graph is not None else {}
        if not isinstance(net, s.Network) or name not in sizes:
            return ""
        for st in net.body:
            if isinstance(st, s.ExpectShape) and not st.at and (
                    st.dims.span.start <= use.start < st.dims.span.end):
                at = ", ".join(f"{k} = {v}" for k, v in sizes.items())
                return (f"a shape that names sizes holds at an example: `expect {st.name.id}: "
                        f"{st.dims.span.text()} at {at}`")
        return ""

    def _layer_hint(self, name: str) -> str:
        """Where `name`, undefined in an `expect` line, names a layer: a hint to read it."""
        if self.graph is None or name not in self.graph:
            return ""
        return (f"`{name}` names a layer: an expect line reads its measures, as `{name}.params`, "
                f"or its sizes, as `{name}.channels`")

    def _named_size(self, name: str, batch: bool = False) -> str:
        """Where `name` is a named size of an input (`[N, 3, H, W]`): a hint to read it; with
        `batch`, also where it names an input's batch size (the evaluator's own hint says so
        where a tensor is in scope)."""
        inputs = [n for n in self.graph.nodes() if n.op.name == "input"] if batch and \
            self.graph is not None else []
        for node in inputs:
            if node.shape and node.shape[0] == name:
                return (f"`{name}` names the batch size of input `{node.name}`, which has no "
                        f'number: `{node.name}.batch` is the string "{name}"')
        declared = self.graph.declared if self.graph is not None else {}
        for inp, dims in declared.items():
            if name in dims[2:]:
                i = list(dims).index(name)
                attr = {3: ("length",), 4: ("height", "width"), 5: ("depth", "height", "width")
                        }.get(len(dims), ())
                read = attr[i - 2] if i - 2 < len(attr) else f"shape[{i}]"
                return (f"`{name}` names a size of input `{inp}`, not a value: read it as "
                        f"`{inp}.{read}`")
        return ""

    def _target(self, item: s.Network | s.NetworkAlias,
                overrides: dict[str, Value]) -> tuple[s.Network, dict[str, Value]]:
        """The network to run and its parameters' values: an alias's target, with the alias's
        arguments under the values given from outside."""
        if not isinstance(item, s.NetworkAlias):
            return item, overrides
        target = self.ns.networks.get(item.target.id)
        if target is item:
            raise NetdslError([error("E213", f"the variant `{item.name.id}` names itself",
                                     item.target.span)])
        if isinstance(target, s.NetworkAlias):
            raise NetdslError([error(
                "E213", f"`{item.target.id}` is a variant of `{target.target.id}`, and a variant "
                "names a network with a body", item.target.span, hints=[
                    f"write `network {item.name.id} = {target.target.id}(...)` with the "
                    "arguments of both"])])
        if not isinstance(target, s.Network):
            raise NetdslError([error("E213", f"`{item.target.id}` is not a network defined "
                                     "in this file", item.target.span)])
        args = self._alias_args(item, target, Frame("", {}))
        written = [*((p.name.id, a.span) for p, a in zip(target.params, item.args)),
                   *((kw.name, kw.value.span) for kw in item.kwargs)]
        self.written = dict(written)
        params = {p.name.id for p in target.params}
        for k, span in written:  # NOTE: a variant's parameter is what it is (the same value
            # given again is no change); its input sizes are where it is built (--input-size)
            if k in overrides and k in params and not equal(args.get(k), overrides[k]):
                self._err("E214", f"the variant `{item.name.id}` fixes `{k}` as {span.text()}: "
                          "a value given from outside cannot change it", span, "fixed here",
                          hints=[f"for another `{k}`, check the network it varies: --network "
                                 f"{target.name.id} --set {k}={_flag(overrides[k])}"])
        if self.diags:
            raise NetdslError(self.diags)
        args.update(overrides)
        return target, args

    def _run(self, net: s.Network, frame: Frame) -> None:
        try:
            self.statements.body(net.body, frame)
        except Return:
            self.returned = True  # `return` in a network body is accepted and ends it

    def _alias_args(self, item: s.NetworkAlias, target: s.Network,
                    frame: Frame) -> dict[str, Value]:
        out: dict[str, Value] = {}
        names = [p.name.id for p in target.params]
        if len(item.args) > len(names):
            self._err("E207", f"network `{target.name.id}` takes "
                      f"{plural(len(names), 'parameter')}, {len(item.args)} given",
                      item.args[len(names)].span)
        for p, a in zip(names, item.args):
            out[p] = self.ev.eval(a, frame)
        for kw in item.kwargs:
            if kw.name not in names and kw.name not in size_symbols(target):
                self._err("E203", f"network `{target.name.id}` has no argument `{kw.name}`",
                          kw.name_span, "unknown argument", [did_you_mean(
                              kw.name, names, f"it takes: {', '.join(names)}" if names else "")])
            out[kw.name] = self.ev.eval(kw.value, frame)
        if self.diags:
            raise NetdslError(self.diags)
        return out

    def _sizes(self, net: s.Network, symbols: list[str], given: dict[str, Value],
               frame: Frame) -> dict[str, int]:
        """The binding of the input's named sizes: given from outside (--set H=572), else the
        first `expect ... at` example's; a size left unbound is reported at its input."""
        sizes: dict[str, int] = {}
        for k, v in given.items():
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                self._err("E214", f"the input size `{k}` of network `{net.name.id}` takes a "
                          f"positive integer, not {kind(v)}", net.name.span)
            else:
                sizes[k] = v
        for st in examples(net):
            bound: set[str] = set()
            for name, e in st.at:
                if name.id in bound:
                    self._err("E219", f"`at` binds `{name.id}` twice", name.span,
                              hints=["give each size one value"])
                bound.add(name.id)
                if name.id not in symbols and channels(net, name.id):
                    continue  # NOTE: its input is E217, which says what a channel axis takes
                if name.id not in symbols:
                    self._err("E219", f"`at` binds `{name.id}`, which is no named input size "
                              f"of network `{net.name.id}`", name.span,
                              hints=[not_a_size(net, name.id, e, symbols)])
                elif name.id not in sizes and st is examples(net)[0]:
                    v = self.ev.eval(e, frame)
                    if isinstance(v, int) and not isinstance(v, bool) and v > 0:
                        sizes[name.id] = v
                    elif v is not POISON:
                        self._err("E219", f"`{name.id}` is bound to {kind(v)}, not a positive "
                                  "size", e.span)
        if self.diags:
            raise NetdslError(self.diags)
        return {k: sizes[k] for k in symbols if k in sizes}  # NOTE: as the input names them

    def _bind_network_params(self, net: s.Network, overrides: dict[str, Value],
                             frame: Frame, sizes: list[str], item: s.Network | s.NetworkAlias
                             ) -> None:
        """`item`: the network built, `net` or a variant of it (a mistake in what is given from
        outside is reported at the variant, once for each)."""
        names = [p.name.id for p in net.params]
        takes = f"its parameters: {', '.join(names)}" if names else "it takes no parameters"
        takes += f"; its input sizes: {', '.join(sizes)}" if sizes else ""
        which = (f"`{item.name.id}` (a variant of `{net.name.id}`)" if item is not net
                 else f"`{net.name.id}`")
        for key in overrides:
            if key not in names:
                self._err("E214", f"network {which} has no parameter `{key}`",
                          item.name.span, "given a value for `" + key + "` from outside",
                          hints=[did_you_mean(key, [*names, *sizes], takes)])
        for p in net.params:
            if p.name.id in overrides:
                frame.env[p.name.id] = self._override(net, p, overrides[p.name.id], frame)
            elif p.default is not None:
                frame.env[p.name.id] = self.ev.eval(p.default, frame)
            else:
                self._err("E204", f"network parameter `{p.name.id}` has no default and no "
                          "value was given", p.span, hints=[f"pass --set {p.name.id}=VALUE"])
                frame.env[p.name.id] = POISON
        if self.diags:
            self._hint_undefined(net)
            raise NetdslError(self.diags)

    def _override(self, net: s.Network, p: s.Param, value: Value, frame: Frame) -> Value:
        """A parameter value given from outside (--set, keyword arguments of load) or by a
        variant's argument: it must have the kind of the parameter's default, so that `--set
        classes=abc` fails here, once (at the variant's argument, if it gave the value)."""
        at = self.written.get(p.name.id)
        try:
            value = from_outside(value, at or p.span)
        except Fault as f:
            self._err("E214", f"parameter `{p.name.id}` of network `{net.name.id}`: {f.message}",
                      at or p.span)
            return POISON
        if p.default is None:
            return value
        default = self.ev.eval(p.default, frame)
        kinds = [(bool, "`true` or `false`"), (int, "an integer"), (float, "a number"),
                 (str, "a string"), (list, "a list")]
        for k, words in kinds:
            if isinstance(default, k):
                fits = isinstance(value, k) and (k is bool or not isinstance(value, bool))
                if k is float and is_number(value):
                    fits = True
                if not fits and at is not None:
                    self._err("E214", f"parameter `{p.name.id}` of network `{net.name.id}` "
                              f"takes {words}, not {kind(value)}", at, f"not {words}",
                              hints=[f"give it like its default, `{p.name.id}: "
                                     f"{p.default.span.text()}`"],
                              secondary=[(p.span, f"default {p.default.span.text()}")])
                    return POISON
                if not fits:
                    self._err("E214", f"parameter `{p.name.id}` of network `{net.name.id}` "
                              f"takes {words}, not {kind(value)}", p.span,
                              f"default {p.default.span.text()}", hints=[
                                  f"set it like its default, e.g. --set {p.name.id}="
                                  f"{p.default.span.text()}"])
                    return POISON
                break
        return value


def _flag(v: Value) -> str:
    """A value as --set takes it: a string bare."""
    return v if isinstance(v, str) else show(v)


def _later(owners: list[s.Block | s.Network], name: str, use: Span) -> str:
    """Where `use` is in a parameter's default and `name` a parameter after it: a hint."""
    for owner in owners:
        for i, p in enumerate(owner.params):
            if p.default is not None and p.default.span.source is use.source and (
                    p.default.span.start <= use.start and use.end <= p.default.span.end) and (
                    name in [q.name.id for q in owner.params[i + 1:]]):
                return (f"`{name}` is a parameter after `{p.name.id}`: a default may use only "
                        "the parameters before it")
    return ""
