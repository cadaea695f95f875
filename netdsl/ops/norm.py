"""Normalisation: batch norm (inference form), layer norm and local response norm (AlexNet)."""

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
    check_positive,
    data_axis,
    dim_value,
    fmt_shape,
    moved,
    require_fixed,
)
from netdsl.ops.signature import argument, axis_argument
from netdsl.record import record


@register
@record
class BatchNorm(Op):
    """Batch normalisation with running statistics (as in eval mode): per channel
    y = (x - mean) / sqrt(var + eps) * weight + bias."""

    name = "bn"
    summary = "batch norm: {call}; weight, bias learnable, running mean/var buffers"
    positional = ("eps",)
    mac_rule = "C x H x W: one multiply-add per element (scale and shift folded)"

    eps: float = argument(1e-5, shown="1e-5")

    def validate(self) -> None:
        if self.eps <= 0:
            raise OpError(f"eps must be positive, not {self.eps}", at="eps", code="E206")

    def output_shape(self, *xs: Shape) -> Shape:
        if len(xs[0]) < 2:
            raise OpError(f"bn needs [N, C, ...], but the input is {fmt_shape(xs[0])}")
        return xs[0]

    def size_rule(self, dims: Sequence[Dims], shapes: Sequence[Shape]) -> tuple[Dims, Any]:
        return dims[0], dims[0][0] == int(shapes[0][1])  # weights sized by the declared channels

    def param_shapes(self, *xs: Shape) -> dict[str, tuple[int, ...]]:
        c = int(xs[0][1])
        return {"weight": (c,), "bias": (c,)}

    def buffer_shapes(self, *xs: Shape) -> dict[str, tuple[int, ...]]:
        c = int(xs[0][1])
        return {"running_mean": (c,), "running_var": (c,)}

    def mac_terms(self, y: Shape, *xs: Shape) -> tuple[int, ...]:
        return tuple(dim_value(v) for v in y[1:])

    def to_onnx(self, emit: Emitter, y: Value, *xs: Value) -> str:
        c = (int(xs[0].shape[1]),)
        require_fixed(xs[0], [1], f"its statistics are sized by the {c[0]} channels, which "
                      "vary with the input size")
        names = [emit.weight("weight", c, "ones"), emit.weight("bias", c, "zeros"),
                 emit.weight("running_mean", c, "zeros"), emit.weight("running_var", c, "ones")]
        return emit.node("BatchNormalization", [xs[0].name, *names], epsilon=self.eps)


@register
@record
class LocalResponseNorm(Op):
    """Local response normalisation across channels (AlexNet, Krizhevsky et al. 2012), as
    torch.nn.LocalResponseNorm and ONNX LRN: x / (k + alpha/size * sum(x^2))^beta."""

    name = "lrn"
    summary = "local response norm: {call}"
    positional = ("size", "alpha", "beta", "k")
    mac_rule = "size x C x H x W: a square-and-add per neighbour in the window"

    size: int = 5
    alpha: float = argument(1e-4, shown="1e-4")
    beta: float = 0.75
    k: float = argument(2.0, shown="2")

    def validate(self) -> None:
        check_positive(self, "size")
        if self.size % 2 == 0:  # NOTE: ONNX centres an even window differently from torch
            raise OpError(f"the size must be odd, not {self.size}: onnxruntime takes odd sizes "
                          "only, and ONNX and torch place an even window differently",
                          at="size", code="E206", hint=f"use size {self.size + 1} or "
                          f"{self.size - 1}" if self.size > 2 else "use size 1 or 3")

    def output_shape(self, *xs: Shape) -> Shape:
        if len(xs[0]) < 3:
            raise OpError(f"lrn needs [N, C, spatial...], but the input is {fmt_shape(xs[0])}")
        return xs[0]

    def mac_terms(self, y: Shape, *xs: Shape) -> tuple[int, ...]:
        return (self.size, *(dim_value(v) for v in y[1:]))

    def to_onnx(self, emit: Emitter, y: Value, *xs: Value) -> str:
        x = xs[0]
        if len(x.shape) == 4:
            return emit.node("LRN", [x.name], size=self.size, alpha=self.alpha, beta=self.beta,
                             bias=self.k)
        # NOTE: onnxruntime's LRN takes 4-D only; the window runs across channels, so a view
        # [N, C, positions, 1] gives the same sums, and the result is viewed back (0: keep N)
        c, rest = int(x.shape[1]), [int(v) for v in x.shape[2:]]
        require_fixed(x, [1], f"it views the input as [N, {c}, positions, 1], and the {c} "
                      "channels vary with the input size")
        view = emit.node("Reshape", [x.name, emit.const([0, c, -1, 1])])
        out = emit.node("LRN", [view], size=self.size, alpha=self.alpha, beta=self.beta,
                        bias=self.k)
        back = emit.node("Shape", [x.name]) if x.varies() else emit.const([0, c, *rest])
        return emit.node("Reshape", [out, back])


