"""`netdsl lsp`: the language server on stdio (pygls; the only module that imports pygls and
lsprotocol). Editor requests → editor.py's answers → LSP types: diagnostics as you type (what
`check` reports), hover, go to definition, completion and document formatting (fmt.py).
Positions: LSP's 0-based lines and the negotiated code units (UTF-16 by default), converted by
pygls's position codec from Source's 1-based code-point columns."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from lsprotocol import types as t
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path, to_fs_path
from pygls.workspace import TextDocument

from netdsl import editor, syntax
from netdsl.diagnostics import Diagnostic, Label, NetdslError, Severity
from netdsl.source import Source, Span
from netdsl.version import VERSION

log = logging.getLogger("netdsl.lsp")
R = TypeVar("R")

_SEVERITY = {Severity.ERROR: t.DiagnosticSeverity.Error,
             Severity.WARNING: t.DiagnosticSeverity.Warning,
             Severity.NOTE: t.DiagnosticSeverity.Information}
_KIND = {"operator": t.CompletionItemKind.Function, "block": t.CompletionItemKind.Class,
         "argument": t.CompletionItemKind.Property, "keyword": t.CompletionItemKind.Keyword}


class NetdslServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("netdsl", VERSION)
        self.blocks: dict[str, dict[str, syntax.Block]] = {}  # uri -> last blocks that parsed
        self.checked: dict[str, tuple[int | None, editor.Document]] = {}  # uri -> (version, ..)

    def source(self, uri: str) -> tuple[TextDocument, Source]:
        """The document's unsaved text, checked as if saved: its folder is the root for `use`."""
        doc = self.workspace.get_text_document(uri)
        path = to_fs_path(uri) or uri
        return doc, Source(path, doc.source, str(Path(path).parent.resolve()))

    def analyse(self, uri: str) -> tuple[TextDocument, editor.Document]:
        """The document checked, once per version (hover and definition reuse it)."""
        doc, source = self.source(uri)
        version, checked = self.checked.get(uri, (None, None))
        if checked is not None and version is not None and version == doc.version:
            return doc, checked
        checked = editor.analyse(source)
        self.checked[uri] = doc.version, checked
        if checked.module is not None:
            self.blocks[uri] = checked.blocks
        return doc, checked


def _guarded(default: Any) -> Callable[[Callable[..., R]], Callable[..., R]]:
    """A handler that logs an internal error (a bug) and answers `default`: the server lives."""
    def wrap(handler: Callable[..., R]) -> Callable[..., R]:
        @functools.wraps(handler)
        def run(ls: NetdslServer, params: Any) -> R:
            try:
                return handler(ls, params)
            except Exception:
                log.exception("internal error in %s", handler.__name__)
                ls.window_log_message(t.LogMessageParams(
                    t.MessageType.Error, f"netdsl: internal error in {handler.__name__}, "
                    "please report it with the file that caused it"))
                return default  # type: ignore[no-any-return]
        return run
    return wrap


# ---------------------------------------------------------------------------- positions

def _position(codec_doc: TextDocument, source: Source, offset: int) -> t.Position:
    line, col = source.line_col(offset)
    lines = source.text.split("\n")
    if line - 1 >= len(lines):
        return t.Position(line - 1, 0)
    pos = codec_doc.position_codec.position_to_client_units(
        [lines[line - 1]], t.Position(0, col - 1))
    return t.Position(line - 1, pos.character)


def _range(doc: TextDocument, span: Span) -> t.Range:
    src = span.source
    assert src is not None
    return t.Range(_position(doc, src, span.start), _position(doc, src, span.end))


def _offset(doc: TextDocument, source: Source, pos: t.Position) -> int:
    at = doc.position_codec.position_from_client_units(doc.lines, pos)
    return source.offset(at.line + 1, at.character + 1)


def _location(doc: TextDocument, span: Span) -> t.Location:
    assert span.source is not None
    return t.Location(from_fs_path(str(Path(span.source.path).resolve())) or span.source.path,
                      _range(doc, span))


# -------------------------------------------------------------------------- diagnostics

def to_lsp(doc: TextDocument, source: Source, d: Diagnostic) -> t.Diagnostic:
    """One diagnostic: its primary label's range, the message with notes and hints as `check`
    prints them, secondary labels as related information. A place in another file (a `use`d
    one) is named in the message, and the diagnostic sits at the top of this one."""
    lines = [d.message] + [f"note: {n}" for n in d.notes] + [f"hint: {h}" for h in d.hints]
    primary = d.primary
    where = t.Range(t.Position(0, 0), t.Position(0, 0))
    related = []
    if primary is not None and primary.span.source is not None:
        if primary.span.source.path == source.path:
            where = _range(doc, primary.span)
        else:
            lines[0] = f"{primary.span.where()}: {lines[0]}"
            related.append(_related(doc, primary))
    related += [_related(doc, lb) for lb in d.labels
                if not lb.primary and lb.span.source is not None]
    return t.Diagnostic(
        where, "\n".join(lines), _SEVERITY[d.severity], d.code, source="netdsl",
        related_information=related or None,
        tags=[t.DiagnosticTag.Unnecessary] if d.code == "W001" else None)


def _related(doc: TextDocument, lb: Label) -> t.DiagnosticRelatedInformation:
    return t.DiagnosticRelatedInformation(_location(doc, lb.span), lb.message or "here")


