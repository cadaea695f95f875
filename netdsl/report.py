"""Stats → text for people and JSON for tools: `netdsl summary` and `netdsl explain`.
The JSON layout is documented in docs/summary-json.md; change SUMMARY_SCHEMA_VERSION with it."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from typing import Any, NamedTuple

from netdsl.analysis import RF, LayerStats, Stats, live_curve
from netdsl.diagnostics import NetdslError, did_you_mean, error
from netdsl.ir import Graph
from netdsl.ops.base import axis_names, fmt_shape
from netdsl.record import MutableRecord, record
from netdsl.source import Span

SUMMARY_SCHEMA_VERSION = 1
WIDTH = 100  # the text table fits a terminal this wide


@record(frozen=False)
class Row(MutableRecord):
    """One line of the summary: a layer, or (with --depth) a block's layers added up."""

    name: str
    op: str
    shape: list[Any]
    params: int = 0
    buffers: int = 0
    macs: int = 0
    activation_bytes: int = 0
    rf: RF | None = None
    layers: int = 0
    last: str = ""  # the name of its last layer, whose shape and receptive field it shows

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "op": self.op, "shape": self.shape, "params": self.params,
                "buffers": self.buffers, "macs": self.macs,
                "activation_bytes": self.activation_bytes, "rf": _rf_json(self.rf),
                "layers": self.layers}


def rows(layers: list[LayerStats], depth: int | None = None) -> list[Row]:
    """Layers whose name has more than `depth` dotted parts fold into the row of their first
    `depth` parts (`layer1.0.conv1` at depth 1 is `layer1`), which adds up params, buffers, MACs
    and memory, and shows the output shape and receptive field of its last layer."""
    out: list[Row] = []
    index: dict[str, Row] = {}
    for lay in layers:
        key = _row_key(lay.name, depth)
        row = index.get(key)
        if row is None:
            row = index[key] = Row(key, lay.op, [])
            out.append(row)
        row.params += lay.params
        row.buffers += lay.buffers
        row.macs += lay.macs
        row.activation_bytes += lay.activation_bytes
        row.shape, row.rf, row.last = list(lay.shape), lay.rf, lay.name
        row.layers += 1
        if key != lay.name:
            row.op = f"{row.layers} layer{'s' if row.layers > 1 else ''}"
    return out


def _row_key(name: str, depth: int | None) -> str:
    parts = name.split(".")
    return ".".join(parts[:depth]) if depth and len(parts) > depth else name


def summary(graph: Graph, stats: Stats, fmt: str = "text", depth: int | None = None) -> str:
    """The per-layer table and the totals, as "text" (fits 100 columns), "markdown" or "json"."""
    table = rows(stats.layers, depth)
    if fmt == "json":
        return _json(graph, stats, table, depth)
    head = ("name", "op", "output shape", "params", "MACs", "RF", "jump")
    shape, sizes, formulas = _symbolic(graph, stats, depth)
    cells = [(r.name, r.op, shape(r.last, r.shape), f"{r.params:,}", f"{r.macs:,}",
              _rf_size(r.rf), _rf_jump(r.rf)) for r in table]
    foot = (f"params {stats.params:,}  buffers {stats.buffers:,}  MACs {stats.macs:,} "
            f"(FLOPs {stats.flops:,})  peak activations {_bytes(stats.peak_bytes)} at batch 1"
            + sizes)
    if fmt == "markdown":
        lines = ["| " + " | ".join(head) + " |",
                 "|" + "|".join("---:" if i >= 3 else "---" for i in range(len(head))) + "|"]
        lines += ["| " + " | ".join(f"`{c}`" if i == 0 else c for i, c in enumerate(row)) + " |"
                  for row in cells]
        fenced = ["", "```", *formulas[1:], "```"] if formulas else []
        return "\n".join([f"### {graph.name}", "", *lines, "", foot, *fenced])
    return "\n".join([f"network {graph.name} ({graph.source.path})", *_text_table(head, cells),
                      "", *_wrap(foot), *formulas, *textwrap.wrap(_moved(graph), WIDTH)])


def _symbolic(graph: Graph, stats: Stats, depth: int | None) -> tuple[Any, str, list[str]]:
    """For a network with named input sizes (anysize.py): each layer's shape as formulas in them,
    the note that the numbers are at the built sizes, which sizes are valid, and any pin; and
    the lines that give params, MACs and peak memory as formulas."""
    if not graph.declared:
        return lambda name, shape: fmt_shape(shape), "", []
    from netdsl.anysize import derive
    sym = derive(graph)

    def shape(name: str, concrete: Any) -> str:
        return sym.shape_text(sym.shapes[name]) if name in sym.shapes else fmt_shape(concrete)

    at = ", ".join(f"{k} = {v}" for k, v in graph.sizes.items())
    valid = "; ".join(str(v) if v is not None else " = ".join(g) + ": not solved exactly"
                      for g, v in zip(sym.groups, sym.valid))
    valid = "" if sym.stopped else f"; valid sizes: {valid}"  # NOTE: past the pin: unknown
    pin = f"; {sym.pin}" if sym.pin is not None else ""
    return shape, f"  (numbers at {at}{valid}{pin})", _formulas(sym, stats, depth)


