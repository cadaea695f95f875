"""Grammar → parser: grammars/netdsl.lark, and the pre-built LALR parser of netdsl/parser.json
(its key checked against the grammar, Lark's version, the options and the file's form), loaded
with lexer.py's and lalr.py's classes plugged in, or analysed from the grammar when the file
does not fit."""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from lark import Lark, __version__ as _lark_version
from lark.common import LexerConf, ParserConf
from lark.grammar import NonTerminal, Rule, RuleOptions, Terminal
from lark.lark import LarkOptions
from lark.lexer import PatternRE, PatternStr, TerminalDef
from lark.parser_frontends import ParsingFrontend

from netdsl.parse.build import _ToAst
from netdsl.parse.lalr import _LALR, _Compact
from netdsl.parse.lexer import _PLUGINS, _ContextualLexer, _folds

_PACKAGE = Path(__file__).resolve().parent.parent  # netdsl/


def load_grammar() -> str:
    """The grammar text: from the installed package (wheel) or from the checkout's grammars/."""
    here = _PACKAGE
    for candidate in (here / "grammars" / "netdsl.lark", here.parent / "grammars" / "netdsl.lark"):
        if candidate.is_file():
            return candidate.read_text(encoding="utf-8")
    raise FileNotFoundError("netdsl.lark not found beside the package: a broken installation")


_OPTIONS: dict[str, Any] = {"parser": "lalr", "propagate_positions": True,
                            "maybe_placeholders": True, "start": ["start", "expr"]}
PARSER_FILE = _PACKAGE / "parser.json"


_FORMAT = "4"  # parser.json's form: _form's


def grammar_key(grammar: str) -> str:
    """What the pre-built parser was built from: the grammar, Lark's version and the options,
    and the file's form."""
    text = grammar + _lark_version + repr(sorted(_OPTIONS.items())) + _FORMAT
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def serialized_parser() -> str:
    """The analysed LALR parser as JSON (_form), keyed by the grammar's hash and the form:
    netdsl/parser.json, written by `python tools/gendocs.py parser` (tests/test_security.py
    checks that it is current)."""
    import json

    grammar = load_grammar()
    form = _form(Lark(grammar, **_OPTIONS))
    return json.dumps({"key": grammar_key(grammar), "lark": _lark_version, **form},
                      sort_keys=True, separators=(",", ":")) + "\n"


@lru_cache(maxsize=1)
def _parser() -> tuple[Lark, _ToAst]:
    """The parser: loaded from the pre-built JSON shipped in the package (about 2 ms) when it
    was built from this grammar and Lark version, else analysed from the grammar (about 0.2 s).
    NOTE: never a pickle, and nothing from a shared cache directory: a planted file would run
    code. JSON only ever builds Lark's own classes."""
    grammar = load_grammar()
    lark = _shipped(grammar) or Lark(grammar, **_OPTIONS, _plugins=_PLUGINS)
    return lark, _ToAst(lark)


