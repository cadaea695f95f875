"""Statements: inputs, params, assignments, outputs, options, if, for and return, run in a Frame
(shape annotations and `expect` lines go to shapes.py). Part of the graph builder (builder.py)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from netdsl import syntax as s
from netdsl.diagnostics import did_you_mean
from netdsl.elaborator.evaluator import Evaluator
from netdsl.elaborator.naming import Naming
from netdsl.elaborator.report import Reporter
from netdsl.elaborator.scope import OPTIONS, Budget, Frame, Return
from netdsl.elaborator.shapes import ShapeChecks
from netdsl.ir import InputOp
from netdsl.limits import MAX_TENSOR_ELEMENTS
from netdsl.ops.base import elements, fmt_shape
from netdsl.ops.types import coerce
from netdsl.options import INITS
from netdsl.values import MAX_REPEAT, POISON, Fault, Poison, kind

if TYPE_CHECKING:
    from netdsl.elaborator.expect import Evaluate
    from netdsl.source import Span


class Statements:
    def __init__(self, ev: Evaluator, naming: Naming, report: Reporter, budget: Budget,
                 options: dict[str, object], evaluate: Evaluate):
        self.ev = ev
        self.naming = naming
        self.report = report
        self._err = report.err
        self.budget = budget
        self.options = options
        self.checks = ShapeChecks(ev, naming, report, evaluate)  # annotations, `expect` lines
        self.sizes: dict[str, int] = {}  # the named input sizes' binding (Builder._sizes)
        self._option_at: dict[str, Span] = {}  # the statement that set each option

    def bind(self, sizes: dict[str, int], keep_examples: bool) -> None:
        """The named input sizes this build is at; keep_examples: they are the first example's,
        and the other examples are kept for pipeline.py to check."""
        self.sizes = self.checks.sizes = sizes
        self.checks.keep_examples = keep_examples

    def body(self, body: tuple[s.Stmt, ...], frame: Frame) -> None:
        for stmt in body:
            self.stmt(stmt, frame)

    def stmt(self, st: s.Stmt, frame: Frame) -> None:
        try:
            self.budget.enter(st.span, statement=True)
            match st:  # NOTE: the commonest first (each case is an isinstance test)
                case s.Assign() if st.more:
                    self._unpack(st, frame)
                case s.Assign():
                    frame.env[st.name.id] = self.ev.eval(st.value, frame, name=st.name.id)
                case s.If():
                    self._if(st, frame)
                case s.Return():
                    self._return(st, frame)
                case s.Input():
                    self._input(st, frame)
                case s.ParamDecl():
                    self._param(st, frame)
                case s.ExprStmt():
                    self.ev.eval(st.expr, frame)
                case s.Output():
                    self._output(st, frame)
                case s.Annotate():
                    self.checks.check_shape(st.name, st.dims, frame, "E304", "annotation")
                case s.ExpectShape() if st.at and not self.checks.at_here(st, frame):
                    self.checks.example(st, frame)
                case s.ExpectShape() if st.layer or st.name.id not in frame.env:
                    self.checks.expect_layer_shape(st, frame)
                case s.ExpectShape():
                    self.checks.check_shape(st.name, st.dims, frame, "E305", "expectation",
                                      {n.id: self.sizes[n.id] for n, _ in st.at})
                case s.ExpectExpr() | s.ExpectApprox():
                    self.checks.expect_expr(st, frame)
                case s.Option():
                    self._option(st, frame)
                case s.For():
                    self._for(st, frame)
        finally:
            self.budget.leave()

    def _unpack(self, st: s.Assign, frame: Frame) -> None:
        """`a, b = value`: a list of as many values (split's parts, a max pool and its
        indices), one to each name."""
        names = (st.name, *st.more)
        value = self.ev.eval(st.value, frame)
        if value is not POISON and not (isinstance(value, list) and len(value) == len(names)):
            what = f"a list of {len(value)}" if isinstance(value, list) else kind(value)
            self._err("E212", f"cannot unpack {what} into {len(names)} names", st.value.span,
                      hints=["`a, b = x -> split([...])` takes a list of exactly as many "
                             "values"], frame=frame)
            value = POISON
        for i, n in enumerate(names):
            frame.env[n.id] = value[i] if isinstance(value, list) else POISON

    def _input(self, st: s.Input, frame: Frame) -> None:
        if frame.prefix:
            self._err("E217", "`input` belongs in a network, not in a block", st.span,
                      hints=["a block receives tensors as its parameters"], frame=frame)
            return
        shape = self.ev.shape_literal(st.dims, frame)
        if shape is POISON:
            frame.env[st.name.id] = POISON
            return
        assert isinstance(shape, tuple)
        shape = self._bind_sizes(st, shape, frame)
        if shape is POISON:
            frame.env[st.name.id] = POISON
            return
        assert isinstance(shape, tuple)
        bad = [d for d in shape[1:] if not isinstance(d, int) or d <= 0]
        if len(shape) < 2 or bad:
            self._err("E217", f"input `{st.name.id}` needs a shape [N, C, ...] with positive "
                      f"sizes after the batch, not {fmt_shape(shape)}", st.dims.span, frame=frame,
                      hints=["only the sizes after the channels may be named (`[N, 3, H, W]`): "
                             "the channels are a number, or a parameter of the network"
                             if len(shape) > 1 and isinstance(shape[1], str) else ""])
            frame.env[st.name.id] = POISON
            return
        if isinstance(shape[0], int) and shape[0] <= 0:
            self._err("E217", f"input `{st.name.id}` needs a positive batch size or a name such "
                      f"as N, not {shape[0]}", st.dims.items[0].span, frame=frame)
            frame.env[st.name.id] = POISON
            return
        if elements(shape) > MAX_TENSOR_ELEMENTS:
            self._err("E215", f"input `{st.name.id}` {fmt_shape(shape)} would hold "
                      f"{elements(shape):,} elements, over the limit of "
                      f"{MAX_TENSOR_ELEMENTS:,} per tensor", st.dims.span, frame=frame)
            frame.env[st.name.id] = POISON
            return
        frame.env[st.name.id] = self.naming.add_node(st.name.id, InputOp(shape=tuple(shape)), (),
                                                     st.span, {}, shape, frame, hard=True,
                                                     name_span=st.name.span)

    def _bind_sizes(self, st: s.Input, shape: tuple[int | str, ...],
                    frame: Frame) -> tuple[int | str, ...] | Poison:
        """The input's named spatial sizes replaced by their binding (E219 where unbound), and
        its `where` conditions checked there and kept, symbolically, in the graph."""
        names = list(dict.fromkeys(d for d in shape[2:] if isinstance(d, str)))
        if not names and not st.where:
            return shape
        missing = [d for d in names if d not in self.sizes]
        if missing:
            bound = [f"{d} = {self.sizes[d]}" for d in names if d in self.sizes]
            some = ", ".join(bound + [f"{d} = 224" for d in missing])
            sets = " ".join(f"--set {d}=224" for d in missing)
            return self._err("E219", f"input `{st.name.id}` has the named size"
                             f"{'s' if len(missing) > 1 else ''} {', '.join(missing)} and "
                             "nothing gives a size to build at", st.dims.span, frame=frame,
                             hints=[f"add an example, e.g. `expect OUTPUT: [...] at {some}`, "
                                    f"or pass {sets}" if not bound else
                                    f"{' and '.join(missing)} need"
                                    f"{'s' if len(missing) == 1 else ''} a size as "
                                    f"{', '.join(bound)} has one: bind it in the first example, "
                                    f"`at {some}`, or pass {sets}"])
        assert self.naming.graph is not None
        # NOTE: lazily, so that a network without named sizes does not import netdsl.symbolic
        from netdsl.elaborator.symbols import translate
        from netdsl.symbolic import Cond, Expr
        graph = self.naming.graph
        graph.declared[st.name.id] = shape
        symbolic = {d: Expr.symbol(d) for d in names}
        # NOTE: what translate evaluates sees the sizes as values that failed (no E201 for `H`
        # in `H / 2`, which is reported as the condition's E219), and a mistake it meets (an
        # undefined name) is reported alone
        scratch = Frame(frame.prefix, {**frame.env, **dict.fromkeys(names, POISON)},
                        frame.trace, frame.blocks)
        for e in st.where:
            try:
                cond = translate(e, symbolic, lambda x: self.ev.eval(x, scratch))
                here = translate(e, self.sizes, lambda x: self.ev.eval(x, scratch))
            except Fault as f:
                return self.report.fault(f, frame)
            if scratch.failed:
                frame.failed = True
                return POISON
            if not isinstance(cond, (bool, Cond)) or not isinstance(here, bool):
                return self._err("E219", f"a `where` condition of input `{st.name.id}` compares "
                                 "its named sizes (+ - * // % of sizes and integers)", e.span,
                                 frame=frame, hints=[
                                     f"sizes divide with `//`, which rounds down: "
                                     f"`{names[0]} // 2`" if names and re.search(
                                         r"(?<!/)/(?!/)", e.span.text()) else
                                     f"e.g. `where {names[0]} >= 32`" if names else ""])
            if not here:
                at = ", ".join(f"{d} = {self.sizes[d]}" for d in names)
                return self._err("E219", f"input `{st.name.id}` at {at} breaks its condition "
                                 f"`{e.span.text()}`", e.span, frame=frame)
            graph.conditions.append((cond, e.span))
        return tuple(self.sizes[d] if i >= 2 and isinstance(d, str) else d
                     for i, d in enumerate(shape))

    def _param(self, st: s.ParamDecl, frame: Frame) -> None:
        """`param NAME: [dims] = init`: a learned tensor, named in its scope like a layer."""
        shape = self.ev.shape_literal(st.dims, frame)
        init = self._param_init(st.init, frame)
        if shape is POISON or init is POISON:
            frame.env[st.name.id] = POISON
            return
        assert isinstance(shape, tuple) and isinstance(init, tuple)
        if not shape or not all(isinstance(d, int) and d > 0 for d in shape):
            self._err("E217", f"param `{st.name.id}` needs a shape of positive sizes, not "
                      f"{fmt_shape(shape)}", st.dims.span, frame=frame,
                      hints=["a learned tensor has no batch axis: write its own sizes, "
                             "e.g. [1, 1, 768] for a class token"])
            frame.env[st.name.id] = POISON
            return
        from netdsl.ops.learned import ParamOp  # NOTE: lazily, as ops/ modules load (ops/__init__)
        op = ParamOp(shape=tuple(int(d) for d in shape), init=init[0], value=init[1])
        frame.env[st.name.id] = self.naming.add_node(st.name.id, op, (), st.span, {}, op.shape,
                                                     frame, hard=True, name_span=st.name.span)

    def _param_init(self, e: s.Expr | None, frame: Frame) -> tuple[str, float] | Poison:
        """A param's initialisation: a number, `zeros`, `ones`, `normal(std)` or
        `trunc_normal(std)` (ops/learned.PARAM_INITS)."""
        if e is None:
            return ("zeros", 0.0)
        if isinstance(e, s.Name) and e.id in ("zeros", "ones") and e.id not in frame.env:
            return (e.id, 0.0)
        func = e.func.id if isinstance(e, s.Call) and isinstance(e.func, s.Name) else ""
        if isinstance(e, s.Call) and func in ("normal", "trunc_normal") and func not in frame.env:
            std = self.ev.eval(e.args[0], frame) if len(e.args) == 1 and not e.kwargs else None
            if std is POISON:
                return POISON
            if isinstance(std, (int, float)) and not isinstance(std, bool) and std > 0:
                return (func, float(std))
            return self._err("E217", f"{func}(std) takes one positive number, the standard "
                             "deviation", e.span, frame=frame)
        value = self.ev.eval(e, frame)
        if value is POISON:
            return POISON
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return ("constant", float(value))
        return self._err("E217", f"a param is initialised with a number, zeros, ones, "
                         f"normal(std) or trunc_normal(std), not {kind(value)}", e.span,
                         frame=frame, hints=[f"write `{value}` without quotes" if value in (
                             "zeros", "ones") else ""])

    def _output(self, st: s.Output, frame: Frame) -> None:
        if st.value is None:
            value = self.ev.lookup(st.name, frame)
        else:
            value = self.ev.eval(st.value, frame, name=st.name.id)
            frame.env[st.name.id] = value
        self.naming.output(st.name, value, frame)

    def _option(self, st: s.Option, frame: Frame) -> None:
        key = st.name.id
        if frame.blocks:  # NOTE: it would set the choice for every layer after the call
            self._err("E203", "`option` belongs in a network: it sets a choice for the whole "
                      "network", st.span, hints=[f"write `option {key}: ...` at the top of the "
                                                 "network's body"], frame=frame)
            return
        if key not in OPTIONS:
            self._err("E203", f"unknown option `{key}`", st.name.span,
                      hints=[did_you_mean(key, OPTIONS, f"options: {', '.join(OPTIONS)}")],
                      frame=frame)
            return
        at = self._option_at.setdefault(key, st.span)
        if at is not st.span:  # NOTE: a loop's sets it each pass, from one statement
            self._err("E208", f"option `{key}` is set twice", st.name.span, "second time",
                      frame=frame, secondary=[(at, "first set here")],
                      hints=["set each option once, at the top of the network's body"])
            return
        first = self._first_layer()
        if first is not None:  # NOTE: it would set `floor` for the layers after it alone
            self._err("E203", f"`option {key}` comes after the network's first layer: an option "
                      "sets a choice for the whole network", st.span, "after a layer", hints=[
                          f"move `{st.span.text()}` to the top of the network's body, before "
                          "its first layer"], frame=frame, secondary=[(first, "the first layer")])
            # NOTE: and set for the layers after it, so that they report no mistake it avoids
        value = self.ev.eval(st.value, frame)
        if value is POISON:
            if OPTIONS[key] == "str":
                self.report.quoted(st.span, key)
            return
        try:
            value = coerce(OPTIONS[key], value)
        except TypeError as e:
            self._err("E205", f"option `{key}` takes {e}, not {kind(value)}", st.value.span,
                      frame=frame)
            return
        if key == "init" and value not in INITS:
            known = f'use one of: {", ".join(INITS)}'
            other = next((f"netdsl calls {who} initialisation `{ours}`; {known}" for who, ours
                          in (("Kaiming", "he"), ("Glorot", "xavier"))
                          if str(value).lower().startswith(who.lower())), None)
            self._err("E206", f'unknown initialisation "{value}"', st.value.span,
                      hints=[other or did_you_mean(str(value), INITS, known)], frame=frame)
            return
        self.options[key] = value

    def _first_layer(self) -> Span | None:
        """Where the network's first layer (not an input) is made: its call, or the block call
        in the network's body that made it; None before any."""
        assert self.naming.graph is not None
        for node in self.naming.graph.nodes():
            if not isinstance(node.op, InputOp):
                return node.trace[0] if node.trace else node.span
        return None

    def _if(self, st: s.If, frame: Frame) -> None:
        for cond, body in st.branches:
            c = self.ev.eval(cond, frame)
            if c is not POISON and not isinstance(c, (bool, int, float)):
                c = self._err("E212", f"a condition must be true or false, not {kind(c)}",
                              cond.span, frame=frame)
            if c is POISON:  # no branch runs: what any branch defines is unknown, not undefined
                frame.failed = True
                _poison(frame, [b for _, b in st.branches] + [st.orelse])
                return
            if c:
                self.body(body, frame)
                return
        self.body(st.orelse, frame)

    def _for(self, st: s.For, frame: Frame) -> None:
        items = self.ev.eval(st.iter, frame)
        if items is not POISON and not isinstance(items, list):
            items = self._err("E212", f"`for` needs a list such as range(n), not "
                              f"{kind(items)}", st.iter.span, frame=frame)
        if isinstance(items, list) and len(items) > MAX_REPEAT:
            items = self._err("E215", f"a loop of {len(items)} iterations exceeds the limit of "
                              f"{MAX_REPEAT}", st.iter.span, frame=frame)
        if not isinstance(items, list):  # the body never runs: what it defines is unknown
            frame.failed = True
            frame.env[st.var.id] = POISON
            _poison(frame, [st.body])
            return
        outer = frame.loops
        frame.loops = (*outer, st.var.id)
        try:
            for item in items:
                frame.env[st.var.id] = item
                self.body(st.body, frame)
        finally:
            frame.loops = outer

    def _return(self, st: s.Return, frame: Frame) -> None:
        # NOTE: a block that returns a chain is a Sequential, as in torch: the chain's unlabelled
        # stages are numbered in the block's own scope (NAME.0, NAME.1, ...); "" names that scope.
        own = "" if frame.prefix and isinstance(st.value, s.Pipeline) else None
        raise Return(self.ev.eval(st.value, frame, name=own))


