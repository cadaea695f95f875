"""`expect EXPR` → an Expectation (expectations.py): the line evaluated as far as it can be where
it stands, a syntax-free tree left over the measures that analysis computes later."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from netdsl import syntax as s
from netdsl.diagnostics import NetdslError
from netdsl.expectations import (
    METRICS,
    Arith,
    Attr,
    BoolOp,
    Builtin,
    Compare,
    Const,
    Expectation,
    Fail,
    Index,
    ListOf,
    Metric,
    Table,
    Tree,
    Unary,
)
from netdsl.ops import REGISTRY
from netdsl.source import Span
from netdsl.values import BUILTIN_FUNCS, BinarySpans, Value

# Evaluates an expression in a scope, as a file of its own would (no blocks, no layers).
Evaluate = Callable[[s.Expr, dict[str, Value]], Value | NetdslError]

_NOT_VALUES = {(s.Call, "func"), (s.Stage, "func"), (s.Stage, "label"), (s.OutputStage, "name")}


def compile_expectation(expr: s.Expr, env: dict[str, Value],
                        evaluate: Evaluate) -> Expectation:
    """`env`: the scalars in scope at the line. The measures shadow them, as they always did."""
    return Expectation(_Compiler(env, evaluate).tree(expr, top=True), expr.span, _text(expr))


def _text(e: s.Expr) -> str:
    return e.span.text() or "value"


class _Compiler:
    def __init__(self, env: dict[str, Value], evaluate: Evaluate):
        # NOTE: the measures are bound (to a stand-in) so that a misspelt `parms` still hints
        # `params`; no part evaluated now reads them, save an operator or block called on one,
        # which always fails.
        self.env = {**env, **dict.fromkeys(METRICS, 0)}
        self.evaluate = evaluate

    def leaf(self, e: s.Expr) -> Tree:
        value = self.evaluate(e, self.env)
        return Fail(value.diagnostics) if isinstance(value, NetdslError) else Const(value)

    def tree(self, e: s.Expr, top: bool = False) -> Tree:
        # NOTE: a comparison of two stays a Compare at the top: the verdict shows both sides.
        if not _mentions_metric(e) and not (top and isinstance(e, s.Compare)
                                            and len(e.operands) == 2):
            return self.leaf(e)
        match e:
            case s.Name():
                return Metric(e.id)
            case s.Unary():
                return Unary(e.op, self.tree(e.operand), e.span, e.operand.span)
            case s.BoolOp():
                return BoolOp(e.op, self.tree(e.left), self.tree(e.right), e.left.span,
                              e.right.span)
            case s.Compare():
                return Compare(e.ops, tuple(self.tree(o) for o in e.operands),
                               tuple(_text(o) for o in e.operands), e.span)
            case s.BinOp():
                return Arith(e.op, self.tree(e.left), self.tree(e.right),
                             BinarySpans(e.op_span, e.right.span, e.span))
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

    def _is_builtin(self, func: s.Expr) -> bool:
        return (isinstance(func, s.Name) and func.id in BUILTIN_FUNCS
                and func.id not in REGISTRY and func.id not in self.env)


def _mentions_metric(e: object) -> bool:
    """Whether a measure's name is read somewhere in e (not as a callee, label or output)."""
    if isinstance(e, s.Name):
        return e.id in METRICS
    if isinstance(e, tuple):
        return any(_mentions_metric(x) for x in e)
    if isinstance(e, Span) or not dataclasses.is_dataclass(e) or isinstance(e, type):
        return False
    return any(_mentions_metric(getattr(e, f.name)) for f in dataclasses.fields(e)
               if (type(e), f.name) not in _NOT_VALUES)
