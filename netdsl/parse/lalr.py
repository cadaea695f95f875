"""Text → Lark's LALR parse, fast: the Lark parser and lexer classes netdsl plugs in (one shared
scanner for every contextual-lexer state, each state's lexer made on first use, the compact LALR
table of parser.json) and _Reducer, the reduce callbacks that build a rule's value while the
parser reduces (build.py's _ToAst gives each rule's method). The parse package's Lark internals.
NOTE: these subclass Lark's private classes (pyproject pins lark>=1.3.1,<1.4)."""

from __future__ import annotations

import builtins
import re
from collections.abc import Callable
from copy import copy
from operator import itemgetter
from typing import Any, cast

from lark import Lark, Token
from lark.exceptions import UnexpectedToken, VisitError
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


class _StateLexer(BasicLexer):
    """The lexer of one contextual-lexer state that first asks the one scanner of all terminals
    (one regex, compiled once) rather than its own (Lark compiles one regex per state, ~1 ms
    each: 35 for resnet.net). When that scanner's match is a terminal this state does not take
    (a collision: NUMBER where the state takes INDEX, after `.`), the state's terminals after it
    are tried one by one (_ContextualLexer.after); the state's own scanner is compiled only
    when none matches: an error, which Lark reports with the scanner's terminals.
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
                return self.owner.after(self, cast(str, m.lastgroup), text, pos)
        return None  # NOTE: no terminal matches here; next_token reports this state's


class _ContextualLexer(ContextualLexer):
    """Lark's contextual lexer with a _StateLexer for each state (plugged in by `_plugins`).
    Loaded from parser.json (`loaded`: its terminals checked when it was built), a state's lexer
    is made when a parse first reaches the state (Lark makes all 80 up front), as Lark makes it,
    one for each set of tokens that states take."""

    BasicLexer = _StateLexer
    _scanner: Scanner | None = None
    _whole: dict[str, frozenset[str]] | None = None  # regex terminal -> keywords it matches
    _conf: Any
    _keys: builtins.list[int]  # loaded: each state's set of tokens, a number into _takes
    _takes: builtins.list[builtins.list[str]]
    _by_key: dict[int, _StateLexer]
    _all: _StateLexer  # never matches: what _lexer copies

    def __init__(self, conf: Any, states: Any, always_accept: Any = ()) -> None:
        # NOTE: built from the grammar: Lark's checks, all states' lexers
        self._unless: dict[tuple[TerminalDef, ...], tuple[frozenset[str], dict[str, Any]]] = {}
        super().__init__(conf, states, always_accept)
        for lexer in (*self.lexers.values(), self.root_lexer):
            cast(_StateLexer, lexer).owner = self

    @classmethod
    def loaded(cls, conf: Any, keys: builtins.list[int], takes: builtins.list[builtins.list[str]],
               whole: dict[str, frozenset[str]]) -> _ContextualLexer:
        """The lexer of parser.json: `keys[state]` numbers the state's tokens in `takes` (rule
        names included, as in Lark's table), `whole` is _folds' (kept in the file)."""
        self = cls.__new__(cls)
        self._unless, self._whole = {}, whole
        self._conf, self._keys, self._takes = conf, keys, takes
        self._by_key = {}
        self.lexers = _Lazy(self._lexer)
        self.root_lexer = self._make(conf.terminals)
        self._all = copy(self.root_lexer)
        return self

    def _lexer(self, state: int) -> _StateLexer:
        key = self._keys[state]
        lexer = self._by_key.get(key)
        if lexer is None:
            # NOTE: BasicLexer's __init__ sorts the terminals and tests each for newlines
            # (~0.7 ms for resnet.net's 33 states): done once, for all of them, and filtered
            # here. Its sort key is a total order, so a subset keeps the order it would sort to
            names = {*self._takes[key], *self._conf.ignore}
            lexer = self._by_key[key] = copy(self._all)
            lexer.terminals = [t for t in self._all.terminals if t.name in names]
            lexer.newline_types = self._all.newline_types & names
        return lexer

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
            whole = self._whole.get(r.name)
            if not whole:  # NOTE: most terminals fold no keyword: no pass over the others
                continue
            words = [w for w in terminals if w.name in whole]
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
            self._rank = {t.name: i for i, t in enumerate(root.terminals)}
            self._one: dict[str, re.Pattern[str]] = {}
        return self._scanner

    def after(self, lexer: _StateLexer, first: str, text: Any, pos: int) -> Any:
        """What `lexer`'s own scanner matches at `pos` when the shared scanner's first match is
        the terminal `first`, which `lexer` does not take: its first terminal after `first` (in
        the order of both scanners' alternatives) whose regex matches there, alone, as in an
        alternation (the first alternative that matches is the match), or None.
        NOTE: a terminal's regex alone holds the same groups but numbered from 1: a grammar
        whose terminals refer to groups by number would not work in Lark's scanners anyway."""
        rank, takes = self._rank, cast(frozenset[str], lexer._takes)
        root = cast(_StateLexer, self.root_lexer)
        for t in lexer.terminals:
            if rank[t.name] > rank[first] and t.name in takes:
                one = self._one.get(t.name)
                if one is None:
                    one = self._one[t.name] = root.re.compile(t.pattern.to_regexp(),
                                                              root.g_regex_flags)
                m = one.match(text.text, pos, text.end)
                if m:
                    return m.group(0), t.name
        return None


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


_PLUGINS = {"ContextualLexer": _ContextualLexer}
