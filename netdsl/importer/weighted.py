"""The ONNX nodes with weights or a window → Layers (for reader.py's walk, each a function of
the _Reader and the node): Conv (depthwise where grouped per channel), ConvTranspose, Gemm and
MatMul (dense, the Add of a bias after it read in), LayerNormalization, MaxPool and
AveragePool."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from netdsl import export
from netdsl.importer.calls import Layer, _ints, _num, _prefix, _window

if TYPE_CHECKING:
    from netdsl.importer.reader import _Reader


def _not_same_lower(r: _Reader, n: Any, a: dict[str, Any], kernel: Sequence[int]) -> None:
    """SAME_LOWER pads as SAME_UPPER does where the padding is even: stride 1 and an odd
    (dilated) window; elsewhere it depends on the input size."""
    k = len(kernel)
    even = all(int(s) == 1 and (int(w) - 1) * int(d) % 2 == 0 for s, w, d in zip(
        a.get("strides", [1] * k), kernel, a.get("dilations", [1] * k)))
    if a.get("auto_pad") == "SAME_LOWER" and not even:
        raise r.fail(n, "auto_pad SAME_LOWER: netdsl's `pad: same` puts an odd pixel "
                     "of padding after, as SAME_UPPER does")


def conv(r: _Reader, n: Any, a: dict[str, Any]) -> Layer:
    x = list(n.input)
    w = r.need(n, x[1])
    _not_same_lower(r, n, a, w.shape[2:])
    pads = list(a.get("pads", [0] * (2 * (w.ndim - 2))))
    if x[0] in r.pending_pad:
        x[0], extra = r.pending_pad[x[0]]
        pads = [p + e for p, e in zip(pads, extra)]
        a = {**a, "auto_pad": "NOTSET"}  # NOTE: VALID is no pads; these are the Pad's
    group, k = int(a.get("group", 1)), [int(v) for v in w.shape[2:]]
    o = int(w.shape[0])
    args = []
    if group > 1 and w.shape[1] == 1:
        name, head = "depthwise", [_ints(k)]
        tail = [f"multiplier: {o // group}"] if o != group else []
    else:
        name, head = "conv", [str(o), _ints(k)]
        tail = [f"groups: {group}"] if group != 1 else []
    args = head + _window(a, pads) + tail
    params = {"weight": w}
    if len(x) > 2 and x[2]:
        params["bias"] = r.need(n, x[2])
    else:
        args.append("bias: false")
    return Layer(name, f"{name}({', '.join(args)})", x[:1], n.output[0],
                 _prefix(x[1]) or n.name, params)


def conv_transpose(r: _Reader, n: Any, a: dict[str, Any]) -> Layer:
    """torch's ConvTranspose2d: weights [in, out / groups, k...], pads given (an
    output_shape or auto_pad SAME leaves the pads to the input size)."""
    x = list(n.input)
    w = r.need(n, x[1])
    if a.get("output_shape") or str(a.get("auto_pad", "")).startswith("SAME"):
        raise r.fail(n, "output_shape or auto_pad SAME: netdsl's conv_transpose takes "
                     "its pads")
    group, k = int(a.get("group", 1)), [int(v) for v in w.shape[2:]]
    args = [str(int(w.shape[1]) * group), _ints(k)]
    args += _window(a, list(a.get("pads", [0] * (2 * len(k)))))
    if any(a.get("output_padding", [])):
        args.append(f"output_pad: {_ints(a['output_padding'])}")
    args += [f"groups: {group}"] if group != 1 else []
    params = {"weight": w}
    if len(x) > 2 and x[2]:
        params["bias"] = r.need(n, x[2])
    else:
        args.append("bias: false")
    return Layer("conv_transpose", f"conv_transpose({', '.join(args)})", x[:1],
                 n.output[0], _prefix(x[1]) or n.name, params)


def gemm(r: _Reader, n: Any, a: dict[str, Any]) -> Layer:
    x = list(n.input)
    if a.get("transA", 0) or float(a.get("alpha", 1.0)) != 1.0 or (
            float(a.get("beta", 1.0)) != 1.0 and len(x) > 2):
        raise r.fail(n, "Gemm with transA, alpha or beta: only x @ W^T + b is dense")
    w = r.need(n, x[1])
    w = w if a.get("transB", 0) else w.T
    params = {"weight": w}
    call = f"dense({w.shape[0]})"
    if len(x) > 2 and x[2]:
        c = r.need(n, x[2])
        try:  # NOTE: C broadcasts over the rows (the batch): [], [out], [1, out] do
            params["bias"] = np.broadcast_to(c, (1, w.shape[0]))[0]
        except ValueError:
            raise r.fail(n, f"a bias of shape {list(c.shape)}: dense adds one per "
                         "output") from None
    else:
        call = f"dense({w.shape[0]}, bias: false)"
    return Layer("dense", call, x[:1], n.output[0], _prefix(x[1]) or n.name, params)


def layer_norm(r: _Reader, n: Any, a: dict[str, Any]) -> Layer:
    """layer_norm over the last axis (torch's LayerNorm(d)); no bias is one of zeros."""
    x, rank = list(n.input), r.rank(n.input[0])
    axis = int(a.get("axis", -1))
    if rank is None or axis % rank != rank - 1:
        raise r.fail(n, f"axis {axis} of a rank {rank if rank else '?'} input normalizes "
                     f"over the axes from {axis} on: netdsl's layer_norm normalizes over "
                     "one axis")
    w = r.need(n, x[1])
    b = r.need(n, x[2]) if len(x) > 2 and x[2] else np.zeros_like(w)
    eps = np.float32(a.get("epsilon", 1e-5))
    shown = _num(float(str(eps)))  # NOTE: as float32 writes it: 1e-06, not 9.99999997e-07
    call = "layer_norm" if eps == np.float32(1e-5) else f"layer_norm(eps: {shown})"
    return Layer("layer_norm", call, x[:1], n.output[0], _prefix(x[1]) or n.name,
                 {"weight": np.ravel(w), "bias": np.ravel(b)})


def matmul(r: _Reader, n: Any) -> Layer:
    """x @ W, W a weight [in, out]: dense(out), and the Add of a bias after it (torch's
    Linear on [N, ..., C], which its legacy exporter writes so) its bias; x @ y of two
    tensors: matmul."""
    x, out = list(n.input), n.output[0]
    w = r.const(x[1])
    if r.const(x[0]) is not None:
        raise r.fail(n, "a constant left operand: dense is x @ W, a weight on the right")
    if w is None:
        return Layer("matmul", "matmul({})", x, out, n.name)
    if w.ndim != 2:
        raise r.fail(n, f"a weight of shape {list(w.shape)}: dense's is [in, out]")
    params, hint = {"weight": np.ascontiguousarray(w.T)}, n.name
    users = r.users.get(out, [])
    add = users[0] if len(users) == 1 and users[0].op_type == "Add" else None
    b = next((r.const(i) for i in add.input if i != out), None) if add else None
    if add is not None and b is not None and out not in r.outputs and (
            b.size == w.shape[1] and b.shape[-1:] == (w.shape[1],)):
        params["bias"] = np.ravel(b)
        hint = _prefix(next(i for i in add.input if i != out)) or n.name
        r.folded.add(add.output[0])
        out = add.output[0]
    call = f"dense({w.shape[1]})" if "bias" in params else f"dense({w.shape[1]}, bias: false)"
    return Layer("dense", call, x[:1], out, hint, params)


def pool(r: _Reader, n: Any, a: dict[str, Any]) -> Layer:
    k = [int(v) for v in a["kernel_shape"]]
    _not_same_lower(r, n, a, k)
    pads = list(a.get("pads", [0] * (2 * len(k))))
    name = "maxpool" if n.op_type == "MaxPool" else "avgpool"
    args = [_ints(k), f"stride: {_ints(a.get('strides', [1] * len(k)))}"]
    args += _window({"auto_pad": a.get("auto_pad"), "dilations": a.get("dilations")}, pads)
    if a.get("ceil_mode", 0):
        args.append("ceil: true")
    same = str(a.get("auto_pad", "")).startswith("SAME")
    if name == "avgpool" and (any(pads) or same) and not a.get("count_include_pad", 0):
        args.append("count_include_pad: false")
    return Layer(name, f"{name}({', '.join(args)})", [n.input[0]], n.output[0], n.name)


def unpool(r: _Reader, n: Any, a: dict[str, Any]) -> Layer:
    """MaxUnpool of a max pool's indices: `maxunpool(k, stride: s, pad: p, indices: idx)`;
    an output_shape input that is a tensor's Shape (netdsl's lowering where sizes vary) is
    `like:` that tensor."""
    k = [int(v) for v in a["kernel_shape"]]
    pads = [int(v) for v in a.get("pads", [0] * (2 * len(k)))]
    like = next((m.input[0] for m in r.g.node if len(n.input) > 2 and n.input[2] and
                 m.output[0] == n.input[2] and m.op_type == "Shape" and not m.attribute), "")
    if len(n.input) > 2 and n.input[2] and not like:
        raise r.fail(n, "an output_shape input: netdsl's maxunpool is sized by its kernel, "
                     "stride and pad (or `like:` a tensor)")
    if pads[:len(k)] != pads[len(k):]:
        raise r.fail(n, f"pads {pads} differ at the ends: netdsl's maxunpool pads alike")
    args = [_ints(k), f"stride: {_ints(a.get('strides', [1] * len(k)))}"]
    args += [f"pad: {_ints(pads[:len(k)])}"] if any(pads) else []
    args += ["indices: {}"] + (["like: {}"] if like else [])
    return Layer("maxunpool", f"maxunpool({', '.join(args)})",
                 [*n.input[:2]] + ([like] if like else []), n.output[0], n.name)


def twins(nodes: Any, users: dict[str, list[Any]], used: set[str]) -> dict[str, Any]:
    """netdsl's lowering of `maxpool(..., indices: true)`: a MaxPool of the values and, beside
    it, one alike of the same input whose indices alone are read; the second by the first's
    output."""
    out = {}
    for m in nodes:
        if m.op_type != "MaxPool" or len(m.output) < 2 or m.output[0] in used or (
                m.output[1] not in used):
            continue
        attrs = export.attributes(m)
        plain = next((p for p in users.get(m.input[0], []) if p is not m and p.op_type ==
                      "MaxPool" and p.output[0] not in out and export.attributes(p) == attrs
                      and all(o not in used for o in p.output[1:])), None)
        if plain is not None:
            out[plain.output[0]] = m
    return out
