"""`expect` lines → Expectations (expectations.py): each line evaluated as far as it can be where
it stands, a syntax-free tree left over the measures that analysis computes later.

Three forms: `expect EXPR` (`params == 25_557_032`, `layer3.params < 8M`), `expect A ~= B within
1%` (or an absolute `within 0.2G`), and `expect NAME: [dims]` for a layer or block. In EXPR,
`NAME.measure` reads a layer or block (measures.py) when NAME is not a value in scope: a dotted
name (`layer1.0.conv1.macs`) or a quoted one (`"features.0.0".params`), taken inside a block
relative to the block's instance (`conv1` in `layer1.0` is `layer1.0.conv1`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from netdsl import syntax as s
from netdsl.diagnostics import NetdslError, closest, error
from netdsl.elaborator.scope import MAX_DEPTH, TooDeep
from netdsl.expectations import (
    LAYER_MEASURES,
    METRICS,
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
from netdsl.ops import REGISTRY
from netdsl.ops.base import Shape
from netdsl.source import Span
from netdsl.valueops import BUILTIN_FUNCS, attribute
from netdsl.values import BinarySpans, Fault, Tensor, Value

# Evaluates an expression in a scope, as a file of its own would (no blocks, no layers).
Evaluate = Callable[[s.Expr, dict[str, Value]], Value | NetdslError]

_NOT_VALUES = {(s.Call, "func"), (s.Stage, "func"), (s.Stage, "label"), (s.OutputStage, "name")}


def compile_expectation(expr: s.Expr, env: dict[str, Value], evaluate: Evaluate,
                        scope: str = "", notes: tuple[str, ...] = ()) -> Expectation:
    """`env`: the scalars in scope at the line, `scope`: the block instance's prefix ("" in a
    network), `notes`: the block calls that led there. The measures shadow the scalars."""
    tree = _Compiler(env, evaluate, scope).tree(expr, top=True)
    return Expectation(tree, expr.span, _text(expr), notes)


def compile_approx(st: s.ExpectApprox, env: dict[str, Value], evaluate: Evaluate,
                   scope: str = "", notes: tuple[str, ...] = ()) -> Expectation:
    """`expect A ~= B within T` (T a percentage of |B| where written `1%`)."""
    c = _Compiler(env, evaluate, scope)
    tree = Approx(c.tree(st.actual), c.tree(st.expected), c.tree(st.tolerance), st.relative,
                  (_text(st.actual), _text(st.expected), _text(st.tolerance)),
                  (st.actual.span, st.expected.span, st.tolerance.span))
    span = st.span.source.span(st.actual.span.start, st.tolerance.span.end) \
        if st.span.source else st.actual.span
    return Expectation(tree, span, _text(span), notes)


def layer_shape(st: s.ExpectShape, dims: Shape, scope: str = "",
                notes: tuple[str, ...] = ()) -> Expectation:
    """`expect layer1.0.conv1: [N, 64, 56, 56]`, checked after analysis; `dims` evaluated."""
    ref = LayerRef(scope, st.name.id, st.name.span)
    return Expectation(LayerShape(ref, dims, st.dims.span), st.span, _text(st), notes)


def _text(e: s.Expr | s.ExpectShape | Span) -> str:
    span = e if isinstance(e, Span) else e.span
    return span.text() or "value"


class _Compiler:
    def __init__(self, env: dict[str, Value], evaluate: Evaluate, scope: str):
        # NOTE: the measures are bound (to a stand-in) so that a misspelt `parms` still hints
        # `params`; no part evaluated now reads them, save an operator or block called on one,
        # which always fails. Tensors are left out (no layer can be made here); what a line
        # reads of one, `x.channels`, is read in _tensor_attr.
        self.tensors = {k: v for k, v in env.items() if isinstance(v, Tensor)}
        self.env = {**{k: v for k, v in env.items() if k not in self.tensors},
                    **dict.fromkeys(METRICS, 0)}
        self.evaluate = evaluate
        self.scope = scope
        self.depth = 0

    def leaf(self, e: s.Expr) -> Tree:
        value = self.evaluate(e, self.env)
        return Fail(value.diagnostics) if isinstance(value, NetdslError) else Const(value)

    def tree(self, e: s.Expr, top: bool = False) -> Tree:
        """The tree of `e`, nested up to MAX_DEPTH (TooDeep), as the evaluator's."""
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise TooDeep(e.span)
            return self._tree(e, top)
        finally:
            self.depth -= 1

    def _tree(self, e: s.Expr, top: bool) -> Tree:
        # NOTE: a comparison of two stays a Compare at the top: the verdict shows both sides.
        if not self._deferred(e) and not (top and isinstance(e, s.Compare)
                                          and len(e.operands) == 2):
            return self.leaf(e)
        if isinstance(e, s.Attr):
            tensor = self._tensor_attr(e)
            if tensor is not None:
                try:
                    return Const(attribute(tensor, e.name, e.name_span))
                except Fault as f:
                    return Fail((error(f.code, f.message, f.span, f.label, f.hints),))
            layer = self._layer(e)
            if layer is not None:
                return LayerMeasure(layer, e.name, e.name_span)
        match e:
            case s.Name():
                return Metric(e.id)
            case s.Unary():
                return Unary(e.op, self.tree(e.operand), e.span, e.operand.span)
            case s.BoolOp() | s.BinOp():
                return self._chain(e)
            case s.Compare():
                return Compare(e.ops, tuple(self.tree(o) for o in e.operands),
                               tuple(_text(o) for o in e.operands), e.span)
            case s.ListExpr():
                return ListOf(tuple(self.tree(x) for x in e.items))
            case s.DictExpr():
                return Table(tuple((self.tree(k), self.tree(v), k.span) for k, v in e.pairs))
            case s.Index():
                return Index(self.tree(e.obj), self.tree(e.index), e.span, e.index.span)
            case s.Attr():
                return Attr(self.tree(e.obj), e.name, e.name_span)
            case s.Call() if self._is_builtin(e.func):
                assert isinstance(e.func, s.Name)
                keyword = e.kwargs[0].name_span if e.kwargs else None
                return Builtin(e.func.id, tuple((self.tree(a), a.span) for a in e.args), keyword,
                               e.span)
        return self.leaf(e)  # an operator, block or pipeline fed a measure: always a mistake

    def _chain(self, e: s.BinOp | s.BoolOp) -> Tree:
        """`a + b`, and a chain `a + b - c` (or `a and b or c`, nested to the left) in a loop,
        one level deep: its links from the first that reads a measure on are Arith (BoolOp)
        nodes, the links before it one leaf, evaluated now."""
        links: list[s.BinOp | s.BoolOp] = [e]
        while isinstance(links[-1].left, type(e)):
            links.append(links[-1].left)
        links.reverse()  # innermost first
        first = 0 if self._deferred(links[0].left) else next(
            (i for i, link in enumerate(links) if self._deferred(link.right)), len(links))
        t = self.tree(links[0].left) if first == 0 else self.leaf(links[first - 1])
        for link in links[first:]:
            right = self.tree(link.right)
            if isinstance(link, s.BoolOp):
                t = BoolOp(link.op, t, right, link.left.span, link.right.span)
            else:
                t = Arith(link.op, t, right, BinarySpans(link.op_span, link.right.span,
                                                         link.span))
        return t

    def _is_builtin(self, func: s.Expr) -> bool:
        return (isinstance(func, s.Name) and func.id in BUILTIN_FUNCS
                and func.id not in REGISTRY and func.id not in self.env)

    def _tensor_attr(self, e: s.Attr) -> Tensor | None:
        """The tensor of `x.channels` or `x.shape` where x is a value in scope (not of
        `x.params`: a value has no params, a layer has; nor of `layer3.parms`, a layer's measure
        misspelt). NOTE: `shape` is both, the same: a value need not name a layer (`-> output
        y`)."""
        if not isinstance(e.obj, s.Name):
            return None
        if e.name != "shape" and (e.name in LAYER_MEASURES or closest(
                e.name, (*LAYER_MEASURES, *TENSOR_ATTRS)) in LAYER_MEASURES):
            return None
        return self.tensors.get(e.obj.id)

    def _layer(self, e: s.Attr) -> LayerRef | None:
        """The layer or block of `NAME.measure`, when NAME names no number, list or table in
        scope."""
        parts: list[str] = []
        obj = e.obj
        while isinstance(obj, s.Attr):
            parts.append(obj.name)
            obj = obj.obj
        if isinstance(obj, s.Name) and obj.id not in self.env:
            root = obj.id
        elif isinstance(obj, s.Str):
            root = obj.value
        else:
            return None
        value = self.tensors.get(root) if isinstance(obj, s.Name) and not parts else None
        return LayerRef(self.scope, ".".join([root, *reversed(parts)]), e.obj.span,
                        value.node if value is not None else None)

    def _deferred(self, e: object) -> bool:
        """Whether e reads a measure, the network's or a layer's (not as a callee, label or
        output): what can be known only after analysis."""
        todo = [e]  # NOTE: a worklist, not recursion: `0 + 0 + ... + 0` nests thousands deep
        while todo:
            x = todo.pop()
            if isinstance(x, s.Name):
                if x.id in METRICS:
                    return True
            elif isinstance(x, s.Attr) and (self._tensor_attr(x) or self._layer(x)):
                return True
            elif isinstance(x, tuple):
                todo.extend(x)
            else:
                todo.extend(getattr(x, name) for name in _values_of(type(x)))
        return False


_VALUES: dict[type, tuple[str, ...]] = {}


def _values_of(cls: type) -> tuple[str, ...]:
    """The fields that may hold values (not _NOT_VALUES) of a syntax class, found once per
    class; none for a Span, a number or a string (nor for a class, whose class is `type`)."""
    names = _VALUES.get(cls)
    if names is None:
        names = _VALUES[cls] = () if issubclass(cls, Span) or not dataclasses.is_dataclass(
            cls) else tuple(f.name for f in dataclasses.fields(cls)
                            if (cls, f.name) not in _NOT_VALUES)
    return names
