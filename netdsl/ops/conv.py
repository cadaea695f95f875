"""Convolutions: conv (1-D, 2-D, 3-D by input rank; groups for depthwise) and transposed conv."""

from __future__ import annotations

import math
from dataclasses import dataclass

from netdsl.ops import register
from netdsl.ops.base import (Emitter, Op, OpError, Shape, Value, Window, check_positive,
                             expect_rank, per_axis, resolve_pads, window_out)
from netdsl.ops.types import Ints, Pad, Weights

_AXES = ("height", "width")


def _axis_names(n: int) -> tuple[str, ...]:
    return ("length",) if n == 1 else _AXES if n == 2 else ("depth", "height", "width")


def _dims(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape))


def weights_array_shape(w: object) -> tuple[int, ...]:
    shape: list[int] = []
    while isinstance(w, tuple):
        shape.append(len(w))
        w = w[0]
    return tuple(shape)


@register
@dataclass(frozen=True, slots=True)
class Conv(Op):
    """Convolution over N, C and 1 to 3 spatial axes (the input's rank decides)."""

    name = "conv"
    summary = "convolution: conv(out, kernel, stride: 1, pad: 0, dilation: 1, groups: 1, bias: true)"
    mac_rule = "Cout * prod(out spatial) * (Cin / groups) * prod(kernel)"

    out: int
    kernel: Ints
    stride: Ints = 1
    pad: Pad = 0
    dilation: Ints = 1
    groups: int = 1
    bias: bool = True
    weights: Weights | None = None
    floor: bool | None = None

    def validate(self) -> None:
        check_positive(self, "out", "kernel", "stride", "dilation", "groups")
        if not isinstance(self.pad, str):
            check_positive(self, "pad", allow_zero=("pad",))
        if self.out % self.groups:
            raise OpError(f"out {self.out} does not split into groups {self.groups}", at="groups",
                          code="E206")

    def _geometry(self, x: Shape) -> tuple[tuple[int, ...], ...]:
        expect_rank(x, (3, 4, 5), "[N, C, spatial...]")
        n = len(x) - 2
        k = per_axis(self.kernel, n, "kernel")
        s = per_axis(self.stride, n, "stride")
        d = per_axis(self.dilation, n, "dilation")
        pb, pe = resolve_pads(self.pad, [int(v) for v in x[2:]], k, s, d)
        return k, s, d, pb, pe

    def output_shape(self, *xs: Shape) -> Shape:
        x = xs[0]
        k, s, d, pb, pe = self._geometry(x)
        c = int(x[1])
        if c % self.groups:
            raise OpError(f"{c} input channels do not split into groups {self.groups}", at="groups")
        if self.weights is not None:
            self._check_weights(c, k)
        names = _axis_names(len(k))
        sizes = tuple(window_out(int(x[2 + i]), k[i], s[i], pb[i], pe[i], d[i],
                                 floor=bool(self.floor), axis=names[i]) for i in range(len(k)))
        return (x[0], self.out, *sizes)

    def _check_weights(self, c: int, k: tuple[int, ...]) -> None:
        got = weights_array_shape(self.weights)
        full = (self.out, c // self.groups, *k)
        if got != k and got != full:
            raise OpError(f"the fixed weights are {_dims(got)}, but this layer needs {_dims(k)} "
                          f"(one kernel for every channel pair) or {_dims(full)}",
                          at="weights", code="E206")

    def param_shapes(self, *xs: Shape) -> dict[str, tuple[int, ...]]:
        k = self._geometry(xs[0])[0]
        p = {"weight": (self.out, int(xs[0][1]) // self.groups, *k)}
        if self.bias:
            p["bias"] = (self.out,)
        return p

    def mac_count(self, y: Shape, *xs: Shape) -> int:
        k = self._geometry(xs[0])[0]
        return math.prod(int(v) for v in y[1:]) * (int(xs[0][1]) // self.groups) * math.prod(k)

    def window(self, *xs: Shape) -> Window:
        k, s, d, pb, _ = self._geometry(xs[0])
        return Window("local", k, s, d, pb)

    def to_onnx(self, emit: Emitter, y: Value, *xs: Value) -> str:
        k, s, d, pb, pe = self._geometry(xs[0].shape)
        shapes = self.param_shapes(xs[0].shape)
        if self.weights is not None:
            w = emit.weight("weight", shapes["weight"], "fixed", self.weights)
        else:
            w = emit.weight("weight", shapes["weight"], "he_out")
        b = [emit.weight("bias", shapes["bias"], "zeros")] if self.bias else []
        return emit.node("Conv", [xs[0].name, w, *b], kernel_shape=list(k), strides=list(s),
                         pads=[*pb, *pe], dilations=list(d), group=self.groups)


@register
@dataclass(frozen=True, slots=True)
class ConvTranspose(Op):
    """Transposed convolution (never "deconvolution"): the gradient of conv, used to upsample."""

    name = "conv_transpose"
    summary = ("transposed convolution: conv_transpose(out, kernel, stride: 1, pad: 0, "
               "output_pad: 0, dilation: 1, groups: 1, bias: true)")
    mac_rule = "Cin * prod(in spatial) * (Cout / groups) * prod(kernel)"

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
        if self.out % self.groups:
            raise OpError(f"out {self.out} does not split into groups {self.groups}", at="groups",
                          code="E206")

    def _geometry(self, x: Shape) -> tuple[tuple[int, ...], ...]:
        expect_rank(x, (3, 4, 5), "[N, C, spatial...]")
        n = len(x) - 2
        k = per_axis(self.kernel, n, "kernel")
        s = per_axis(self.stride, n, "stride")
        d = per_axis(self.dilation, n, "dilation")
        pb, pe = resolve_pads(self.pad, [int(v) for v in x[2:]], k, s, d)
        op = per_axis(self.output_pad, n, "output_pad")
        for i in range(n):
            if op[i] >= max(s[i], d[i]):
                raise OpError(f"output_pad {op[i]} must be smaller than the stride or dilation",
                              at="output_pad", code="E206")
        return k, s, d, pb, pe, op

    def output_shape(self, *xs: Shape) -> Shape:
        x = xs[0]
        k, s, d, pb, pe, op = self._geometry(x)
        if int(x[1]) % self.groups:
            raise OpError(f"{x[1]} input channels do not split into groups {self.groups}",
                          at="groups")
        sizes = []
        for i in range(len(k)):
            n = (int(x[2 + i]) - 1) * s[i] - pb[i] - pe[i] + d[i] * (k[i] - 1) + op[i] + 1
            if n <= 0:
                raise OpError(f"the output would be {n} wide: the padding removes everything",
                              at="pad")
            sizes.append(n)
        return (x[0], self.out, *sizes)

    def param_shapes(self, *xs: Shape) -> dict[str, tuple[int, ...]]:
        k = self._geometry(xs[0])[0]
        p = {"weight": (int(xs[0][1]), self.out // self.groups, *k)}
        if self.bias:
            p["bias"] = (self.out,)
        return p

    def mac_count(self, y: Shape, *xs: Shape) -> int:
        k = self._geometry(xs[0])[0]
        return math.prod(int(v) for v in xs[0][1:]) * (self.out // self.groups) * math.prod(k)

    def window(self, *xs: Shape) -> Window:
        k, s, d, pb, _, _ = self._geometry(xs[0])
        return Window("upsample", k, s, d, pb, tuple(float(v) for v in s))

    def to_onnx(self, emit: Emitter, y: Value, *xs: Value) -> str:
        k, s, d, pb, pe, op = self._geometry(xs[0].shape)
        shapes = self.param_shapes(xs[0].shape)
        w = emit.weight("weight", shapes["weight"], "he_out")
        b = [emit.weight("bias", shapes["bias"], "zeros")] if self.bias else []
        return emit.node("ConvTranspose", [xs[0].name, w, *b], kernel_shape=list(k),
                         strides=list(s), pads=[*pb, *pe], dilations=list(d), group=self.groups,
                         output_padding=list(op))
