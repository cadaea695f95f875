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
        self._all = self._make(conf.terminals)  # NOTE: never matches: what _lexer copies

    def _lexer(self, state: int) -> _StateLexer:
        key = frozenset(self._states[state])
        if key not in self._by_terminals:
            # NOTE: BasicLexer's __init__ sorts the terminals and tests each for newlines
            # (~0.7 ms for resnet.net's 33 states): done once, for all of them, and filtered
            # here. Its sort key is a total order, so a subset keeps the order it would sort to
            names = key | self._extra
            lexer = copy(self._all)
            lexer.terminals = [t for t in self._all.terminals if t.name in names]
            lexer.newline_types = self._all.newline_types & names
            self._by_terminals[key] = lexer
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