class _Costs(NamedTuple):
    """Params, MACs and peak activation memory in the named sizes; None where a value is not a
    formula (an op's cost needs fixed sizes; past a pin that stops the shapes)."""

    params_at_every_size: bool  # False: the weights' shapes hold at the built sizes only
    macs: Any  # int | Expr | None: the whole network's
    rows: dict[str, Any]  # summary row -> its MACs
    peak: list[Any] | None  # the peak is the largest of these (anysize.leaders)
    peak_here: int | None  # ... at the built sizes
    past: set[str]  # the rows with a layer past a pin that stops the shapes


def _costs(sym: Any, stats: Stats, depth: int | None) -> _Costs:
    from netdsl import anysize
    sized = sym.stopped or (sym.pin is not None and "for its weights" in sym.pin.reason)
    per = anysize.macs(sym)
    rows: dict[str, list[Any]] = {}
    past = set()
    for lay in stats.layers:
        key = _row_key(lay.name, depth)
        rows.setdefault(key, []).append(per.get(lay.name))
        if sym.stopped and lay.name not in sym.shapes:
            past.add(key)
    act = anysize.activation_bytes(sym, {lay.name: lay.activation_bytes for lay in stats.layers})
    lead = None if act is None else anysize.leaders(sym, live_curve(sym.graph, act))
    here = None if lead is None else max(
        x if isinstance(x, int) else x.evaluate(sym.graph.sizes) for x in lead)
    return _Costs(not sized, _sum(per.values()), {k: _sum(v) for k, v in rows.items()}, lead,
                  here, past)


def _formulas(sym: Any, stats: Stats, depth: int | None) -> list[str]:
    """Params, MACs (total and per row) and peak activation memory in the named sizes."""
    costs = _costs(sym, stats, depth)
    names = ", ".join(sym.symbols)
    lines = ["", f"as formulas in {names} (batch 1):",
             f"  params      {stats.params:,}" + (
                 f", the same at every size (no parameter depends on {names})"
                 if costs.params_at_every_size else f", at these sizes only: {sym.pin}")]
    here = f" = {stats.macs:,} at these sizes" if costs.macs is not None else ""
    lines.append(f"  MACs        {_formula(sym, costs.macs, bool(costs.past))}{here}")
    peak = f"not a formula ({_PAST})"
    if costs.peak is not None:
        peak = f"{_peak(sym, costs.peak)} bytes = {costs.peak_here:,} at these sizes"
    lines.append(f"  peak        {peak}")
    lines.append("  MACs per layer:")
    width = max(len(k) for k in costs.rows)
    lines += [f"    {k.ljust(width)}  {_formula(sym, v, k in costs.past)}"
              for k, v in costs.rows.items()]
    return [part for line in lines for part in _hang(line)]


def _peak(sym: Any, lead: list[Any]) -> str:
    return sym.text(lead[0]) if len(lead) == 1 else (
        "max(" + ", ".join(sym.text(x) for x in lead) + ")")


def _hang(line: str) -> list[str]:
    """A long `  label  formula` line wrapped to WIDTH, its continuations under the formula."""
    body = line.lstrip()
    gap = body.find("  ")
    at = len(line) - len(body) + gap + len(body[gap:]) - len(body[gap:].lstrip()) if gap > 0 else 4
    return textwrap.wrap(line, WIDTH, subsequent_indent=" " * at, break_on_hyphens=False) or [""]


def _sum(values: Any) -> Any:
    vals = list(values)
    return None if any(v is None for v in vals) else sum(vals)


_PAST = "past the pin the shapes are unknown"


def _formula(sym: Any, value: Any, past: bool) -> str:
    if value is not None:
        return str(sym.text(value))
    reason = _PAST if past else "an op's cost needs fixed sizes"
    return f"not a formula ({reason})"


def _moved(graph: Graph) -> str:
    """A note on the automatic names that surprise: a variable's name taken, so `x_1`."""
    if not graph.moved:
        return ""
    shown = ", ".join(f"{new} ({old} was taken)" for new, old in list(graph.moved.items())[:6])
    more = f" and {len(graph.moved) - 6} more" if len(graph.moved) > 6 else ""
    return (f"names moved on: {shown}{more}. A reassigned variable continues its numbering "
            "only if it is a sequence; label a layer to choose its name (docs/language.md"
            "#layer-names)")


