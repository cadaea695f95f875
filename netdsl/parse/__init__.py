"""Text → AST: loads grammars/netdsl.lark, builds the AST while parsing, turns Lark errors into
Diagnostics. The only package that imports lark:
- loading.py: the grammar, and the pre-built parser of netdsl/parser.json (or one built from the
  grammar);
- lalr.py: the Lark parser and lexer classes netdsl plugs in, and the reduce callbacks;
- build.py: the AST node each grammar rule builds;
- errors.py: syntax errors and other parse diagnostics;
- here: parse(), with the size limits checked before parsing."""

from __future__ import annotations

import re
import threading

from lark.exceptions import UnexpectedInput, VisitError

from netdsl import syntax as s
from netdsl.diagnostics import NetdslError, error
from netdsl.limits import MAX_NUMBERS, MAX_SOURCE_BYTES, MAX_TOKENS
from netdsl.parse.errors import _one_statement_per_line, _syntax_error
from netdsl.parse.loading import (
    _OPTIONS as _OPTIONS,
    PARSER_FILE,
    _parser,
    grammar_key,
    load_grammar,
    serialized_parser,
)
from netdsl.source import Source

__all__ = ["PARSER_FILE", "grammar_key", "load_grammar", "parse", "serialized_parser"]

_LOCK = threading.Lock()


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
