"""Pooling: max and average over a window, and their global forms."""

from __future__ import annotations

from dataclasses import dataclass

from netdsl.ops import register
from netdsl.ops.base import (GLOBAL, Emitter, Op, OpError, Shape, Value, Window, check_positive,
                             expect_rank, per_axis, resolve_pads, size_formula, sliding, window_out)
from netdsl.ops.conv import axis_names
from netdsl.ops.types import Ints, Pad


@dataclass(frozen=True, slots=True)
class _Pool(Op):
    kernel: Ints
    stride: Ints | None = None  # defaults to the kernel
    pad: Pad = 0
    dilation: Ints = 1
    ceil: bool = False
    floor: bool | None = None

    mac_rule = "C x Hout x Wout x Kh x Kw: one compare (max) or add (average) per window element"

    def validate(self) -> None:
        check_positive(self, "kernel", "dilation")
        if self.stride is not None:
            check_positive(self, "stride")
        if not isinstance(self.pad, str):
            check_positive(self, "pad", allow_zero=("pad",))

    def _geometry(self, x: Shape) -> tuple[tuple[int, ...], ...]:
        expect_rank(x, (3, 4, 5), "[N, C, spatial...]")
        n = len(x) - 2
        k = per_axis(self.kernel, n, "kernel")
        s = per_axis(self.stride if self.stride is not None else self.kernel, n, "stride")
        d = per_axis(self.dilation, n, "dilation")
        pb, pe = resolve_pads(self.pad, [int(v) for v in x[2:]], k, s, d)
        for i in range(n):
            if max(pb[i], pe[i]) > k[i] // 2:
                raise OpError(f"pad {max(pb[i], pe[i])} is more than half the kernel {k[i]}: "
                              "some windows would see only padding",
                              at="pad", code="E206")
        return k, s, d, pb, pe

    def output_shape(self, *xs: Shape) -> Shape:
        x = xs[0]
        k, s, d, pb, pe = self._geometry(x)
        names = axis_names(len(k))
        sizes = tuple(window_out(int(x[2 + i]), k[i], s[i], pb[i], pe[i], d[i],
                                 floor=bool(self.floor), ceil=self.ceil, axis=names[i])
                      for i in range(len(k)))
        return (x[0], x[1], *sizes)

    def mac_terms(self, y: Shape, *xs: Shape) -> tuple[int, ...]:
        return (*(int(v) for v in y[1:]), *self._geometry(xs[0])[0])

    def window(self, *xs: Shape) -> Window:
        k, s, d, pb, _ = self._geometry(xs[0])
        return sliding(k, s, d, pb)

    def arithmetic(self, y: Shape, *xs: Shape) -> list[str]:
        k, s, d, pb, pe = self._geometry(xs[0])
        lines = []
        for i, name in enumerate(axis_names(len(k))):
            n, out = int(xs[0][2 + i]), int(y[2 + i])
            text = size_formula(n, k[i], s[i], pb[i], pe[i], d[i], out,
                                "ceil" if self.ceil else "floor")
            if self.ceil and -(-(n + pb[i] + pe[i] - d[i] * (k[i] - 1) - 1) // s[i]) + 1 > out:
                text += " (one fewer: the last window would start in the end padding)"
            lines.append(f"{name}: {text}")
        return lines

    def _attrs(self, x: Shape) -> dict[str, object]:
        k, s, d, pb, pe = self._geometry(x)
        attrs: dict[str, object] = dict(kernel_shape=list(k), strides=list(s), pads=[*pb, *pe],
                                        ceil_mode=int(self.ceil))
        if any(v != 1 for v in d):
            attrs["dilations"] = list(d)
        return attrs


@register
@dataclass(frozen=True, slots=True)
class MaxPool(_Pool):
    """Max pooling; stride defaults to the kernel."""

    name = "maxpool"
    summary = ("max pooling: maxpool(kernel, stride: kernel, pad: 0, dilation: 1, ceil: false, "
               "floor: false)")

    def to_onnx(self, emit: Emitter, y: Value, *xs: Value) -> str:
        return emit.node("MaxPool", [xs[0].name], **self._attrs(xs[0].shape))


@register
@dataclass(frozen=True, slots=True)
class AvgPool(_Pool):
    """Average pooling; with count_include_pad (default true, as PyTorch) the padded zeros count
    in the mean."""

    name = "avgpool"
    summary = ("average pooling: avgpool(kernel, stride: kernel, pad: 0, ceil: false, "
               "count_include_pad: true, floor: false)")

    count_include_pad: bool = True

    def validate(self) -> None:
        _Pool.validate(self)
        dil = (self.dilation,) if isinstance(self.dilation, int) else self.dilation
        if any(v != 1 for v in dil):
            raise OpError("average pooling takes no dilation", at="dilation", code="E206")

    def to_onnx(self, emit: Emitter, y: Value, *xs: Value) -> str:
        attrs = self._attrs(xs[0].shape)
        return emit.node("AveragePool", [xs[0].name],
                         count_include_pad=int(self.count_include_pad), **attrs)


@dataclass(frozen=True, slots=True)
class _GlobalPool(Op):
    mac_rule = "C x Hin x Win: one compare (max) or add (average) per input element"

    def output_shape(self, *xs: Shape) -> Shape:
        expect_rank(xs[0], (3, 4, 5), "[N, C, spatial...]")
        return (xs[0][0], xs[0][1], *([1] * (len(xs[0]) - 2)))

    def mac_terms(self, y: Shape, *xs: Shape) -> tuple[int, ...]:
        return tuple(int(v) for v in xs[0][1:])

    def window(self, *xs: Shape) -> Window:
        return GLOBAL


@register
@dataclass(frozen=True, slots=True)
class GlobalAvgPool(_GlobalPool):
    """Mean over all spatial positions: [N, C, H, W] -> [N, C, 1, 1]."""

    name = "globalavgpool"
    summary = "global average pooling: [N, C, H, W] -> [N, C, 1, 1]"

    def to_onnx(self, emit: Emitter, y: Value, *xs: Value) -> str:
        return emit.node("GlobalAveragePool", [xs[0].name])


@register
@dataclass(frozen=True, slots=True)
class GlobalMaxPool(_GlobalPool):
    """Max over all spatial positions: [N, C, H, W] -> [N, C, 1, 1]."""

    name = "globalmaxpool"
    summary = "global max pooling: [N, C, H, W] -> [N, C, 1, 1]"

    def to_onnx(self, emit: Emitter, y: Value, *xs: Value) -> str:
        return emit.node("GlobalMaxPool", [xs[0].name])
