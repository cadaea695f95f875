"""Sliding-window arithmetic (ops stage, pure): a window's numbers over an input shape → output
sizes, padding and the messages about them. Shared by conv, conv_transpose, pooling and
unpooling: the geometry (kernel, stride, dilation, padding per axis), `pad: same` (resolved, and
as ONNX nodes where it varies), output sizes one at a time (window_out, with E301/E302 and the
fixes their hints name) or over many sizes at once (window_sizes, for netdsl sizes), and explain's
formula. The receptive-field Window that an op's window() returns stays in ops/base.py."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

from netdsl.ops.base import Dims, Emitter, OpError, Shape, Value, dim_value, expect_rank, per_axis


class Geometry(NamedTuple):
    """A sliding window's numbers per spatial axis (conv, transposed conv, pooling)."""

    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    pad_begin: tuple[int, ...]
    pad_end: tuple[int, ...]


def window_geometry(x: Shape, kernel: int | Sequence[int], stride: int | Sequence[int],
                    dilation: int | Sequence[int], pad: Any) -> Geometry:
    """The window of a layer over the input x [N, C, spatial...]: each argument expanded to the
    spatial axes, the padding resolved (`same` needs the input's sizes)."""
    expect_rank(x, (3, 4, 5), "[N, C, spatial...]")
    n = len(x) - 2
    k = per_axis(kernel, n, "kernel")
    s = per_axis(stride, n, "stride")
    d = per_axis(dilation, n, "dilation")
    pb, pe = resolve_pads(pad, [dim_value(v) for v in x[2:]], k, s, d)
    return Geometry(k, s, d, pb, pe)


def window_kernel(x: Shape, kernel: int | Sequence[int]) -> tuple[int, ...]:
    """The kernel per spatial axis of x [N, C, spatial...]: all that weights and MACs need of the
    window (unlike window_geometry, no padding, so no input sizes: `same` stays a formula)."""
    return per_axis(kernel, len(x) - 2, "kernel")


