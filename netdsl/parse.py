"""Text → AST: loads grammars/netdsl.lark, builds the AST while parsing, turns Lark errors into
Diagnostics. The only module that imports lark."""

from __future__ import annotations

import builtins
import hashlib
import json
import math
import re
import threading
from collections.abc import Callable
from copy import copy
from decimal import Decimal
from functools import lru_cache
from operator import itemgetter
from pathlib import Path
from typing import Any, cast

from lark import Lark, Token, __version__ as _lark_version
from lark.exceptions import (
    UnexpectedCharacters,
    UnexpectedEOF,
    UnexpectedInput,
    UnexpectedToken,
    VisitError,
)
from lark.grammar import Rule
from lark.lexer import (
    AbstractBasicLexer,
    BasicLexer,
    ContextualLexer,
    LexerThread,
    Scanner,
    TerminalDef,
    UnlessCallback,
    _get_match,
)
from lark.parse_tree_builder import ChildFilterLALR, maybe_create_child_filter
from lark.parsers.lalr_analysis import IntParseTable, Reduce, Shift
from lark.parsers.lalr_parser import LALR_Parser, _Parser
from lark.parsers.lalr_parser_state import ParseConf, ParserState

from netdsl import syntax as s
from netdsl.diagnostics import Diagnostic, NetdslError, error
from netdsl.limits import MAX_DIGITS, MAX_INT, MAX_NUMBERS, MAX_SOURCE_BYTES, MAX_TOKENS
from netdsl.source import Source, Span


def load_grammar() -> str:
    """The grammar text: from the installed package (wheel) or from the checkout's grammars/."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "grammars" / "netdsl.lark", here.parent / "grammars" / "netdsl.lark"):
        if candidate.is_file():
            return candidate.read_text(encoding="utf-8")
    raise FileNotFoundError("netdsl.lark not found beside the package: a broken installation")


class _TooLarge(Exception):
    """A number literal beyond netdsl's limits (limits.MAX_INT, a finite float)."""


