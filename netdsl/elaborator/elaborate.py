"""Networks and statements: pick a network, bind its parameters, run its body (inputs, outputs,
assignments, annotations, expectations, options, if/for/return) into a Graph. The elaborator
class gathers the expression and call mixins; mistakes are collected and raised once."""

from __future__ import annotations

import difflib
from typing import Any

from netdsl import syntax as s
from netdsl.diagnostics import Diagnostic, NetdslError, error
from netdsl.elaborator.calls import _Calls
from netdsl.elaborator.expressions import _Expressions
from netdsl.elaborator.modules import Namespace
from netdsl.elaborator.values import (
    INITS,
    MAX_DEPTH,
    MAX_REPEAT,
    MAX_STEPS,
    OPTIONS,
    POISON,
    Tensor,
    _Frame,
    _is_number,
    _kind,
    _Poison,
    _Return,
    _TooDeep,
    _TooLong,
)
from netdsl.ir import Expectation, Graph, InputOp
from netdsl.ops.base import fmt_shape
from netdsl.ops.types import coerce
from netdsl.source import Source, Span


def build(module: s.Module, ns: Namespace, network: str | None = None,
          overrides: dict[str, Any] | None = None) -> Graph:
    """Elaborate one network of a module into a checked Graph."""
    name = _pick_network(module, ns, network)
    return _Elaborator(module.source, ns).network(name, dict(overrides or {}))