@register
@record
class LayerNorm(Op):
    """Layer normalisation over one axis, with a learnable weight and bias of its size:
    y = (x - mean) / sqrt(var + eps) * weight + bias. The default, the last axis, is
    torch.nn.LayerNorm(d) on [N, ..., d]; `axis: 1` over the channels of NCHW is torchvision's
    LayerNorm2d (ConvNeXt's downsampling)."""

    name = "layer_norm"
    summary = "layer norm: {call}; weight, bias learnable, of the axis's size"
    positional = ("axis", "eps")
    mac_rule = ("4 x C x H x W: per element a sum for the mean, a square-and-add for the "
                "variance, the normalising multiply and the scale-and-shift")

    axis: int = axis_argument(-1)
    eps: float = argument(1e-5, shown="1e-5")

    def validate(self) -> None:
        if self.eps <= 0:
            raise OpError(f"eps must be positive, not {self.eps}", at="eps", code="E206")

    def _axis(self, x: Shape) -> int:
        return data_axis(self.axis, x)

    def output_shape(self, *xs: Shape) -> Shape:
        self._axis(xs[0])
        return xs[0]

    def size_rule(self, dims: Sequence[Dims], shapes: Sequence[Shape]) -> tuple[Dims, Any]:
        ax = self._axis(shapes[0])  # the weight is sized at the declared size of its axis
        return dims[0], dims[0][ax - 1] == int(shapes[0][ax])

    def param_shapes(self, *xs: Shape) -> dict[str, tuple[int, ...]]:
        c = int(xs[0][self._axis(xs[0])])
        return {"weight": (c,), "bias": (c,)}

    def mac_terms(self, y: Shape, *xs: Shape) -> tuple[int, ...]:
        return (4, *(dim_value(v) for v in y[1:]))

    def window(self, *xs: Shape) -> Window:
        ax = self._axis(xs[0])  # mixes the positions along its axis only
        return moved([None if a == ax else a for a in range(len(xs[0]))])

    def to_onnx(self, emit: Emitter, y: Value, *xs: Value) -> str:
        r, ax = len(y.shape), self._axis(y.shape)
        c = (int(y.shape[ax]),)
        require_fixed(xs[0], [ax], f"its weight and bias are sized by the {c[0]} values of axis "
                      f"{ax}, which vary with the input size")
        w, b = emit.weight("weight", c, "ones"), emit.weight("bias", c, "zeros")
        if ax == r - 1:
            return emit.node("LayerNormalization", [xs[0].name, w, b], axis=-1,
                             epsilon=self.eps)
        # ONNX normalises over the axes from `axis` to the end: move ours last, and back
        perm = list(range(r))
        perm[ax], perm[-1] = r - 1, ax
        t = emit.node("Transpose", [xs[0].name], perm=perm)
        n = emit.node("LayerNormalization", [t, w, b], axis=-1, epsilon=self.eps)
        return emit.node("Transpose", [n], perm=perm)
