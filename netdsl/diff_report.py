"""Diff → text, markdown (a pull-request comment) or JSON (schema DIFF_SCHEMA, documented in
docs/diff.md): the output of `netdsl diff`."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from netdsl.diff import METRICS, Delta, Diff, LayerChange, NetworkDiff, OutputChange, jsonable
from netdsl.ops.base import fmt_shape

DIFF_SCHEMA = "netdsl-diff/1"  # `diff --format json`; fields are only ever added


def render(diff: Diff, fmt: str = "text") -> str:
    """The diff as "text", "markdown" or "json" (one object, two-space indented, stable)."""
    if fmt == "json":
        return json.dumps(to_json(diff), indent=2)
    return _markdown(diff) if fmt == "markdown" else _text(diff)


def to_json(diff: Diff) -> dict[str, Any]:
    return {"schema": DIFF_SCHEMA, "old": diff.old, "new": diff.new, "differs": diff.differs,
            "networks": [_network_json(n) for n in diff.networks]}


def _network_json(n: NetworkDiff) -> dict[str, Any]:
    return {
        "name": n.name, "status": n.status,
        "totals": {m: d.to_json() for m, d in n.totals.items()},
        "blocks": [{"name": name, **{m: d.to_json() for m, d in ds.items()}}
                   for name, ds in n.blocks],
        "layers": [{"change": c.change, "old": c.old.to_json() if c.old else None,
                    "new": c.new.to_json() if c.new else None,
                    "differences": {k: jsonable(v) for k, v in c.differences.items()}}
                   for c in n.layers],
        "shapes": [{"layer": new.name, "old": list(old.shape), "new": list(new.shape)}
                   for old, new in n.shapes],
        "outputs": [{"change": c.change, **{side: None if v is None else
                                            {"name": v[0], "layer": v[1]}
                                            for side, v in (("old", c.old), ("new", c.new))}}
                    for c in n.outputs],
        "sizes": {"old": n.sizes[0], "new": n.sizes[1]},
    }


def _counts(changes: list[LayerChange] | list[OutputChange]) -> str:
    """Like `1 added, 2 changed`: the kinds present, in a fixed order."""
    kinds = ("added", "removed", "changed", "renamed", "moved")
    found = [(k, sum(c.change == k for c in changes)) for k in kinds]
    return ", ".join(f"{c} {k}" for k, c in found if c)


def _output_row(c: OutputChange, arrow: str, code: str = "") -> tuple[str, str]:
    """(the output's name or names, its layer or layers) of an output change."""
    old, new = c.old or c.new, c.new or c.old
    assert old is not None and new is not None
    names = f"{code}{old[0]}{code}" + (f" {arrow} {code}{new[0]}{code}" if old[0] != new[0]
                                       else "")
    layers = f"{code}{old[1]}{code}" + (f" {arrow} {code}{new[1]}{code}" if old[1] != new[1]
                                        else "")
    return names, layers


def _value(v: Any) -> str:
    """An argument value as .net writes it."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    return str(v)


def _changes(c: LayerChange, arrow: str = "->") -> Iterator[str]:
    """`out: 64 -> 96` per difference of a changed or renamed layer."""
    for key, (old, new) in c.differences.items():
        yield f"{key}: {_value(old)} {arrow} {_value(new)}"


def _number(v: int) -> str:
    return f"{v:,}"


def _signed(v: int) -> str:
    return "0" if v == 0 else f"{v:+,}"


def _percent(d: Delta) -> str:
    pct = d.percent
    if d.delta == 0:
        return "0%"
    if pct is None:
        return "new" if d.new else "-"
    if d.delta and abs(pct) < 0.05:
        return f"{pct:+.2g}%"
    return f"{pct:+.1f}%"


def _shape(s: Iterable[Any]) -> str:
    return fmt_shape(tuple(s))


def _text(diff: Diff) -> str:
    lines = [f"--- {diff.old}", f"+++ {diff.new}"]
    for n in diff.networks:
        if n.status != "changed":
            lines.append(f"network {n.name}: {_status(diff, n)}")
            continue
        lines.append(f"network {n.name}: changed")
        if note := _at_sizes(n):
            lines.append(f"  {note}")
        lines += _table(("metric", "old", "new", "change", "%"), [
            (METRICS[m], _number(d.old), _number(d.new), _signed(d.delta), _percent(d))
            for m, d in n.totals.items()], left=1)
        if n.blocks:
            lines.append("  per block:")
            lines += _table(("block", "metric", "old", "new", "change", "%"), [
                (name if i == 0 else "", METRICS[m], _number(d.old), _number(d.new),
                 _signed(d.delta), _percent(d))
                for name, ds in n.blocks for i, (m, d) in enumerate(_changed(ds))], left=2)
        if n.layers:
            lines.append(f"  layers: {_counts(n.layers)}")
            lines += _table(None, [(_MARK[c.change], _names(c, "->"), _op(c), _details(c, "->"))
                                   for c in n.layers], indent=4)
        if n.shapes:
            lines.append(f"  output shapes: {len(n.shapes)} changed")
            lines += _table(None, [(new.name, f"{_shape(old.shape)} -> {_shape(new.shape)}")
                                   for old, new in n.shapes], indent=4)
        if n.outputs:
            lines.append(f"  outputs: {_counts(n.outputs)}")
            lines += _table(None, [(_MARK[c.change], *_output_row(c, "->")) for c in n.outputs],
                            indent=4)
    return "\n".join(lines)


def _changed(deltas: dict[str, Delta]) -> list[tuple[str, Delta]]:
    return [(m, d) for m, d in deltas.items() if d.delta]


_MARK = {"added": "+", "removed": "-", "changed": "~", "renamed": ">", "moved": "~"}


def _status(diff: Diff, n: NetworkDiff) -> str:
    if n.status == "added":
        return f"added (only in {diff.new}; {_sizes(n, 'new')})"
    if n.status == "removed":
        return f"removed (only in {diff.old}; {_sizes(n, 'old')})"
    return f"identical ({_sizes(n, 'new')})"


def _sizes(n: NetworkDiff, side: str) -> str:
    v = {m: getattr(d, side) for m, d in n.totals.items()}
    return (f"{_number(v['params'])} params, {_number(v['macs'])} MACs, "
            f"{_number(v['peak_bytes'])} bytes peak memory")


def _at_sizes(n: NetworkDiff) -> str:
    """A line saying that the two sides' numbers are at different named input sizes, and why;
    "" where they are at the same."""
    old, new = n.sizes
    if old == new:
        return ""
    if old.keys() == new.keys():
        return f"old numbers at {_binding(old)}: it does not build at the new {_binding(new)}"
    return (f"old numbers at {_binding(old)}, new at {_binding(new)}: the versions name "
            "different sizes")


def _binding(sizes: dict[str, int]) -> str:
    return ", ".join(f"{k} = {v}" for k, v in sizes.items()) or "its fixed sizes"


def _names(c: LayerChange, arrow: str, code: str = "") -> str:
    if c.change == "renamed":
        assert c.old is not None and c.new is not None
        return f"{code}{c.old.name}{code} {arrow} {code}{c.new.name}{code}"
    return f"{code}{c.name}{code}"


def _op(c: LayerChange) -> str:
    layer = c.new or c.old
    assert layer is not None
    return layer.op


def _details(c: LayerChange, arrow: str, code: str = "") -> str:
    if c.change in ("added", "removed"):
        layer = c.new or c.old
        assert layer is not None
        return f"{code}{_shape(layer.shape)}{code}"
    return ", ".join(_changes(c, arrow))


def _table(head: tuple[str, ...] | None, rows: list[tuple[str, ...]], left: int = 99,
           indent: int = 2) -> list[str]:
    """Aligned columns, two spaces apart: the first `left` left-aligned, the rest (numbers)
    right-aligned."""
    every = [head, *rows] if head else rows
    widths = [max(len(r[i]) for r in every) for i in range(len(every[0]))]
    out = []
    for r in every:
        cells = [c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))]
        out.append((" " * indent + "  ".join(cells)).rstrip())
    return out


def _markdown(diff: Diff) -> str:
    arrow = "&rarr;"
    lines = [f"### netdsl diff: `{diff.old}` {arrow} `{diff.new}`"]
    for n in diff.networks:
        lines += ["", f"#### `{n.name}`: {n.status}", ""]
        if n.status != "changed":
            lines.append(_status(diff, n).split(" (", 1)[1][:-1] + ".")
            continue
        if note := _at_sizes(n):
            lines += [f"{note[0].upper()}{note[1:]}.", ""]
        lines += _md_table(("metric", "old", "new", "change", "%"), [
            (METRICS[m], _number(d.old), _number(d.new), _signed(d.delta), _percent(d))
            for m, d in n.totals.items()], numbers=1)
        if n.blocks:
            lines += [""] + _md_table(("block", "metric", "old", "new", "change", "%"), [
                (f"`{name}`", METRICS[m], _number(d.old), _number(d.new), _signed(d.delta),
                 _percent(d)) for name, ds in n.blocks for m, d in _changed(ds)], numbers=2)
        if n.layers:
            lines += ["", f"**Layers:** {_counts(n.layers)}", ""] + _md_table(
                ("change", "layer", "op", "details"),
                [(c.change, _names(c, arrow, "`"), _op(c), _details(c, arrow, "`"))
                 for c in n.layers])
        if n.shapes:
            lines += ["", f"<details><summary>Output shapes: {len(n.shapes)} changed</summary>",
                      ""] + _md_table(("layer", "old", "new"), [
                          (f"`{new.name}`", f"`{_shape(old.shape)}`", f"`{_shape(new.shape)}`")
                          for old, new in n.shapes]) + ["", "</details>"]
        if n.outputs:
            lines += ["", f"**Outputs:** {_counts(n.outputs)}", ""] + _md_table(
                ("change", "output", "layer"),
                [(c.change, *_output_row(c, arrow, "`")) for c in n.outputs])
    return "\n".join(lines)


def _md_table(head: tuple[str, ...], rows: list[tuple[str, ...]], numbers: int | None = None
              ) -> list[str]:
    """A GitHub table; columns from index `numbers` on are right-aligned."""
    def row(cells: tuple[str, ...]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"
    rule = ["---:" if numbers is not None and i >= numbers else "---" for i in range(len(head))]
    return [row(head), "|" + "|".join(rule) + "|", *(row(r) for r in rows)]