def _pick_network(module: s.Module, ns: Namespace, network: str | None) -> str:
    if network is not None:
        if network not in ns.networks:
            close = difflib.get_close_matches(network, list(ns.networks), 1)
            hint = f"did you mean `{close[0]}`?" if close else (
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


class _Elaborator(_Expressions, _Calls):
    def __init__(self, source: Source, ns: Namespace):
        self.source = source
        self.ns = ns
        self.diags: list[Diagnostic] = []
        self.graph: Graph | None = None
        self.options: dict[str, Any] = {}
        self.depth = 0  # of eval and _stmt calls, against MAX_DEPTH
        self.steps = 0  # statements run, against MAX_STEPS
        self._hard: set[str] = set()  # names the author chose (labels, chain indices)
        self._output_spans: dict[str, Span] = {}
        self._reported: set[tuple[str, str, int, int, int]] = set()

    # -- entry
    def network(self, name: str, overrides: dict[str, Any]) -> Graph:
        item = self.ns.networks[name]
        if isinstance(item, s.NetworkAlias):
            target = self.ns.networks.get(item.target.id)
            if not isinstance(target, s.Network):
                raise NetdslError([error("E213", f"`{item.target.id}` is not a network defined "
                                         "in this file", item.target.span)])
            base = _Frame("", {})
            args = self._alias_args(item, target, base)
            args.update(overrides)
            net, overrides = target, args
        else:
            net = item
        graph = Graph(name, self.source, {})
        self.graph = graph
        frame = _Frame("", {})
        self._bind_network_params(net, overrides, frame)
        graph.params = dict(frame.env)
        try:
            self._body(net.body, frame)
        except _Return:
            pass  # `return` in a network body is accepted and ends it
        except _TooLong as long:
            self.diags.append(error("E215", f"elaboration runs more than {MAX_STEPS} statements",
                                    long.span, "still running here", hints=[
                                        "a loop runs far more often than a network needs"]))
        except _TooDeep as deep:
            self.diags.append(error("E102", f"the program nests more than {MAX_DEPTH} levels "
                                    "deep", deep.span, "too deep here", hints=[
                                        "name intermediate values, or repeat with `* n` or "
                                        "`for`, instead of nesting"]))
        except RecursionError:
            self.diags.append(error("E102", "the program nests too deeply to elaborate",
                                    net.name.span))
        if not graph.outputs and not self.diags:
            self.diags.append(error("E216", f"network `{name}` declares no output", net.name.span,
                                    hints=["end a pipeline with `-> output NAME`, or write "
                                           "`output NAME = value`"]))
        graph.options = dict(self.options)
        if self.diags:
            raise NetdslError(self.diags)
        return graph

    def _alias_args(self, item: s.NetworkAlias, target: s.Network, frame: _Frame) -> dict[str, Any]:
        out: dict[str, Any] = {}
        names = [p.name.id for p in target.params]
        if len(item.args) > len(names):
            self._err("E207", f"network `{target.name.id}` takes {len(names)} parameters, "
                      f"{len(item.args)} given", item.args[len(names)].span)
        for p, a in zip(names, item.args):
            out[p] = self.eval(a, frame)
        for kw in item.kwargs:
            if kw.name not in names:
                self._unknown_kw(kw, names, f"network `{target.name.id}`")
            out[kw.name] = self.eval(kw.value, frame)
        if self.diags:
            raise NetdslError(self.diags)
        return out

    def _bind_network_params(self, net: s.Network, overrides: dict[str, Any],
                             frame: _Frame) -> None:
        names = [p.name.id for p in net.params]
        for key in overrides:
            if key not in names:
                close = difflib.get_close_matches(key, names, 1)
                self._err("E214", f"network `{net.name.id}` has no parameter `{key}`",
                          net.name.span, "given a value for `" + key + "` from outside",
                          hints=[f"did you mean `{close[0]}`?" if close else
                                 (f"its parameters: {', '.join(names)}" if names
                                  else "it takes no parameters")])
        for p in net.params:
            if p.name.id in overrides:
                frame.env[p.name.id] = self._override(net, p, overrides[p.name.id], frame)
            elif p.default is not None:
                frame.env[p.name.id] = self.eval(p.default, frame)
            else:
                self._err("E204", f"network parameter `{p.name.id}` has no default and no "
                          "value was given", p.span, hints=[f"pass --set {p.name.id}=VALUE"])
                frame.env[p.name.id] = POISON
        if self.diags:
            raise NetdslError(self.diags)

    def _override(self, net: s.Network, p: s.Param, value: Any, frame: _Frame) -> Any:
        """A parameter value given from outside (--set, keyword arguments of load): it must have
        the kind of the parameter's default, so that `--set classes=abc` fails here, once."""
        if p.default is None:
            return value
        default = self.eval(p.default, frame)
        kinds = [(bool, "`true` or `false`"), (int, "an integer"), (float, "a number"),
                 (str, "a string"), (list, "a list")]
        for kind, words in kinds:
            if isinstance(default, kind):
                fits = isinstance(value, kind) and (kind is bool or not isinstance(value, bool))
                if kind is float and _is_number(value):
                    fits = True
                if not fits:
                    self._err("E214", f"parameter `{p.name.id}` of network `{net.name.id}` "
                              f"takes {words}, not {_kind(value)}", p.span,
                              f"default {p.default.span.text()}", hints=[
                                  f"set it like its default, e.g. --set {p.name.id}="
                                  f"{p.default.span.text()}"])
                    return POISON
                break
        return value

    # -- diagnostics
    def _err(self, code: str, message: str, span: Span | None, label: str = "",
             hints: list[str] | tuple[str, ...] = (), frame: _Frame | None = None,
             secondary: list[tuple[Span, str]] | None = None) -> _Poison:
        if frame is not None:
            frame.failed = True
        # NOTE: a mistake inside a block would repeat once per call; the first call reports it.
        key = (code, message, id(span.source) if span else 0, span.start if span else -1,
               span.end if span else -1)
        if key in self._reported:
            return POISON
        self._reported.add(key)
        notes = [f"in block `{b}` called at {self._where(sp)}"
                 for b, sp in zip(reversed(frame.blocks), reversed(frame.trace))] if frame else []
        self.diags.append(error(code, message, span, label, hints, secondary or [], notes))
        return POISON

    @staticmethod
    def _where(span: Span) -> str:
        if span.source is None:
            return "?"
        line, col = span.source.line_col(span.start)
        return f"{span.source.path}:{line}:{col}"

    def _unknown_kw(self, kw: s.Keyword, names: list[str], what: str,
                    frame: _Frame | None = None) -> None:
        close = difflib.get_close_matches(kw.name, names, 1)
        self._err("E203", f"{what} has no argument `{kw.name}`", kw.name_span,
                  "unknown argument", [f"did you mean `{close[0]}`?" if close else
                                       f"it takes: {', '.join(names)}" if names else ""], frame)

    # -- statements
    def _body(self, body: tuple[Any, ...], frame: _Frame) -> None:
        for stmt in body:
            self._stmt(stmt, frame)

    def _stmt(self, st: Any, frame: _Frame) -> None:
        self.depth += 1
        self.steps += 1
        try:
            if self.depth > MAX_DEPTH:
                raise _TooDeep(st.span)
            if self.steps > MAX_STEPS:
                raise _TooLong(st.span)
            getattr(self, f"_stmt_{type(st).__name__.lower()}")(st, frame)
        finally:
            self.depth -= 1

    def _stmt_input(self, st: s.Input, frame: _Frame) -> None:
        if frame.prefix:
            self._err("E217", "`input` belongs in a network, not in a block", st.span,
                      hints=["a block receives tensors as its parameters"], frame=frame)
            return
        shape = self._shape_literal(st.dims, frame)
        if shape is POISON:
            frame.env[st.name.id] = POISON
            return
        bad = [d for d in shape[1:] if not isinstance(d, int) or d <= 0]
        if len(shape) < 2 or bad:
            self._err("E217", f"input `{st.name.id}` needs a shape [N, C, ...] with positive "
                      f"sizes after the batch, not {fmt_shape(shape)}", st.dims.span, frame=frame)
            frame.env[st.name.id] = POISON
            return
        frame.env[st.name.id] = self._add_node(st.name.id, InputOp(shape=tuple(shape)), (),
                                               st.span, {}, shape, frame, hard=True,
                                               name_span=st.name.span)

    def _stmt_assign(self, st: s.Assign, frame: _Frame) -> None:
        frame.env[st.name.id] = self.eval(st.value, frame, name=st.name.id)

    def _stmt_exprstmt(self, st: s.ExprStmt, frame: _Frame) -> None:
        self.eval(st.expr, frame)

    def _stmt_output(self, st: s.Output, frame: _Frame) -> None:
        if st.value is None:
            value = self._lookup(st.name, frame)
        else:
            value = self.eval(st.value, frame, name=st.name.id)
            frame.env[st.name.id] = value
        self._output(st.name, value, frame)

    def _output(self, name: s.Name, value: Any, frame: _Frame) -> None:
        assert self.graph is not None
        if frame.prefix:
            self._err("E216", "`output` belongs in a network; a block returns its result",
                      name.span, hints=["write `return VALUE`"], frame=frame)
            return
        if value is POISON:
            return
        if not isinstance(value, Tensor):
            self._err("E212", f"output `{name.id}` must be a tensor, not {_kind(value)}",
                      name.span, frame=frame)
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

    def _stmt_annotate(self, st: s.Annotate, frame: _Frame) -> None:
        self._check_shape(st.name, st.dims, frame, "E304", "annotation")

    def _stmt_expectshape(self, st: s.ExpectShape, frame: _Frame) -> None:
        self._check_shape(st.name, st.dims, frame, "E305", "expectation")

    def _check_shape(self, name: s.Name, dims: s.ListExpr, frame: _Frame, code: str,
                     what: str) -> None:
        value = self._lookup(name, frame)
        if value is POISON:
            return
        if not isinstance(value, Tensor):
            self._err("E212", f"`{name.id}` is {_kind(value)}, not a tensor", name.span,
                      frame=frame)
            return
        want = self._shape_literal(dims, frame)
        if want is POISON:
            return
        if tuple(want) != tuple(value.shape):
            self._err(code, f"`{name.id}` has shape {fmt_shape(value.shape)}, but the {what} "
                      f"says {fmt_shape(want)}", dims.span, f"actual {fmt_shape(value.shape)}",
                      frame=frame, secondary=[(self._node_span(value), "made here")])

    def _stmt_expectexpr(self, st: s.ExpectExpr, frame: _Frame) -> None:
        assert self.graph is not None
        env = {k: v for k, v in frame.env.items() if not isinstance(v, Tensor)}
        self.graph.expectations.append(Expectation(st.expr, env, st.span))

    def _stmt_option(self, st: s.Option, frame: _Frame) -> None:
        key = st.name.id
        if key not in OPTIONS:
            close = difflib.get_close_matches(key, list(OPTIONS), 1)
            self._err("E203", f"unknown option `{key}`", st.name.span,
                      hints=[f"did you mean `{close[0]}`?" if close else
                             f"options: {', '.join(OPTIONS)}"], frame=frame)
            return
        value = self.eval(st.value, frame)
        if value is POISON:
            return
        try:
            value = coerce(OPTIONS[key], value)
        except TypeError as e:
            self._err("E205", f"option `{key}` takes {e}, not {_kind(value)}", st.value.span,
                      frame=frame)
            return
        if key == "init" and value not in INITS:
            self._err("E206", f'unknown initialisation "{value}"', st.value.span,
                      hints=[f'use one of: {", ".join(INITS)}'], frame=frame)
            return
        self.options[key] = value

    def _stmt_if(self, st: s.If, frame: _Frame) -> None:
        for cond, body in st.branches:
            c = self.eval(cond, frame)
            if c is not POISON and not isinstance(c, (bool, int, float)):
                c = self._err("E212", f"a condition must be true or false, not {_kind(c)}",
                              cond.span, frame=frame)
            if c is POISON:  # no branch runs: what any branch defines is unknown, not undefined
                frame.failed = True
                _poison(frame, [b for _, b in st.branches] + [st.orelse])
                return
            if c:
                self._body(body, frame)
                return
        self._body(st.orelse, frame)

    def _stmt_for(self, st: s.For, frame: _Frame) -> None:
        items = self.eval(st.iter, frame)
        if items is not POISON and not isinstance(items, list):
            items = self._err("E212", f"`for` needs a list such as range(n), not "
                              f"{_kind(items)}", st.iter.span, frame=frame)
        if items is not POISON and len(items) > MAX_REPEAT:
            items = self._err("E215", f"a loop of {len(items)} iterations exceeds the limit of "
                              f"{MAX_REPEAT}", st.iter.span, frame=frame)
        if items is POISON:  # the body never runs: what it defines is unknown, not undefined
            frame.failed = True
            frame.env[st.var.id] = POISON
            _poison(frame, [st.body])
            return
        for item in items:
            frame.env[st.var.id] = item
            self._body(st.body, frame)

    def _stmt_return(self, st: s.Return, frame: _Frame) -> None:
        # NOTE: a block that returns a chain is a Sequential, as in torch: the chain's unlabelled
        # stages are numbered in the block's own scope (NAME.0, NAME.1, ...); "" names that scope.
        own = "" if frame.prefix and isinstance(st.value, s.Pipeline) else None
        raise _Return(self.eval(st.value, frame, name=own))


def _poison(frame: _Frame, bodies: list[tuple[Any, ...]]) -> None:
    """Bind every name these statements would define to POISON: they did not run because of a
    reported mistake, and a later use of those names must not be reported again as undefined."""
    todo = list(bodies)
    while todo:
        for st in todo.pop():
            if isinstance(st, (s.Assign, s.Output, s.Input)):
                frame.env.setdefault(st.name.id, POISON)
            elif isinstance(st, s.For):
                frame.env.setdefault(st.var.id, POISON)
                todo.append(st.body)
            elif isinstance(st, s.If):
                todo.extend([b for _, b in st.branches] + [st.orelse])
            value = getattr(st, "value", None) or getattr(st, "expr", None)
            if isinstance(value, s.Pipeline):
                for stage in value.stages:
                    if isinstance(stage, s.OutputStage):
                        frame.env.setdefault(stage.name.id, POISON)


def evaluate(expr: Any, env: dict[str, Any], source: Source) -> Any:
    """Evaluate a scalar expression (an `expect` line) in env; raises NetdslError."""
    el = _Elaborator(source, Namespace())
    frame = _Frame("", dict(env))
    value = el.eval(expr, frame)
    if el.diags:
        raise NetdslError(el.diags)
    return value
