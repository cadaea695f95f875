"""Stats → text for people and JSON for tools: `netdsl summary` and `netdsl explain`."""

from __future__ import annotations

import json
from typing import Any

from netdsl.analysis import RF, LayerStats, Stats
from netdsl.diagnostics import NetdslError, error
from netdsl.ir import Graph
from netdsl.ops.base import fmt_shape

SUMMARY_SCHEMA_VERSION = 1


def _rf_text(rf: RF | None) -> str:
    if rf is None:
        return "-"
    if rf.is_global:
        return "global"
    sizes = {int(v) if float(v).is_integer() else v for v in rf.size}
    return str(sizes.pop()) if len(sizes) == 1 else "x".join(_num(v) for v in rf.size)


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


def _collapse(layers: list[LayerStats], depth: int | None) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    index: dict[str, dict[str, Any]] = {}
    for lay in layers:
        parts = lay.name.split(".")
        key = ".".join(parts[:depth]) if depth and len(parts) > depth else lay.name
        row = index.get(key)
        if row is None:
            row = {"name": key, "op": lay.op if key == lay.name else "block",
                   "shape": list(lay.shape), "params": 0, "buffers": 0, "macs": 0,
                   "activation_bytes": 0, "rf": lay.rf, "layers": 0}
            index[key] = row
            rows.append(row)
        row["params"] += lay.params
        row["buffers"] += lay.buffers
        row["macs"] += lay.macs
        row["activation_bytes"] += lay.activation_bytes
        row["shape"], row["rf"] = list(lay.shape), lay.rf
        row["layers"] += 1
    return rows


def summary(graph: Graph, stats: Stats, fmt: str = "text", depth: int | None = None) -> str:
    rows = _collapse(stats.layers, depth)
    totals = {"params": stats.params, "buffers": stats.buffers, "macs": stats.macs,
              "flops": stats.flops, "peak_activation_bytes": stats.peak_bytes,
              "layers": len(stats.layers)}
    if fmt == "json":
        return json.dumps({
            "schema": SUMMARY_SCHEMA_VERSION, "network": graph.name,
            "source": graph.source.path, "params": graph.params,
            "inputs": {n.name: list(n.shape or ()) for n in graph.inputs},
            "outputs": {k: list(graph.node(v).shape or ()) for k, v in graph.outputs.items()},
            "layers": [{**{k: v for k, v in r.items() if k != "rf"}, "rf": _rf_json(r["rf"])}
                       for r in rows],
            "tensors": {k: list(v) for k, v in stats.tensors().items()},
            "totals": totals}, indent=2)
    head = ("name", "op", "output shape", "params", "MACs", "RF")
    table = [(r["name"], r["op"], fmt_shape(r["shape"]), f"{r['params']:,}", f"{r['macs']:,}",
              _rf_text(r["rf"])) for r in rows]
    foot = [f"params {stats.params:,}  buffers {stats.buffers:,}  MACs {stats.macs:,} "
            f"(FLOPs {stats.flops:,})  peak activations {_bytes(stats.peak_bytes)} at batch 1"]
    if fmt == "markdown":
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(f"`{c}`" if i == 0 else c for i, c in enumerate(row)) + " |"
                  for row in table]
        return "\n".join([f"### {graph.name}", "", *lines, "", *foot])
    widths = [max(len(str(x)) for x in col) for col in zip(head, *table)]
    # keep within 100 columns: the name column gives way first
    over = sum(widths) + 2 * (len(widths) - 1) - 100
    if over > 0:
        widths[0] = max(12, widths[0] - over)
    def line(cells: tuple[str, ...]) -> str:
        out = []
        for i, (c, w) in enumerate(zip(cells, widths)):
            c = c if len(c) <= w else "…" + c[-(w - 1):]
            out.append(c.rjust(w) if i >= 3 else c.ljust(w))
        return "  ".join(out).rstrip()
    return "\n".join([f"network {graph.name} ({graph.source.path})", line(head),
                      "-" * min(100, sum(widths) + 2 * (len(widths) - 1)),
                      *(line(r) for r in table), "", *foot])


