"""Grammar → parser: grammars/netdsl.lark, and the pre-built LALR parser of netdsl/parser.json
(its key checked against the grammar, Lark's version, the options and the file's form), loaded
with lalr.py's classes plugged in, or analysed from the grammar when the file does not fit."""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path
from typing import Any, cast

from lark import Lark, __version__ as _lark_version
from lark.grammar import Rule
from lark.lexer import TerminalDef

from netdsl.parse.build import _ToAst
from netdsl.parse.lalr import _PLUGINS, _compact_table, _folds

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