def _text_table(head: tuple[str, ...], cells: Sequence[tuple[str, ...]]) -> list[str]:
    widths = [max(len(x) for x in col) for col in zip(head, *cells)]
    over = sum(widths) + 2 * (len(widths) - 1) - WIDTH
    for i in (0, 2, 1):  # NOTE: the name column gives way first, then the shape, then the op
        if over > 0:
            cut = min(over, widths[i] - 12)
            if cut > 0:
                widths[i] -= cut
                over -= cut

    def line(row: tuple[str, ...]) -> str:
        out = []
        for i, (c, w) in enumerate(zip(row, widths)):
            c = c if len(c) <= w else "…" + c[len(c) - w + 1:]
            out.append(c.rjust(w) if i >= 3 else c.ljust(w))
        return "  ".join(out).rstrip()
    return [line(head), "-" * (sum(widths) + 2 * (len(widths) - 1)), *map(line, cells)]


def _wrap(text: str) -> list[str]:
    lines, cur = [], ""
    for part in text.split("  "):
        if cur and len(cur) + 2 + len(part) > WIDTH:
            lines.append(cur)
            cur = part
        else:
            cur = f"{cur}  {part}" if cur else part
    return [*lines, cur]


def _json(graph: Graph, stats: Stats, table: list[Row], depth: int | None) -> str:
    totals = {"params": stats.params, "buffers": stats.buffers, "macs": stats.macs,
              "flops": stats.flops, "peak_activation_bytes": stats.peak_bytes,
              "layers": len(stats.layers)}
    import json  # NOTE: here: only --format json needs it
    return json.dumps({
        "schema": SUMMARY_SCHEMA_VERSION, "network": graph.name, "source": graph.source.path,
        "params": graph.params, "depth": depth,
        "inputs": {n.name: list(n.shape or ()) for n in graph.inputs},
        "outputs": {k: list(graph.node(v).shape or ()) for k, v in graph.outputs.items()},
        "named_sizes": _named_sizes_json(graph, stats, table, depth),
        "layers": [r.to_json() for r in table],
        "tensors": {k: list(v) for k, v in stats.tensors().items()},
        "warnings": [{"code": d.code, "message": d.message} for d in stats.warnings],
        "totals": totals}, indent=2)


def _named_sizes_json(graph: Graph, stats: Stats, table: list[Row], depth: int | None
                      ) -> dict[str, Any] | None:
    """For a network with named input sizes: what `check --format json` gives (anysize's
    sizes_json), and the text summary's formulas: each row's shape, params, MACs (total and per
    row) and peak activation bytes; null for a network of fixed sizes."""
    if not graph.declared:
        return None
    from netdsl.anysize import derive, sizes_json
    sym = derive(graph)
    costs = _costs(sym, stats, depth)
    return {**sizes_json(sym),
            "shapes": {r.name: [sym.json(d) for d in sym.shapes[r.last]]
                       for r in table if r.last in sym.shapes},
            "params_at_every_size": costs.params_at_every_size,
            "macs": sym.json(costs.macs),
            "macs_per_row": {k: sym.json(v) for k, v in costs.rows.items()},
            "peak_activation_bytes": None if costs.peak is None
            else sym.json(costs.peak[0]) if len(costs.peak) == 1
            else _peak(sym, costs.peak)}



def _rf_json(rf: RF | None) -> Any:
    if rf is None:
        return None
    if rf.unknown:
        return {"size": None, "jump": None, "start": None, "global": False, "unknown": True}
    return {"size": list(rf.size), "jump": list(rf.jump), "start": list(rf.start),
            "global": rf.is_global, "unknown": False}


def _axes(values: tuple[float, ...]) -> str:
    """One number when every axis agrees (`7`), else one per axis (`7x3`)."""
    return _num(values[0]) if len(set(values)) == 1 else "x".join(map(_num, values))


def _rf_size(rf: RF | None) -> str:
    return ("-" if rf is None else "global" if rf.is_global else "unknown" if rf.unknown
            else _axes(rf.size))


def _rf_jump(rf: RF | None) -> str:
    return "-" if rf is None or rf.is_global or rf.unknown else _axes(rf.jump)


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:.4g}"