def _rf_json(rf: RF | None) -> Any:
    if rf is None:
        return None
    return {"size": list(rf.size), "jump": list(rf.jump), "start": list(rf.start),
            "global": rf.is_global}


def _bytes(n: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def explain(graph: Graph, stats: Stats, layer: str) -> str:
    """The lecture's arithmetic for one layer, with its own numbers filled in."""
    by = stats.by_name()
    if layer not in by:
        import difflib
        close = difflib.get_close_matches(layer, list(by), 3)
        raise NetdslError([error("E201", f"network `{graph.name}` has no layer `{layer}`",
                                 hints=[f"did you mean {', '.join(f'`{c}`' for c in close)}?"
                                        if close else "see `netdsl summary` for layer names"])])
    node = graph.node(layer)
    lay = by[layer]
    xs = [graph.node(i).shape for i in node.inputs]
    src = node.span.source
    where = ""
    if src is not None:
        ln, col = src.line_col(node.span.start)
        where = f"{src.path}:{ln}:{col}: {src.line_text(ln).strip()}"
    out = [f"{layer}: {node.op.name}", f"  defined at {where}" if where else "",
           f"  input{'s' if len(xs) > 1 else ''}: " + ", ".join(fmt_shape(x or ()) for x in xs),
           f"  output: {fmt_shape(node.shape or ())}"]
    win = node.op.window(*xs) if xs else None
    if win is not None and win.kind == "local" and xs:
        names = ("length",) if len(win.kernel) == 1 else ("height", "width", "depth")[:len(win.kernel)]
        if len(win.kernel) == 3:
            names = ("depth", "height", "width")
        from netdsl.ops.base import resolve_pads  # noqa: F401 (pads come from the window)
        out.append("  output size per axis: floor((N + P_begin + P_end - D*(F - 1) - 1) / S) + 1")
        for i, axis in enumerate(names):
            n_in = int(xs[0][2 + i])
            k, s, d, pb = win.kernel[i], win.stride[i], win.dilation[i], win.pad_begin[i]
            n_out = int((node.shape or ())[2 + i])
            pe = (n_out - 1) * s + d * (k - 1) + 1 - n_in - pb
            pe_text = f"{pb} + {max(pe, 0)}" if pb != pe else f"2*{pb}"
            f_text = f"{d}*({k} - 1) + 1" if d > 1 else f"{k}"
            out.append(f"    {axis}: floor(({n_in} - {f_text} + {pe_text})/{s}) + 1 = {n_out}")
    if lay.param_shapes:
        terms = [f"{k} {'x'.join(map(str, v))} = {_prod(v):,}" for k, v in lay.param_shapes.items()]
        out.append(f"  params: {' + '.join(terms)}  -> {lay.params:,}")
    if lay.buffer_shapes:
        out.append(f"  buffers: {lay.buffers:,} (" + ", ".join(
            f"{k} {'x'.join(map(str, v))}" for k, v in lay.buffer_shapes.items()) + ")")
    out.append(f"  MACs: {lay.macs:,}  (rule: {node.op.mac_rule})")
    if lay.rf is not None:
        out.append(f"  receptive field: {_rf_text(lay.rf)}, jump {', '.join(map(_num, lay.rf.jump))}"
                   f", start {', '.join(map(_num, lay.rf.start))}")
        if win is not None and win.kind == "local" and node.inputs:
            prev = by[node.inputs[0]].rf
            if prev is not None and not prev.is_global and not lay.rf.is_global:
                k, d = win.kernel[0], win.dilation[0]
                out.append(f"    rf = {_num(prev.size[0])} + ({k} - 1)*{d}*{_num(prev.jump[0])}"
                           f" = {_num(lay.rf.size[0])};  jump = {_num(prev.jump[0])}*"
                           f"{win.stride[0]} = {_num(lay.rf.jump[0])}")
    return "\n".join(x for x in out if x)


def _prod(v: tuple[int, ...]) -> int:
    p = 1
    for x in v:
        p *= x
    return p
