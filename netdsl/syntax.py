"""The AST: one frozen dataclass per construct; every node carries the Span it was parsed from."""

from __future__ import annotations

from dataclasses import dataclass

from netdsl.source import Source, Span


@dataclass(frozen=True, slots=True)
class Num:
    """A number literal: `64`, `0.5`, `1e-5`, `25_557_032`, `4.1G` (K M G T scale it)."""

    value: int | float
    span: Span


@dataclass(frozen=True, slots=True)
class Str:
    """A string literal, escapes resolved: `"same"`."""

    value: str
    span: Span


@dataclass(frozen=True, slots=True)
class Bool:
    """`true` or `false`."""

    value: bool
    span: Span


@dataclass(frozen=True, slots=True)
class Name:
    """A bare name: a value, parameter, operator or block (`x`, `conv`, `classes`)."""

    id: str
    span: Span


@dataclass(frozen=True, slots=True)
class ListExpr:
    """`[a, b, ...]`, also the dims of a shape: `[N, 3, 224, 224]`."""

    items: tuple[Expr, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class BinOp:
    """`left op right` for arithmetic (`+ - * / // % **`); op_span is the operator's."""

    op: str  # + - * / // % **
    left: Expr
    right: Expr
    op_span: Span
    span: Span


@dataclass(frozen=True, slots=True)
class Unary:
    """`-x` or `not x`."""

    op: str  # "-" or "not"
    operand: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Compare:
    """A comparison chain: `a < b <= c` (ops between operands, as written)."""

    ops: tuple[str, ...]
    operands: tuple[Expr, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class BoolOp:
    """`left and right`, `left or right`."""

    op: str  # "and" / "or"
    left: Expr
    right: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Keyword:
    """`name: value` in a call's arguments; name_span is the name's."""

    name: str
    value: Expr
    name_span: Span
    span: Span


@dataclass(frozen=True, slots=True)
class Call:
    """`f(args, name: value)`: an operator, block or builtin function called."""

    func: Expr
    args: tuple[Expr, ...]
    kwargs: tuple[Keyword, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Attr:
    """`obj.name`: `x.channels`, a layer's measure (`layer3.params`)."""

    obj: Expr
    name: str
    name_span: Span
    span: Span


@dataclass(frozen=True, slots=True)
class DictExpr:
    """`{key: value, ...}`: a table of configurations, looked up with `table[key]`."""

    pairs: tuple[tuple[Expr, Expr], ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Index:
    """`obj[index]`: an item of a list or a table."""

    obj: Expr
    index: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Label:
    """A quoted label, `"denselayer{i + 1}"`: text and `{expr}` parts, joined when the stage runs
    into a layer name (`block1-0`, `features.denseblock1`, `0`)."""

    parts: tuple[str | Expr, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Stage:
    """One `-> label: f(args) * n` step of a pipeline."""

    label: Name | Label | None
    func: Name
    args: tuple[Expr, ...]
    kwargs: tuple[Keyword, ...]
    repeat: Expr | None
    span: Span


@dataclass(frozen=True, slots=True)
class OutputStage:
    """`-> output NAME` at the end of a pipeline."""

    name: Name
    span: Span


@dataclass(frozen=True, slots=True)
class Pipeline:
    """`head -> stage -> ...`: a value run through stages in order."""

    head: Expr
    stages: tuple[Stage | OutputStage, ...]
    span: Span


Expr = (Num | Str | Bool | Name | ListExpr | DictExpr | BinOp | Unary | Compare | BoolOp | Call
        | Attr | Index | Pipeline)


@dataclass(frozen=True, slots=True)
class Input:
    """`input NAME: [dims] where COND, ...`: a name among the dims is a symbolic size."""

    name: Name
    dims: ListExpr
    span: Span
    where: tuple[Expr, ...] = ()


@dataclass(frozen=True, slots=True)
class ParamDecl:
    """`param NAME: [dims] = init`: a learned tensor; init is a number, `zeros`, `ones`,
    `normal(std)` or `trunc_normal(std)` (None: zeros)."""

    name: Name
    dims: ListExpr
    init: Expr | None
    span: Span


@dataclass(frozen=True, slots=True)
class Output:
    """`output NAME` or `output NAME = value`: a network output."""

    name: Name
    value: Expr | None
    span: Span


@dataclass(frozen=True, slots=True)
class Assign:
    """`NAME = value` (or `a, b = value`, which unpacks)."""

    name: Name
    value: Expr
    span: Span
    more: tuple[Name, ...] = ()  # `a, b = ...`: the names after the first; the value unpacks


@dataclass(frozen=True, slots=True)
class Annotate:
    """`NAME: [dims]`: the shape a value must have, checked where it stands."""

    name: Name
    dims: ListExpr
    span: Span


@dataclass(frozen=True, slots=True)
class ExpectExpr:
    """`expect CONDITION`: a line over the network's measures (`expect params < 1M`)."""

    expr: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class ExpectShape:
    """`expect y: [N, 10]`, `expect layer1.0.conv1: [...]`: name.id is the dotted name."""

    name: Name
    dims: ListExpr
    span: Span
    layer: bool = False  # a dotted or quoted name: a layer or block, never a value
    at: tuple[tuple[Name, Expr], ...] = ()  # `at H = 572, W = 572`: the sizes it holds at


@dataclass(frozen=True, slots=True)
class ExpectApprox:
    """`expect macs ~= 4.1G within 1%` (relative) or `within 0.2G` (absolute)."""

    actual: Expr
    expected: Expr
    tolerance: Expr
    relative: bool  # the tolerance is a percentage of `expected`
    span: Span


@dataclass(frozen=True, slots=True)
class If:
    """`if c { ... } elif c { ... } else { ... }`: branches chosen during elaboration."""

    branches: tuple[tuple[Expr, tuple[Stmt, ...]], ...]  # if and elif, in order
    orelse: tuple[Stmt, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class For:
    """`for var in iter { ... }`: unrolled during elaboration."""

    var: Name
    iter: Expr
    body: tuple[Stmt, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Return:
    """`return value`: a block's result."""

    value: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class ExprStmt:
    """An expression on its own line, such as a pipeline ending in `-> output y`."""

    expr: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Option:
    """`option floor: true`: a setting for the rest of the network and the blocks it calls."""

    name: Name
    value: Expr
    span: Span


Stmt = (Input | ParamDecl | Output | Assign | Annotate | ExpectExpr | ExpectShape | ExpectApprox
        | If | For
        | Return | Option | ExprStmt)


@dataclass(frozen=True, slots=True)
class Param:
    """A network's or block's parameter: `NAME` or `NAME = default`."""

    name: Name
    default: Expr | None
    span: Span


@dataclass(frozen=True, slots=True)
class Network:
    """`network NAME(params) { body }`: a network, built and checked by itself."""

    name: Name
    params: tuple[Param, ...]
    body: tuple[Stmt, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class NetworkAlias:
    """`network resnet50 = resnet(depth: 50)`: a named variant of another network."""

    name: Name
    target: Name
    args: tuple[Expr, ...]
    kwargs: tuple[Keyword, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Block:
    """`block NAME(params) { body }`: a reusable piece, elaborated where it is called."""

    name: Name
    params: tuple[Param, ...]
    body: tuple[Stmt, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Use:
    """`use "path.net"`: the networks and blocks of another file."""

    path: Str
    span: Span


@dataclass(frozen=True, slots=True)
class Module:
    """One parsed .net file: its items in order."""

    source: Source
    items: tuple[Network | NetworkAlias | Block | Use, ...]
