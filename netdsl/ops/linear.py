"""Fully connected layers."""

from __future__ import annotations

from collections.abc import Sequence
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
    dim_value,
    fmt_shape,
    moved,
    require_fixed,
)
from netdsl.record import record


@register
@record
class Dense(Op):
    """Fully connected: y = x W^T + b on the last axis, as torch.nn.Linear: [N, C] -> [N, out],
    and [N, ..., C] -> [N, ..., out] (a token sequence [N, L, C], a channels-last map
    [N, H, W, C]). On NCHW it would mix the width: flatten (or pool) first, or permute."""

    name = "dense"
    summary = "fully connected: {call} on the last axis: [N, ..., C] -> [N, ..., out]"
    positional = ("out", "bias")
    mac_rule = ("L x Cin x Cout (L: the positions, the axes between the batch and the last; "
                "none for [N, C])")

    out: int
    bias: bool = True

    def validate(self) -> None:
        check_positive(self, "out")

    def output_shape(self, *xs: Shape) -> Shape:
        x = xs[0]
        if len(x) < 2:
            raise OpError(f"needs [N, C], but the input is {fmt_shape(x)}")
        return (*x[:-1], self.out)

    def size_rule(self, dims: Sequence[Dims], shapes: Sequence[Shape]) -> tuple[Dims, Any]:
        # NOTE: the weights are sized at the declared input: only sizes with the same number of
        # features on the last axis fit (a `flatten -> dense` head pins the input size)
        x = dims[0]
        return (*x[:-1], x[-1] * 0 + self.out), x[-1] == int(shapes[0][-1])

    def param_shapes(self, *xs: Shape) -> dict[str, tuple[int, ...]]:
        p: dict[str, tuple[int, ...]] = {"weight": (self.out, int(xs[0][-1]))}
        if self.bias:
            p["bias"] = (self.out,)
        return p

    def mac_terms(self, y: Shape, *xs: Shape) -> tuple[int, ...]:
        return (*(dim_value(d) for d in xs[0][1:-1]), dim_value(xs[0][-1]), self.out)

    def window(self, *xs: Shape) -> Window:
        r = len(xs[0])
        if r == 2:
            return GLOBAL  # every output sees every input
        return moved([*range(r - 1), None])  # position by position; mixes the last axis

    def to_onnx(self, emit: Emitter, y: Value, *xs: Value) -> str:
        require_fixed(xs[0], [len(xs[0].shape) - 1], f"its weight [{self.out}, "
                      f"{xs[0].shape[-1]}] is sized by the {xs[0].shape[-1]} features of its "
                      "input, which vary with the input size")
        w = emit.weight("weight", (self.out, int(xs[0].shape[-1])), "he_in")
        b = [emit.weight("bias", (self.out,), "zeros")] if self.bias else []
        if len(xs[0].shape) == 2:
            return emit.node("Gemm", [xs[0].name, w, *b], transB=1)
        y0 = emit.node("MatMul", [xs[0].name, emit.node("Transpose", [w], perm=[1, 0])])
        return emit.node("Add", [y0, *b]) if b else y0
