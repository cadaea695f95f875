"""Tokens → AST: _ToAst, the method per grammar rule that builds its syntax.* node while the
LALR parser reduces (lalr.py's _Reducer calls them), with quoted labels' `{expr}` parts read
here and literals' values in literals.py."""

from __future__ import annotations

import builtins
from typing import Any

from lark import Token
from lark.exceptions import UnexpectedInput

from netdsl import syntax as s
from netdsl.diagnostics import Diagnostic, NetdslError, error
from netdsl.parse.lalr import _Reducer
from netdsl.parse.literals import BadNumber, literal_number, unescape
from netdsl.source import Source, Span


def _new_line_bracket(source: Source, at: int, value: Span) -> Diagnostic:
    """The E101 of a `(` or `[` at `at` that starts a line, after the `value` that ends the line
    before: a call or an index of it, where a new statement was meant."""
    bracket = source.text[at]
    what = "call" if bracket == "(" else "index"
    return error("E101", f"this `{bracket}` starts a line, but it would {what} the value that "
                 "ends the line before", source.span(at, at + 1),
                 f"{'a call' if bracket == '(' else 'an index'}, not a new statement",
                 ["a newline does not end an expression: start the statement with a name, as in "
                  "`y = (a + b) * c`"], [(value, "that value")])



