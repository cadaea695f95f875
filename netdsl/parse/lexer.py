"""Text → tokens, fast: the contextual lexer netdsl plugs into Lark (one shared scanner for
every state, each state's lexer made on first use). With lalr.py, the parse package's Lark
internals. NOTE: these subclass Lark's private classes (pyproject pins lark>=1.3.1,<1.4)."""

from __future__ import annotations

import builtins
import re
from collections.abc import Callable
from copy import copy
from typing import Any, cast

from lark.lexer import (
    AbstractBasicLexer,
    BasicLexer,
    ContextualLexer,
    Scanner,
    TerminalDef,
    UnlessCallback,
    _get_match,
)


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


_PLUGINS = {"ContextualLexer": _ContextualLexer}
