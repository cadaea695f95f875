"""What an editor asks of one document, answered from the compiler's own results: a Source (the
unsaved text) → its diagnostics (as `check`), and at a character offset the hover text, the
definition and the completions. Pure: no LSP types here (lsp.py converts to them)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Mapping
from dataclasses import field
from pathlib import Path
from typing import Any

from netdsl import syntax as s
from netdsl.analysis import si
from netdsl.checkrun import Options, check_text
from netdsl.diagnostics import Diagnostic, NetdslError
from netdsl.elaborator import load_module
from netdsl.ir import Graph, Node
from netdsl.ops import REGISTRY
from netdsl.ops.signature import signature_of
from netdsl.pipeline import Network
from netdsl.record import MutableRecord, Record, record
from netdsl.report import _rf_jump, _rf_size
from netdsl.source import Source, Span
from netdsl.suppress import Suppressor

KEYWORDS = ("network", "block", "input", "output", "param", "use", "option", "expect", "if",
            "elif", "else", "for", "in", "return", "and", "or", "not", "true", "false")


@record(frozen=False, slots=False)
class Document(MutableRecord):
    """One document, checked: what `check` reports, the graphs that checked, and the AST and
    namespace when the text parses (None while it does not)."""

    source: Source
    diagnostics: list[Diagnostic]
    networks: list[Network] = field(default_factory=list)
    module: s.Module | None = None
    blocks: dict[str, s.Block] = field(default_factory=dict)
    networks_ast: dict[str, s.Network | s.NetworkAlias] = field(default_factory=dict)


def analyse(source: Source) -> Document:
    """Check a document as `netdsl check` does (suppression comments applied)."""
    report = check_text(source, Options(), Suppressor())
    doc = Document(source, report.diagnostics,
                   [r for _, r in report.results if isinstance(r, Network)])
    try:
        doc.module, namespace = load_module(source)
        doc.blocks, doc.networks_ast = namespace.blocks, namespace.networks
    except NetdslError:
        pass  # the diagnostics above say why
    return doc


# ------------------------------------------------------------------------------- the AST at

def _children(node: Any) -> Iterator[Any]:
    for f in dataclasses.fields(node):
        yield from _nodes(getattr(node, f.name))


def _nodes(value: Any) -> Iterator[Any]:
    """The AST nodes in a field's value: tuples nest (If.branches: (condition, statements))."""
    if isinstance(value, tuple):
        for item in value:
            yield from _nodes(item)
    elif dataclasses.is_dataclass(value) and not isinstance(value, (Span, Source)):
        yield value


def _inside(span: Span, offset: int) -> bool:
    return span.start <= offset <= span.end


def path_at(module: s.Module, offset: int) -> list[Any]:
    """The AST nodes of the document's own text around `offset`, outermost first."""
    chain: list[Any] = []
    level: list[Any] = list(module.items)
    while True:
        here = next((n for n in level if getattr(n, "span", None) is not None
                     and n.span.source is module.source and _inside(n.span, offset)), None)
        if here is None:
            return chain
        chain.append(here)
        level = list(_children(here))


def _enclosing(chain: list[Any]) -> s.Network | s.Block | None:
    return next((n for n in chain if isinstance(n, (s.Network, s.Block))), None)


def _definitions(item: s.Network | s.Block) -> Iterator[tuple[str, Span, Any]]:
    """(name, span of the name, the statement or parameter) of every name the item defines."""
    for p in item.params:
        yield p.name.id, p.name.span, p
    stack = list(item.body)
    while stack:
        st = stack.pop(0)
        if isinstance(st, (s.Assign, s.Input, s.ParamDecl)):
            yield st.name.id, st.name.span, st
            for more in st.more if isinstance(st, s.Assign) else ():  # `a, b = ...`
                yield more.id, more.span, st
        elif isinstance(st, s.For):
            yield st.var.id, st.var.span, st
            stack += st.body
        elif isinstance(st, s.If):
            stack += [x for _, body in st.branches for x in body] + list(st.orelse)


def _definition_of(name: s.Name, item: s.Network | s.Block) -> tuple[Span, Any] | None:
    """The nearest definition of `name` before it (or the one it is), in its network or block;
    not the assignment whose value holds it (`x = x -> relu`: the `x` before)."""
    found = [(span, st) for n, span, st in _definitions(item)
             if n == name.id and span.start <= name.span.start
             and not (isinstance(st, s.Assign) and _inside(st.value.span, name.span.start))]
    return max(found, key=lambda f: f[0].start) if found else None


def _callee(chain: list[Any]) -> bool:
    """Whether the innermost Name of the chain is what a call or stage calls, or a stage's
    label: a layer, not a tensor variable."""
    name, parent = chain[-1], chain[-2] if len(chain) > 1 else None
    return ((isinstance(parent, (s.Stage, s.Call)) and parent.func is name)
            or (isinstance(parent, s.Stage) and parent.label is name))


