"""Normalisation: batch norm (inference form) and local response norm (AlexNet)."""

from __future__ import annotations

from dataclasses import dataclass

from netdsl.ops import register
from netdsl.ops.base import Emitter, Op, OpError, Shape, Value, check_positive, fmt_shape
from netdsl.ops.signature import argument


@register
@dataclass(frozen=True, slots=True)
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

    def param_shapes(self, *xs: Shape) -> dict[str, tuple[int, ...]]:
        c = int(xs[0][1])
        return {"weight": (c,), "bias": (c,)}

    def buffer_shapes(self, *xs: Shape) -> dict[str, tuple[int, ...]]:
        c = int(xs[0][1])
        return {"running_mean": (c,), "running_var": (c,)}

    def mac_terms(self, y: Shape, *xs: Shape) -> tuple[int, ...]:
        return tuple(int(v) for v in y[1:])

    def to_onnx(self, emit: Emitter, y: Value, *xs: Value) -> str:
        c = (int(xs[0].shape[1]),)
        names = [emit.weight("weight", c, "ones"), emit.weight("bias", c, "zeros"),
                 emit.weight("running_mean", c, "zeros"), emit.weight("running_var", c, "ones")]
        return emit.node("BatchNormalization", [xs[0].name, *names], epsilon=self.eps)


@register
@dataclass(frozen=True, slots=True)
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
        return (self.size, *(int(v) for v in y[1:]))

    def to_onnx(self, emit: Emitter, y: Value, *xs: Value) -> str:
        x = xs[0]
        if len(x.shape) == 4:
            return emit.node("LRN", [x.name], size=self.size, alpha=self.alpha, beta=self.beta,
                             bias=self.k)
        # NOTE: onnxruntime's LRN takes 4-D only; the window runs across channels, so a view
        # [N, C, positions, 1] gives the same sums, and the result is viewed back (0: keep N)
        c, rest = int(x.shape[1]), [int(v) for v in x.shape[2:]]
        view = emit.node("Reshape", [x.name, emit.const([0, c, -1, 1])])
        out = emit.node("LRN", [view], size=self.size, alpha=self.alpha, beta=self.beta,
                        bias=self.k)
        return emit.node("Reshape", [out, emit.const([0, c, *rest])])
