"""Transposed convolution (conv_transpose): the gradient of conv, used to upsample."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from netdsl.ops import register
from netdsl.ops.base import (
    Dims,
    Emitter,
    Op,
    OpError,
    Shape,
    Value,
    Window,
    axis_names,
    check_positive,
    dim_value,
    per_axis,
    require_fixed,
)
from netdsl.ops.conv import check_groups, check_input_groups
from netdsl.ops.geometry import window_geometry, window_kernel
from netdsl.ops.types import Ints
from netdsl.record import record


@register
@record
class ConvTranspose(Op):
    """Transposed convolution (never "deconvolution"): the gradient of conv, used to upsample.
    Per axis out = (N - 1)*S - P_begin - P_end + D(F - 1) + output_pad + 1, output_pad below
    the stride (onnxruntime's rule; torch allows it below the dilation too)."""

    name = "conv_transpose"
    summary = "transposed convolution: {call}"
    positional = ("out", "kernel", "stride", "pad", "output_pad", "dilation", "groups", "bias")
    mac_rule = "Cin x Hin x Win x (Cout / groups) x Kh x Kw: every input scattered by the kernel"

    out: int
    kernel: Ints
    stride: Ints = 1
    pad: Ints = 0
    output_pad: Ints = 0
    dilation: Ints = 1
    groups: int = 1
    bias: bool = True

    def validate(self) -> None:
        check_positive(self, "out", "kernel", "stride", "dilation", "groups")
        check_positive(self, "pad", "output_pad", allow_zero=("pad", "output_pad"))
        check_groups(self.out, self.groups)

    def _geometry(self, x: Shape) -> tuple[tuple[int, ...], ...]:
        k, s, d, pb, pe = window_geometry(x, self.kernel, self.stride, self.dilation, self.pad)
        n = len(k)
        op = per_axis(self.output_pad, n, "output_pad")
        for i in range(n):
            if op[i] >= s[i]:  # NOTE: torch allows below the dilation too; onnxruntime not
                raise OpError(f"output_pad {op[i]} must be smaller than the stride {s[i]}: "
                              "onnxruntime refuses more", at="output_pad", code="E206",
                              hint=_less_end_padding(pb, pe, op))
        return k, s, d, pb, pe, op

    def _sizes(self, x: Shape) -> list[tuple[str, int]]:
        k, s, d, pb, pe, op = self._geometry(x)
        out = []
        for i in range(len(k)):
            n = int(x[2 + i])
            pads = f"2*{pb[i]}" if pb[i] == pe[i] else f"({pb[i]} + {pe[i]})"
            dil = f"{d[i]}*" if d[i] > 1 else ""
            size = (n - 1) * s[i] - pb[i] - pe[i] + d[i] * (k[i] - 1) + op[i] + 1
            out.append((f"({n} - 1)*{s[i]} - {pads} + {dil}({k[i]} - 1) + {op[i]} + 1", size))
        return out

    def output_shape(self, *xs: Shape) -> Shape:
        x = xs[0]
        check_input_groups(x, self.groups)
        sizes = []
        for formula, size in self._sizes(x):
            if size <= 0:
                raise OpError(f"the output would be {formula} = {size} wide: the padding "
                              "removes everything", at="pad")
            sizes.append(size)
        return (x[0], self.out, *sizes)

    def size_rule(self, dims: Sequence[Dims], shapes: Sequence[Shape]) -> tuple[Dims, Any]:
        x = dims[0]
        k, s, d, pb, pe, op = self._geometry(shapes[0])
        sizes = [(n - 1) * s[i] - pb[i] - pe[i] + d[i] * (k[i] - 1) + op[i] + 1
                 for i, n in enumerate(x[1:])]
        ok = x[0] == int(shapes[0][1])  # the weights are sized by the declared channels
        for v in sizes:
            ok = ok & (v > 0)
        return (x[0] * 0 + self.out, *sizes), ok

    def param_shapes(self, *xs: Shape) -> dict[str, tuple[int, ...]]:
        k = window_kernel(xs[0], self.kernel)
        p = {"weight": (int(xs[0][1]), self.out // self.groups, *k)}
        if self.bias:
            p["bias"] = (self.out,)
        return p

    def mac_terms(self, y: Shape, *xs: Shape) -> tuple[int, ...]:
        k = window_kernel(xs[0], self.kernel)
        return (*(dim_value(v) for v in xs[0][1:]), self.out // self.groups, *k)

    def window(self, *xs: Shape) -> Window:
        # Output o reads the inputs i with i*S - P_begin + t*D = o (0 <= t < F): at most
        # floor(D(F - 1)/S) + 1 of them, centred on average on (o + P_begin - D(F - 1)/2)/S.
        k, s, d, pb = self._geometry(xs[0])[:4]
        return Window("local", tuple(di * (ki - 1) // si + 1 for ki, si, di in zip(k, s, d)),
                      tuple(1 / si for si in s),
                      tuple((p - di * (ki - 1) / 2) / si for ki, si, di, p in zip(k, s, d, pb)))

    def arithmetic(self, y: Shape, *xs: Shape) -> list[str]:
        names = axis_names(len(xs[0]) - 2)
        return [f"{name}: {formula} = {size}"
                for name, (formula, size) in zip(names, self._sizes(xs[0]))]

    def to_onnx(self, emit: Emitter, y: Value, *xs: Value) -> str:
        k, s, d, pb, pe, op = self._geometry(xs[0].shape)
        shapes = self.param_shapes(xs[0].shape)
        require_fixed(xs[0], [1], f"its weights are sized by the {xs[0].shape[1]} input "
                      "channels, which vary with the input size")
        w = emit.weight("weight", shapes["weight"], "he_out")
        b = [emit.weight("bias", shapes["bias"], "zeros")] if self.bias else []
        attrs: dict[str, Any] = dict(kernel_shape=list(k), strides=list(s), pads=[*pb, *pe],
                                     dilations=list(d), group=self.groups,
                                     output_padding=list(op))
        return emit.node("ConvTranspose", [xs[0].name, w, *b], **attrs)


def _less_end_padding(pb: Sequence[int], pe: Sequence[int], op: Sequence[int]) -> str:
    """The same output without output_pad, where the end padding is at least output_pad: it
    only keeps rows that the end padding would remove."""
    if any(e < o for e, o in zip(pe, op)):
        return ("output_pad keeps rows that the end padding would remove: less padding at "
                "the end does the same (`pad:` takes the begins, then the ends)")
    ends = [e - o for e, o in zip(pe, op)]
    return f"the same output: `pad: {list(pb) + ends}` without output_pad"