def _poison(frame: Frame, bodies: list[tuple[s.Stmt, ...]]) -> None:
    """Bind every name these statements would define to POISON: they did not run because of a
    reported mistake, and a later use of those names must not be reported again as undefined."""
    for name in _defines(bodies):
        frame.env.setdefault(name, POISON)


def _defines(bodies: list[tuple[s.Stmt, ...]]) -> list[str]:
    """The names these statements would define, in branches and loops too."""
    out: list[str] = []
    todo = list(bodies)
    while todo:
        for st in todo.pop():
            if isinstance(st, (s.Assign, s.Output, s.Input, s.ParamDecl)):
                out.append(st.name.id)
            if isinstance(st, s.Assign):
                out.extend(n.id for n in st.more)
            elif isinstance(st, s.For):
                out.append(st.var.id)
                todo.append(st.body)
            elif isinstance(st, s.If):
                todo.extend([b for _, b in st.branches] + [st.orelse])
            value = getattr(st, "value", None) or getattr(st, "expr", None)
            if isinstance(value, s.Pipeline):
                out.extend(stage.name.id for stage in value.stages
                           if isinstance(stage, s.OutputStage))
    return out


def skipped(bodies: list[tuple[s.Stmt, ...]], name: str, use: Span) -> str:
    """Where `name`, undefined at `use`, is defined in an `if` branch or a `for` loop that ends
    before it (one that did not run): a hint saying so, else ""."""
    found: s.If | s.For | None = None
    todo = list(bodies)
    while todo:
        for st in todo.pop():
            if isinstance(st, (s.If, s.For)) and st.span.source is use.source and (
                    st.span.end <= use.start) and name in _defines([(st,)]) and (
                    found is None or st.span.start > found.span.start):
                found = st
            if isinstance(st, s.If):
                todo.extend([b for _, b in st.branches] + [st.orelse])
            elif isinstance(st, s.For):
                todo.append(st.body)
    if found is None:
        return ""
    line = found.span.source.line_col(found.span.start)[0] if found.span.source else 0
    if isinstance(found, s.If):
        return (f"`{name}` is defined only in a branch of the `if` on line {line}, which did not "
                "run here: give it a value before the `if`, or in every branch")
    return (f"`{name}` is defined only in the `for` loop on line {line}, which ran no times "
            "here: give it a value before the loop")
