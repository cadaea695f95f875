"""Text → AST: loads grammars/netdsl.lark, builds the AST while parsing, turns Lark errors into
Diagnostics. The only module that imports lark."""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

from lark import Lark, Token, v_args
from lark.visitors import Transformer_NonRecursive
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from netdsl import syntax as s
from netdsl.diagnostics import Diagnostic, NetdslError, error
from netdsl.source import Source, Span

# Terminal names as a user reads them.
_WORDS = {
    "NAME": "a name", "NUMBER": "a number", "STRING": "a string", "LPAR": "`(`", "RPAR": "`)`",
    "LBRACE": "`{`", "RBRACE": "`}`", "LSQB": "`[`", "RSQB": "`]`", "COMMA": "`,`",
    "COLON": "`:`", "EQUAL": "`=`", "DOT": "`.`", "__ANON_0": "`->`", "$END": "the end of the file",
}


def load_grammar() -> str:
    """The grammar text: from the installed package (wheel) or from the checkout's grammars/."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "grammars" / "netdsl.lark", here.parent / "grammars" / "netdsl.lark"):
        if candidate.is_file():
            return candidate.read_text(encoding="utf-8")
    raise FileNotFoundError("netdsl.lark not found beside the package: a broken installation")


def _num(text: str) -> int | float:
    text = text.replace("_", "")
    scale = {"K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}.get(text[-1:], 1)
    if scale != 1:
        text = text[:-1]
    if any(c in text for c in ".eE"):
        value = float(text) * scale
        return int(value) if scale != 1 and value.is_integer() else value
    return int(text) * scale


@v_args(meta=True)
class _ToAst(Transformer_NonRecursive):
    """Builds syntax.* nodes from Lark's tree, bottom-up and without recursion (deep nesting)."""

    source: Source

    def _span(self, meta: Any) -> Span:
        if getattr(meta, "empty", True):
            return self.source.span(0, 0)
        return self.source.span(meta.start_pos, meta.end_pos)

    def _tok(self, tok: Token) -> Span:
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
        return s.Block(self._name(c[0]), c[1], c[2], self._span(meta))

    def params(self, meta: Any, c: list[Any]) -> tuple[s.Param, ...]:
        return tuple(p for p in c if p is not None)

    def param(self, meta: Any, c: list[Any]) -> s.Param:
        return s.Param(self._name(c[0]), c[1], self._span(meta))

    def body(self, meta: Any, c: list[Any]) -> tuple[Any, ...]:
        return tuple(c)

    # statements
    def input_stmt(self, meta: Any, c: list[Any]) -> s.Input:
        return s.Input(self._name(c[0]), c[1], self._span(meta))

    def output_stmt(self, meta: Any, c: list[Any]) -> s.Output:
        return s.Output(self._name(c[0]), c[1], self._span(meta))

    def assign(self, meta: Any, c: list[Any]) -> s.Assign:
        return s.Assign(self._name(c[0]), c[1], self._span(meta))

    def annotate(self, meta: Any, c: list[Any]) -> s.Annotate:
        return s.Annotate(self._name(c[0]), c[1], self._span(meta))

    def expect_expr(self, meta: Any, c: list[Any]) -> s.ExpectExpr:
        return s.ExpectExpr(c[0], self._span(meta))

    def expect_shape(self, meta: Any, c: list[Any]) -> s.ExpectShape:
        return s.ExpectShape(self._name(c[0]), c[1], self._span(meta))

    def if_stmt(self, meta: Any, c: list[Any]) -> s.If:
        branches = ((c[0], c[1]),) + tuple(c[2])
        return s.If(branches, c[3] or (), self._span(meta))

    def elifs(self, meta: Any, c: list[Any]) -> tuple[Any, ...]:
        return tuple(c)

    def elif_(self, meta: Any, c: list[Any]) -> tuple[Any, Any]:
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
        args, kwargs = call_args if call_args is not None else ((), ())
        return s.Stage(self._name(label) if label is not None else None, self._name(func),
                       args, kwargs, self._repeat(repeat), self._span(meta))

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

    def comp_op(self, meta: Any, c: list[Any]) -> Token:
        return c[0]

    add_op = mul_op = comp_op

    def power(self, meta: Any, c: list[Any]) -> s.BinOp:
        op_span = self.source.span(c[0].span.end, c[1].span.start)
        return s.BinOp("**", c[0], c[1], op_span, self._span(meta))

    def call(self, meta: Any, c: list[Any]) -> s.Call:
        args, kwargs = c[1]
        return s.Call(c[0], args, kwargs, self._span(meta))

    def call_args(self, meta: Any, c: list[Any]) -> tuple[tuple[Any, ...], tuple[s.Keyword, ...]]:
        c = [a for a in c if a is not None]
        return (tuple(a for a in c if not isinstance(a, s.Keyword)),
                tuple(a for a in c if isinstance(a, s.Keyword)))

    def kwarg(self, meta: Any, c: list[Any]) -> s.Keyword:
        return s.Keyword(str(c[0]), c[1], self._tok(c[0]), self._span(meta))

    def attr(self, meta: Any, c: list[Any]) -> s.Attr:
        return s.Attr(c[0], str(c[1]), self._tok(c[1]), self._span(meta))

    def index(self, meta: Any, c: list[Any]) -> s.Index:
        return s.Index(c[0], c[1], self._span(meta))

    def number(self, meta: Any, c: list[Any]) -> s.Num:
        return s.Num(_num(str(c[0])), self._tok(c[0]))

    def string(self, meta: Any, c: list[Any]) -> s.Str:
        raw = str(c[0])[1:-1]
        return s.Str(raw.encode("utf-8").decode("unicode_escape") if "\\" in raw else raw,
                     self._tok(c[0]))

    def true(self, meta: Any, c: list[Any]) -> s.Bool:
        return s.Bool(True, self._span(meta))

    def false(self, meta: Any, c: list[Any]) -> s.Bool:
        return s.Bool(False, self._span(meta))

    def name(self, meta: Any, c: list[Any]) -> s.Name:
        return self._name(c[0])

    def list(self, meta: Any, c: list[Any]) -> s.ListExpr:
        return s.ListExpr(tuple(x for x in c if x is not None), self._span(meta))


