"""Expectations: the `expect` lines over a network's measures, and the pass that checks them
after analysis (checked graph + stats → E305 for each that does not hold).

The elaborator evaluates an `expect` line as far as it can where it stands (parameters, loop
variables, tables: elaborator/expect.py) and leaves a small syntax-free tree over the measures
(`params`, `buffers`, `macs`, `flops`, `memory`, `layers`; a layer's or block's, `layer3.params`,
read by measures.py) on the graph. Here that tree is computed with the same value operations
(values.py), once the measures are known. A mistake in the line (an undefined name, `params +
"a"`, an unknown layer) is reported here too, in the order and with the short-circuits (`and`,
`or`) of evaluating the line as written. A line inside a block carries the block calls that led
to it, as notes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, TypeAlias

from netdsl.diagnostics import Diagnostic, NetdslError, error
from netdsl.ops.base import Shape, fmt_shape
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
    is_number,
    kind,
    negate,
    truth,
)

if TYPE_CHECKING:
    from netdsl.analysis import Stats
    from netdsl.ir import Graph
    from netdsl.measures import Layers

METRICS = ("params", "buffers", "macs", "flops", "memory", "layers")  # memory: peak bytes
# What `NAME.measure` reads of a layer or block (measures.py), besides what a tensor has
# (values.attribute: shape, channels, height, ...) of its output.
LAYER_MEASURES = (*METRICS, "rf", "shape")
TENSOR_ATTRS = ("channels", "height", "width", "length", "depth", "batch", "rank")


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


@dataclass(frozen=True, slots=True)
class LayerRef:
    """A layer or block by its name, looked up after analysis (measures.py)."""

    scope: str  # the block instance the line is in ("layer1.0."), "" at network level
    name: str  # as written: "layer3", "layer1.0.conv1", "conv1" in a block
    span: Span
    made_by: str | None = None  # where `name` is a value in scope: the layer that made it


@dataclass(frozen=True, slots=True)
class LayerMeasure:
    """`layer3.params`, `head.rf`, `conv1.shape`: a measure of a layer or block."""

    layer: LayerRef
    measure: str
    span: Span  # the measure's name


@dataclass(frozen=True, slots=True)
class LayerShape:
    """`expect layer1.0.conv1: [N, 64, 56, 56]`, a layer's or block's output shape. (A value in
    scope, `expect y: [...]`, is checked where it stands, by the elaborator.)"""

    layer: LayerRef
    dims: Shape  # symbolic dims as their names
    span: Span  # the dims'


@dataclass(frozen=True, slots=True)
class Approx:
    """`actual ~= expected within tolerance`: relative, a percentage of |expected| (`1%`), or
    absolute (`0.2G`); the bound itself passes."""

    actual: Tree
    expected: Tree
    tolerance: Tree
    relative: bool
    texts: tuple[str, str, str]  # each part's source text
    spans: tuple[Span, Span, Span]


Tree: TypeAlias = (Const | Metric | Fail | Unary | BoolOp | Compare | Arith | ListOf | Table
                   | Index | Attr | Builtin | LayerMeasure | LayerShape | Approx)


@dataclass(frozen=True, slots=True)
class Expectation:
    """One `expect` line as the elaborator leaves it."""

    tree: Tree
    span: Span  # the expression's
    text: str  # its source text
    notes: tuple[str, ...] = ()  # "in block `unit` called at f.net:3:5", innermost call first


def check_expectations(graph: Graph, stats: Stats) -> None:
    """Evaluate every `expect` line with params, buffers, macs, flops, memory (peak activation
    bytes at batch 1) and layers (count) bound, and the layers and blocks by name; raise E305
    for each that does not hold, and the mistakes found in the lines, in line order. A mistake
    in a line inside a block is reported once, at its first call."""
    from netdsl.measures import Layers  # NOTE: not at the top: ir imports this module
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


def _fmt(v: Value | Fraction) -> str:
    if isinstance(v, Fraction):
        return f"{int(v):,}" if v.denominator == 1 else f"{float(v):,.6g}"
    return f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else repr(v)


def _percent(x: Fraction, sign: str = "+", near: Fraction | None = None) -> str:
    """`+5.16%`: two decimals, or more where two would round x onto `near` (the bound)."""
    text = ""
    for digits in range(2, 9):
        text = f"{float(x):{sign}.{digits}f}"
        if near is None or abs(Fraction(text)) != near:
            break
    return text + "%"


def _exact(v: int | float) -> Fraction:
    """A number as the user wrote it: 0.1 is 1/10 (repr), not the float nearest to it."""
    return Fraction(v) if isinstance(v, int) else Fraction(repr(v))


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
            message = f"{t.texts[0]} is {_fmt(lhs)}, expected {t.ops[0]} {_fmt(rhs)}"
        else:
            message = f"`{ex.text}` is {ok!r}"
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
        """`actual ~= expected within tolerance`, in exact arithmetic (Fraction): its E305 shows
        the actual value, the expected one, the tolerance both ways and the deviation."""
        vals = [self.value(x) for x in (t.actual, t.expected, t.tolerance)]
        if self.failed:
            return None
        for v, text, at in zip(vals, t.texts, t.spans):
            if not is_number(v):
                self._report(error("E212", f"`~=` compares numbers, but `{text}` is {kind(v)}",
                                   at))
                return None
        actual, expected, tol = (_exact(v) for v in vals if is_number(v))
        if tol < 0:
            self._report(error("E206", "a tolerance cannot be negative", t.spans[2]))
            return None
        bound = tol * abs(expected) / 100 if t.relative else tol
        dev = actual - expected
        if abs(dev) <= bound:
            return None
        rel = tol if t.relative else bound * 100 / abs(expected) if expected else None
        within = (f"{t.texts[2]} (±{_fmt(bound)})" if t.relative else
                  _fmt(tol) + (f" (±{_percent(rel, '')})" if rel is not None else ""))
        off = ("+" if dev > 0 else "-") + _fmt(abs(dev))
        if expected:
            off += f" ({_percent(dev * 100 / abs(expected), near=rel)})"
        return error("E305", f"expectation failed: {t.texts[0]} is {_fmt(actual)}, expected "
                     f"{_fmt(expected)} within {within}: off by {off}", span, "does not hold")

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
            case LayerMeasure():
                found = self.layers.find(t.layer)
                return self.layers.measure(found, t.layer.scope + t.layer.name, t.measure,
                                           t.span)
        raise AssertionError(t)  # LayerShape and Approx are whole lines: check()

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