def publish(ls: NetdslServer, uri: str) -> None:
    doc, checked = ls.analyse(uri)
    ls.text_document_publish_diagnostics(t.PublishDiagnosticsParams(
        uri, [to_lsp(doc, checked.source, d) for d in checked.diagnostics], doc.version))


# ----------------------------------------------------------------------------- features

def make_server() -> NetdslServer:
    server = NetdslServer()

    @server.feature(t.TEXT_DOCUMENT_DID_OPEN)
    @_guarded(None)
    def did_open(ls: NetdslServer, params: t.DidOpenTextDocumentParams) -> None:
        publish(ls, params.text_document.uri)

    @server.feature(t.TEXT_DOCUMENT_DID_CHANGE)
    @_guarded(None)
    def did_change(ls: NetdslServer, params: t.DidChangeTextDocumentParams) -> None:
        publish(ls, params.text_document.uri)

    @server.feature(t.TEXT_DOCUMENT_DID_SAVE)
    @_guarded(None)
    def did_save(ls: NetdslServer, params: t.DidSaveTextDocumentParams) -> None:
        # NOTE: every open document: a `use`d file may have changed on disk, and any open
        # document may `use` the one saved
        ls.checked.clear()
        for uri in list(ls.workspace.text_documents):
            publish(ls, uri)

    @server.feature(t.TEXT_DOCUMENT_DID_CLOSE)
    @_guarded(None)
    def did_close(ls: NetdslServer, params: t.DidCloseTextDocumentParams) -> None:
        ls.blocks.pop(params.text_document.uri, None)
        ls.checked.pop(params.text_document.uri, None)
        ls.text_document_publish_diagnostics(
            t.PublishDiagnosticsParams(params.text_document.uri, []))

    @server.feature(t.TEXT_DOCUMENT_HOVER)
    @_guarded(None)
    def hover(ls: NetdslServer, params: t.HoverParams) -> t.Hover | None:
        doc, checked = ls.analyse(params.text_document.uri)
        text = editor.hover(checked, _offset(doc, checked.source, params.position))
        return None if text is None else t.Hover(
            t.MarkupContent(t.MarkupKind.Markdown, text))

    @server.feature(t.TEXT_DOCUMENT_DEFINITION)
    @_guarded(None)
    def definition(ls: NetdslServer, params: t.DefinitionParams) -> t.Location | None:
        doc, checked = ls.analyse(params.text_document.uri)
        found = editor.definition(checked, _offset(doc, checked.source, params.position))
        if found is None:
            return None
        target, span = found
        if span is None:  # a `use`d file: its top
            return t.Location(from_fs_path(str(target)) or str(target),
                              t.Range(t.Position(0, 0), t.Position(0, 0)))
        return _location(doc, span)

    @server.feature(t.TEXT_DOCUMENT_COMPLETION,
                    t.CompletionOptions(trigger_characters=["(", ",", ">"]))
    @_guarded(None)
    def completion(ls: NetdslServer, params: t.CompletionParams) -> t.CompletionList:
        doc, source = ls.source(params.text_document.uri)
        if params.text_document.uri not in ls.blocks:
            ls.analyse(params.text_document.uri)
        blocks = editor.block_signatures(source.text, ls.blocks.get(params.text_document.uri, {}))
        items = editor.completions(source.text, _offset(doc, source, params.position), blocks)
        return t.CompletionList(False, [t.CompletionItem(
            c.label, kind=_KIND[c.kind], detail=c.detail or None,
            documentation=c.documentation or None, insert_text=c.insert or None)
            for c in items])

    @server.feature(t.TEXT_DOCUMENT_FORMATTING)
    @_guarded(None)
    def formatting(ls: NetdslServer, params: t.DocumentFormattingParams
                   ) -> list[t.TextEdit] | None:
        doc = ls.workspace.get_text_document(params.text_document.uri)
        formatted = format_text(doc.source)
        if formatted is not None and "\r\n" in doc.source:
            formatted = formatted.replace("\n", "\r\n")  # a Windows document stays one
        if formatted is None or formatted == doc.source:
            return []
        end = t.Position(len(doc.lines), 0)
        return [t.TextEdit(t.Range(t.Position(0, 0), end), formatted)]

    return server


def format_text(text: str) -> str | None:
    """fmt.py's canonical layout of the text; None when it does not parse (the diagnostics
    say why) or when this netdsl has no formatter."""
    import importlib
    try:  # NOTE: by name: fmt.py may be absent (a netdsl without `netdsl fmt`)
        fmt = importlib.import_module("netdsl.fmt")
    except ImportError:
        return None
    try:
        return str(fmt.format_source(text))
    except NetdslError:
        return None


def serve() -> int:
    """Serve on stdin and stdout until the editor exits; logs go to stderr."""
    import os
    import sys
    logging.basicConfig(level=logging.WARNING, stream=sys.__stderr__,
                        format="netdsl lsp: %(levelname)s: %(message)s")
    # NOTE: copies of fds 0 and 1, which pygls closes at exit, so that sys.stdout stays open
    # (cli.main flushes it); and no print() can corrupt the protocol through sys.stdout.
    with os.fdopen(os.dup(0), "rb") as stdin, os.fdopen(os.dup(1), "wb") as stdout:
        make_server().start_io(stdin, stdout)
    return 0