class _ToAst(_Reducer):
    """Builds syntax.* nodes while Lark's LALR parser reduces (_Reducer): a method per rule."""

    source: Source

    def _span(self, meta: Any) -> Span:
        if meta is None or meta.start is None:
            return self.source.span(0, 0)
        return self.source.span(meta.start, meta.end)

    def _tok(self, tok: Token) -> Span:
        assert tok.start_pos is not None and tok.end_pos is not None  # the lexer sets both
        return self.source.span(tok.start_pos, tok.end_pos)

    def _name(self, tok: Token) -> s.Name:
        return s.Name(str(tok), self._tok(tok))

    def _join(self, a: Any, b: Any) -> Span:
        return self.source.span(a.span.start, b.span.end)

    # items
    def start(self, meta: Any, items: list[Any]) -> list[Any]:
        return items

    def use(self, meta: Any, c: list[Any]) -> s.Use:
        return s.Use(self.string(meta, [c[0]]), self._span(meta))

    def network(self, meta: Any, c: list[Any]) -> s.Network:
        params = c[1] if len(c) == 3 else ()
        return s.Network(self._name(c[0]), params, c[-1], self._span(meta))

    def network_alias(self, meta: Any, c: list[Any]) -> s.NetworkAlias:
        args, kwargs = c[2]
        return s.NetworkAlias(self._name(c[0]), self._name(c[1]), args, kwargs, self._span(meta))

    def option_stmt(self, meta: Any, c: list[Any]) -> s.Option:
        return s.Option(self._name(c[0]), c[1], self._span(meta))

    def block(self, meta: Any, c: list[Any]) -> s.Block:
        _, name, params, body = c  # the BLOCK keyword is a named terminal, so it is kept
        return s.Block(self._name(name), params, body, self._span(meta))

    def params(self, meta: Any, c: list[Any]) -> tuple[s.Param, ...]:
        return tuple(p for p in c if p is not None)

    def param(self, meta: Any, c: list[Any]) -> s.Param:
        return s.Param(self._name(c[0]), c[1], self._span(meta))

    def body(self, meta: Any, c: list[Any]) -> tuple[Any, ...]:
        return tuple(c)

    # statements
    def input_stmt(self, meta: Any, c: list[Any]) -> s.Input:
        return s.Input(self._name(c[0]), c[1], self._span(meta), tuple(c[2] or ()))

    def where_clause(self, meta: Any, c: list[Any]) -> list[Any]:
        return c[1:]  # c[0]: WHERE

    def at_clause(self, meta: Any, c: list[Any]) -> list[Any]:
        return c[1:]  # c[0]: AT

    def binding(self, meta: Any, c: list[Any]) -> tuple[s.Name, Any]:
        return (self._name(c[0]), c[1])

    def param_stmt(self, meta: Any, c: list[Any]) -> s.ParamDecl:
        return s.ParamDecl(self._name(c[1]), c[2], c[3], self._span(meta))  # c[0]: PARAM

    def output_stmt(self, meta: Any, c: list[Any]) -> s.Output:
        return s.Output(self._name(c[0]), c[1], self._span(meta))

    def assign(self, meta: Any, c: list[Any]) -> s.Assign:
        return s.Assign(self._name(c[0]), c[-1], self._span(meta),
                        tuple(self._name(t) for t in c[1:-1]))

    def annotate(self, meta: Any, c: list[Any]) -> s.Annotate:
        return s.Annotate(self._name(c[0]), c[1], self._span(meta))

    def expect_expr(self, meta: Any, c: list[Any]) -> s.ExpectExpr:
        return s.ExpectExpr(c[0], self._span(meta))

    def expect_shape(self, meta: Any, c: list[Any]) -> s.ExpectShape:
        target, at = c[0], tuple(c[2] or ())
        if isinstance(target, s.Name):
            return s.ExpectShape(target, c[1], self._span(meta), at=at)
        path = _layer_path(target)
        if path is None:
            raise NetdslError([error(
                "E101", "`expect NAME: [dims]` needs a value, layer or block name",
                target.span, "not a name", ["write `expect y: [N, 10]` or `expect "
                                            "layer1.0.conv1: [N, 64, 56, 56]`"])])
        return s.ExpectShape(s.Name(path, target.span), c[1], self._span(meta), layer=True,
                             at=at)

    def expect_approx(self, meta: Any, c: list[Any]) -> s.ExpectApprox:
        tolerance, relative = c[2]
        return s.ExpectApprox(c[0], c[1], tolerance, relative, self._span(meta))

    def tolerance(self, meta: Any, c: list[Any]) -> tuple[s.Expr, bool]:
        if isinstance(c[0], Token):  # PERCENT: `1%`
            return self._number(c[0], str(c[0])[:-1]), True
        return c[0], False

    def if_stmt(self, meta: Any, c: list[Any]) -> s.If:
        branches = ((c[0], c[1]),) + tuple(c[2])
        return s.If(branches, c[3] or (), self._span(meta))

    def elifs(self, meta: Any, c: list[Any]) -> tuple[Any, ...]:
        return tuple(c)

    def elif_clause(self, meta: Any, c: list[Any]) -> tuple[Any, Any]:
        return (c[0], c[1])

    def for_stmt(self, meta: Any, c: list[Any]) -> s.For:
        return s.For(self._name(c[0]), c[1], c[2], self._span(meta))

    def return_stmt(self, meta: Any, c: list[Any]) -> s.Return:
        return s.Return(c[0], self._span(meta))

    def expr_stmt(self, meta: Any, c: list[Any]) -> s.ExprStmt:
        return s.ExprStmt(c[0], self._span(meta))

    # expressions
    def pipeline(self, meta: Any, c: list[Any]) -> s.Pipeline:
        return s.Pipeline(c[0], tuple(c[1:]), self._span(meta))

    def call_stage(self, meta: Any, c: list[Any]) -> s.Stage:
        label, func, call_args, repeat = c
        name = self._name(func)
        if call_args is not None:
            self._same_line(name, "(")
        args, kwargs = call_args if call_args is not None else ((), ())
        return s.Stage(self._label(label), name, args, kwargs, self._repeat(repeat),
                       self._span(meta))

    def _label(self, tok: Token | None) -> s.Name | s.Label | None:
        if tok is None:
            return None
        if tok.type == "NAME":
            return self._name(tok)
        assert tok.start_pos is not None
        return s.Label(tuple(self._interpolate(str(tok)[1:-1], tok.start_pos + 1)),
                       self._tok(tok))

    def _interpolate(self, text: str, at: int) -> list[str | s.Expr]:
        """`denselayer{i + 1}` → ["denselayer", BinOp(i + 1)]; `at`: where `text` starts in the
        source, so that the expressions' spans are the source's."""
        parts: list[str | s.Expr] = []
        i = 0
        while i < len(text):
            open_, close = text.find("{", i), text.find("}", i)
            if close != -1 and (open_ == -1 or close < open_):
                raise NetdslError([error("E101", "a `}` in a label closes nothing",
                                         self.source.span(at + close, at + close + 1),
                                         hints=["`{expr}` inserts a value into a label"])])
            if open_ == -1:
                parts.append(text[i:])
                break
            end = _closing_brace(text, open_)
            if end == -1:
                raise NetdslError([error("E101", "a `{` in a label is not closed",
                                         self.source.span(at + open_, at + open_ + 1),
                                         "expected `}`")])
            if open_ > i:
                parts.append(text[i:open_])
            # NOTE: padding keeps the source's offsets, so spans and syntax errors point right.
            padded = " " * (at + open_ + 1) + text[open_ + 1:end]
            try:
                parts.append(self.build(padded, "expr"))
            except UnexpectedInput:
                raise NetdslError([error(
                    "E101", "the `{...}` in a label must hold an expression",
                    self.source.span(at + open_, at + end + 1), "not an expression",
                    ["write a value such as `{i + 1}` or `{name}`"])]) from None
            i = end + 1
        return parts

    def _repeat(self, r: Any) -> Any:
        if isinstance(r, Token):
            return self.number(None, [r]) if r.type == "NUMBER" else self._name(r)
        return r

    def output_stage(self, meta: Any, c: list[Any]) -> s.OutputStage:
        return s.OutputStage(self._name(c[0]), self._span(meta))

    def or_(self, meta: Any, c: list[Any]) -> s.BoolOp:
        return s.BoolOp("or", c[0], c[1], self._span(meta))

    def and_(self, meta: Any, c: list[Any]) -> s.BoolOp:
        return s.BoolOp("and", c[0], c[1], self._span(meta))

    def not_(self, meta: Any, c: list[Any]) -> s.Unary:
        return s.Unary("not", c[0], self._span(meta))

    def neg(self, meta: Any, c: list[Any]) -> s.Unary:
        return s.Unary("-", c[0], self._span(meta))

    def compare(self, meta: Any, c: list[Any]) -> s.Compare:
        return s.Compare(tuple(str(t) for t in c[1::2]), tuple(c[0::2]), self._span(meta))

    def binop(self, meta: Any, c: list[Any]) -> s.BinOp:
        return s.BinOp(str(c[1]), c[0], c[2], self._tok(c[1]), self._span(meta))

    def comp_op(self, meta: Any, c: list[Token]) -> Token:
        return c[0]

    add_op = mul_op = comp_op

    def power(self, meta: Any, c: list[Any]) -> s.BinOp:
        op_span = self.source.span(c[0].span.end, c[1].span.start)
        return s.BinOp("**", c[0], c[1], op_span, self._span(meta))

    def call(self, meta: Any, c: list[Any]) -> s.Call:
        self._same_line(c[0], "(")
        args, kwargs = c[1]
        return s.Call(c[0], args, kwargs, self._span(meta))

    def call_args(self, meta: Any, c: list[Any]) -> tuple[tuple[Any, ...], tuple[s.Keyword, ...]]:
        c = [a for a in c if a is not None]
        args = tuple(a for a in c if not isinstance(a, s.Keyword))
        kwargs = tuple(a for a in c if isinstance(a, s.Keyword))
        if args and kwargs and args[-1].span.start > kwargs[0].span.start:
            late = next(a for a in args if a.span.start > kwargs[0].span.start)
            raise NetdslError([error(
                "E101", "a positional argument follows a keyword argument", late.span,
                "positional", ["positional arguments come first, in order; after a `name: "
                               "value`, name each argument"], [(kwargs[0].span, "keyword")])])
        return args, kwargs

    def kwarg(self, meta: Any, c: list[Any]) -> s.Keyword:
        return s.Keyword(str(c[0]), c[1], self._tok(c[0]), self._span(meta))

    def attr(self, meta: Any, c: list[Any]) -> s.Attr:
        return s.Attr(c[0], str(c[1]), self._tok(c[1]), self._span(meta))

    def index(self, meta: Any, c: list[Any]) -> s.Index:
        self._same_line(c[0], "[")
        return s.Index(c[0], c[1], self._span(meta))

    def _same_line(self, value: s.Expr | s.Name, bracket: str) -> None:
        """E101 where the `(` or `[` after `value` starts a line of its own: newlines are spaces,
        so `c = 3` and then `(x) -> relu` would read as a call of 3."""
        text, end = self.source.text, value.span.end
        at = text.find(bracket, end)
        if "\n" in text[end:at]:
            raise NetdslError([_new_line_bracket(self.source, at, value.span)])

    def number(self, meta: Any, c: list[Any]) -> s.Num:
        return self._number(c[0], str(c[0]))

    def _number(self, tok: Token, text: str) -> s.Num:
        """The Num of the literal `text` that starts `tok`, else its E101 or E215."""
        span = self._tok(tok)
        try:
            return s.Num(literal_number(text), span)
        except BadNumber as bad:
            at = span.start + bad.start
            end = span.start + len(text) if bad.end is None else span.start + bad.end
            raise NetdslError([error(bad.code, bad.message, self.source.span(at, end),
                                     bad.label, [bad.hint])]) from None

    def string(self, meta: Any, c: list[Any]) -> s.Str:
        raw = str(c[0])[1:-1]
        span = self._tok(c[0])
        return s.Str(unescape(raw, self.source, span.start + 1) if "\\" in raw else raw, span)

    def true(self, meta: Any, c: list[Any]) -> s.Bool:
        return s.Bool(True, self._span(meta))

    def false(self, meta: Any, c: list[Any]) -> s.Bool:
        return s.Bool(False, self._span(meta))

    def name(self, meta: Any, c: list[Any]) -> s.Name:
        return self._name(c[0])

    # NOTE: `list` names the grammar rule here; the annotations say builtins.list for the type.
    def list(self, meta: Any, c: builtins.list[Any]) -> s.ListExpr:
        return s.ListExpr(tuple(x for x in c if x is not None), self._span(meta))

    def dict(self, meta: Any, c: builtins.list[Any]) -> s.DictExpr:
        return s.DictExpr(tuple(x for x in c if x is not None), self._span(meta))

    def pair(self, meta: Any, c: builtins.list[Any]) -> tuple[Any, Any]:
        return (c[0], c[1])


def _layer_path(e: s.Expr) -> str | None:
    """`layer1.0.conv1` or `"features.0.0"` as a dotted name; None for anything else."""
    parts: list[str] = []
    while isinstance(e, s.Attr):  # NOTE: a loop, not recursion: a path may be thousands long
        parts.append(e.name)
        e = e.obj
    if isinstance(e, s.Str) or (isinstance(e, s.Name) and parts):
        head = e.value if isinstance(e, s.Str) else e.id
        return ".".join([head, *reversed(parts)])
    return None


def _closing_brace(text: str, start: int) -> int:
    """The index of the `}` that closes the `{` at `start` (tables nest braces), or -1."""
    depth = 0
    for i in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return i
    return -1
