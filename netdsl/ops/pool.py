"""Pooling: max and average over a window, and their global forms. (Max unpooling, with the
indices `maxpool(..., indices: true)` gives it, is unpool.py's; adaptive average pooling,
adaptive.py's.)"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, ClassVar

from netdsl.ops import register
from netdsl.ops.base import (
    GLOBAL,
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
    expect_rank,
    pinned,
    sliding,
)
from netdsl.ops.geometry import (
    Geometry,
    rounds_down,
    same_pads_vary,
    size_formula,
    window_geometry,
    window_kernel,
    window_out,
    window_sizes,
)
from netdsl.ops.signature import argument, network_option
from netdsl.ops.types import Ints, Pad
from netdsl.record import record


@record
class _Pool(Op):
    """A window slid over the spatial axes (maxpool, avgpool): kernel, stride, pad, dilation."""

    positional: ClassVar[tuple[str, ...]] = ("kernel", "stride", "pad", "dilation", "ceil", "floor")

    kernel: Ints
    stride: Ints | None = argument(None, shown="kernel")  # defaults to the kernel
    pad: Pad = 0
    dilation: Ints = 1
    ceil: bool = False
    floor: bool | None = network_option("floor", shown="false")

    def validate(self) -> None:
        check_positive(self, "kernel", "dilation")
        if self.stride is not None:
            check_positive(self, "stride")
        if not isinstance(self.pad, str):
            check_positive(self, "pad", allow_zero=("pad",))

    def _geometry(self, x: Shape) -> Geometry:
        stride = self.stride if self.stride is not None else self.kernel
        g = window_geometry(x, self.kernel, stride, self.dilation, self.pad)
        for k, pb, pe in zip(g.kernel, g.pad_begin, g.pad_end):
            if max(pb, pe) > k // 2:
                raise OpError(f"pad {max(pb, pe)} is more than half the kernel {k}: "
                              "some windows would see only padding",
                              at="pad", code="E206")
        return g

    def output_shape(self, *xs: Shape) -> Shape:
        x = xs[0]
        k, s, d, pb, pe = self._geometry(x)
        names = axis_names(len(k))
        sizes = tuple(window_out(int(x[2 + i]), k[i], s[i], pb[i], pe[i], d[i],
                                 floor=rounds_down(self.floor, self.pad), ceil=self.ceil,
                                 axis=names[i], max_pad=k[i] // 2)
                      for i in range(len(k)))
        return (x[0], x[1], *sizes)

    def size_rule(self, dims: Sequence[Dims], shapes: Sequence[Shape]) -> tuple[Dims, Any]:
        x = dims[0]
        stride = self.stride if self.stride is not None else self.kernel
        sizes, ok = window_sizes(x, self.kernel, stride, self.dilation, self.pad,
                                 floor=rounds_down(self.floor, self.pad), ceil=self.ceil,
                                 max_pad=True)
        return (x[0], *sizes), ok

    def mac_terms(self, y: Shape, *xs: Shape) -> tuple[int, ...]:
        return (*(dim_value(v) for v in y[1:]), *window_kernel(xs[0], self.kernel))

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

    def _attrs(self, v: Value, pads: Sequence[int] | None = None) -> dict[str, object]:
        x = v.shape
        k, s, d, pb, pe = self._geometry(x)
        ceil = self.ceil
        where: dict[str, object]
        if v.spatial_varies():
            # NOTE: for every input size: ceil mode as declared (onnxruntime drops a last window
            # that would start in the end padding, as netdsl and torch do), and `pad: same` as
            # SAME_UPPER where its padding depends on the size
            where = dict(pads=[*pb, *pe])
            if same_pads_vary(self.pad, k, s, d):
                if any(n != 1 for n in d):  # NOTE: onnxruntime 1.32 computes a wrong size then
                    raise pinned("`pad: same` with a stride and a dilation pads by the input "
                                 "size, and onnxruntime's pools take SAME padding only without "
                                 "a dilation", at="pad")
                where = dict(auto_pad="SAME_UPPER")
        else:
            pb, pe, ceil = self._onnx_pads(x)
            where = dict(pads=list(pads) if pads is not None else [*pb, *pe])
        attrs: dict[str, object] = dict(kernel_shape=list(k), strides=list(s), **where,
                                        ceil_mode=int(ceil))
        if any(v != 1 for v in d):
            attrs["dilations"] = list(d)
        return attrs

    def _onnx_pads(self, x: Shape) -> tuple[tuple[int, ...], tuple[int, ...], bool]:
        """ONNX's begin and end pads and ceil mode: without ceil mode (and the end padding that
        gives its sizes) where it drops a last window on some axis."""
        _, _, _, pb, pe = self._geometry(x)
        if self.ceil:
            drops, ends = self._ceil_ends(x)
            if drops:
                return pb, ends, False
        return pb, pe, self.ceil

    def _ceil_ends(self, x: Shape) -> tuple[bool, tuple[int, ...]]:
        """Whether ceil mode drops a last window that would start in the end padding on some
        axis (netdsl, torch and onnxruntime drop it; onnx's shape inference before opset 22 does
        not), and the end padding that gives ceil mode's sizes without ceil mode: the same
        windows, the last one ending where the padding (or the overflow past it) ends."""
        k, s, d, pb, pe = self._geometry(x)
        y = self.output_shape(x)
        drops, ends = False, []
        for i in range(len(k)):
            n, out, span = int(x[2 + i]), int(y[2 + i]), d[i] * (k[i] - 1) + 1
            drops = drops or -(-(n + pb[i] + pe[i] - span) // s[i]) + 1 > out
            ends.append(max(0, (out - 1) * s[i] + span - n - pb[i]))
        return drops, tuple(ends)


@register
@record
class MaxPool(_Pool):
    """Max pooling; stride defaults to the kernel. With `indices: true` the call gives a list:
    the pooled tensor and where each maximum came from, for maxunpool (SegNet's decoder;
    nn.MaxPool2d(return_indices=True)): `p, idx = x -> maxpool(2, indices: true)`."""

    name = "maxpool"
    mac_rule = ("C x Hout x Wout x Kh x Kw: one compare per window element (with `indices: "
                "true` the indices' node counts as many again: ONNX's MaxPool computes them "
                "anew for its second output)")
    summary = "max pooling: {call}"

    indices: bool = False

    def parts(self, *xs: Shape) -> tuple[Op, ...]:
        if not self.indices:
            return ()
        from netdsl.ops.unpool import MaxPoolIndices  # NOTE: maxunpool's module, which reads them
        plain = dataclasses.replace(self, indices=False)
        return plain, MaxPoolIndices(**{f.name: getattr(plain, f.name)
                                        for f in dataclasses.fields(plain)})

    def to_onnx(self, emit: Emitter, y: Value, *xs: Value) -> str:
        return emit.node("MaxPool", [xs[0].name], **self._attrs(xs[0]))


@register
@record
class AvgPool(_Pool):
    """Average pooling; with count_include_pad (default true, as PyTorch) the padded zeros count
    in the mean."""

    name = "avgpool"
    mac_rule = "C x Hout x Wout x Kh x Kw: one add per window element (the divide is folded)"
    summary = "average pooling: {call}"
    positional = (*_Pool.positional, "count_include_pad")

    count_include_pad: bool = True

    def validate(self) -> None:
        _Pool.validate(self)
        dil = (self.dilation,) if isinstance(self.dilation, int) else self.dilation
        if any(v != 1 for v in dil):
            raise OpError("average pooling takes no dilation", at="dilation", code="E206")

    def to_onnx(self, emit: Emitter, y: Value, *xs: Value) -> str:
        x = xs[0]
        if x.spatial_varies():
            return emit.node("AveragePool", [x.name],
                             count_include_pad=int(self.count_include_pad), **self._attrs(x))
        pb, ends, _ = self._onnx_pads(x.shape)
        pe = self._geometry(x.shape).pad_end
        if not (self.count_include_pad and any(e > p for e, p in zip(ends, pe))):
            return emit.node("AveragePool", [x.name],
                             count_include_pad=int(self.count_include_pad), **self._attrs(x))
        # NOTE: windows past the end padding without ceil mode (it drops a last window on
        # another axis): torch's divisor counts the declared padding but not the overflow, so
        # the padding becomes a Pad node's zeros and the overflow pads that do not count
        padded = emit.node("Pad", [x.name, emit.const([0, 0, *pb, 0, 0, *pe])])
        overflow = [0] * len(pb) + [max(0, e - p) for e, p in zip(ends, pe)]
        return emit.node("AveragePool", [padded], count_include_pad=0,
                         **self._attrs(x, overflow))


@record
class _GlobalPool(Op):
    """One value per channel over all spatial positions (globalavgpool, globalmaxpool)."""

    def output_shape(self, *xs: Shape) -> Shape:
        expect_rank(xs[0], (3, 4, 5), "[N, C, spatial...]")
        return (xs[0][0], xs[0][1], *([1] * (len(xs[0]) - 2)))

    def size_rule(self, dims: Sequence[Dims], shapes: Sequence[Shape]) -> tuple[Dims, Any]:
        x = dims[0]
        return (x[0], *(n * 0 + 1 for n in x[1:])), True

    def mac_terms(self, y: Shape, *xs: Shape) -> tuple[int, ...]:
        return tuple(dim_value(v) for v in xs[0][1:])

    def window(self, *xs: Shape) -> Window:
        return GLOBAL


@register
@record
class GlobalAvgPool(_GlobalPool):
    """Mean over all spatial positions: [N, C, H, W] -> [N, C, 1, 1]."""

    name = "globalavgpool"
    mac_rule = "C x Hin x Win: one add per input element"
    summary = "global average pooling: [N, C, H, W] -> [N, C, 1, 1]"

    def to_onnx(self, emit: Emitter, y: Value, *xs: Value) -> str:
        return emit.node("GlobalAveragePool", [xs[0].name])


@register
@record
class GlobalMaxPool(_GlobalPool):
    """Max over all spatial positions: [N, C, H, W] -> [N, C, 1, 1]."""

    name = "globalmaxpool"
    mac_rule = "C x Hin x Win: one compare per input element"
    summary = "global max pooling: [N, C, H, W] -> [N, C, 1, 1]"

    def to_onnx(self, emit: Emitter, y: Value, *xs: Value) -> str:
        return emit.node("GlobalMaxPool", [xs[0].name])
