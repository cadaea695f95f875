"""Checked graph + stats → a picture of the network (`netdsl graph`): Graphviz DOT text built with
the `graphviz` package (the only module that imports it), laid out and drawn by Graphviz's `dot`
program for .svg/.png/.pdf; .html is one page with the SVG inline and each layer's params, MACs
and receptive field on hover.

A box per layer (folded with --depth into a box per block, as `summary --depth` folds rows),
blocks as nested clusters named by the layers' dotted prefixes, nodes that merge several tensors
(adds, concatenations) round and coloured, inputs at the top and outputs at the bottom."""

from __future__ import annotations

import html
import re
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

from netdsl.analysis import Stats, si
from netdsl.files import atomic
from netdsl.ir import Graph, InputOp, Node
from netdsl.ops.base import fmt_shape
from netdsl.ops.types import literal
from netdsl.report import Row, _rf_jump, _rf_size, rows

FORMATS = (".svg", ".png", ".pdf", ".dot", ".html")
INSTALL = ("install Graphviz (Debian/Ubuntu: apt-get install graphviz; macOS: brew install "
           "graphviz; conda: conda install -c conda-forge graphviz), or write a .dot file "
           "(-o OUT.dot), which needs nothing")
_FILL = {"input": "#d9f2d9", "output": "#d9f2d9", "weights": "#dce9f7", "plain": "#f2f2f2",
         "merge": "#fde3c8", "block": "#e8e0f5"}
_ARG_WIDTH = 28  # a longer argument value (a fixed kernel's numbers) is cut short


class DotMissing(Exception):
    """Graphviz's `dot` program is not installed: a usage problem (exit 2), not a bug."""


def to_dot(graph: Graph, stats: Stats, depth: int | None = None) -> str:
    """The network as DOT text: deterministic for a given network and depth."""
    import graphviz  # NOTE: lazily, so that the rest of netdsl works without it
    at = " at " + ", ".join(f"{k} = {v}" for k, v in graph.sizes.items()) if graph.sizes else ""

    dot = graphviz.Digraph(graph.name, graph_attr={
        "rankdir": "TB", "nodesep": "0.25", "ranksep": "0.3", "fontname": "Helvetica",
        "label": f"{graph.name}: {si(stats.params)} params, {si(stats.macs)} MACs{at}",
        "labelloc": "t", "fontsize": "16"},
        node_attr={"shape": "box", "style": "rounded,filled", "fontname": "Helvetica",
                   "fontsize": "10", "margin": "0.08,0.04", "color": "#555555"},
        edge_attr={"color": "#444444", "arrowsize": "0.6"})
    table = rows(stats.layers, depth)
    key = {lay.name: _fold(lay.name, depth) for lay in stats.layers}
    counts = Counter(p for row in table for p in _prefixes(row.name))
    clusters = {p: _cluster(p) for p, n in counts.items() if n >= 2}  # a block of 2 boxes or more
    for row in table:
        node = graph.node(row.name) if row.name in graph else None
        home = _home(row.name, clusters)
        (clusters[home] if home else dot).node(
            _id(row.name), _label(row, node, row.name[len(home) + 1:] if home else row.name),
            tooltip=_tooltip(row, node), **_style(graph, row, node))
    for name in sorted(clusters, key=lambda n: -n.count(".")):  # NOTE: subgraph() copies the
        home = _home(name, clusters)  # child, so the innermost go into their parents first
        (clusters[home] if home else dot).subgraph(clusters[name])
    _edges(dot, graph, key)
    for out, src in graph.outputs.items():
        dot.node(f"output {out}", f"<output <b>{html.escape(out)}</b>>", shape="box",
                 style="rounded,filled,bold", fillcolor=_FILL["output"])
        dot.edge(_id(key[src]), f"output {out}")
    return str(dot.source)


def _fold(name: str, depth: int | None) -> str:
    """The box a layer is drawn in: report.rows' rule (`layer1.0.conv1` at depth 1: `layer1`)."""
    parts = name.split(".")
    return ".".join(parts[:depth]) if depth and len(parts) > depth else name


