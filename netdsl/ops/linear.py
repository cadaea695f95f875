"""Fully connected layers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

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
    check_positive,
    fmt_shape,
)


@register
@dataclass(frozen=True, slots=True)
class Dense(Op):
    """Fully connected: y = x W^T + b on [N, C]. A 4-D input is an error: flatten (or pool)
    first."""

    name = "dense"
    summary = "fully connected: {call} on [N, C]"
    positional = ("out", "bias")
    mac_rule = "Cin x Cout"

    out: int
    bias: bool = True

    def validate(self) -> None:
        check_positive(self, "out")

    def output_shape(self, *xs: Shape) -> Shape:
        x = xs[0]
        if len(x) != 2:
            raise OpError(f"needs a 2-D input [N, C], but the input is {fmt_shape(x)}",
                          hint="insert `flatten` (or `globalavgpool -> flatten`) before dense")
        return (x[0], self.out)

    def size_rule(self, dims: Sequence[Dims], shapes: Sequence[Shape]) -> tuple[Dims, Any]:
        # NOTE: the weights are sized at the declared input: only sizes that flatten to the same
        # number of features fit (a `flatten -> dense` head pins the input size)
        return (dims[0][0] * 0 + self.out,), dims[0][0] == int(shapes[0][1])

    def param_shapes(self, *xs: Shape) -> dict[str, tuple[int, ...]]:
        p: dict[str, tuple[int, ...]] = {"weight": (self.out, int(xs[0][1]))}
        if self.bias:
            p["bias"] = (self.out,)
        return p

    def mac_terms(self, y: Shape, *xs: Shape) -> tuple[int, ...]:
        return (int(xs[0][1]), self.out)

    def window(self, *xs: Shape) -> Window:
        return GLOBAL  # every output sees every input

    def to_onnx(self, emit: Emitter, y: Value, *xs: Value) -> str:
        w = emit.weight("weight", (self.out, int(xs[0].shape[1])), "he_in")
        b = [emit.weight("bias", (self.out,), "zeros")] if self.bias else []
        return emit.node("Gemm", [xs[0].name, w, *b], transB=1)
