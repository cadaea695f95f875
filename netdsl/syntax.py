"""The AST: one frozen dataclass per construct; every node carries the Span it was parsed from."""

from __future__ import annotations

from netdsl.record import Record, record
from netdsl.source import Source, Span


@record
class Num(Record):
    """A number literal: `64`, `0.5`, `1e-5`, `25_557_032`, `4.1G` (K M G T scale it)."""

    value: int | float
    span: Span


@record
class Str(Record):
    """A string literal, escapes resolved: `"same"`."""

    value: str
    span: Span


@record
class Bool(Record):
    """`true` or `false`."""

    value: bool
    span: Span


@record
class Name(Record):
    """A bare name: a value, parameter, operator or block (`x`, `conv`, `classes`)."""

    id: str
    span: Span


@record
class ListExpr(Record):
    """`[a, b, ...]`, also the dims of a shape: `[N, 3, 224, 224]`."""

    items: tuple[Expr, ...]
    span: Span


@record
class BinOp(Record):
    """`left op right` for arithmetic (`+ - * / // % **`); op_span is the operator's."""

    op: str  # + - * / // % **
    left: Expr
    right: Expr
    op_span: Span
    span: Span


@record
class Unary(Record):
    """`-x` or `not x`."""

    op: str  # "-" or "not"
    operand: Expr
    span: Span


@record
class Compare(Record):
    """A comparison chain: `a < b <= c` (ops between operands, as written)."""

    ops: tuple[str, ...]
    operands: tuple[Expr, ...]
    span: Span


@record
class BoolOp(Record):
    """`left and right`, `left or right`."""

    op: str  # "and" / "or"
    left: Expr
    right: Expr
    span: Span


@record
class Keyword(Record):
    """`name: value` in a call's arguments; name_span is the name's."""

    name: str
    value: Expr
    name_span: Span
    span: Span


@record
class Call(Record):
    """`f(args, name: value)`: an operator, block or builtin function called."""

    func: Expr
    args: tuple[Expr, ...]
    kwargs: tuple[Keyword, ...]
    span: Span


@record
class Attr(Record):
    """`obj.name`: `x.channels`, a layer's measure (`layer3.params`)."""

    obj: Expr
    name: str
    name_span: Span
    span: Span


@record
class DictExpr(Record):
    """`{key: value, ...}`: a table of configurations, looked up with `table[key]`."""

    pairs: tuple[tuple[Expr, Expr], ...]
    span: Span


@record
class Index(Record):
    """`obj[index]`: an item of a list or a table."""

    obj: Expr
    index: Expr
    span: Span


@record
class Label(Record):
    """A quoted label, `"denselayer{i + 1}"`: text and `{expr}` parts, joined when the stage runs
    into a layer name (`block1-0`, `features.denseblock1`, `0`)."""

    parts: tuple[str | Expr, ...]
    span: Span


@record
class Stage(Record):
    """One `-> label: f(args) * n` step of a pipeline."""

    label: Name | Label | None
    func: Name
    args: tuple[Expr, ...]
    kwargs: tuple[Keyword, ...]
    repeat: Expr | None
    span: Span


@record
class OutputStage(Record):
    """`-> output NAME` at the end of a pipeline."""

    name: Name
    span: Span


@record
class Pipeline(Record):
    """`head -> stage -> ...`: a value run through stages in order."""

    head: Expr
    stages: tuple[Stage | OutputStage, ...]
    span: Span


Expr = (Num | Str | Bool | Name | ListExpr | DictExpr | BinOp | Unary | Compare | BoolOp | Call
        | Attr | Index | Pipeline)


@record
class Input(Record):
    """`input NAME: [dims] where COND, ...`: a name among the dims is a symbolic size."""

    name: Name
    dims: ListExpr
    span: Span
    where: tuple[Expr, ...] = ()


@record
class ParamDecl(Record):
    """`param NAME: [dims] = init`: a learned tensor; init is a number, `zeros`, `ones`,
    `normal(std)` or `trunc_normal(std)` (None: zeros)."""

    name: Name
    dims: ListExpr
    init: Expr | None
    span: Span


@record
class Output(Record):
    """`output NAME` or `output NAME = value`: a network output."""

    name: Name
    value: Expr | None
    span: Span


@record
class Assign(Record):
    """`NAME = value` (or `a, b = value`, which unpacks)."""

    name: Name
    value: Expr
    span: Span
    more: tuple[Name, ...] = ()  # `a, b = ...`: the names after the first; the value unpacks


@record
class Annotate(Record):
    """`NAME: [dims]`: the shape a value must have, checked where it stands."""

    name: Name
    dims: ListExpr
    span: Span


@record
class ExpectExpr(Record):
    """`expect CONDITION`: a line over the network's measures (`expect params < 1M`)."""

    expr: Expr
    span: Span


@record
class ExpectShape(Record):
    """`expect y: [N, 10]`, `expect layer1.0.conv1: [...]`: name.id is the dotted name."""

    name: Name
    dims: ListExpr
    span: Span
    layer: bool = False  # a dotted or quoted name: a layer or block, never a value
    at: tuple[tuple[Name, Expr], ...] = ()  # `at H = 572, W = 572`: the sizes it holds at


@record
class ExpectApprox(Record):
    """`expect macs ~= 4.1G within 1%` (relative) or `within 0.2G` (absolute)."""

    actual: Expr
    expected: Expr
    tolerance: Expr
    relative: bool  # the tolerance is a percentage of `expected`
    span: Span


@record
class If(Record):
    """`if c { ... } elif c { ... } else { ... }`: branches chosen during elaboration."""

    branches: tuple[tuple[Expr, tuple[Stmt, ...]], ...]  # if and elif, in order
    orelse: tuple[Stmt, ...]
    span: Span


@record
class For(Record):
    """`for var in iter { ... }`: unrolled during elaboration."""

    var: Name
    iter: Expr
    body: tuple[Stmt, ...]
    span: Span


@record
class Return(Record):
    """`return value`: a block's result."""

    value: Expr
    span: Span


@record
class ExprStmt(Record):
    """An expression on its own line, such as a pipeline ending in `-> output y`."""

    expr: Expr
    span: Span


@record
class Option(Record):
    """`option floor: true`: a setting for the rest of the network and the blocks it calls."""

    name: Name
    value: Expr
    span: Span


Stmt = (Input | ParamDecl | Output | Assign | Annotate | ExpectExpr | ExpectShape | ExpectApprox
        | If | For
        | Return | Option | ExprStmt)


@record
class Param(Record):
    """A network's or block's parameter: `NAME` or `NAME = default`."""

    name: Name
    default: Expr | None
    span: Span


@record
class Network(Record):
    """`network NAME(params) { body }`: a network, built and checked by itself."""

    name: Name
    params: tuple[Param, ...]
    body: tuple[Stmt, ...]
    span: Span


@record
class NetworkAlias(Record):
    """`network resnet50 = resnet(depth: 50)`: a named variant of another network."""

    name: Name
    target: Name
    args: tuple[Expr, ...]
    kwargs: tuple[Keyword, ...]
    span: Span


@record
class Block(Record):
    """`block NAME(params) { body }`: a reusable piece, elaborated where it is called."""

    name: Name
    params: tuple[Param, ...]
    body: tuple[Stmt, ...]
    span: Span


@record
class Use(Record):
    """`use "path.net"`: the networks and blocks of another file."""

    path: Str
    span: Span


@record
class Module(Record):
    """One parsed .net file: its items in order."""

    source: Source
    items: tuple[Network | NetworkAlias | Block | Use, ...]
