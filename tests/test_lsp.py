"""`netdsl lsp` driven end to end as an editor drives it: pygls's own LanguageClient starts
`python -m netdsl lsp` in a subprocess and speaks JSON-RPC over its stdio (initialize, didOpen,
didChange, hover, definition, completion, formatting, shutdown). Expected positions are computed
here from the text (LSP columns are UTF-16 code units), not taken from the server.

NOTE: not pytest-lsp: its plugin (1.0.1) loads itself into every pytest run and breaks items
that are not Python functions (`pytest --netdsl`'s: its pytest_runtest_call wrapper returns
without yielding), so installing it would break tests/test_pytest_plugin.py."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

pytest.importorskip("pygls")
from lsprotocol import types as t
from pygls.lsp.client import LanguageClient

X = "\N{MATHEMATICAL ITALIC SMALL X}"  # one character, two UTF-16 code units
ZOO = Path(__file__).parent.parent / "zoo"
pytestmark = pytest.mark.slow
R = TypeVar("R")


class Editor:
    """The client side: a server process, the diagnostics it published, its log messages."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.client = LanguageClient("netdsl-tests", "1")
        self.diagnostics: dict[str, list[t.Diagnostic]] = {}
        self.logs: list[t.LogMessageParams] = []
        self.published: asyncio.Queue[str] = asyncio.Queue()

        @self.client.feature(t.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def published(params: t.PublishDiagnosticsParams) -> None:
            self.diagnostics[params.uri] = list(params.diagnostics)
            self.published.put_nowait(params.uri)

        @self.client.feature(t.WINDOW_LOG_MESSAGE)
        def logged(params: t.LogMessageParams) -> None:
            self.logs.append(params)

        self.run(self.client.start_io(sys.executable, "-m", "netdsl", "lsp"))
        self.run(self.client.initialize_async(t.InitializeParams(
            capabilities=t.ClientCapabilities())))
        self.client.initialized(t.InitializedParams())

    def run(self, work: Coroutine[Any, Any, R]) -> R:
        return self.loop.run_until_complete(asyncio.wait_for(work, 60))

    def diagnostics_of(self, uri: str) -> list[t.Diagnostic]:
        async def wait() -> None:
            while await self.published.get() != uri:
                pass
        self.run(wait())
        return self.diagnostics[uri]

    def close(self) -> str:
        """Shut the server down as an editor does; its stderr."""
        self.run(self.client.shutdown_async(None))
        self.client.exit(None)
        server = self.client._server
        assert server is not None and server.stderr is not None
        stderr = self.run(server.stderr.read()).decode()
        self.run(self.client.stop())
        self.loop.close()
        return stderr


@pytest.fixture(scope="module")
def client() -> Iterator[Editor]:
    editor = Editor()
    yield editor
    stderr = editor.close()
    errors = [m.message for m in editor.logs if m.type == t.MessageType.Error]
    assert errors == []  # the users' mistakes above are diagnostics, never internal errors
    assert "Traceback" not in stderr, stderr


def _uri(path: Path) -> str:
    return path.resolve().as_uri()


def _open(client: Editor, path: Path, text: str) -> list[t.Diagnostic]:
    """didOpen of unsaved text (the file on disk may differ), then its diagnostics."""
    uri = _uri(path)
    client.client.text_document_did_open(t.DidOpenTextDocumentParams(
        t.TextDocumentItem(uri, "netdsl", 1, text)))
    return client.diagnostics_of(uri)


def _change(client: Editor, uri: str, text: str) -> list[t.Diagnostic]:
    client.client.text_document_did_change(t.DidChangeTextDocumentParams(
        t.VersionedTextDocumentIdentifier(2, uri),
        [t.TextDocumentContentChangeWholeDocument(text)]))
    return client.diagnostics_of(uri)


def _pos(text: str, needle: str, skip: int = 0) -> t.Position:
    """The LSP position of `needle` (+ skip characters): 0-based line, UTF-16 column."""
    offset = text.index(needle) + skip
    line = text.count("\n", 0, offset)
    start = text.rfind("\n", 0, offset) + 1
    return t.Position(line, len(text[start:offset].encode("utf-16-le")) // 2)


def test_diagnostics_of_unsaved_text(client: Editor, tmp_path: Path) -> None:
    text = ('network t {\n  input image: [N, 1, 32, 32]\n'
            f'  x = image -> "{X}1": conv(6, 5) -> relu\n  x -> output y\n}}\n')
    (d,) = _open(client, tmp_path / "bad.net", text)
    assert (d.code, d.severity, d.source) == ("E218", t.DiagnosticSeverity.Error, "netdsl")
    assert d.range == t.Range(_pos(text, f'"{X}1"'), _pos(text, ": conv"))
    assert d.range.end.character - d.range.start.character == 5
    assert d.message == (
        f'"{X}1" is not a layer name\nhint: a layer name is letters, digits, `_` and `-`, in '
        "parts joined by `.` (`block1-0`, `features.denseblock1`, `0`)")

    fixed = text.replace(f'"{X}1"', "c1")
    assert _change(client, _uri(tmp_path / "bad.net"), fixed) == []


def test_related_information(client: Editor, tmp_path: Path) -> None:
    text = "block b(x) {\n  return x\n}\nblock b(x) {\n  return x\n}\n"
    (d,) = _open(client, tmp_path / "twice.net", text)
    assert d.code == "E211" and d.message == "block `b` is defined twice"
    assert d.range.start == _pos(text, "}\nblock b", 8)
    (rel,) = d.related_information or []
    assert rel.message == "first defined here"
    assert rel.location.uri == _uri(tmp_path / "twice.net")
    assert rel.location.range.start == _pos(text, "b(x)")


def test_hover_on_a_layer_and_a_tensor(client: Editor) -> None:
    path = ZOO / "lenet.net"
    text = path.read_text()
    assert _open(client, path, text) == []
    hover = client.run(client.client.text_document_hover_async(t.HoverParams(
        t.TextDocumentIdentifier(_uri(path)), _pos(text, "c1: conv", 1))))
    assert hover is not None and isinstance(hover.contents, t.MarkupContent)
    # LeNet-5's C1 (LeCun et al. 1998): 6 maps of 28x28, 156 trainable parameters, 5x5 field
    assert hover.contents.value == (
        "**c1**: `conv` in network `lenet5`\n\n- output: `[N, 6, 28, 28]`\n"
        "- params: 156 (weight 6x1x5x5, bias 6)\n- MACs: 117.60K\n"
        "- receptive field: 5 (jump 1)")
    hover = client.run(client.client.text_document_hover_async(t.HoverParams(
        t.TextDocumentIdentifier(_uri(path)), _pos(text, "image ->"))))
    assert hover is not None and isinstance(hover.contents, t.MarkupContent)
    assert hover.contents.value.startswith("**image**: `input`")
    assert "`[N, 1, 32, 32]`" in hover.contents.value
    nothing = client.run(client.client.text_document_hover_async(t.HoverParams(
        t.TextDocumentIdentifier(_uri(path)), t.Position(0, 3))))  # a comment
    assert nothing is None


def test_definition(client: Editor, tmp_path: Path) -> None:
    lib = "block stem(x, width) {\n  return x -> conv(width, 3, pad: 1) -> relu\n}\n"
    (tmp_path / "lib.net").write_text(lib)
    text = ('use "lib.net"\nnetwork n {\n  input image: [N, 3, 8, 8]\n'
            "  y = image -> stem(4)\n  y -> output out\n}\n")
    assert _open(client, tmp_path / "main.net", text) == []
    doc = t.TextDocumentIdentifier(_uri(tmp_path / "main.net"))

    def where(pos: t.Position) -> t.Location:
        found = client.run(client.client.text_document_definition_async(
            t.DefinitionParams(doc, pos)))
        assert isinstance(found, t.Location)
        return found

    block = where(_pos(text, "stem(4)", 2))
    assert block.uri == _uri(tmp_path / "lib.net")
    assert block.range == t.Range(_pos(lib, "stem"), _pos(lib, "(x, width)"))
    tensor = where(_pos(text, "y -> output"))
    assert tensor.uri == doc.uri and tensor.range.start == _pos(text, "y = image")
    used = where(_pos(text, "lib.net"))
    assert used.uri == _uri(tmp_path / "lib.net")


def test_completion(client: Editor, tmp_path: Path) -> None:
    text = ("block stem(x, width, act = true) {\n  return x\n}\nnetwork n {\n"
            "  input image: [N, 3, 8, 8]\n  image -> conv(4, \n}\n")
    _open(client, tmp_path / "typing.net", text)  # does not parse yet
    doc = t.TextDocumentIdentifier(_uri(tmp_path / "typing.net"))
    inside = client.run(client.client.text_document_completion_async(t.CompletionParams(
        doc, _pos(text, "conv(4, ", 8))))
    assert isinstance(inside, t.CompletionList)
    items = {i.label: i for i in inside.items}
    assert {"out", "kernel", "stride", "pad", "dilation", "groups", "bias"} <= set(items)
    assert items["stride"].insert_text == "stride: "
    assert items["stride"].kind == t.CompletionItemKind.Property

    outside = client.run(client.client.text_document_completion_async(t.CompletionParams(
        doc, _pos(text, "image ->", 2))))
    assert isinstance(outside, t.CompletionList)
    items = {i.label: i for i in outside.items}
    assert items["conv"].kind == t.CompletionItemKind.Function
    assert items["conv"].detail is not None and items["conv"].detail.startswith(
        "conv(out, kernel, stride: 1")
    assert items["maxpool"].kind == t.CompletionItemKind.Function
    assert "network" in items and items["network"].kind == t.CompletionItemKind.Keyword
    assert items["stem"].kind == t.CompletionItemKind.Class  # read from the unparsed text
    assert items["stem"].detail == "block stem(x, width, act = true)"

    typed = text.replace("conv(4, ", "stem(")
    _change(client, doc.uri, typed)
    inside = client.run(client.client.text_document_completion_async(t.CompletionParams(
        doc, _pos(typed, "stem(", 5))))
    assert isinstance(inside, t.CompletionList)
    assert [i.label for i in inside.items] == ["x", "width", "act"]


def test_an_internal_error_is_logged_and_answered() -> None:
    from netdsl.lsp import _guarded

    class Server:
        def __init__(self) -> None:
            self.logged: list[t.LogMessageParams] = []

        def window_log_message(self, params: t.LogMessageParams) -> None:
            self.logged.append(params)

    @_guarded("fallback")
    def broken(ls: object, params: object) -> str:
        raise ZeroDivisionError

    server = Server()
    assert broken(server, None) == "fallback"
    (message,) = server.logged
    assert message.type == t.MessageType.Error and "internal error in broken" in message.message


def test_formatting(client: Editor, tmp_path: Path) -> None:
    fmt = pytest.importorskip("netdsl.fmt")
    text = "network n {\n  input image: [N, 3, 8, 8]\n  image   ->  relu -> output y\n}\n"
    _open(client, tmp_path / "messy.net", text)
    edits = client.run(client.client.text_document_formatting_async(t.DocumentFormattingParams(
        t.TextDocumentIdentifier(_uri(tmp_path / "messy.net")), t.FormattingOptions(2, True))))
    assert edits is not None and len(edits) == 1
    assert edits[0].new_text == fmt.format_source(text)


def test_formatting_a_formatted_crlf_document_changes_nothing(client: Editor,
                                                              tmp_path: Path) -> None:
    """A Windows document in the canonical layout needs no edit (not a whole-document edit to
    LF line ends on every format-on-save); a messy one is formatted with its CRLF kept."""
    fmt = pytest.importorskip("netdsl.fmt")
    text = "network n {\r\n  input image: [N, 3, 8, 8]\r\n  image -> relu -> output y\r\n}\r\n"
    _open(client, tmp_path / "windows.net", text)
    doc = t.TextDocumentIdentifier(_uri(tmp_path / "windows.net"))
    edits = client.run(client.client.text_document_formatting_async(t.DocumentFormattingParams(
        doc, t.FormattingOptions(2, True))))
    assert edits is not None and list(edits) == []
    messy = text.replace("image -> relu", "image  ->relu")
    _change(client, doc.uri, messy)
    edits = client.run(client.client.text_document_formatting_async(t.DocumentFormattingParams(
        doc, t.FormattingOptions(2, True))))
    assert edits is not None and [e.new_text for e in edits] == [text]
    assert fmt.format_source(messy) == text.replace("\r\n", "\n")


def test_saving_a_used_file_checks_the_open_files_that_use_it(client: Editor,
                                                              tmp_path: Path) -> None:
    """A block renamed in lib.net and saved: main.net, open beside it, is checked again (its
    `stem(4)` no longer exists), not left showing what it was before the save."""
    lib = "block stem(x, width) {\n  return x -> conv(width, 3, pad: 1) -> relu\n}\n"
    (tmp_path / "lib.net").write_text(lib)
    text = ('use "lib.net"\nnetwork n {\n  input image: [N, 3, 8, 8]\n'
            "  image -> stem(4) -> output out\n}\n")
    (tmp_path / "main.net").write_text(text)
    assert _open(client, tmp_path / "main.net", text) == []
    assert _open(client, tmp_path / "lib.net", lib) == []
    renamed = lib.replace("stem", "trunk")
    assert _change(client, _uri(tmp_path / "lib.net"), renamed) == []
    (tmp_path / "lib.net").write_text(renamed)
    client.client.text_document_did_save(t.DidSaveTextDocumentParams(
        t.TextDocumentIdentifier(_uri(tmp_path / "lib.net"))))
    (d,) = client.diagnostics_of(_uri(tmp_path / "main.net"))
    assert (d.code, d.message) == ("E202", "`stem` is not an operator, a block or a builtin")