def resolve_pads(pad: Any, sizes: Sequence[int], kernel: Sequence[int], stride: Sequence[int],
                 dilation: Sequence[int]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Padding per axis as (begins, ends). `same` follows ONNX SAME_UPPER (TensorFlow): the output
    is ceil(n / stride), and when the total padding is odd the extra row goes at the end."""
    n = len(sizes)
    if pad == "valid":
        return (0,) * n, (0,) * n
    if pad == "same":
        begins, ends = [], []
        for size, k, s, d in zip(sizes, kernel, stride, dilation):
            total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
            begins.append(total // 2)
            ends.append(total - total // 2)
        return tuple(begins), tuple(ends)
    if isinstance(pad, int):
        return (pad,) * n, (pad,) * n
    pad = [int(p) for p in pad]
    if len(pad) == 1:
        return (pad[0],) * n, (pad[0],) * n
    if len(pad) == n:
        return tuple(pad), tuple(pad)
    if len(pad) == 2 * n:
        return tuple(pad[:n]), tuple(pad[n:])
    raise OpError(f"pad has {len(pad)} values; give 1, {n} (per axis) or {2 * n} "
                  f"(begins then ends) for {n} spatial axes", at="pad", code="E206")


def same_pads_vary(pad: Any, kernel: Sequence[int], stride: Sequence[int],
                   dilation: Sequence[int]) -> bool:
    """Whether `pad: same` pads differently at different input sizes (a stride above 1: the
    total padding depends on N mod S); a model for every size then writes auto_pad SAME_UPPER,
    whose rule resolve_pads follows."""
    if pad != "same":
        return False
    pads = {resolve_pads(pad, [n] * len(kernel), kernel, stride, dilation)
            for n in range(1, max(stride) + 1)}
    return len(pads) > 1


def same_pads(emit: Emitter, x: Value, kernel: Sequence[int], stride: Sequence[int],
              dilation: Sequence[int]) -> str:
    """`pad: same`'s padding of x computed at run time (resolve_pads' rule), as the pads input
    of an ONNX Pad: for a window with a dilation, where onnxruntime takes no auto_pad."""
    begins, ends = [], []
    for axis, (k, s, d) in enumerate(zip(kernel, stride, dilation), 2):
        n = emit.node("Shape", [x.name], start=axis, end=axis + 1)
        out = emit.node("Div", [emit.node("Add", [n, emit.const([s - 1])]), emit.const([s])])
        total = emit.node("Sub", [emit.node("Mul", [out, emit.const([s])]), n])
        total = emit.node("Max", [emit.node("Add", [total, emit.const([d * (k - 1) + 1 - s])]),
                                  emit.const([0])])
        begins.append(emit.node("Div", [total, emit.const([2])]))
        ends.append(emit.node("Sub", [total, begins[-1]]))
    zeros = emit.const([0, 0])
    return emit.node("Concat", [zeros, *begins, zeros, *ends], axis=0)


def rounds_down(floor: bool | None, pad: Any) -> bool:
    """Whether a sliding window rounds its output size down: when asked (`floor: true`, or the
    network's `option floor: true`), or with `pad: same`, whose output is ceil(N / S) even where
    a kernel smaller than the stride leaves the division fractional (N = 74, F = 1, S = 2: 37)."""
    return bool(floor) or pad == "same"


def window_out(size: int, k: int, s: int, pb: int, pe: int, d: int = 1, *, floor: bool = False,
               ceil: bool = False, axis: str = "", max_pad: int | None = None) -> int:
    """out = floor((N + P_begin + P_end - D(F - 1) - 1) / S) + 1; strict unless floor or ceil.

    With D = 1 and symmetric padding this is the lecture's (N - F + 2P)/S + 1. `max_pad` bounds
    the padding a fix may suggest (pools: half the kernel).
    """
    span = d * (k - 1) + 1
    num = size + pb + pe - span
    if num < 0:
        dilated = "dilated " if d > 1 else ""
        where = _input_text(axis, size) + _pad_text(pb, pe)
        raise OpError(f"{where} is smaller than the {dilated}window {span}: "
                      f"{_formula(size, k, s, pb, pe, d)} = {_decimal(num / s + 1)}, not a "
                      "positive size",
                      code="E301", at="kernel",
                      hint="use a smaller kernel, more padding, or a larger input")
    if ceil:
        out = -(-num // s) + 1
        # ONNX/PyTorch: the last window must start inside the input or the begin padding
        if (out - 1) * s >= size + pb:
            out -= 1
        return out
    if num % s and not floor:
        formula = _formula(size, k, s, pb, pe, d)
        fixes = _fixes(size, k, s, pb, pe, d, max_pad)
        same = f"`pad: same` gives ceil({size}/{s}) = {-(-size // s)}"
        rounding = f"pass `floor: true` to round down to {num // s + 1}"
        where = _input_text(axis, size)
        raise OpError(f"stride {s} does not tile {where}: {formula} = {num / s + 1:.2f}: "
                      "fractions are illegal", code="E302", at="stride",
                      hint="; ".join(h for h in (fixes, same) if h) + f"; or {rounding}")
    return num // s + 1


def _decimal(value: float) -> str:
    """-7991 as such (`:.3g` wrote -7.99e+03), a fraction to two places as E302 writes it."""
    return str(int(value)) if value == int(value) else f"{value:.2f}"


def window_sizes(x: Dims, kernel: int | Sequence[int], stride: int | Sequence[int],
                 dilation: int | Sequence[int], pad: Any, *, floor: bool, ceil: bool = False,
                 max_pad: bool = False) -> tuple[list[Any], Any]:
    """window_out over arrays: the spatial sizes of a sliding window's output from the input's
    non-batch sizes x ([C, spatial...]), and the mask of the sizes it accepts (no window larger
    than the padded input; exact unless floor or ceil). `same` padding is resolved per size;
    `max_pad`: padding above half the kernel is refused (pools)."""
    n = len(x) - 1
    k, s, d = (per_axis(v, n, w) for v, w in ((kernel, "kernel"), (stride, "stride"),
                                              (dilation, "dilation")))
    outs, ok = [], True
    for i, size in enumerate(x[1:]):
        span = d[i] * (k[i] - 1) + 1
        if pad == "same":
            total = _maximum((-(-size // s[i]) - 1) * s[i] + span - size, 0)
            pb, pe = total // 2, total - total // 2
        else:
            begins, ends = resolve_pads(pad, [0] * n, k, s, d)
            pb, pe = begins[i], ends[i]
        if max_pad:
            ok = ok & (pb <= k[i] // 2) & (pe <= k[i] // 2)
        num = size + pb + pe - span
        ok = ok & (num >= 0)
        if ceil:
            out = -(-num // s[i]) + 1
            out = out - ((out - 1) * s[i] >= size + pb)  # the last window starts inside
        else:
            out = num // s[i] + 1
            if not floor:
                ok = ok & (num % s[i] == 0)
        outs.append(out)
    return outs, ok


def _maximum(a: Any, b: Any) -> Any:
    """numpy's maximum, or on symbolic sizes (anysize.py) symbolic.maximum."""
    from netdsl import symbolic  # NOTE: lazily, as only size sweeps and anysize.py come here
    return symbolic.maximum(a, b) if isinstance(a, symbolic.Expr) else _np().maximum(a, b)


def _np() -> Any:
    # NOTE: imported on first use: only `netdsl sizes` and the E302 hint sweep arrays.
    import numpy
    return numpy


def size_formula(size: int, k: int, s: int, pb: int, pe: int, d: int, out: int,
                 rounded: str = "floor") -> str:
    """`floor((224 - 7 + 2*3)/2) + 1 = 112`: the output-size rule with one axis's numbers."""
    return f"{rounded}({_fraction(size, k, s, pb, pe, d)}) + 1 = {out}"


def _input_text(axis: str, size: int) -> str:
    """`the input height 7`: what window_out's messages call the size (made only for one)."""
    return f"the input {axis} {size}" if axis else f"the input size {size}"


def _pad_text(pb: int, pe: int) -> str:
    return f" (padded {pb}+{pe})" if pb or pe else ""


def _fraction(size: int, k: int, s: int, pb: int, pe: int, d: int) -> str:
    f = f"({d}*({k} - 1) + 1)" if d > 1 else str(k)
    p = f"2*{pb}" if pb == pe else f"{pb} + {pe}"
    return f"({size} - {f} + {p})/{s}"


def _formula(size: int, k: int, s: int, pb: int, pe: int, d: int) -> str:
    return _fraction(size, k, s, pb, pe, d) + " + 1"


_TRIES = 10_000  # candidates a fix hint tries


def _fixes(size: int, k: int, s: int, pb: int, pe: int, d: int, max_pad: int | None) -> str:
    """The nearest symmetric padding (up to max_pad) and the nearest smaller stride that tile the
    input."""
    span = d * (k - 1) + 1
    out = []
    # NOTE: each search tries at most _TRIES candidates: a stride of 10**12 must not loop
    if pb == pe:
        top = pb + s if max_pad is None else min(pb + s, max_pad)
        for p in range(pb + 1, min(top, pb + _TRIES) + 1):
            if (size + 2 * p - span) % s == 0:
                out.append(f"pad {p}")
                break
    num = size + pb + pe - span  # a stride above it divides it only when it is 0
    top = s - 1 if num == 0 else min(s - 1, num)
    for s2 in range(top, max(top - _TRIES, 0), -1):
        if num % s2 == 0:
            out.append(f"stride {s2}")
            break
    return " or ".join(out) + " gives a whole size" if out else ""
