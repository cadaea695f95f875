"""Subgraphs that are one netdsl layer (netdsl import, before reader.py's walk of the nodes):
ONNX nodes, their readers and constants → Fused records, by the output of each subgraph's first
node. GELU's erf form, as torch's legacy exporter writes F.gelu (x * (1 + erf(x / sqrt 2)) *
0.5), its default one (x * (0.5 * (1 + erf(...)))) and netdsl's own lowering before opset 20
((x * 0.5) * (1 + erf(x / sqrt 2)))."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from netdsl.record import Record, record

Const = Callable[[str], "np.ndarray | None"]  # a tensor's constant value, None where computed


@record
class Fused(Record):
    """Nodes read as one layer: `call` (netdsl's, its op `op`) from tensor `x` to `out`."""

    op: str
    call: str
    x: str
    out: str
    nodes: tuple[str, ...]  # the first output of every node of the subgraph


def find(nodes: Sequence[Any], users: Mapping[str, list[Any]], const: Const,
         outputs: Sequence[str]) -> dict[str, Fused]:
    """The subgraphs of the model that are one layer, by their first node's output; an inner
    tensor that is also read elsewhere (or is a graph output) leaves its subgraph unread."""

    def only(t: str, op: str) -> Any:
        ns = users.get(t, [])
        return ns[0] if len(ns) == 1 and ns[0].op_type == op and t not in outputs else None

    found: dict[str, Fused] = {}
    for n in nodes:
        if n.op_type in ("Div", "Mul"):
            f = _gelu(n, only, users, const)
            if f is not None:
                found[n.output[0]] = f
    return found


def _is(const: Const, name: str, value: float) -> bool:
    v = const(name)
    return v is not None and v.size == 1 and math.isclose(float(np.ravel(v)[0]), value,
                                                          rel_tol=1e-6)


def _other(node: Any, t: str) -> str:
    return next((i for i in node.input if i != t), "")


def _gelu(n: Any, only: Callable[[str, str], Any], users: Mapping[str, list[Any]],
          const: Const) -> Fused | None:
    """x / sqrt 2 (or x * 1 / sqrt 2) -> Erf -> + 1 -> * x -> * 0.5, or * (x * 0.5)."""
    if len(n.input) != 2 or not (_is(const, n.input[1], math.sqrt(2)) if n.op_type == "Div"
                                 else _is(const, n.input[1], math.sqrt(0.5))):
        return None
    x = n.input[0]
    erf = only(n.output[0], "Erf")
    add = erf and only(erf.output[0], "Add")
    if not add or not _is(const, _other(add, erf.output[0]), 1.0):
        return None
    mul = only(add.output[0], "Mul")
    if not mul:
        return None
    half = _other(mul, add.output[0])
    if _is(const, half, 0.5):  # torch's default exporter: x * (0.5 * (1 + erf))
        last = only(mul.output[0], "Mul")
        if not last or _other(last, mul.output[0]) != x:
            return None
        inner = (n, erf, add, mul, last)
    elif half == x:  # torch's legacy exporter: (x * (1 + erf)) * 0.5
        last = only(mul.output[0], "Mul")
        if not last or not _is(const, _other(last, mul.output[0]), 0.5):
            return None
        inner = (n, erf, add, mul, last)
    else:  # netdsl: (x * 0.5) * (1 + erf), x * 0.5 read only here
        h = next((m for m in users.get(x, []) if m.output[0] == half and m.op_type == "Mul"),
                 None)
        if h is None or not _is(const, _other(h, x), 0.5) or only(half, "Mul") is not mul:
            return None
        last, inner = mul, (n, h, erf, add, mul)
    return Fused("gelu", "gelu", x, last.output[0], tuple(m.output[0] for m in inner))