def _prefixes(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _home(name: str, clusters: dict[str, Any]) -> str:
    """The innermost drawn block holding `name`, "" for none."""
    return max((p for p in _prefixes(name) if p in clusters), key=len, default="")


def _cluster(name: str) -> Any:
    import graphviz

    return graphviz.Digraph(f"cluster_{name}", graph_attr={
        "label": name, "style": "rounded,filled", "fillcolor": _shade(name.count(".") + 1),
        "color": "#9a8cc2", "fontsize": "11", "labeljust": "l"})


def _shade(level: int) -> str:
    return ["#f7f4fc", "#efeaf8", "#e6dff3", "#ddd4ee"][min(level - 1, 3)]


def _edges(dot: Any, graph: Graph, key: dict[str, str]) -> None:
    seen: set[tuple[str, str]] = set()
    for node in graph.nodes():
        for src in dict.fromkeys(graph.inputs_of(node)):
            a, b = key[src], key[node.name]
            if a != b and (a, b) not in seen:
                seen.add((a, b))
                dot.edge(_id(a), _id(b))


def _id(name: str) -> str:
    return name  # NOTE: never a `:`, which DOT reads as a port


def _style(graph: Graph, row: Row, node: Node | None) -> dict[str, str]:
    if node is None:
        return {"fillcolor": _FILL["block"], "style": "rounded,filled,bold"}
    if isinstance(node.op, InputOp):
        return {"fillcolor": _FILL["input"], "style": "rounded,filled,bold"}
    if len(graph.value_inputs_of(node)) > 1:
        return {"fillcolor": _FILL["merge"], "shape": "ellipse", "style": "filled"}
    return {"fillcolor": _FILL["weights" if row.params else "plain"]}


def _label(row: Row, node: Node | None, short: str) -> str:
    """An HTML-like label: name (within its block), operator and key arguments, output shape."""
    what = f"{row.op}, {si(row.params)} params" if node is None else _call(node)
    op = row.op if node is None else node.op.signature().name if not isinstance(
        node.op, InputOp) else "input"
    short = short if node is not None else row.name  # a folded block: its whole name
    generated = node is not None and (short.isdigit()
                                      or re.fullmatch(rf"{re.escape(op)}(_\d+)?", short))
    lines = [] if generated else [f"<b>{html.escape(short)}</b>"]
    lines += [html.escape(what),
             f'<font point-size="9" color="#333333">{html.escape(fmt_shape(row.shape))}</font>']
    return "<" + "<br/>".join(lines) + ">"


def _call(node: Node) -> str:
    """`conv(64, 7, stride: 2)`: the arguments that are required or off their default;
    positional while no earlier positional one was left out."""
    import dataclasses

    if isinstance(node.op, InputOp):
        return "input"
    sig = node.op.signature()
    shown, bare = [], True
    for f in dataclasses.fields(node.op):
        value = getattr(node.op, f.name)
        required = f.name in sig.required
        if f.name in sig.tensors or f.name in sig.options or (not required
                                                              and value == f.default):
            bare = bare and f.name not in sig.positional
            continue
        text = literal(value)
        text = text if len(text) <= _ARG_WIDTH else text[:_ARG_WIDTH - 3] + "..."
        bare = bare and f.name in sig.positional
        shown.append(text if bare else f"{f.name}: {text}")
    return f"{sig.name}({', '.join(shown)})" if shown else sig.name


def _tooltip(row: Row, node: Node | None) -> str:
    what = row.op if node is None else _call(node)
    return "\n".join([row.name, what, f"output {fmt_shape(row.shape)}",
                      f"params {row.params:,}", f"MACs {row.macs:,}",
                      f"receptive field {_rf_size(row.rf)}, jump {_rf_jump(row.rf)}"])


def render(graph: Graph, stats: Stats, out: Path, depth: int | None = None) -> None:
    """Write the picture; the suffix of `out` picks the format (FORMATS)."""
    suffix = out.suffix.lower()
    assert suffix in FORMATS, suffix
    source = to_dot(graph, stats, depth)
    if suffix == ".dot":
        data = source.encode()
    else:
        svg_or_other = _run_dot(source, "svg" if suffix == ".html" else suffix[1:])
        data = _page(graph, svg_or_other.decode()) if suffix == ".html" else svg_or_other
    with atomic(out) as (tmp,):
        tmp.write_bytes(data)


def _run_dot(source: str, fmt: str) -> bytes:
    if shutil.which("dot") is None:
        raise DotMissing(f"writing .{fmt} needs Graphviz's `dot` program, which is not on PATH: "
                         f"{INSTALL}")
    import graphviz

    return bytes(graphviz.Source(source).pipe(format=fmt))


_SCRIPT = """
const info = document.getElementById("info");
const nodes = document.querySelectorAll("g.node");
for (const g of nodes) {
  const a = g.querySelector("a");
  const text = a && (a.getAttribute("xlink:title") || a.getAttribute("title"));
  if (!text) continue;
  g.addEventListener("mouseenter", () => { info.textContent = text; });
}
document.body.dataset.layers = String(nodes.length);
"""


def _page(graph: Graph, svg: str) -> bytes:
    """One self-contained page: the SVG inline (its prolog dropped), a panel the script fills
    with the hovered layer's numbers (the SVG tooltips show them too)."""
    svg = svg[svg.index("<svg"):]
    title = html.escape(graph.name)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;margin:1em}} #info{{position:fixed;top:1em;right:1em;
background:#fff;border:1px solid #999;padding:.5em;min-width:16em}}</style></head>
<body><pre id="info">hover over a layer</pre>
{svg}
<script>{_SCRIPT}</script>
</body></html>
""".encode()
