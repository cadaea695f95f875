"""Text → AST: loads grammars/netdsl.lark, builds the AST while parsing, turns Lark errors into
Diagnostics. The only package that imports lark:
- loading.py: the grammar, and the pre-built parser of netdsl/parser.json (or one built from the
  grammar);
- lexer.py: the Lark lexer classes netdsl plugs in;
- lalr.py: the Lark parser over parser.json's compact table, and the reduce callbacks;
- build.py: the AST node each grammar rule builds;
- literals.py: the values of number and string literals (also for `--set`);
- errors.py: syntax errors (imported when a parse fails), with mistakes.py the known mistakes
  read from the source text around one;
- here: parse(), with the size limits checked before parsing and one statement per line after."""

from __future__ import annotations

import re
import threading
from typing import Any

from lark.exceptions import UnexpectedInput, VisitError

from netdsl import syntax as s
from netdsl.diagnostics import Diagnostic, NetdslError, did_you_mean, error
from netdsl.limits import MAX_NUMBERS, MAX_SOURCE_BYTES, MAX_TOKENS
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
            from netdsl.parse.errors import _syntax_error
            raise NetdslError([_syntax_error(source, e, lark)]) from None
        except VisitError as e:  # a callback failed: a quoted label's `{expr}`, a bad number
            if isinstance(e.orig_exc, NetdslError):
                raise e.orig_exc from None
            if isinstance(e.orig_exc, UnexpectedInput):
                from netdsl.parse.errors import _syntax_error
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


def _one_statement_per_line(module: s.Module) -> list[Diagnostic]:
    """Statements need no separator, so `x -> f + y` parses as two statements, `x -> f` and
    `+y`: reject a statement that starts on the line where the one before it ends."""
    src = module.source
    bodies = [item.body for item in module.items if isinstance(item, (s.Network, s.Block))]
    diags: list[Diagnostic] = []
    skip = 0  # a line whose first statement is another language's keyword: reported once
    while bodies:  # NOTE: a worklist, not recursion: bodies may nest thousands deep
        prev = None
        for st in bodies.pop():
            if isinstance(st, s.If):
                bodies.extend(body for _, body in st.branches)
                bodies.append(st.orelse)
            elif isinstance(st, s.For):
                bodies.append(st.body)
            line = src.line_col(st.span.start)[0]
            if prev is not None and line != skip and (
                    src.line_col(max(prev.span.start, prev.span.end - 1))[0] == line):
                diags.append(_same_line(src, prev, st))
                value = getattr(prev, "value", None) or getattr(prev, "expr", None)
                skip = line if isinstance(value, s.Name) and value.id in _FOREIGN else 0
            prev = st
    return sorted(diags, key=lambda d: d.labels[0].span.start)


_DECLARES = ("let", "var", "val", "const")  # other languages' declarations
_FOREIGN = {  # other languages' statements, read as a name and then another statement
    "while": ("a loop runs a number of times known in advance",
              "write `for i in range(n) { ... }`"),
    "def": ("a function of tensors is a block",
            "define it at the top level of the file: `block f(x, ...) { ... return y }`")}
_OPERATORS = ("//", "**", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "<", ">")


def _same_line(src: Source, prev: Any, st: Any) -> Diagnostic:
    start = st.span.start
    text = src.text[start:start + 2]
    op = next((o for o in _OPERATORS if text.startswith(o)), None)
    word = re.match(r"[A-Za-z_][A-Za-z0-9_]*", src.text[start:start + 100])
    first = op or (word.group() if word else src.text[start])
    span = src.span(start, start + len(first))
    value = getattr(prev, "value", None) or getattr(prev, "expr", None)
    if isinstance(value, s.Name) and value.id in _DECLARES and isinstance(st, s.Assign):
        line, more = st.span.text().partition("\n")[::2]
        return error("E101", f"netdsl has no `{value.id}`: a name is defined by assigning it",
                     value.span, "not a keyword", [f"write `{line}{' ...' if more else ''}`"])
    if isinstance(value, s.Name) and value.id in _FOREIGN:
        message, hint = _FOREIGN[value.id]
        return error("E101", f"netdsl has no `{value.id}`: {message}", value.span,
                     "not a keyword", [hint])
    stage = value.stages[-1] if isinstance(value, s.Pipeline) else None
    if stage is not None and word is not None and isinstance(st, s.ExprStmt):
        misspelt = (isinstance(stage, s.Stage) and not stage.args and not stage.kwargs
                    and did_you_mean(stage.func.id, ["output"]))
        return error("E101", "a `->` is missing between two pipeline stages", span,
                     "expected `->` before this", [
                         f"{misspelt} A pipeline ends with `-> output NAME`" if misspelt
                         else "write `x -> f -> g`"])
    if stage is not None and word is None:
        hint = ("a pipeline stage is one call: to combine a pipeline's result, wrap the "
                f"pipeline in parentheses, `(x -> f) {op} y`, or name it first") if op else ""
        return error("E101", f"`{first}` cannot follow the pipeline stage "
                     f"`{stage.span.text()}`", span, "the pipeline ends before this", [hint])
    return error("E101", "two statements on one line", span, "a new statement starts here",
                 ["start each statement on its own line"])