# --------------------------------------------------------------------------------- the graph

def _checked(doc: Document, chain: list[Any]) -> list[Network]:
    """The networks that checked, the one the offset lies in first."""
    item = _enclosing(chain)
    own = item.name.id if isinstance(item, s.Network) else None
    return sorted(doc.networks, key=lambda n: n.name != own)


def _within(inner: Span, outer: Span) -> bool:
    return (inner.source is not None and outer.source is not None
            and inner.source.path == outer.source.path
            and outer.start <= inner.start and inner.end <= outer.end)


def _held(graph: Graph, value: Span) -> Node | None:
    """The node whose value an expression spanning `value` gives: the last one it adds."""
    run = _run(graph, value)
    return run[-1] if run else None


def _run(graph: Graph, value: Span) -> list[Node]:
    """The nodes an expression spanning `value` adds (of its first instance, when the
    expression sits in a block called several times). The nodes one evaluation adds are
    consecutive (nodes() is the order added): the run ends at the first other node, as the
    instances of `unit(8) * 2` share their call's span."""
    first: tuple[tuple[int, int], ...] | None = None
    run: list[Node] = []
    for node in graph.nodes():
        spans = (*node.trace, node.span)
        k = next((i for i, sp in enumerate(spans) if _within(sp, value)), None)
        where = None if k is None else tuple((sp.start, sp.end) for sp in spans[:k])
        first = where if first is None else first
        if where is not None and where == first:
            run.append(node)
        elif run:
            break
    return run


def _layer_at(graph: Graph, source: Source, offset: int) -> Node | None:
    """The node whose call in this document holds the offset (the narrowest)."""
    nodes = [n for n in graph.nodes() if n.span.source is not None
             and n.span.source.path == source.path and _inside(n.span, offset)]
    return min(nodes, key=lambda n: n.span.end - n.span.start) if nodes else None


def _node_of(doc: Document, chain: list[Any], offset: int) -> tuple[Network, Node] | None:
    name = chain[-1] if chain and isinstance(chain[-1], s.Name) else None
    item = _enclosing(chain)
    for net in _checked(doc, chain):
        graph = net.graph
        if name is not None and item is not None and not _callee(chain):
            found = _definition_of(name, item)
            node = _tensor(graph, found[1], item, at=found[0]) if found else None
        else:
            node = _layer_at(graph, doc.source, offset)
        if node is not None:
            return net, node
    return None


def _tensor(graph: Graph, st: Any, item: s.Network | s.Block, depth: int = 0,
            at: Span | None = None) -> Node | None:
    """The node a statement gives the name defined `at` (the first name where None)."""
    if isinstance(st, s.Input):
        return _held(graph, st.span)
    if not isinstance(st, s.Assign) or depth > 20:
        return None
    if st.more:  # `a, b = x -> split([2, 6])`: the parts are the nodes no other one reads
        run = _run(graph, st.value.span)
        read = {i for n in run for i in graph.inputs_of(n)}
        parts = [n for n in run if n.name not in read]
        names = [n.span for n in (st.name, *st.more)]
        return parts[names.index(at) if at in names else 0] if len(parts) == len(names) else None
    node = _held(graph, st.value.span)
    if node is None and isinstance(st.value, s.Name):  # `skip = x`: x's node
        found = _definition_of(st.value, item)
        node = _tensor(graph, found[1], item, depth + 1, found[0]) if found else None
    return node


# ----------------------------------------------------------------------------------- answers

def hover(doc: Document, offset: int) -> str | None:
    """Markdown for the layer or tensor at `offset` (op, output shape, params, MACs, receptive
    field), or an operator's or block's signature; None elsewhere."""
    if doc.module is None:
        return None
    chain = path_at(doc.module, offset)
    found = _node_of(doc, chain, offset)
    if found is not None:
        return _layer_text(*found)
    name = chain[-1] if chain and isinstance(chain[-1], s.Name) else None
    if name is not None and name.id in doc.blocks:
        return f"```netdsl\nblock {_block_call(doc.blocks[name.id])}\n```"
    if name is not None and name.id in REGISTRY:
        return signature_of(REGISTRY[name.id]).summary
    return None


def _layer_text(net: Network, node: Node) -> str:
    graph, lay = net.graph, net.stats.by_name().get(node.name)
    shape = "[" + ", ".join(map(str, node.shape or ())) + "]"
    at = ", ".join(f"{k} = {v}" for k, v in graph.sizes.items())  # a network for every size
    lines = [f"**{node.name}**: `{node.op.name}` in network `{graph.name}`"
             + (f" at {at}" if at else ""), "",
             f"- output: `{shape}`"]
    if lay is not None:
        weights = ", ".join(f"{k} {'x'.join(map(str, v))}" for k, v in lay.param_shapes.items())
        lines += [f"- params: {lay.params:,}" + (f" ({weights})" if weights else ""),
                  f"- MACs: {si(lay.macs)}",
                  f"- receptive field: {_rf_size(lay.rf)} (jump {_rf_jump(lay.rf)})"]
    return "\n".join(lines)