def _shipped(grammar: str) -> Lark | None:
    """The parser shipped in parser.json, if it was built from this grammar, Lark and options."""
    try:
        shipped = _json_loads(PARSER_FILE.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not (isinstance(shipped, dict) and shipped.get("key") == grammar_key(grammar)):
        return None
    try:
        return _loaded(shipped)
    except Exception:  # noqa: BLE001 - a damaged file: build the parser instead
        return None


class _Decoder:
    """What the json module's C scanner reads from its decoder: json.loads' defaults."""

    strict = True
    object_hook = object_pairs_hook = None
    parse_float, parse_int = float, int
    parse_constant = {"-Infinity": float("-inf"), "Infinity": float("inf"),
                      "NaN": float("nan")}.__getitem__


def _json_loads(text: str) -> Any:
    """json.loads(text), by the C scanner that json.loads runs (`_json`), without importing
    the json package: ~1 ms of a cold `netdsl check`, which needs json nowhere else."""
    try:
        from _json import make_scanner
    except ImportError:  # NOTE: an interpreter without CPython's accelerator
        import json
        return json.loads(text)
    start = len(text) - len(text.lstrip(" \t\n\r"))
    try:
        value, end = make_scanner(_Decoder())(text, start)  # type: ignore[arg-type]
    except StopIteration:  # NOTE: what json.loads reports as "Expecting value"
        raise ValueError("not JSON") from None
    if text[end:].strip(" \t\n\r"):
        raise ValueError("extra data after the JSON value")
    return value


# NOTE: parser.json holds what Lark's own serialised form holds (Lark.save, its standalone
# tool), in lists rather than a dict per object, for a cheap load (~1.7 ms; Lark's generic
# deserialize of its own form took ~5 ms): Lark's options; "terminals" [name, "re" or "str",
# pattern, flags, raw, width (re) or null, priority]; "symbols" [name, 1 for a terminal,
# filter_out]; "rules" [origin, [symbol numbers], order, alias, RuleOptions' fields or null];
# the LALR table as _Compact holds it, each state [the number in "takes" of the tokens it
# takes, their codes or one code for all]; "folds".

def _form(lark: Lark) -> dict[str, Any]:
    """A parser built from the grammar as parser.json holds it."""
    terminals = [[t.name, t.pattern.type, t.pattern.value, sorted(t.pattern.flags), t.pattern.raw,
                  [t.pattern.min_width, t.pattern.max_width] if t.pattern.type == "re" else None,
                  t.priority] for t in lark.terminals]
    symbols: dict[tuple[str, bool, bool], int] = {}
    table = _Compact.of(lark.parser.parser)
    rules = [[_symbol(symbols, r.origin), [_symbol(symbols, x) for x in r.expansion], r.order,
              r.alias, _rule_options(r.options)] for r in table.rules]
    takes = sorted({tuple(sorted(row)) for row in table.states})
    number = {names: i for i, names in enumerate(takes)}
    states: list[list[Any]] = []
    for row in table.states:
        names = tuple(sorted(row))
        codes = [row[n] for n in names]
        states.append([number[names], codes[0] if len(set(codes)) == 1 else codes])
    options = lark.memo_serialize([TerminalDef, Rule])[0]["options"]
    folds = {k: sorted(v) for k, v in _folds(lark.terminals, lark.options.g_regex_flags).items()}
    return {"options": options, "terminals": terminals, "ignore": list(lark.lexer_conf.ignore),
            "symbols": [list(s) for s in symbols], "rules": rules, "takes": takes,
            "states": states, "start_states": table.start_states,
            "end_states": table.end_states, "folds": folds}


def _rule_options(o: RuleOptions) -> list[Any] | None:
    fields = [o.keep_all_tokens, o.expand1, o.priority, o.template_source, [*o.empty_indices]]
    return None if fields == [False, False, None, None, []] else fields


def _symbol(symbols: dict[tuple[str, bool, bool], int], symbol: Any) -> int:
    key = (symbol.name, symbol.is_term, getattr(symbol, "filter_out", False))
    return symbols.setdefault(key, len(symbols))


def _loaded(form: dict[str, Any]) -> Lark:
    """Lark's parser from _form's JSON, built as Lark's own loader builds it
    (Lark._load_from_dict), with netdsl's lexer (lexer.py) and table (lalr.py)."""
    lark = Lark.__new__(Lark)
    options = lark.options = LarkOptions({**form["options"], "_plugins": _PLUGINS})
    terminals = []
    for name, kind, value, flags, raw, width, priority in form["terminals"]:
        pattern = (PatternRE if kind == "re" else PatternStr)(value, flags, raw)
        if width is not None:
            pattern._width = width  # type: ignore[union-attr]
        terminals.append(TerminalDef(name, pattern, priority))
    symbols = [Terminal(name, bool(out)) if term else NonTerminal(name)
               for name, term, out in form["symbols"]]
    rules = [Rule(symbols[origin], [symbols[i] for i in expansion], order, alias,
                  RuleOptions(o[0], o[1], o[2], o[3], tuple(o[4])) if o else None)
             for origin, expansion, order, alias, o in form["rules"]]
    lark.rules, lark.terminals, lark.source_path = rules, terminals, "<deserialized>"
    lark._terminals_dict = {t.name: t for t in terminals}
    conf = lark.lexer_conf = LexerConf(
        terminals, re, form["ignore"], options.postlex, options.lexer_callbacks or {},
        options.g_regex_flags, skip_validation=True, use_bytes=options.use_bytes)
    conf.lexer_type = options.lexer
    takes = form["takes"]
    states, keys = [], []
    for key, codes in form["states"]:
        keys.append(key)
        states.append(dict(zip(takes[key], codes)) if isinstance(codes, list)
                      else dict.fromkeys(takes[key], codes))
    frontend = lark.parser = ParsingFrontend.__new__(ParsingFrontend)
    frontend.lexer_conf, frontend.options, frontend.skip_lexer = conf, options, False
    frontend.parser_conf = ParserConf(rules, {}, options.start)
    frontend.parser_conf.parser_type = options.parser
    table = _Compact(states, rules, form["start_states"], form["end_states"])
    frontend.parser = _LALR.loaded(table, lark)
    frontend.lexer = _ContextualLexer.loaded(
        conf, keys, takes, {k: frozenset(v) for k, v in form["folds"].items()})
    return lark