def _bytes(n: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


# ------------------------------------------------------------------------------------- explain

def explain(graph: Graph, stats: Stats, layer: str) -> str:
    """The lecture's arithmetic for one layer, with its own numbers filled in: the output size
    per axis, parameters and MACs as products, and the receptive-field step; for named input
    sizes, the binding its numbers are at."""
    by = stats.by_name()
    if layer not in by:
        inside = [f"`{name}`" for name in by if name.startswith(layer + ".")]
        hint = did_you_mean(layer, by, "`netdsl summary` lists the layer names", n=3)
        if layer in graph.outputs:  # NOTE: `expect probs: ...` names it as if it were a layer
            hint = (f"`{layer}` is an output of the network, made by the layer "
                    f"`{graph.outputs[layer]}`: explain that")
        if inside:  # a block's name: its layers have it as their prefix
            shown = ", ".join(inside[:3] + ["..."] * (len(inside) > 3))
            hint = (f"`{layer}` is a block of {len(inside)} layer{'s' * (len(inside) > 1)}: "
                    f"{shown}; explain one of them, or fold blocks with "
                    f"`netdsl summary --depth {layer.count('.') + 1}`")
        raise NetdslError([error("E201", f"network `{graph.name}` has no layer `{layer}`",
                                 hints=[hint])])
    node, lay = graph.node(layer), by[layer]
    xs = [p.shape or () for p in graph.producers(node)]
    y = node.shape or ()
    at = ", ".join(f"{k} = {v}" for k, v in graph.sizes.items())  # NOTE: named input sizes
    out = [f"{layer}: {node.op.name}{_where(node.span)}" + (f" (numbers at {at})" if at else ""),
           f"  {', '.join(fmt_shape(x) for x in xs) or 'input'} -> {fmt_shape(y)}"]
    sizes = node.op.arithmetic(y, *xs) if xs else []
    if sizes:
        out.append("  output size per axis:")
        out += [f"    {line}" for line in _aligned(sizes)]
    if lay.param_shapes:
        terms = [f"{k} {_product(v)}".lstrip() for k, v in lay.param_shapes.items()]  # "": a param
        out.append(f"  params: {'; '.join(terms)}" + (f"  -> {lay.params:,}" if len(terms) > 1
                                                        else ""))
    if lay.buffer_shapes:
        terms = [f"{k} {_product(v)}" for k, v in lay.buffer_shapes.items()]
        out.append(f"  buffers: {'; '.join(terms)}  (not learned)")
    factors = node.op.mac_terms(y, *xs) if xs else (0,)
    out.append(f"  MACs: {_product(factors)}  (FLOPs = 2 x MACs)")
    out.append(f"    rule: {node.op.mac_rule}")
    out += _rf_lines(node, lay, [by[i].rf for i in graph.value_inputs_of(node)], xs)
    return "\n".join(out)


def _where(span: Span) -> str:
    return f", defined at {span.where()}" if span.source is not None else ""


def _product(factors: tuple[int, ...]) -> str:
    if len(factors) == 1:
        return f"{factors[0]:,}"
    return " x ".join(map(str, factors)) + f" = {math.prod(factors):,}"


def _rf_lines(node: Any, lay: LayerStats, ins: list[RF | None], xs: list[Any]) -> list[str]:
    rf = lay.rf
    if rf is None:
        return []
    if rf.is_global:
        return ["  receptive field: the whole input (a global window)"]
    if rf.unknown:
        return ["  receptive field: unknown (this layer or one before mixed the axes it lay on)"]
    head = f"  receptive field: {_axes(rf.size)}, jump {_axes(rf.jump)}, start {_axes(rf.start)}"
    known = [r for r in ins if r is not None]
    if not known:
        return [head]
    lines = [head]
    if len(known) > 1:
        lines.append("    the inputs' fields joined: their union, with the first input's jump")
    win = node.op.window(*xs)
    if win.kind != "local" or len(known) > 1:
        if win.kind == "pointwise" and len(known) == 1:
            lines.append("    pointwise: the input's field is unchanged")
        return lines
    prev = known[0]
    lines.append("    r' = r + (extent - 1)*j;  j' = j*f;  u' = u + offset*j"
                 "   (Araujo et al. 2019)")
    names = axis_names(len(rf.size))
    steps = []
    for i, axis in enumerate(names):
        r, j, u = prev.size[i], prev.jump[i], prev.start[i]
        e, f, c = win.extent[i], win.jump[i], win.offset[i]
        steps.append(f"{axis}: r = {_num(r)} + ({e} - 1)*{_num(j)} = {_num(rf.size[i])};  "
                     f"j = {_num(j)}*{_num(f)} = {_num(rf.jump[i])};  "
                     f"u = {_num(u)} + {_num(c)}*{_num(j)} = {_num(rf.start[i])}")
    return lines + [f"    {s}" for s in _aligned(steps)]


def _aligned(lines: list[str]) -> list[str]:
    """`height: ...` and `width: ...` with their values in one column."""
    width = max(line.index(":") for line in lines) + 1
    return [f"{line[:line.index(':') + 1]:<{width}} {line[line.index(':') + 1:].lstrip()}"
            for line in lines]
