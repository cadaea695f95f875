"""Upsampling by interpolation (nearest, bilinear, bicubic), as torch.nn.functional.interpolate."""

from __future__ import annotations

import math
from dataclasses import dataclass

from netdsl.ops import register
from netdsl.ops.base import Emitter, Op, OpError, Shape, Value, Window, expect_rank, per_axis
from netdsl.ops.types import Floats, Ints, Tensor  # noqa: F401

_MODES = {"nearest": "nearest", "bilinear": "linear", "linear": "linear", "trilinear": "linear",
          "bicubic": "cubic"}


@register
@dataclass(frozen=True, slots=True)
class Upsample(Op):
    """Resize the spatial axes by `scale`, to `size`, or to the size of the tensor `like`.

    Coordinates follow PyTorch (align_corners false): nearest takes floor(dst / scale); bilinear
    and bicubic use half-pixel centres, bicubic with a = -0.75."""

    name = "upsample"
    inputs = (1, 2)
    summary = 'upsample(scale: 2, mode: "nearest"|"bilinear"|"bicubic") or (size: [h, w]) or (like: t)'
    mac_rule = "nearest: 0 (a copy); bilinear: 4 * prod(output); bicubic: 16 * prod(output)"

    scale: Floats | None = None
    mode: str = "nearest"
    size: Ints | None = None
    like: Tensor | None = None
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
        sc = (self.scale,) * n if isinstance(self.scale, float) else tuple(self.scale or ())
        if len(sc) != n:
            raise OpError(f"scale has {len(sc)} values for {n} spatial axes", at="scale",
                          code="E206")
        return tuple(int(math.floor(int(v) * s)) for v, s in zip(x[2:], sc))

    def output_shape(self, *xs: Shape) -> Shape:
        sizes = self._sizes(*xs)
        if any(v <= 0 for v in sizes):
            raise OpError(f"the output size {list(sizes)} is empty", at="scale")
        return (xs[0][0], xs[0][1], *sizes)

    def mac_count(self, y: Shape, *xs: Shape) -> int:
        per = {"nearest": 0, "linear": 2, "cubic": 4}[_MODES[self.mode]] ** (len(y) - 2)
        return 0 if self.mode == "nearest" else per * math.prod(int(v) for v in y[1:])

    def window(self, *xs: Shape) -> Window:
        y = self._sizes(*xs)
        sc = tuple(o / int(i) for o, i in zip(y, xs[0][2:]))
        k = 1 if self.mode == "nearest" else 2 if _MODES[self.mode] == "linear" else 4
        return Window("upsample", (k,) * len(y), (1,) * len(y), (1,) * len(y), (0,) * len(y), sc)

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
        spatial = list(y.shape[2:])
        if self.scale is not None:
            n = len(spatial)
            sc = [self.scale] * n if isinstance(self.scale, float) else list(self.scale)
            scales = emit.const([1.0, 1.0, *sc], "float32")
            return emit.node("Resize", [xs[0].name, "", scales], **attrs)
        axes = list(range(2, len(y.shape)))
        return emit.node("Resize", [xs[0].name, "", "", emit.const(spatial)], axes=axes, **attrs)

