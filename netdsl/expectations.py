"""Expectations: the `expect` lines over a network's measures, and the pass that checks them
after analysis (checked graph + stats → E305 for each that does not hold).

The elaborator evaluates an `expect` line as far as it can where it stands (parameters, loop
variables, tables: elaborator/expect.py) and leaves a small syntax-free tree over the measures
(`params`, `buffers`, `macs`, `flops`, `memory`, `layers`) on the graph. Here that tree is
computed with the same value operations (values.py), once the measures are known. A mistake in
the line (an undefined name, `params + "a"`) is reported here too, in the order and with the
short-circuits (`and`, `or`) of evaluating the line as written.
"""

from __future__ import annotations

from collections.abc import Sequence, Sized
from dataclasses import dataclass
from typing import Protocol, TypeAlias

from netdsl.diagnostics import Diagnostic, NetdslError, error
from netdsl.source import Span
from netdsl.values import (
    POISON,
    BinarySpans,
    Fault,
    Key,
    Value,
    add_entry,
    arith,
    attribute,
    call_builtin,
    compare,
    index,
    negate,
    truth,
)

METRICS = ("params", "buffers", "macs", "flops", "memory", "layers")  # memory: peak bytes


@dataclass(frozen=True, slots=True)
class Const:
    """A part of the line computed during elaboration."""

    value: Value


@dataclass(frozen=True, slots=True)
class Metric:
    name: str  # one of METRICS


@dataclass(frozen=True, slots=True)
class Fail:
    """A part whose evaluation failed: its diagnostics, reported if evaluation reaches it."""

    diagnostics: tuple[Diagnostic, ...]


@dataclass(frozen=True, slots=True)
class Unary:
    op: str  # "-" or "not"
    operand: Tree
    span: Span
    operand_span: Span


@dataclass(frozen=True, slots=True)
class BoolOp:
    op: str  # "and" or "or"
    left: Tree
    right: Tree
    left_span: Span
    right_span: Span


@dataclass(frozen=True, slots=True)
class Compare:
    ops: tuple[str, ...]
    operands: tuple[Tree, ...]
    texts: tuple[str, ...]  # each operand's source text, for the verdict
    span: Span


@dataclass(frozen=True, slots=True)
class Arith:
    op: str
    left: Tree
    right: Tree
    spans: BinarySpans


@dataclass(frozen=True, slots=True)
class ListOf:
    items: tuple[Tree, ...]


@dataclass(frozen=True, slots=True)
class Table:
    entries: tuple[tuple[Tree, Tree, Span], ...]  # key, value, the key's span


@dataclass(frozen=True, slots=True)
class Index:
    obj: Tree
    index: Tree
    span: Span
    index_span: Span


@dataclass(frozen=True, slots=True)
class Attr:
    obj: Tree
    name: str
    span: Span  # the attribute name's


@dataclass(frozen=True, slots=True)
class Builtin:
    name: str  # a key of values.BUILTIN_FUNCS
    args: tuple[tuple[Tree, Span], ...]
    keyword: Span | None  # a keyword argument given (a mistake)
    span: Span


Tree: TypeAlias = (Const | Metric | Fail | Unary | BoolOp | Compare | Arith | ListOf | Table
                   | Index | Attr | Builtin)


@dataclass(frozen=True, slots=True)
class Expectation:
    """One `expect EXPR` line as the elaborator leaves it."""

    tree: Tree
    span: Span  # the expression's
    text: str  # its source text


class _Graph(Protocol):
    @property
    def expectations(self) -> Sequence[Expectation]: ...


class _Stats(Protocol):
    @property
    def params(self) -> int: ...
    @property
    def buffers(self) -> int: ...
    @property
    def macs(self) -> int: ...
    @property
    def flops(self) -> int: ...
    @property
    def peak_bytes(self) -> int: ...
    @property
    def layers(self) -> Sized: ...


def check_expectations(graph: _Graph, stats: _Stats) -> None:
    """Evaluate every `expect` line with params, buffers, macs, flops, memory (peak activation
    bytes at batch 1) and layers (count) bound; raise E305 for each that does not hold, and the
    mistakes found in the lines, in line order."""
    metrics: dict[str, Value] = {
        "params": stats.params, "buffers": stats.buffers, "macs": stats.macs,
        "flops": stats.flops, "memory": stats.peak_bytes, "layers": len(stats.layers)}
    diags: list[Diagnostic] = []
    for ex in graph.expectations:
        run = _Run(metrics)
        ok = run.value(ex.tree)
        if run.diagnostics:
            diags.extend(run.diagnostics)
        elif ok is not True:
            diags.append(error("E305", _verdict(ex, ok, metrics), ex.span, "does not hold"))
    if diags:
        raise NetdslError(diags)


def _verdict(ex: Expectation, ok: Value, metrics: dict[str, Value]) -> str:
    t = ex.tree
    if isinstance(t, Compare) and len(t.operands) == 2:
        lhs, rhs = (_Run(metrics).value(o) for o in t.operands)
        return f"expectation failed: {t.texts[0]} is {_fmt(lhs)}, expected {t.ops[0]} {_fmt(rhs)}"
    return f"expectation failed: `{ex.text}` is {ok!r}"


def _fmt(v: Value) -> str:
    return f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else repr(v)


class _Run:
    """One evaluation of a tree: its value, and the mistakes met on the way (each once)."""

    def __init__(self, metrics: dict[str, Value]):
        self.metrics = metrics
        self.diagnostics: list[Diagnostic] = []
        self._seen: set[tuple[str, str, int, int, int]] = set()

    def _report(self, d: Diagnostic) -> None:
        sp = d.primary.span if d.primary else None
        key = (d.code, d.message, id(sp.source) if sp else 0, sp.start if sp else -1,
               sp.end if sp else -1)
        if key not in self._seen:
            self._seen.add(key)
            self.diagnostics.append(d)

    def value(self, t: Tree) -> Value:
        try:
            return self._value(t)
        except Fault as f:
            self._report(error(f.code, f.message, f.span, f.label, f.hints, f.secondary))
            return POISON

    def _truth(self, v: Value, span: Span) -> bool:
        try:
            return truth(v, span)
        except Fault as f:
            self._report(error(f.code, f.message, f.span, f.label, f.hints, f.secondary))
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
                a, b = self.value(t.left), self.value(t.right)
                return POISON if a is POISON or b is POISON else arith(t.op, a, b, t.spans)
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
        raise AssertionError(t)

    def _boolop(self, t: BoolOp) -> Value:
        left = self.value(t.left)
        if left is POISON:
            return POISON
        lt = self._truth(left, t.left_span)
        if (t.op == "and" and not lt) or (t.op == "or" and lt):
            return lt
        right = self.value(t.right)
        return POISON if right is POISON else self._truth(right, t.right_span)

    def _table(self, t: Table) -> Value:
        table: dict[Key, Value] = {}
        where: dict[Key, Span] = {}
        for k, v, span in t.entries:
            key, value = self.value(k), self.value(v)
            if key is POISON or value is POISON:
                return POISON
            add_entry(table, where, key, value, span)
        return table