def _block_call(block: s.Block) -> str:
    params = ", ".join(p.name.id + (f" = {p.default.span.text()}" if p.default else "")
                       for p in block.params)
    return f"{block.name.id}({params})"


def definition(doc: Document, offset: int) -> tuple[Source | Path, Span | None] | None:
    """Where the thing at `offset` is defined: a block's or network's name, a tensor's
    assignment, or a `use`d file (its Path, no span)."""
    if doc.module is None:
        return None
    chain = path_at(doc.module, offset)
    if len(chain) > 1 and isinstance(chain[-2], s.Use):
        return (Path(doc.source.path).parent / chain[-2].path.value).resolve(), None
    name = chain[-1] if chain and isinstance(chain[-1], s.Name) else None
    if name is None:
        return None
    parent = chain[-2] if len(chain) > 1 else None
    if isinstance(parent, s.NetworkAlias) and parent.target is name:
        target = doc.networks_ast.get(name.id)
        return _place(target.name.span) if target else None
    item = _enclosing(chain)
    if _callee(chain) or item is None:
        block = doc.blocks.get(name.id)
        return _place(block.name.span) if block else None
    found = _definition_of(name, item)
    return _place(found[0]) if found else None


def _place(span: Span) -> tuple[Source | Path, Span | None] | None:
    return (span.source, span) if span.source is not None else None


@record(slots=False)
class Completion(Record):
    """One completion an editor may offer at the cursor."""

    label: str
    kind: str  # "operator", "block", "argument" or "keyword"
    detail: str = ""
    documentation: str = ""
    insert: str = ""


_CALL = re.compile(r"([A-Za-z_]\w*)\s*\($")
_BLOCK = re.compile(r"^[ \t]*block[ \t]+([A-Za-z_]\w*)[ \t]*\(((?:[^()]|\([^()]*\))*)\)",
                    re.MULTILINE)
# what a default may hold that has commas of its own: a string, or a bracket with no other inside
_NESTED = re.compile(r'"(?:[^"\\\n]|\\.)*"|\([^()\[\]{}]*\)|\[[^()\[\]{}]*\]|\{[^()\[\]{}]*\}')


def block_signatures(text: str, parsed: Mapping[str, s.Block]) -> dict[str, str]:
    """Block name -> `name(x, width, stride = 1)`: those that parsed (the `use`d files' and
    the prelude's too), and those of the text as it is now, which may not parse."""
    out = {name: _block_call(b) for name, b in parsed.items()}
    for m in _BLOCK.finditer(text):
        out[m.group(1)] = f"{m.group(1)}({' '.join(m.group(2).split())})"
    return out


def completions(text: str, offset: int, blocks: Mapping[str, str]) -> list[Completion]:
    """Inside a call's parentheses: that operator's or block's keywords; elsewhere operators,
    blocks (`blocks`: block_signatures) and keywords. Reads the text itself, which may not
    parse while it is typed."""
    callee = _open_call(text, offset) or ""
    if callee in REGISTRY:
        sig = signature_of(REGISTRY[callee])
        return [Completion(k, "argument", f"{k}: {t}", sig.call, f"{k}: ")
                for k, t in sig.fields.items()]
    if callee in blocks:
        params = blocks[callee][len(callee) + 1:-1]
        while (inner := _NESTED.sub("", params)) != params:  # innermost first
            params = inner
        names = [m.group() for p in params.split(",") if (m := re.match(r"\s*[A-Za-z_]\w*", p))]
        return [Completion(n.strip(), "argument", f"block {blocks[callee]}", "",
                           f"{n.strip()}: ") for n in names]
    out = [Completion(n, "operator", signature_of(op).call, signature_of(op).summary)
           for n, op in sorted(REGISTRY.items())]
    out += [Completion(n, "block", f"block {call}") for n, call in sorted(blocks.items())
            if n not in REGISTRY]
    return out + [Completion(k, "keyword") for k in KEYWORDS]


def _open_call(text: str, offset: int) -> str | None:
    """The name before the innermost `(` still open at `offset` (strings and comments
    skipped), or None."""
    code = re.sub(r'"(?:[^"\\\n]|\\.)*"|#[^\n]*', lambda m: " " * len(m.group()),
                  text[:offset])
    depth = 0
    for i in range(len(code) - 1, -1, -1):
        ch = code[i]
        if ch in ")]":
            depth += 1
        elif ch in "([":
            if depth == 0:
                m = _CALL.search(code[:i + 1]) if ch == "(" else None
                return m.group(1) if m else None
            depth -= 1
        elif ch in "{}":
            return None
    return None
