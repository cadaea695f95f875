"""Upsampling by interpolation (nearest, bilinear, bicubic), as torch.nn.functional.interpolate."""

from __future__ import annotations

import math
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
    dim_value,
    expect_rank,
    fmt_shape,
    per_axis,
)
from netdsl.ops.signature import argument, tensor_input
from netdsl.ops.types import Floats, Ints, Tensor
from netdsl.record import record

_MODES = {"nearest": "nearest", "bilinear": "linear", "linear": "linear", "trilinear": "linear",
          "bicubic": "cubic"}


@register
@record
class Upsample(Op):
    """Resize the spatial axes by `scale`, to `size`, or to the size of the tensor `like`.

    Coordinates follow PyTorch (align_corners false): nearest takes floor(dst / scale); bilinear
    and bicubic use half-pixel centres, bicubic with a = -0.75."""

    name = "upsample"
    inputs = (1, 2)
    summary = "{call}"
    positional = ("scale", "mode", "size", "align_corners")
    mac_rule = ("taps^axes x C x Hout x Wout: one multiply-add per interpolation tap (nearest 0, "
                "a copy; bilinear 2x2 = 4 taps; bicubic 4x4 = 16)")

    scale: Floats | None = argument(None, shown="2")
    mode: str = argument("nearest", shown='"nearest"|"bilinear"|"bicubic"')
    size: Ints | None = argument(None, shown="[h, w]")
    like: Tensor | None = tensor_input()
    align_corners: bool = False

    def validate(self) -> None:
        if self.mode not in _MODES:
            raise OpError(f'unknown upsample mode "{self.mode}"', at="mode", code="E206",
                          hint='use "nearest", "bilinear" or "bicubic"')
        given = [f for f in ("scale", "size", "like") if getattr(self, f) is not None]
        if len(given) != 1:
            raise OpError("upsample takes exactly one of `scale`, `size` and `like`",
                          at=given[1] if len(given) > 1 else "mode", code="E206")
        if self.align_corners and self.mode == "nearest":
            raise OpError("align_corners applies to bilinear and bicubic only",
                          at="align_corners", code="E206")
        if self.scale is not None:
            vals = [self.scale] if isinstance(self.scale, float) else list(self.scale)
            if any(v <= 0 for v in vals):
                raise OpError("scale must be positive", at="scale", code="E206")

    def _sizes(self, *xs: Shape) -> tuple[int, ...]:
        x = xs[0]
        expect_rank(x, (3, 4, 5), "[N, C, spatial...]")
        n = len(x) - 2
        if self.like is not None:
            if len(xs[1]) != len(x):
                raise OpError("`like` must have the input's rank", at="like", code="E303")
            return tuple(int(v) for v in xs[1][2:])
        if self.size is not None:
            return per_axis(self.size, n, "size")
        return tuple(math.floor(int(v) * s) for v, s in zip(x[2:], self._scales(n)))

    def _scales(self, n: int) -> tuple[float, ...]:
        sc = (self.scale,) * n if isinstance(self.scale, float) else tuple(self.scale or ())
        if len(sc) == 1:
            sc = sc * n
        if len(sc) != n:
            raise OpError(f"scale has {len(sc)} values for {n} spatial axes", at="scale",
                          code="E206")
        return sc

    def output_shape(self, *xs: Shape) -> Shape:
        sizes = self._sizes(*xs)
        if any(v <= 0 for v in sizes):
            raise OpError(f"upsampling {fmt_shape(xs[0])} gives the empty size {list(sizes)}",
                          at="size" if self.size is not None else "scale")
        return (xs[0][0], xs[0][1], *sizes)

    def size_rule(self, dims: Sequence[Dims], shapes: Sequence[Shape]) -> tuple[Dims, Any]:
        x = dims[0]
        if self.like is not None:
            sizes = list(dims[1][1:])
        elif self.size is not None:
            sizes = [n * 0 + m for n, m in zip(x[1:], per_axis(self.size, len(x) - 1, "size"))]
        else:  # floor(n * scale), as _sizes; exact in float64 for sizes below 2**52
            sizes = [(n * sc).astype(n.dtype) for n, sc in zip(x[1:], self._scales(len(x) - 1))]
        ok = True
        for v in sizes:
            ok = ok & (v > 0)
        return (x[0], *sizes), ok

    def _taps(self) -> int:
        return {"nearest": 1, "linear": 2, "cubic": 4}[_MODES[self.mode]]

    def mac_terms(self, y: Shape, *xs: Shape) -> tuple[int, ...]:
        if self.mode == "nearest":
            return (0,)
        return (self._taps() ** (len(y) - 2), *(dim_value(v) for v in y[1:]))

    def window(self, *xs: Shape) -> Window:
        # Output o reads `taps` inputs around input index (o + 0.5)*f - 0.5 (half-pixel), or
        # o*(n - 1)/(m - 1) (align_corners), or floor(o*f) (nearest): f = n/m per axis.
        ins = [int(v) for v in xs[0][2:]]
        outs = self._sizes(*xs)
        if self.align_corners:
            jump = tuple((n - 1) / (m - 1) if m > 1 else 0.0 for n, m in zip(ins, outs))
            offset = (0.0,) * len(ins)
        else:
            jump = tuple(n / m for n, m in zip(ins, outs))
            offset = tuple(0.5 * f - 0.5 for f in jump)
        return Window("local", (self._taps(),) * len(ins), jump, offset)

    def value_inputs(self, n: int) -> range:
        return range(1)  # `like` gives a size

    def arithmetic(self, y: Shape, *xs: Shape) -> list[str]:
        names = axis_names(len(y) - 2)
        if self.scale is not None:
            sc = self._scales(len(names))
            return [f"{a}: floor({xs[0][2 + i]} * {sc[i]:g}) = {y[2 + i]}"
                    for i, a in enumerate(names)]
        how = "the size of `like`" if self.like is not None else "size"
        return [f"{a}: {how} = {y[2 + i]}" for i, a in enumerate(names)]

    def to_onnx(self, emit: Emitter, y: Value, *xs: Value) -> str:
        mode = _MODES[self.mode]
        attrs: dict[str, object] = {"mode": mode}
        if mode == "nearest":
            attrs.update(coordinate_transformation_mode="asymmetric", nearest_mode="floor")
        else:
            attrs["coordinate_transformation_mode"] = ("align_corners" if self.align_corners
                                                       else "half_pixel")
            if mode == "cubic":
                attrs["cubic_coeff_a"] = -0.75
        spatial: list[int] | str = [int(v) for v in y.shape[2:]]
        if self.like is not None and xs[1].spatial_varies():  # the size of `like`, at run time
            spatial = emit.node("Shape", [xs[1].name], start=2)
        if self.scale is not None:
            n = len(y.shape) - 2
            sc = [self.scale] * n if isinstance(self.scale, float) else list(self.scale)
            scales = emit.const([1.0, 1.0, *sc], "float32")
            return emit.node("Resize", [xs[0].name, "", scales], **attrs)
        if emit.opset < 18:  # no `axes` before opset 18: sizes = [N, C] of the input + spatial
            nc = emit.node("Shape", [xs[0].name], start=0, end=2)
            sizes = emit.node("Concat", [nc, _tensor(emit, spatial)], axis=0)
            return emit.node("Resize", [xs[0].name, "", "", sizes], **attrs)
        axes = list(range(2, len(y.shape)))
        return emit.node("Resize", [xs[0].name, "", "", _tensor(emit, spatial)], axes=axes,
                         **attrs)


def _tensor(emit: Emitter, sizes: list[int] | str) -> str:
    """Sizes known now (a constant), or the name of the tensor that holds them at run time."""
    return sizes if isinstance(sizes, str) else emit.const(sizes)