_LOCK = threading.Lock()


@lru_cache(maxsize=1)
def _parser() -> tuple[Lark, _ToAst]:
    transformer = _ToAst()
    grammar = load_grammar().replace("elif: ", "elif_: ").replace("elif*", "elif_*")
    lark = Lark(grammar, parser="lalr", propagate_positions=True, maybe_placeholders=True)
    return lark, transformer


def parse(source: Source) -> s.Module:
    """Parse one source into a Module; raises NetdslError(E101/E102) on a syntax error."""
    lark, transformer = _parser()
    with _LOCK:
        transformer.source = source
        try:
            items = transformer.transform(lark.parse(source.text))
        except UnexpectedInput as e:
            raise NetdslError([_syntax_error(source, e, lark)]) from None
        except VisitError as e:  # a transformer callback failed: only on malformed numbers
            raise NetdslError([error("E101", f"cannot read this: {e.orig_exc}",
                                     source.span(0, 0))]) from None
        except RecursionError:
            raise NetdslError([error("E102", "the program nests too deeply to parse",
                                     source.span(0, 1), hints=["split the expression up"])]) from None
    return s.Module(source, tuple(items))


def _describe(lark: Lark, names: set[str]) -> str:
    words = set()
    for n in names:
        if n in _WORDS:
            words.add(_WORDS[n])
            continue
        try:
            pattern = lark.get_terminal(n).pattern
            words.add(f"`{pattern.value}`" if pattern.type == "str" else n.lower())
        except KeyError:
            words.add(n.lower())
    order = sorted(words, key=lambda w: (not w.startswith("a"), w))
    if len(order) > 8:
        order = order[:8] + ["..."]
    return ", ".join(order)


def _syntax_error(source: Source, e: UnexpectedInput, lark: Lark) -> Diagnostic:
    hints: list[str] = []
    if isinstance(e, UnexpectedEOF) or (isinstance(e, UnexpectedToken) and e.token.type == "$END"):
        pos = len(source.text.rstrip())
        span = source.span(max(0, pos - 1), pos)
        expected = _describe(lark, set(getattr(e, "expected", ()) or ()))
        msg = "the file ends in the middle of a statement"
        if source.text.count("{") > source.text.count("}"):
            hints.append("a `{` is not closed by a `}`")
        elif source.text.count("(") > source.text.count(")"):
            hints.append("a `(` is not closed by a `)`")
        return error("E101", msg, span, f"expected {expected}" if expected else "", hints)
    if isinstance(e, UnexpectedCharacters):
        ch = source.text[e.pos_in_stream] if e.pos_in_stream < len(source.text) else ""
        span = source.span(e.pos_in_stream, e.pos_in_stream + 1)
        if ch == "\x00" or not ch.isprintable():
            return error("E101", f"unexpected character {ch!r}: this does not look like netdsl text",
                         span, "here")
        allowed = _describe(lark, set(e.allowed or ()))
        if ch == "=" and "`:`" in allowed:
            hints.append("keyword arguments are written `name: value`, as in `stride: 2`")
        if ch == "'":
            hints.append('strings use double quotes: "bilinear"')
        return error("E101", f"unexpected `{ch}`", span,
                     f"expected {allowed}" if allowed else "not valid here", hints)
    assert isinstance(e, UnexpectedToken)
    tok = e.token
    span = source.span(tok.start_pos, max(tok.end_pos, tok.start_pos + 1))
    expected = set(e.expected or ())
    allowed = _describe(lark, expected)
    if tok.type == "EQUAL" and "COLON" in expected:
        hints.append("keyword arguments are written `name: value`, as in `stride: 2`")
    if tok.type == "NAME" and "RPAR" in expected and "COMMA" in expected:
        hints.append("separate arguments with `,`")
    if tok.type == "NAME" and str(tok) in ("def", "let", "var", "layer", "model", "class"):
        hints.append("a file holds `network NAME { ... }` and `block NAME(...) { ... }` definitions")
    what = f"`{tok}`" if tok.type != "NAME" else f"name `{tok}`"
    return error("E101", f"unexpected {what}", span, f"expected {allowed}", hints)
