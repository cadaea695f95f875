"""Tokens → values, fast: Lark's LALR parser over the compact table of parser.json (_Compact),
and _Reducer, the reduce callbacks that build a rule's value while the parser reduces (build.py's
_ToAst gives each rule's method). With lexer.py, the parse package's Lark internals.
NOTE: these subclass Lark's private classes (pyproject pins lark>=1.3.1,<1.4)."""

from __future__ import annotations

import builtins
from collections.abc import Callable
from operator import itemgetter
from typing import Any, cast

from lark import Lark, Token
from lark.exceptions import UnexpectedToken, VisitError
from lark.grammar import Rule
from lark.lexer import LexerThread
from lark.parse_tree_builder import ChildFilterLALR, maybe_create_child_filter
from lark.parsers.lalr_analysis import IntParseTable, Reduce, Shift
from lark.parsers.lalr_parser import LALR_Parser, _Parser
from lark.parsers.lalr_parser_state import ParseConf, ParserState

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


class _Reducer:
    """Runs Lark's LALR parser with a callback per rule that builds the rule's value while the
    parser reduces, bottom-up and without recursion (deep nesting), with no parse tree in
    between: each rule's method (a subclass's, named as the rule) gets the rule's _Built
    (`meta`: its extent) and its children as Lark's tree would hold them (tokens, None for a
    missing optional part, the children's values)."""

    lark: Lark  # for the `{expr}` parts of a quoted label
    parser: _Parser
    failed: VisitError | None = None

    def __init__(self, lark: Lark) -> None:
        self.lark = lark
        table = _Compact.of(lark.parser.parser)
        self.parser = _FastParser(table, cast(Any, _Reductions(self, table.rules)))

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


class _Reductions(dict[int, tuple[int, str, Callable[[builtins.list[Any]], Any]]]):
    """For the rule numbered `i` in the compact table (_Compact.rules): its length, the name it
    reduces to and its callback (_Reducer._callback), each made when a parse first reduces by
    the rule."""

    def __init__(self, reducer: _Reducer, rules: builtins.list[Rule]) -> None:
        super().__init__()
        self._reducer, self._rules = reducer, rules

    def __missing__(self, i: int) -> tuple[int, str, Callable[[builtins.list[Any]], Any]]:
        rule = self._rules[i]
        made = self[i] = (len(rule.expansion), rule.origin.name, self._reducer._callback(rule))
        return made


class _State(ParserState):  # type: ignore[type-arg]
    """Lark's LALR parser state over the compact table (_Compact) and _Reductions, its
    feed_token without the asserts that cost a Rule.__eq__ each reduction (~2,600 for
    resnet.net) and without token callbacks (_ToAst has none)."""

    __slots__ = ()

    def feed_token(self, token: Token, is_end: bool = False) -> Any:
        state_stack, value_stack = self.state_stack, self.value_stack
        states: builtins.list[dict[str, int]] = self.parse_conf.states  # type: ignore[assignment]
        reductions: _Reductions = self.parse_conf.callbacks  # type: ignore[assignment]
        end_state = self.parse_conf.end_state
        while True:
            state = state_stack[-1]
            try:
                code = states[state][token.type]
            except KeyError:
                expected = {s for s in states[state] if s.isupper()}
                raise UnexpectedToken(token, expected, state=self,  # type: ignore[no-untyped-call]
                                      interactive_parser=None) from None
            if code >= 0:  # shift
                state_stack.append(code)
                value_stack.append(token)
                return None
            size, origin, reduce = reductions[~code]
            if size:
                children = value_stack[-size:]
                del state_stack[-size:]
                del value_stack[-size:]
            else:
                children = []
            value = reduce(children)
            state_stack.append(states[state_stack[-1]][origin])
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


class _Compact(IntParseTable):
    """The LALR table as netdsl's parser reads it (and parser.json holds it): `states[i]` maps
    each token or rule name the state takes to a code, the state to shift (or go) to when
    >= 0, else ~ the number in `rules` of the rule to reduce by."""

    states: builtins.list[dict[str, int]]  # type: ignore[assignment]

    def __init__(self, states: builtins.list[dict[str, int]], rules: builtins.list[Rule],
                 start_states: dict[str, int], end_states: dict[str, int]) -> None:
        super().__init__(states, start_states, end_states)  # type: ignore[no-untyped-call]
        self.rules = rules

    @classmethod
    def of(cls, parser: LALR_Parser) -> _Compact:
        """The table of a Lark LALR parser: loaded (_LALR's), or analysed from the grammar."""
        if isinstance(parser, _LALR) and "compact" in vars(parser):
            return parser.compact
        table: Any = parser._parse_table
        reduced = (arg for row in table.states.values() for action, arg in row.values()
                   if action is Reduce)  # NOTE: all of the grammar's rules, in Lark's order
        rules = [*{id(rule): rule for rule in (*parser.parser_conf.rules, *reduced)}.values()]
        number = {id(rule): i for i, rule in enumerate(rules)}
        states = [{token: arg if action is Shift else ~number[id(arg)]
                   for token, (action, arg) in table.states[i].items()}
                  for i in range(len(table.states))]
        return cls(states, rules, table.start_states, table.end_states)

    def lark_table(self) -> IntParseTable:
        """Lark's form of the table: (Shift, state) or (Reduce, rule) for each code."""
        shift = [(Shift, i) for i in range(len(self.states))]
        reduce = [(Reduce, rule) for rule in self.rules]
        states = {i: {token: shift[code] if code >= 0 else reduce[~code]
                      for token, code in row.items()} for i, row in enumerate(self.states)}
        return IntParseTable(states, self.start_states,  # type: ignore[no-untyped-call]
                             self.end_states)


class _LALR(LALR_Parser):
    """Lark's LALR parser loaded from parser.json's compact table, for Lark.parse (the examples
    of syntax errors, tests): its table in Lark's form and its callbacks (Lark's tree builder's,
    which _Reducer does not use: ~1 ms) made when Lark.parse first asks for them."""

    compact: _Compact
    _lark: Lark

    @classmethod
    def loaded(cls, table: _Compact, lark: Lark) -> _LALR:
        self = cls.__new__(cls)
        self.compact, self._lark = table, lark
        return self

    def __getattr__(self, name: str) -> Any:  # NOTE: only for attributes not yet set
        if name not in ("parser", "_parse_table") or "compact" not in vars(self):
            raise AttributeError(name)
        self._lark._prepare_callbacks()
        self._parse_table = self.compact.lark_table()  # type: ignore[assignment]
        self.parser = _Parser(self._parse_table, self._lark._callbacks)
        return getattr(self, name)
