"""Subgraphs that are one netdsl layer (netdsl import, before reader.py's walk of the nodes):
ONNX nodes, their readers and constants → Fused records, by the output of each subgraph's first
node. GELU's erf form, as torch's legacy exporter writes F.gelu (x * (1 + erf(x / sqrt 2)) *
0.5), its default one (x * (0.5 * (1 + erf(...)))) and netdsl's own lowering before opset 20
((x * 0.5) * (1 + erf(x / sqrt 2))); nn.MultiheadAttention as torch's legacy exporter writes
it (the batch axis moved, q, k, v by Gather) and ViT's class token expanded to the batch;
netdsl's own lowerings of attention and expand."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from netdsl import export
from netdsl.record import Record, record

Const = Callable[[str], "np.ndarray | None"]  # a tensor's constant value, None where computed
Dims = Callable[[str], "list[int | str] | None"]  # a tensor's shape, where recorded


@record
class Fused(Record):
    """Nodes read as one layer: `call` (netdsl's, its op `op`) from tensor `x` to `out`."""

    op: str
    call: str
    x: str
    out: str
    nodes: tuple[str, ...]  # the first output of every node of the subgraph
    params: tuple[tuple[str, np.ndarray], ...] = ()  # (suffix, array): the layer's weights
    hint: str = ""  # where the label comes from, where not the first node's name
    more: tuple[str, ...] = ()  # inputs after x (`like: t`)


def find(nodes: Sequence[Any], users: Mapping[str, list[Any]], const: Const,
         outputs: Sequence[str], shape: Dims) -> dict[str, Fused]:
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
    producers = {o: m for m in nodes for o in m.output}
    for n in nodes:
        f = None
        if n.op_type == "Transpose" and _perm(n) == (1, 0, 2):
            f = _attention(n, users, const, outputs, shape, producers)
        elif n.op_type == "Expand":
            f = _class_token(n, const, producers)
        elif n.op_type == "MatMul":
            f = _own_attention(n, users, const, outputs, producers)
        elif n.op_type == "Where":
            f = _own_expand(n, const, producers)
        if f is not None:
            found[n.output[0]] = f
    return {k: _closed(f, producers, users, outputs) if f.op != "gelu" else f
            for k, f in found.items()}


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


def _perm(n: Any) -> tuple[int, ...]:
    return next((tuple(a.ints) for a in n.attribute if a.name == "perm"), ())


def _attr(n: Any, name: str, default: int) -> int:
    return next((int(a.i) for a in n.attribute if a.name == name), default)


def _closed(f: Fused, producers: Mapping[str, Any], users: Mapping[str, list[Any]],
            outputs: Sequence[str]) -> Fused:
    """The subgraph with every node (but Constants and its inputs' producers) whose outputs
    only it reads: the sizes that a pattern's Reshapes compute from shapes, its scale's Sqrt
    and Cast."""
    inner = set(f.nodes)
    grown = True
    while grown:
        grown = False
        for t in list(inner):
            m = producers.get(t)
            for i in m.input if m is not None else ():
                p = producers.get(i)
                if p is None or p.op_type == "Constant" or p.output[0] in inner or (
                        i in (f.x, *f.more)):
                    continue
                readers = [u for o in p.output for u in users.get(o, [])]
                if all(u.output[0] in inner for u in readers) and not (
                        set(p.output) & set(outputs)):
                    inner.add(p.output[0])
                    grown = True
    rest = sorted(inner - set(f.nodes))
    return Fused(f.op, f.call, f.x, f.out, (*f.nodes, *rest), f.params, f.hint, f.more)


def _class_token(n: Any, const: Const, producers: Mapping[str, Any]) -> Fused | None:
    """Expand(token, Where(Equal(s, -1s), 1s, s)), s = Reshape(Concat(Unsqueeze(Shape(tokens)
    [0]), -1, -1), [-1]), as torch's legacy exporter writes ViT's `class_token.expand(n, -1,
    -1)`: `expand(token, like: tokens)`. The Where's subgraph joins the Fused's nodes in
    _closed."""
    token = const(n.input[0])

    def made(t: str, op: str) -> Any:
        m = producers.get(t)
        return m if m is not None and m.op_type == op else None

    where = made(n.input[1], "Where")
    if token is None or token.ndim < 2 or token.shape[0] != 1 or where is None:
        return None
    eq, sizes = made(where.input[0], "Equal"), made(where.input[2], "Reshape")
    cat = sizes and made(sizes.input[0], "Concat")
    ones = made(where.input[1], "ConstantOfShape")
    minus = made(eq.input[1], "Mul") if eq else None
    if not (eq and cat and ones and minus) or eq.input[0] != sizes.output[0]:
        return None
    one = np.ravel(export.attributes(ones).get("value", [0])).tolist()
    if len(cat.input) != token.ndim or one != [1] or ones.output[0] not in minus.input or not (
            _is(const, _other(minus, ones.output[0]), -1.0)) or not all(
            _is(const, i, -1.0) for i in cat.input[1:]):
        return None
    unsq = made(cat.input[0], "Unsqueeze")
    gather = unsq and made(unsq.input[0], "Gather")
    shape = gather and made(gather.input[0], "Shape")
    if not shape or shape.attribute or not _is(const, gather.input[1], 0.0):
        return None
    return Fused("expand", "expand(like: {})", n.input[0], n.output[0], (n.output[0],),
                 more=(shape.input[0],))


def _attention(t: Any, users: Mapping[str, list[Any]], const: Const, outputs: Sequence[str],
               shape: Dims, producers: Mapping[str, Any]) -> Fused | None:
    """nn.MultiheadAttention(x, x, x) as torch's legacy exporter writes it: x moved to
    [L, N, E] (Transpose), x W^T + b, q, k, v by Gather after Unsqueeze/Transpose/Squeeze,
    each to [N * H, L, hd] and [N, H, L, hd], q and k scaled, Softmax(q k^T) v, back to
    [L * N, E], out_proj (Gemm), [L, N, E], Transpose to [N, L, E]: `attention(heads)`."""
    path: list[Any] = [t]

    def step(x: str, *ops: str) -> Any:
        for op in ops:
            ns = [m for m in users.get(x, []) if m.op_type not in ("Shape",)]
            if len(ns) != 1 or ns[0].op_type != op or x in outputs:
                return None
            path.append(ns[0])
            x = ns[0].output[0]
        return path[-1]

    sq = step(t.output[0], "MatMul", "Add", "Reshape", "Unsqueeze", "Transpose", "Squeeze")
    if sq is None or _perm(path[5]) != (3, 1, 2, 0, 4):
        return None
    proj, bias = path[1], _other(path[2], path[1].output[0])
    w, b = const(proj.input[1]), const(bias)
    gathers = users.get(sq.output[0], [])
    index = {int(np.ravel(v)[0]): g for g in gathers if g.op_type == "Gather"
             and (v := const(g.input[1])) is not None and v.size == 1}
    if w is None or b is None or w.ndim != 2 or len(gathers) != 3 or set(index) != {0, 1, 2}:
        return None
    path.append(index[0])
    q = step(index[0].output[0], "Reshape", "Transpose", "Reshape", "Mul", "MatMul", "Softmax",
             "MatMul", "Transpose", "Reshape", "Gemm", "Reshape", "Transpose")
    if q is None or _perm(q) != (1, 0, 2):
        return None
    q_scaled, qk, scores, av, gemm = (path[i] for i in (11, 12, 13, 14, 17))
    path.append(index[1])
    k = step(index[1].output[0], "Reshape", "Transpose", "Reshape", "Transpose", "Mul")
    if k is None or list(qk.input) != [q_scaled.output[0], k.output[0]]:
        return None
    kt = path[-2]
    path.append(index[2])
    v = step(index[2].output[0], "Reshape", "Transpose", "Reshape")
    if v is None or list(av.input) != [scores.output[0], v.output[0]] or _attr(
            scores, "axis", -1) not in (-1, 3) or not all(
            _root_scale(_other(m, x), const, producers) for m, x in (
                (q_scaled, path[10].output[0]), (k, kt.output[0]))):
        return None
    dims = shape(qk.output[0])
    wo, bo = (const(i) for i in (gemm.input[1:3] if len(gemm.input) > 2 else ("", "")))
    if dims is None or len(dims) != 4 or not isinstance(dims[1], int) or wo is None or (
            bo is None) or _attr(gemm, "transA", 0):
        return None
    d = w.shape[0]
    if not _attr(gemm, "transB", 0):
        wo = wo.T
    params = (("in_proj_weight", w.T), ("in_proj_bias", b), ("out_proj.weight", wo),
              ("out_proj.bias", bo))
    hint = bias.removesuffix(".in_proj_bias")
    if w.shape != (d, 3 * d) or d % dims[1] or wo.shape != (d, d):
        return None
    return Fused("attention", f"attention({dims[1]})", t.input[0], q.output[0],
                 tuple(m.output[0] for m in path), params, hint if "." in hint else "")


def _weight(x: str, const: Const, producers: Mapping[str, Any]) -> np.ndarray | None:
    """W where x is Transpose(W, perm [1, 0]) of a stored W [out, in] (netdsl's dense)."""
    m = producers.get(x)
    w = const(m.input[0]) if m is not None and m.op_type == "Transpose" else None
    return w if w is not None and w.ndim == 2 and _perm(m) == (1, 0) else None


def _own_attention(mm: Any, users: Mapping[str, list[Any]], const: Const,
                   outputs: Sequence[str], producers: Mapping[str, Any]) -> Fused | None:
    """netdsl's lowering of attention (ops/attention.py): x W_in^T + b_in, Reshape [0, 0, 3,
    H, hd], Transpose [2, 0, 3, 1, 4], q, k, v by Gather, q scaled by a constant, Softmax(q
    k^T) v, Transpose [0, 2, 1, 3], Reshape [0, 0, D], x W_out^T + b_out (no Adds where
    `bias: false`)."""
    w = _weight(mm.input[1], const, producers)
    path: list[Any] = [mm]

    def step(x: str, *ops: str) -> Any:
        for op in ops:
            ns = users.get(x, [])
            if len(ns) != 1 or ns[0].op_type != op or x in outputs:
                return None
            path.append(ns[0])
            x = ns[0].output[0]
        return path[-1]

    bias = [m.op_type for m in users.get(mm.output[0], [])] == ["Add"]  # bias: false: none
    added = ("Add",) if bias else ()
    tr = step(mm.output[0], *added, "Reshape", "Transpose")
    if w is None or tr is None or _perm(tr) != (2, 0, 3, 1, 4):
        return None
    shape = const(path[-2].input[1])
    b = const(_other(path[1], mm.output[0])) if bias else np.zeros(0)
    gathers = users.get(tr.output[0], [])
    index = {int(np.ravel(v)[0]): g for g in gathers if g.op_type == "Gather"
             and (v := const(g.input[1])) is not None and v.size == 1}
    if b is None or shape is None or len(gathers) != 3 or set(index) != {0, 1, 2}:
        return None
    path.append(index[0])
    at = len(path)
    out = step(index[0].output[0], "Mul", "MatMul", "Softmax", "MatMul", "Transpose",
               "Reshape", "MatMul", *added)
    if out is None:
        return None
    scale, qk, av, back, join, proj = (path[at + i] for i in (0, 1, 3, 4, 5, 6))
    path.append(index[1])
    k = step(index[1].output[0], "Transpose")
    wo = _weight(proj.input[1], const, producers)
    bo = const(_other(out, proj.output[0])) if bias else np.zeros(0)
    d = w.shape[1]
    heads, hd = (int(v) for v in np.ravel(shape)[3:5]) if np.size(shape) == 5 else (0, 0)
    if k is None or list(qk.input)[1:] != [k.output[0]] or _perm(k) != (0, 1, 3, 2) or (
            list(av.input)[1:] != [index[2].output[0]]) or len(users[index[2].output[0]]) != 1:
        return None
    joined = const(join.input[1])
    if wo is None or bo is None or heads * hd != d or w.shape != (3 * d, d) or (
            not _is(const, _other(scale, index[0].output[0]), 1 / math.sqrt(hd))) or (
            _perm(back) != (0, 2, 1, 3)) or joined is None or (
                [int(v) for v in np.ravel(joined)] != [0, 0, d]):
        return None
    path.append(index[2])
    params = (("in_proj_weight", w), ("in_proj_bias", b), ("out_proj.weight", wo),
              ("out_proj.bias", bo))[::1 if bias else 2]
    hint = producers[mm.input[1]].input[0].removesuffix(".in_proj_weight")
    call = f"attention({heads})" if bias else f"attention({heads}, bias: false)"
    return Fused("attention", call, mm.input[0], out.output[0],
                 tuple(m.output[0] for m in path), params, hint if "." in hint else "")


def _own_expand(n: Any, const: Const, producers: Mapping[str, Any]) -> Fused | None:
    """netdsl's lowering of expand(t, like: x): Where(Cast(Slice(x, [0..], [1..], axes 1..),
    bool), t, t)."""
    cast = producers.get(n.input[0])
    cut = producers.get(cast.input[0]) if cast is not None and cast.op_type == "Cast" else None
    if (cut is None or cut.op_type != "Slice" or n.input[1] != n.input[2]
            or const(n.input[1]) is None or _attr(cast, "to", 0) != 9 or len(cut.input) < 4):
        return None
    starts, ends, axes = (const(i) for i in cut.input[1:4])
    rank = len(axes) + 1 if axes is not None else 0
    if starts is None or ends is None or axes is None or list(np.ravel(starts)) != [0] * (
            rank - 1) or list(np.ravel(ends)) != [1] * (rank - 1) or list(
                np.ravel(axes)) != list(range(1, rank)):
        return None
    return Fused("expand", "expand(like: {})", n.input[1], n.output[0], (n.output[0],),
                 more=(cut.input[0],))


def _root_scale(t: str, const: Const, producers: Mapping[str, Any]) -> bool:
    """Whether t is sqrt(1 / sqrt(hd)), hd the last size of a tensor, as torch's legacy
    exporter scales q and k each: Sqrt(Cast(Div(1, Sqrt(Cast(Slice(Shape(.), -1))))))."""
    chain = []
    for op in ("Sqrt", "Cast", "Div", "Sqrt", "Cast", "Slice", "Shape"):
        m = producers.get(t)
        if m is None or m.op_type != op:
            return False
        chain.append(m)
        t = m.input[1] if op == "Div" else m.input[0]
    div, cut = chain[2], chain[5]
    return _is(const, div.input[0], 1.0) and len(cut.input) > 1 and _is(const, cut.input[1], -1)
