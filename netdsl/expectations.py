"""Expectations: the `expect` lines over a network's measures, as syntax-free trees. The pass
that checks them after analysis is expect_check.py (checked graph + stats → E305).

The elaborator evaluates an `expect` line as far as it can where it stands (parameters, loop
variables, tables: elaborator/expect.py) and leaves a small syntax-free tree over the measures
(`params`, `buffers`, `macs`, `flops`, `memory`, `layers`; a layer's or block's, `layer3.params`)
on the graph. expect_check.py computes the tree with the same value operations (valueops.py),
once the measures are known. A mistake in the line (an undefined name, `params + "a"`, an
unknown layer) is reported there too, in the order and with the short-circuits (`and`,
`or`) of evaluating the line as written. A line inside a block carries the block calls that led
to it, as notes.
"""

from __future__ import annotations

from typing import TypeAlias

from netdsl.diagnostics import Diagnostic
from netdsl.ops.base import Shape
from netdsl.record import Record, record
from netdsl.source import Span
from netdsl.values import (
    BinarySpans,
    Value,
)

METRICS = ("params", "buffers", "macs", "flops", "memory", "layers")  # memory: peak bytes
# What `NAME.measure` reads of a layer or block (expect_check.py), besides what a tensor has
# (valueops.attribute: shape, channels, height, ...) of its output.
LAYER_MEASURES = (*METRICS, "rf", "shape")
TENSOR_ATTRS = ("channels", "height", "width", "length", "depth", "batch", "rank")


@record
class Const(Record):
    """A part of the line computed during elaboration."""

    value: Value


@record
class Metric(Record):
    """A measure of the whole network: `params`, `macs`, ..."""

    name: str  # one of METRICS


@record
class Fail(Record):
    """A part whose evaluation failed: its diagnostics, reported if evaluation reaches it."""

    diagnostics: tuple[Diagnostic, ...]


@record
class Unary(Record):
    """`-x` or `not x` over a part of the line."""

    op: str  # "-" or "not"
    operand: Tree
    span: Span
    operand_span: Span


@record
class BoolOp(Record):
    """`left and right`, `left or right`: the right side is evaluated only when needed."""

    op: str  # "and" or "or"
    left: Tree
    right: Tree
    left_span: Span
    right_span: Span


@record
class Compare(Record):
    """A comparison chain, `a < b <= c`; E305 quotes the operands' source text."""

    ops: tuple[str, ...]
    operands: tuple[Tree, ...]
    texts: tuple[str, ...]  # each operand's source text, for the verdict
    span: Span


@record
class Arith(Record):
    """`left op right`, arithmetic, with the spans its errors point at."""

    op: str
    left: Tree
    right: Tree
    spans: BinarySpans


@record
class ListOf(Record):
    """`[a, b, ...]` of parts."""

    items: tuple[Tree, ...]


@record
class Table(Record):
    """`{key: value, ...}` of parts."""

    entries: tuple[tuple[Tree, Tree, Span], ...]  # key, value, the key's span


@record
class Index(Record):
    """`obj[index]`."""

    obj: Tree
    index: Tree
    span: Span
    index_span: Span


@record
class Attr(Record):
    """`obj.name`: a tensor attribute of a part's value."""

    obj: Tree
    name: str
    span: Span  # the attribute name's


@record
class Builtin(Record):
    """A builtin function called on parts: `max(a, b)`."""

    name: str  # a key of valueops.BUILTIN_FUNCS
    args: tuple[tuple[Tree, Span], ...]
    keyword: Span | None  # a keyword argument given (a mistake)
    span: Span


@record
class LayerRef(Record):
    """A layer or block by its name, looked up after analysis (expect_check.py)."""

    scope: str  # the block instance the line is in ("layer1.0."), "" at network level
    name: str  # as written: "layer3", "layer1.0.conv1", "conv1" in a block
    span: Span
    made_by: str | None = None  # where `name` is a value in scope: the layer that made it


@record
class LayerMeasure(Record):
    """`layer3.params`, `head.rf`, `conv1.shape`: a measure of a layer or block."""

    layer: LayerRef
    measure: str
    span: Span  # the measure's name


@record
class LayerShape(Record):
    """`expect layer1.0.conv1: [N, 64, 56, 56]`, a layer's or block's output shape. (A value in
    scope, `expect y: [...]`, is checked where it stands, by the elaborator.)"""

    layer: LayerRef
    dims: Shape  # symbolic dims as their names
    span: Span  # the dims'


@record
class Approx(Record):
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


@record
class Expectation(Record):
    """One `expect` line as the elaborator leaves it."""

    tree: Tree
    span: Span  # the expression's
    text: str  # its source text
    notes: tuple[str, ...] = ()  # "in block `unit` called at f.net:3:5", innermost call first


@record
class Example(Record):
    """An example, `expect NAME: [dims] at H = 9, W = 9`, at sizes other than those the network
    was built at (its first example's): checked after the build (pipeline.py) where anysize.py's
    formulas give NAME's shape at its sizes, else by a build there."""

    node: str | None  # the node that makes the value NAME; None: NAME is a layer or block
    dims: Shape
    at: dict[str, int]  # the sizes it binds (the others: the build's)
    span: Span  # the whole line