def _num(text: str) -> int | float:
    text = text.replace("_", "")
    if len(text) > MAX_DIGITS:  # NOTE: before int(): Python refuses 4,300 digits, slowly
        raise _TooLarge
    scale = {"K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}.get(text[-1:], 1)
    if scale != 1:
        text = text[:-1]
    if any(c in text for c in ".eE"):
        if not math.isfinite(float(text) * scale):
            raise _TooLarge
        # NOTE: in decimal, so that 4.1G is 4_100_000_000 exactly (float 4.1 * 1e9 is not):
        # `expect macs ~= 4.1G within 1%` has exact bounds.
        exact = Decimal(text) * scale
        return int(exact) if scale != 1 and exact == exact.to_integral_value() else float(exact)
    if int(text) * scale > MAX_INT:
        raise _TooLarge
    return int(text) * scale


_first = itemgetter(0)


class _Built:
    """A rule's value on the LALR parser's stack, with the extent that Lark's
    propagate_positions gives the rule's tree: from the start of its first token to the end of
    its last, brackets and keywords included (None: the rule matched nothing). A rule inlined
    into its parent (`?atom: "(" expr ")"`) keeps its value and widens the extent (Lark's
    `container_start_pos`)."""

    __slots__ = ("end", "start", "value")
    start: int | None
    end: int | None
    value: Any

    def __init__(self, children: builtins.list[Any]) -> None:
        self.start = self.end = None
        for c in children:
            if type(c) is not _Built:  # NOTE: a Token
                self.start = c.start_pos
                break
            if c.start is not None:
                self.start = c.start
                break
        for c in reversed(children):
            if type(c) is not _Built:
                self.end = c.end_pos
                break
            if c.end is not None:
                self.end = c.end
                break


class _ToAst:
    """Builds syntax.* nodes while Lark's LALR parser reduces, bottom-up and without recursion
    (deep nesting), with no parse tree in between: each rule's method gets the rule's _Built
    (`meta`: its extent) and its children as Lark's tree would hold them (tokens, None for a
    missing optional part, the children's values)."""

    source: Source
    lark: Lark  # for the `{expr}` parts of a quoted label
    parser: _Parser
    failed: VisitError | None = None

    def __init__(self, lark: Lark) -> None:
        self.lark = lark
        callbacks = {rule: self._callback(rule) for rule in lark.rules}
        self.parser = _FastParser(lark.parser.parser.parser.parse_table, cast(Any, callbacks))

    def build(self, text: str, start: str) -> Any:
        """Parse `text` from the rule `start` straight into its AST. Raises Lark's errors, else
        the first error of a rule's method, as a VisitError (as Lark's Transformer did).
        NOTE: a method's error waits for the end of the parse, so that a syntax error anywhere
        comes first, as when the tree was transformed after parsing."""
        outer, self.failed = self.failed, None
        try:
            value = self.parser.parse(LexerThread.from_text(self.lark.parser.lexer, text), start)
            failed = self.failed
        finally:
            self.failed = outer
        if failed is not None:
            raise failed
        return value.value if type(value) is _Built else value

    def _callback(self, rule: Rule) -> Any:
        """The function that reduces `rule`: Lark's tree-builder steps (which children are kept,
        None placeholders, `?rule` inlining, `__anon` repetitions spliced in), building the AST
        node instead of a Tree."""
        expansion, options = rule.expansion, rule.options
        inline = options.expand1 and not rule.alias
        if inline and len(expansion) == 1 and not getattr(expansion[0], "filter_out", False):
            return _first  # NOTE: as Lark's: a child alone keeps its value and its extent
        kept = maybe_create_child_filter(expansion, options.keep_all_tokens, False,
                                         cast(Any, options.empty_indices))
        if kept is None:
            include, trailing = [(i, False, 0) for i in range(len(expansion))], 0
        elif kept.func is ChildFilterLALR:
            include, trailing = kept.args
        else:
            include, trailing = [(i, x, 0) for i, x in kept.args[0]], 0
        name = rule.alias or options.template_source or rule.origin.name
        anonymous = name.startswith("_")  # an `__anon` repetition: spliced into its parent
        # NOTE: every rule has a method but `?rule`s that only ever inline (`?unary: "+" unary`)
        method = None if anonymous or inline else getattr(self, name)
        if inline:
            method = getattr(self, name, None)

        def reduce(children: builtins.list[Any]) -> Any:
            raw: builtins.list[Any] = []
            for i, splice, nones in include:
                if nones:
                    raw += [None] * nones
                if splice:
                    raw += children[i].value
                else:
                    raw.append(children[i])
            if trailing:
                raw += [None] * trailing
            built = _Built(children)
            if anonymous:
                built.value = raw
                return built
            if inline and len(raw) == 1:
                child = raw[0]
                if type(child) is _Built and built.start is not None:
                    built.value = child.value
                    return built
                return child
            assert method is not None, name
            try:
                built.value = method(built, [c.value if type(c) is _Built else c for c in raw])
            except Exception as e:  # noqa: BLE001 - reported by build() after the parse
                if self.failed is None:  # NOTE: a label's `{expr}` failed in a nested build()
                    self.failed = VisitError(  # type: ignore[no-untyped-call]
                        name, None, e.orig_exc if isinstance(e, VisitError) else e)
                built.value = None
            return built

        return reduce

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
            tok = c[0]
            return s.Num(_num(str(tok)[:-1]), self._tok(tok)), True
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
        args, kwargs = call_args if call_args is not None else ((), ())
        return s.Stage(self._label(label), self._name(func), args, kwargs,
                       self._repeat(repeat), self._span(meta))

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
        try:
            return s.Num(_num(str(c[0])), self._tok(c[0]))
        except _TooLarge:
            raise NetdslError([error(
                "E215", "the number is too large", self._tok(c[0]), "too large",
                hints=[f"netdsl's integers go up to 2**63 - 1 = {MAX_INT}, its numbers to "
                       "about 1.8e308"])]) from None

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

    # NOTE: `list` names the grammar rule here; the annotations say builtins.list for the type.
    def list(self, meta: Any, c: builtins.list[Any]) -> s.ListExpr:
        return s.ListExpr(tuple(x for x in c if x is not None), self._span(meta))

    def dict(self, meta: Any, c: builtins.list[Any]) -> s.DictExpr:
        return s.DictExpr(tuple(x for x in c if x is not None), self._span(meta))

    def pair(self, meta: Any, c: builtins.list[Any]) -> tuple[Any, Any]:
        return (c[0], c[1])


class _State(ParserState):  # type: ignore[type-arg]
    """Lark's LALR parser state, its feed_token without the asserts that cost a Rule.__eq__
    each reduction (~2,600 for resnet.net) and without token callbacks (_ToAst has none)."""

    __slots__ = ()

    def feed_token(self, token: Token, is_end: bool = False) -> Any:
        state_stack, value_stack = self.state_stack, self.value_stack
        states, callbacks = self.parse_conf.states, self.parse_conf.callbacks
        end_state = self.parse_conf.end_state
        while True:
            state = state_stack[-1]
            try:
                action, arg = states[state][token.type]
            except KeyError:
                expected = {s for s in states[state] if s.isupper()}
                raise UnexpectedToken(token, expected, state=self,  # type: ignore[no-untyped-call]
                                      interactive_parser=None) from None
            if action is Shift:
                state_stack.append(arg)
                value_stack.append(token)
                return None
            size = len(arg.expansion)
            if size:
                children = value_stack[-size:]
                del state_stack[-size:]
                del value_stack[-size:]
            else:
                children = []
            value = callbacks[arg](children)
            state_stack.append(states[state_stack[-1]][arg.origin.name][1])
            value_stack.append(value)
            if is_end and state_stack[-1] == end_state:
                return value_stack[-1]


class _FastParser(_Parser):
    """Lark's LALR parser loop over _State."""

    def parse(self, lexer: Any, start: str, value_stack: Any = None, state_stack: Any = None,
              start_interactive: bool = False) -> Any:
        assert not start_interactive
        state = _State(ParseConf(self.parse_table, self.callbacks, start), lexer, state_stack,
                       value_stack)
        return self.parse_from_state(state)


def _layer_path(e: s.Expr) -> str | None:
    """`layer1.0.conv1` or `"features.0.0"` as a dotted name; None for anything else."""
    if isinstance(e, s.Str):
        return e.value
    if isinstance(e, s.Attr):
        head = e.obj.id if isinstance(e.obj, s.Name) else _layer_path(e.obj)
        return None if head is None else f"{head}.{e.name}"
    return None


_LOCK = threading.Lock()
_OPTIONS: dict[str, Any] = {"parser": "lalr", "propagate_positions": True,
                            "maybe_placeholders": True, "start": ["start", "expr"]}
PARSER_FILE = Path(__file__).resolve().parent / "parser.json"


_FORMAT = "3"  # parser.json's form: its LALR table compact (_compact_table), and "folds"


def grammar_key(grammar: str) -> str:
    """What the pre-built parser was built from: the grammar, Lark's version and the options,
    and the file's form."""
    text = grammar + _lark_version + json.dumps(_OPTIONS, sort_keys=True) + _FORMAT
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def serialized_parser() -> str:
    """The analysed LALR parser as JSON (Lark's own serialised form, as its standalone tool
    writes it, with the LALR table in _compact_table's form, and the lexer's _folds), keyed by
    the grammar's hash and the form: netdsl/parser.json, written by
    `python tools/gendocs.py parser` (tests/test_security.py checks that it is current)."""
    grammar = load_grammar()
    lark = Lark(grammar, **_OPTIONS)
    data, memo = lark.memo_serialize([TerminalDef, Rule])
    data["parser"]["parser"] = _compact_table(data["parser"]["parser"])
    folds = {k: sorted(v) for k, v in _folds(lark.terminals, lark.options.g_regex_flags).items()}
    return json.dumps({"key": grammar_key(grammar), "lark": _lark_version, "data": data,
                       "memo": memo, "folds": folds}, sort_keys=True,
                      separators=(",", ":")) + "\n"


class _StateLexer(BasicLexer):
    """The lexer of one contextual-lexer state that first asks the one scanner of all terminals
    (one regex, compiled once), and compiles its own (Lark compiles one regex per state, ~1 ms
    each: 35 for resnet.net) only when that scanner matches a terminal this state does not
    take: a collision (INDEX after `.`, where NUMBER also matches), or an error.
    NOTE: the same tokens as Lark's: the shared scanner's alternatives are all terminals in the
    order Lark sorts every state's, so when its first match is one this state's scanner holds,
    none of this state's alternatives before it matched either."""

    owner: _ContextualLexer
    _takes: frozenset[str] | None = None
    _shared: builtins.list[re.Pattern[str]]

    def match(self, text: Any, pos: int) -> Any:
        if self._takes is None:
            self._takes, self.callback = self.owner.unless(tuple(self.terminals))
            self._shared = self.owner.shared()._mres
        for mre in self._shared:  # NOTE: Scanner.match, inlined
            m = mre.match(text.text, pos, text.end)
            if m:
                if m.lastgroup in self._takes:
                    return m.group(0), m.lastgroup
                break
        return self.scanner.match(text, pos)


class _ContextualLexer(ContextualLexer):
    """Lark's contextual lexer with a _StateLexer for each state (plugged in by `_plugins`).
    Loaded from parser.json (its terminals checked when it was built), a state's lexer is made
    when a parse first reaches the state (Lark makes all 80 up front), as Lark makes it."""

    BasicLexer = _StateLexer
    _scanner: Scanner | None = None
    _whole: dict[str, frozenset[str]] | None = None  # regex terminal -> keywords it matches

    def __init__(self, conf: Any, states: Any, always_accept: Any = ()) -> None:
        self._unless: dict[tuple[TerminalDef, ...], tuple[frozenset[str], dict[str, Any]]] = {}
        if not conf.skip_validation:  # NOTE: built from the grammar: Lark's checks, all states
            super().__init__(conf, states, always_accept)
            for lexer in (*self.lexers.values(), self.root_lexer):
                cast(_StateLexer, lexer).owner = self
            return
        self._conf, self._states = conf, states
        self._extra = set(conf.ignore) | set(always_accept)
        self._by_terminals: dict[frozenset[str], _StateLexer] = {}
        self.lexers = _Lazy(self._lexer)
        self.root_lexer = self._make(conf.terminals)

    def _lexer(self, state: int) -> _StateLexer:
        key = frozenset(self._states[state])
        if key not in self._by_terminals:
            names = key | self._extra
            self._by_terminals[key] = self._make(
                [t for t in self._conf.terminals if t.name in names])
        return self._by_terminals[key]

    def _make(self, terminals: builtins.list[TerminalDef]) -> _StateLexer:
        conf = copy(self._conf)
        conf.terminals = terminals
        lexer = _StateLexer(conf)
        lexer.owner = self
        return lexer

    def unless(self, terminals: tuple[TerminalDef, ...]) -> tuple[frozenset[str], dict[str, Any]]:
        """The terminals a state's scanner holds once Lark folds keywords into NAME, and the
        callbacks that unfold them: lark.lexer._create_unless's result (no user callbacks, as
        BasicLexer._build_scanner), its tests whether a regex matches all of a keyword made
        once for all states (Lark makes them for each state: ~3 ms for resnet.net)."""
        if terminals in self._unless:
            return self._unless[terminals]
        root = cast(_StateLexer, self.root_lexer)
        if self._whole is None:  # NOTE: parser.json holds them (~1.5 ms of regex compiles)
            self._whole = _folds(root.terminals, root.g_regex_flags)
        folded: set[str] = set()
        callback: dict[str, Any] = {}
        for r in terminals:
            words = [w for w in terminals if w.name in self._whole.get(r.name, ())]
            folded.update(w.name for w in words
                          if frozenset(w.pattern.flags) <= frozenset(r.pattern.flags))
            if words:
                callback[r.name] = UnlessCallback(Scanner(  # type: ignore[no-untyped-call]
                    words, root.g_regex_flags, root.re, root.use_bytes))
        result = frozenset(t.name for t in terminals if t.name not in folded), callback
        self._unless[terminals] = result
        return result

    def shared(self) -> Scanner:
        if self._scanner is None:  # NOTE: root_lexer's terminals are sorted as each state's
            root = cast(_StateLexer, self.root_lexer)
            self._scanner = Scanner(  # type: ignore[no-untyped-call]
                root.terminals, root.g_regex_flags, root.re, root.use_bytes)
        return self._scanner


def _folds(terminals: Any, flags: int) -> dict[str, frozenset[str]]:
    """For each regex terminal, the keywords (string terminals of its priority) it matches
    whole, as lark.lexer._create_unless tests them."""
    return {r.name: frozenset(
        w.name for w in terminals if w.pattern.type == "str" and w.priority == r.priority
        and w.pattern.value == _get_match(  # type: ignore[no-untyped-call]
            re, r.pattern.to_regexp(), w.pattern.value, flags))
        for r in terminals if r.pattern.type == "re"}


class _Lazy(dict[int, AbstractBasicLexer]):
    """A state's lexer, made on first use."""

    def __init__(self, make: Callable[[int], _StateLexer]) -> None:
        super().__init__()
        self._make = make

    def __missing__(self, state: int) -> _StateLexer:
        lexer = self[state] = self._make(state)
        return lexer


class _LALR(LALR_Parser):
    """Lark's LALR parser, its table read from parser.json's compact form (_compact_table)."""

    @classmethod
    def deserialize(  # type: ignore[override] # NOTE: Lark's own signature for LALR_Parser
            cls, data: Any, memo: Any, callbacks: Any, debug: bool = False) -> Any:
        shift = [(Shift, i) for i in range(len(data["states"]))]
        reduce = {}
        states = {}
        for i, actions in enumerate(data["states"]):
            for token, code in actions.items():
                if code < 0 and code not in reduce:
                    reduce[code] = (Reduce, memo[~code])
                actions[token] = shift[code] if code >= 0 else reduce[code]
            states[i] = actions
        inst = cls.__new__(cls)
        inst._parse_table = IntParseTable(  # type: ignore[no-untyped-call,assignment]
            states, data["start_states"], data["end_states"])
        inst.parser = _Parser(inst._parse_table, callbacks, debug)
        return inst


def _compact_table(table: dict[str, Any]) -> dict[str, Any]:
    """Lark's serialised LALR table in a smaller JSON: a list of states, each {token: code}, the
    code a state to shift to (>= 0) or ~ the memo number of the rule to reduce by (< 0)."""
    tokens = table["tokens"]
    states = [{tokens[token]: arg if action == 0 else ~arg["@"]
               for token, (action, arg) in table["states"][i].items()}
              for i in range(len(table["states"]))]
    return {"states": states, "start_states": table["start_states"],
            "end_states": table["end_states"]}


_PLUGINS = {"ContextualLexer": _ContextualLexer, "LALR_Parser": _LALR}


@lru_cache(maxsize=1)
def _parser() -> tuple[Lark, _ToAst]:
    """The parser: loaded from the pre-built JSON shipped in the package (about 9 ms) when it
    was built from this grammar and Lark version, else analysed from the grammar (about 0.2 s).
    NOTE: never a pickle, and nothing from a shared cache directory: a planted file would run
    code. JSON only ever builds Lark's own classes."""
    grammar = load_grammar()
    lark = _shipped(grammar) or Lark(grammar, **_OPTIONS, _plugins=_PLUGINS)
    return lark, _ToAst(lark)


def _shipped(grammar: str) -> Lark | None:
    """The parser shipped in parser.json, if it was built from this grammar, Lark and options."""
    try:
        shipped = json.loads(PARSER_FILE.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not (isinstance(shipped, dict) and shipped.get("key") == grammar_key(grammar)):
        return None
    try:  # NOTE: the loader Lark's standalone parsers use; its key names Lark's version
        memo = {int(k): v for k, v in shipped["memo"].items()}  # NOTE: JSON keys are strings
        loaded = Lark._load_from_dict(shipped["data"], memo,  # type: ignore[no-untyped-call]
                                       _plugins=_PLUGINS)
        loaded.parser.lexer._whole = {k: frozenset(v) for k, v in shipped["folds"].items()}
    except Exception:  # noqa: BLE001 - a damaged file: build the parser instead
        return None
    return cast(Lark, loaded)


def parse(source: Source) -> s.Module:
    """Parse one source into a Module; raises NetdslError(E101/E102) on a syntax error."""
    _check_size(source)
    lark, transformer = _parser()
    with _LOCK:
        transformer.source = source
        try:
            items = transformer.build(source.text, "start")
        except UnexpectedInput as e:
            raise NetdslError([_syntax_error(source, e, lark)]) from None
        except VisitError as e:  # a callback failed: a quoted label's `{expr}`, a bad number
            if isinstance(e.orig_exc, NetdslError):
                raise e.orig_exc from None
            if isinstance(e.orig_exc, UnexpectedInput):
                raise NetdslError([_syntax_error(source, e.orig_exc, lark)]) from None
            raise NetdslError([error("E101", f"cannot read this: {e.orig_exc}",
                                     source.span(0, 0))]) from None
        except RecursionError:
            raise NetdslError([error("E102", "the program nests too deeply to parse",
                                     source.span(0, 1),
                                     hints=["split the expression up"])]) from None
    module = s.Module(source, tuple(items))
    diags = _one_statement_per_line(module)
    if diags:
        raise NetdslError(diags)
    return module


def _closing_brace(text: str, start: int) -> int:
    """The index of the `}` that closes the `{` at `start` (tables nest braces), or -1."""
    depth = 0
    for i in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return i
    return -1


_NUMBER_START = re.compile(r"(?<![\w.])[0-9]")
_TOKEN = re.compile(r"#[^\n]*|\w+|[^\w\s]")  # a comment, a word or number, a symbol
_COMMENT = re.compile(r"#[^\n]*")  # NOTE: the same comments as _TOKEN finds: a `#` starts one


def _check_size(source: Source) -> None:
    """E215 before parsing a source too large to parse in seconds: over limits.MAX_SOURCE_BYTES,
    holding over MAX_NUMBERS number literals (a huge `weights:` literal; the count is a regular
    expression's, comments included), or over MAX_TOKENS tokens outside comments."""
    size = len(source.text.encode("utf-8", "surrogatepass"))
    if size > MAX_SOURCE_BYTES:
        raise NetdslError([error("E215", f"the source is {size:,} bytes, over the limit of "
                                 f"{MAX_SOURCE_BYTES:,}", source.span(0, 0))])
    numbers = len(_NUMBER_START.findall(source.text))
    if numbers > MAX_NUMBERS:
        raise NetdslError([error("E215", f"the source holds {numbers:,} numbers, over the limit "
                                 f"of {MAX_NUMBERS:,}", source.span(0, 0),
                                 hints=["load large weights from a file: `netdsl compile "
                                        "--weights`"])])
    # NOTE: Lark's LALR parse and tree building cost ~30 us a token (a mutant of 500,000 nested
    # brackets took 14 s): bounded here, at about 3 s
    tokens = len(_TOKEN.findall(source.text)) - len(_COMMENT.findall(source.text))
    if tokens > MAX_TOKENS:
        raise NetdslError([error("E215", f"the source holds {tokens:,} tokens (words and "
                                 f"symbols), over the limit of {MAX_TOKENS:,}",
                                 source.span(0, 0), hints=["split it into files joined by "
                                                           "`use`"])])


# ------------------------------------------------------------------------ statements and lines

def _one_statement_per_line(module: s.Module) -> list[Diagnostic]:
    """Statements need no separator, so `x -> f + y` parses as two statements, `x -> f` and
    `+y`: reject a statement that starts on the line where the one before it ends."""
    src = module.source
    bodies = [item.body for item in module.items if isinstance(item, (s.Network, s.Block))]
    diags: list[Diagnostic] = []
    while bodies:  # NOTE: a worklist, not recursion: bodies may nest thousands deep
        prev = None
        for st in bodies.pop():
            if isinstance(st, s.If):
                bodies.extend(body for _, body in st.branches)
                bodies.append(st.orelse)
            elif isinstance(st, s.For):
                bodies.append(st.body)
            if prev is not None and (src.line_col(max(prev.span.start, prev.span.end - 1))[0]
                                     == src.line_col(st.span.start)[0]):
                diags.append(_same_line(src, prev, st))
            prev = st
    return sorted(diags, key=lambda d: d.labels[0].span.start)


_OPERATORS = ("//", "**", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "<", ">")


def _same_line(src: Source, prev: Any, st: Any) -> Diagnostic:
    start = st.span.start
    text = src.text[start:start + 2]
    op = next((o for o in _OPERATORS if text.startswith(o)), None)
    word = re.match(r"[A-Za-z_][A-Za-z0-9_]*", src.text[start:start + 100])
    first = op or (word.group() if word else src.text[start])
    span = src.span(start, start + len(first))
    value = getattr(prev, "value", None) or getattr(prev, "expr", None)
    stage = value.stages[-1] if isinstance(value, s.Pipeline) else None
    if stage is not None and word is not None and isinstance(st, s.ExprStmt):
        return error("E101", "a `->` is missing between two pipeline stages", span,
                     "expected `->` before this", ["write `x -> f -> g`"])
    if stage is not None and word is None:
        hint = ("a pipeline stage is one call: to combine a pipeline's result, wrap the "
                f"pipeline in parentheses, `(x -> f) {op} y`, or name it first") if op else ""
        return error("E101", f"`{first}` cannot follow the pipeline stage "
                     f"`{stage.span.text()}`", span, "the pipeline ends before this", [hint])
    return error("E101", "two statements on one line", span, "a new statement starts here",
                 ["start each statement on its own line"])


# ------------------------------------------------------------------------------- syntax errors

_CLASSES = {"NAME": "a name", "NUMBER": "a number", "STRING": "a string", "PERCENT": "a percentage",
            "$END": "the end of the file"}
_EXPR_START = frozenset({"NAME", "NUMBER", "STRING", "LPAR", "LSQB"})
_STMT_START = frozenset({"INPUT", "OUTPUT", "IF", "FOR", "RETURN", "EXPECT", "OPTION", "PARAM"})
_PAIRS = {"(": ")", "[": "]", "{": "}"}

# States the expected-token list explains badly, each found by parsing a bad snippet (the idea of
# Lark's match_examples, keyed by the LALR state alone, not by the depth of the stack): the
# message and hint to show instead.
_EXAMPLES: list[tuple[tuple[str, str], list[str]]] = [
    (("a block needs a parameter list", "write `block NAME(x, ...) { ... }`: the first "
      "parameter receives the tensor"), ["block b { return 1 }"]),
    (("`input` needs a colon before its shape", "write `input image: [N, 3, 224, 224]`"),
     ["network a { input x [N, 3] }"]),
    (("`input` is a keyword: it declares a network input", "write `input image: [N, 3, 224, "
      "224]`; name other values differently"), ["network a { input = x }"]),
    (("`output` needs a name", "write `-> output NAME` or `output NAME = value`"),
     ["network a { x -> output }", "network a { output = x }"]),
    (("`->` must be followed by a layer or block call", "write `x -> relu`, or `x -> conv(16, "
      "3)`"), ["network a { x -> }"]),
    (("`return` needs a value", "write `return x`"), ["block b(x) { return }"]),
    (("a condition is followed by a body in braces", "write `if COND { ... }`"),
     ["network a { if x: }", "network a { if x > 1: }", "network a { if x.channels: }"]),
    (("`~=` needs a tolerance", "write `expect macs ~= 4.1G within 1%`, or an absolute "
      "`within 0.2G`"), ["network a { expect macs ~= 4 }"]),
    (("a tolerance is a number or a percentage", "write `within 1%` (no space before `%`) or "
      "`within 0.2G`"), ["network a { expect macs ~= 4 within }"]),
    (("a loop is followed by a body in braces", "write `for i in range(3) { ... }`"),
     ["network a { for i in range(3): }", "network a { for i in n: }"]),
]


@lru_cache(maxsize=1)
def _example_states() -> dict[int, tuple[str, str]]:
    lark = _parser()[0]
    states: dict[int, tuple[str, str]] = {}
    for label, snippets in _EXAMPLES:
        for text in snippets:
            try:
                lark.parse(text, start="start")
            except UnexpectedToken as e:
                states.setdefault(e.state.position, label)
    return states


def _syntax_error(source: Source, e: UnexpectedInput, lark: Lark) -> Diagnostic:
    """The one place where a Lark parse error becomes a Diagnostic."""
    if isinstance(e, UnexpectedCharacters):
        return _bad_character(source, e, lark)
    if isinstance(e, UnexpectedToken) and e.token.type == "BLOCK":
        return _nested_block(source, e.token.start_pos)
    expected = set(getattr(e, "expected", ()) or ())
    tok = getattr(e, "token", None)
    at_end = isinstance(e, UnexpectedEOF) or tok is None or tok.type == "$END"
    texts = {n: _terminal_text(lark, n) for n in expected}
    label = f"expected {_describe(expected, texts)}" if expected else ""
    hints: list[str]
    if at_end:
        pos = len(source.text.rstrip())
        span = source.span(max(0, pos - 1), pos)
        message, hints = "the file ends in the middle of a statement", []
    else:
        assert isinstance(e, UnexpectedToken) and tok is not None
        span = source.span(tok.start_pos, max(tok.end_pos, tok.start_pos + 1))
        message, hints = _explain(tok, expected, texts, lark)
        known = _example_states().get(e.state.position) if e.state is not None else None
        if known is not None:
            message, hints = known[0], [known[1]]
    secondary = []
    opener = _unclosed(source.text, span.start) if at_end or tok in (")", "]", "}") else None
    if opener is not None and _PAIRS[source.text[opener]] in texts.values():
        ch = source.text[opener]
        secondary.append((source.span(opener, opener + 1), f"this `{ch}` is not closed"))
        if at_end:
            line = source.line_col(opener)[0]
            message = f"the file ends before the `{ch}` on line {line} is closed"
            label = f"expected `{_PAIRS[ch]}`"
    return error("E101", message, span, label, hints, secondary)


def _nested_block(source: Source, pos: int) -> Diagnostic:
    opener = _unclosed(source.text, pos)
    return error("E101", "a block is defined inside a network or block",
                 source.span(pos, pos + 5), "a definition starts here",
                 ["definitions go at the top level of a file: is a `}` missing above?"],
                 [] if opener is None else [(source.span(opener, opener + 1), "still open")])


def _bad_character(source: Source, e: UnexpectedCharacters, lark: Lark) -> Diagnostic:
    # NOTE: lark declares pos_in_stream None; UnexpectedCharacters sets it to the lexer's offset.
    pos = cast(int, e.pos_in_stream)
    ch = source.text[pos] if pos < len(source.text) else ""
    span = source.span(pos, pos + 1)
    if not ch.isprintable():
        return error("E101", f"unexpected character {ch!r}: this does not look like netdsl text",
                     span, "here")
    if re.match(r"block\s+[A-Za-z_]\w*\s*[({]", source.text[pos:]):
        return _nested_block(source, pos)
    allowed = set(e.allowed or ())
    label = _describe(allowed, {n: _terminal_text(lark, n) for n in allowed})
    hints = {"'": 'strings use double quotes: "bilinear"',
             ";": "statements need no `;`: start each on its own line",
             "→": "write the arrow as `->`", "×": "write multiplication as `*`"}  # noqa: RUF001
    hint = hints.get(ch, "")
    if ch == "=" and "COLON" in allowed:
        hint = "keyword arguments are written `name: value`, as in `stride: 2`"
    return error("E101", f"unexpected `{ch}`", span,
                 f"expected {label}" if label else "not valid here", [hint])


def _terminal_text(lark: Lark, name: str) -> str | None:
    """The literal text of a keyword or punctuation terminal; None for NAME, NUMBER, ..."""
    try:
        pattern = lark.get_terminal(name).pattern
    except KeyError:
        return None
    return str(pattern.value) if pattern.type == "str" else None


def _what(tok: Token, lark: Lark) -> str:
    text = _terminal_text(lark, tok.type)
    if tok.type in ("NAME", "NUMBER"):
        return f"{tok.type.lower()} `{tok}`"
    if tok.type == "STRING":
        return f"string {tok}"
    if text is not None and text.isalpha():
        return f"keyword `{tok}`"
    return f"`{tok}`"


def _describe(names: set[str], texts: dict[str, str | None]) -> str:
    """Expected terminals in plain words: "`)`, `,` or an operator", never Lark's names."""
    names = set(names)
    words: list[str] = []
    starts = {n for n in names if texts.get(n) in ("-", "+", "not", "true", "false")}
    if _STMT_START <= names:
        words.append("a statement")
        names -= _STMT_START | _EXPR_START | starts
    elif _EXPR_START <= names:
        words.append("an expression")
        names -= _EXPR_START | starts
    ops = {n for n in names if texts.get(n) in _OPERATORS + ("and", "or")}
    if len(ops) >= 3:
        names -= ops
    rest = sorted(names, key=lambda n: (n not in _CLASSES, texts.get(n) or n))
    words += [_CLASSES.get(n) or (f"`{texts[n]}`" if texts.get(n) else n.lower()) for n in rest]
    if len(ops) >= 3:
        words.append("an operator")
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _explain(tok: Token, expected: set[str], texts: dict[str, str | None],
             lark: Lark) -> tuple[str, list[str]]:
    """The message for an unexpected token, and hints for the mistakes it usually means."""
    want = {t for t in texts.values() if t}
    text = _terminal_text(lark, tok.type)
    keyword = text is not None and text.isalpha()
    if "network" in want and (tok.type in _STMT_START or (tok.type == "NAME" and tok not in (
            "def", "class", "model", "layer", "import", "from"))):
        return (f"`{tok}` does not go outside a network or block",
                ["put statements inside `network NAME { ... }` or `block NAME(x) { ... }`"])
    hints = []
    if tok == "=" and ":" in want:
        hints.append("keyword arguments are written `name: value`, as in `stride: 2`")
    if tok == "(" and "[" in want:
        hints.append("shapes are written in brackets: `[N, 3, 32, 32]`")
    if tok == ":" and "{" in want:
        hints.append("a body goes in braces: `network NAME { ... }`")
    if keyword and "NAME" in expected:
        hints.append(f"`{tok}` is a keyword and cannot be used as a name")
    if tok.type == "NAME" and ")" in want and "," in want:
        hints.append("separate arguments with `,`")
    if tok in ("import", "from"):
        hints.append('share blocks between files with `use "other.net"`')
    elif "network" in want:
        hints.append("a file holds `network NAME { ... }` and `block NAME(...) { ... }` "
                     "definitions, and `use \"other.net\"` lines")
    return f"unexpected {_what(tok, lark)}", hints


def _unclosed(text: str, upto: int) -> int | None:
    """The offset of the innermost bracket still open at `upto` (strings and comments skipped)."""
    stack: list[int] = []
    i = 0
    while i < upto:
        ch = text[i]
        if ch == "#":
            i = text.find("\n", i)
            i = upto if i < 0 else i
        elif ch == '"':
            i += 1
            while i < upto and text[i] not in '"\n':
                i += 2 if text[i] == "\\" else 1
        elif ch in _PAIRS:
            stack.append(i)
        elif ch in ")]}" and stack and _PAIRS[text[stack[-1]]] == ch:
            stack.pop()
        i += 1
    return stack[-1] if stack else None
