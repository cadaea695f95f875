"""Expressions → values: names, literals, arithmetic, comparisons, conditions, lists, tables,
indexing, tensor attributes and builtins. No graph: the few expressions that make layers (a call,
a pipeline, `a + b` of tensors, an operator or block named bare) go to the graph builder through
the small Graphs interface below."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar

from netdsl import syntax as s
from netdsl.diagnostics import did_you_mean
from netdsl.elaborator.report import Reporter, line_end_hint
from netdsl.elaborator.scope import MAX_DEPTH, Budget, Frame
from netdsl.source import Span
from netdsl.valueops import (
    BUILTIN_VALUES,
    add_entry,
    arith,
    attribute,
    compare,
    index,
    negate,
    truth,
)
from netdsl.values import POISON, BinarySpans, Fault, Key, Poison, Tensor, Value, kind, new_list

Arg = tuple[Value, Span]  # an evaluated argument and where it was written
_Link = TypeVar("_Link", s.BinOp, s.BoolOp)


class Graphs(Protocol):
    """What the evaluator asks of the graph builder (builder.py)."""

    def knows(self, name: str) -> bool:
        """Whether `name` is an operator or block, which a bare name calls without arguments."""

    def call(self, func: s.Name, args: list[Arg], kwargs: Sequence[s.Keyword], frame: Frame,
             name: str | None, span: Span) -> Value:
        """`f(args)`: an operator, a block or a builtin; `name` names the layer it makes."""

    def call_op(self, op: str, args: list[Arg], frame: Frame, name: str | None,
                span: Span) -> Value:
        """An operator applied to tensors (`a + b` is `add`, `a * b` is `mul`)."""

    def pipeline(self, e: s.Pipeline, frame: Frame, name: str | None) -> Value:
        """`x -> f -> g * n -> output y`."""


class Evaluator:
    def __init__(self, graphs: Graphs, report: Reporter, budget: Budget):
        self.graphs = graphs
        self.report = report
        self.budget = budget
        self.reads: list[tuple[str, str]] = []  # tensor attributes read: (node, `height`)

    def eval(self, e: s.Expr, frame: Frame, name: str | None = None) -> Value:
        """Evaluate an expression. `name` is the assignment target: it names the outermost layer
        the expression makes (or, for a chain, prefixes its layers)."""
        # NOTE: a literal or a bound name neither nests nor fails: it needs no budget and no
        # handler, as long as entering it would not be one level too deep (TooDeep)
        if self.budget.depth < MAX_DEPTH:
            if isinstance(e, (s.Num, s.Str, s.Bool)):
                return e.value
            if isinstance(e, s.Name) and e.id in frame.env:
                return frame.env[e.id]
        try:
            self.budget.enter(e.span)
            return self._eval(e, frame, name)
        except Fault as f:
            return self.report.fault(f, frame)
        finally:
            self.budget.leave()

    def _eval(self, e: s.Expr, frame: Frame, name: str | None) -> Value:
        match e:  # NOTE: the commonest first (each case is an isinstance test)
            case s.BinOp():
                return self._binop(e, frame, name)
            case s.Attr():
                v = self.eval(e.obj, frame)
                if isinstance(v, Tensor):
                    self.reads.append((v.node, e.name))
                try:
                    return POISON if v is POISON else attribute(v, e.name, e.name_span)
                except Fault as f:  # NOTE: `c = 5.` reads the next line's first name
                    hint = line_end_hint(e.name_span, ".", "an attribute name")
                    f.hints = [hint] if hint else f.hints
                    raise
            case s.Compare():
                vals = [self.eval(x, frame) for x in e.operands]
                return POISON if any(v is POISON for v in vals) else compare(e.ops, vals, e.span)
            case s.Pipeline():
                return self.graphs.pipeline(e, frame, name)
            case s.Call():
                return self._call(e, frame, name)
            case s.BoolOp():
                return self._boolop(e, frame)
            case s.Num() | s.Str() | s.Bool():
                return e.value
            case s.Name():
                return self.lookup(e, frame)
            case s.ListExpr():  # `convs = [x -> f, x -> g]` names the layers convs.0, convs.1
                items = [self.eval(x, frame, None if name is None else f"{name}.{i}")
                         for i, x in enumerate(e.items)]
                return POISON if any(x is POISON for x in items) else new_list(items, e.span)
            case s.DictExpr():
                return self._table(e, frame)
            case s.Unary():
                return self._unary(e, frame)
            case s.Index():
                v, i = self.eval(e.obj, frame), self.eval(e.index, frame)
                if v is POISON or i is POISON:
                    return POISON
                return index(v, i, e.span, e.index.span)
        raise AssertionError(e)

    def lookup(self, e: s.Name, frame: Frame) -> Value:
        if e.id in frame.env:
            return frame.env[e.id]
        if e.id in BUILTIN_VALUES:
            return BUILTIN_VALUES[e.id]
        if self.graphs.knows(e.id):
            return self.graphs.call(e, [], [], frame, None, e.span)
        known = list(frame.env) + list(BUILTIN_VALUES)
        hint = did_you_mean(e.id, known, f"a block sees its parameters, not the variables of "
                            f"the network or block that calls it: pass `{e.id}` in as one"
                            if frame.blocks else "")
        if any(isinstance(v, Tensor) and e.id in v.shape for v in frame.env.values()):
            hint = (f"`{e.id}` is a symbolic size of a tensor: an expression reads it as the "
                    f'string "{e.id}"')
        return self.report.err("E201", f"`{e.id}` is not defined", e.span, "not defined", [hint],
                               frame)

    def _table(self, e: s.DictExpr, frame: Frame) -> Value:
        table: dict[Key, Value] = {}
        where: dict[Key, Span] = {}
        for k, v in e.pairs:
            key, value = self.eval(k, frame), self.eval(v, frame)
            if key is POISON or value is POISON:
                return POISON
            add_entry(table, where, key, value, k.span)
        return table

    def shape_literal(self, e: s.ListExpr, frame: Frame) -> tuple[int | str, ...] | Poison:
        """Dims of `input`, annotations and expectations: an unbound name is a symbolic dim."""
        dims: list[int | str] = []
        for x in e.items:
            if isinstance(x, s.Name) and x.id not in frame.env:
                dims.append(x.id)
                continue
            v = self.eval(x, frame)
            if v is POISON:
                return POISON
            if not isinstance(v, int) or isinstance(v, bool):
                return self.report.err("E217", f"a shape holds integers and symbolic names, not "
                                       f"{kind(v)}", x.span, frame=frame)
            dims.append(v)
        return tuple(dims)

    def truth(self, v: Value, e: s.Expr, frame: Frame) -> bool:
        """Whether a condition holds; a tensor is reported and counts as false."""
        try:
            return truth(v, e.span)
        except Fault as f:
            self.report.fault(f, frame)
            return False

    def _unary(self, e: s.Unary, frame: Frame) -> Value:
        v = self.eval(e.operand, frame)
        if v is POISON:
            return POISON
        if e.op == "not":
            return not self.truth(v, e.operand, frame)
        return negate(v, e.span)

    def _boolop(self, e: s.BoolOp, frame: Frame) -> Value:
        # NOTE: `a or b or c` nests to the left: the chain is run in a loop, one level deep
        chain = _left_chain(e, s.BoolOp)
        v = self.eval(chain[-1].left, frame)
        for link in reversed(chain):
            if v is POISON:
                return POISON
            lt = self.truth(v, link.left, frame)
            if (link.op == "and" and not lt) or (link.op == "or" and lt):
                v = lt
                continue
            right = self.eval(link.right, frame)
            v = POISON if right is POISON else self.truth(right, link.right, frame)
        return v

    def _operands(self, exprs: tuple[s.Expr, ...], frame: Frame,
                  name: str | None) -> list[Value]:
        """The operands of a layer named `name`: a pipeline among them is named after it (its
        layers `y_conv`, `y_relu`, ... in `y = (x -> conv -> relu) + x`), see docs/language.md."""
        outer = frame.owner
        frame.owner = name if name is not None else outer
        try:
            return [self.eval(x, frame) for x in exprs]
        finally:
            frame.owner = outer

    def _binop(self, e: s.BinOp, frame: Frame, name: str | None) -> Value:
        """`a + b`, and a chain `a + b - c * d` (nested to the left) in a loop, one level deep:
        each link's operands evaluated in order, its layer unnamed but the last (named `name`),
        as when each link nested (_operands)."""
        chain = _left_chain(e, s.BinOp)
        outer = frame.owner
        frame.owner = name if name is not None else outer
        try:
            a = self.eval(chain[-1].left, frame)
            for link in reversed(chain[1:]):
                b = self.eval(link.right, frame)
                try:
                    a = self._apply(link, a, b, frame, None)
                except Fault as f:
                    a = self.report.fault(f, frame)
            b = self.eval(e.right, frame)
        finally:
            frame.owner = outer
        return self._apply(e, a, b, frame, name)

    def _apply(self, e: s.BinOp, a: Value, b: Value, frame: Frame, name: str | None) -> Value:
        if a is POISON or b is POISON:
            return POISON
        if isinstance(a, Tensor) or isinstance(b, Tensor):
            op = {"+": "add", "*": "mul"}.get(e.op)
            if op is None or not (isinstance(a, Tensor) and isinstance(b, Tensor)):
                return self.report.err(
                    "E212", f"`{e.op}` between {kind(a)} and {kind(b)} is not defined",
                    e.op_span, frame=frame, hints=[
                        line_end_hint(e.op_span, e.op, "its right operand") or "tensors support "
                        "`a + b` (add) and `a * b` (broadcast multiply); scale with a layer "
                        "instead"])
            return self.graphs.call_op(op, [(a, e.left.span), (b, e.right.span)], frame, name,
                                       e.span)
        return arith(e.op, a, b, BinarySpans(e.op_span, e.right.span, e.span))

    def _call(self, e: s.Call, frame: Frame, name: str | None) -> Value:
        if not isinstance(e.func, s.Name):
            f = e.func  # NOTE: `x.relu()`, a method call as in torch, hints the pipe
            hint = (f"feed a value to `{f.name}` with a pipe, `{f.obj.span.text()} -> {f.name}"
                    f"(...)`, or pass it in, `{f.name}({f.obj.span.text()}, ...)`"
                    if isinstance(f, s.Attr) and self.graphs.knows(f.name) else "")
            return self.report.err("E212", "only operators, blocks and builtins can be called",
                                   e.func.span, frame=frame, hints=[hint])
        args = list(zip(self._operands(e.args, frame, name), (a.span for a in e.args)))
        return self.graphs.call(e.func, args, e.kwargs, frame, name, e.span)


def _left_chain(e: _Link, cls: type[_Link]) -> list[_Link]:
    """`e` and its left operands of its class, outermost first: the links of `1 + 2 + 3`."""
    chain = [e]
    while isinstance(chain[-1].left, cls):
        chain.append(chain[-1].left)
    return chain
