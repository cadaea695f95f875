"""Multi-head self-attention on a sequence [N, L, D], with torch's nn.MultiheadAttention
parameters and names (batch_first, as torchvision's ViT EncoderBlock uses it)."""

from __future__ import annotations

import math
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
    expect_rank,
    require_fixed,
)
from netdsl.record import record


@register
@record
class Attention(Op):
    """Self-attention, y = softmax(Q K^T / sqrt(D / heads)) V per head, heads joined and projected:
    torch's nn.MultiheadAttention(D, heads, batch_first=True) called as attn(x, x, x,
    need_weights=False)[0]. Q, K, V = x W_in^T + b_in split in three (in_proj_weight [3D, D]),
    then out_proj (a Linear D -> D). Receptive field: global (every output token reads every
    input token; `summary` shows `global`). Lowered to MatMul, Reshape, Transpose, Gather and
    Softmax (opset 17, no contrib ops)."""

    name = "attention"
    summary = "multi-head self-attention: {call} on [N, L, D] (torch's MultiheadAttention)"
    positional = ("heads",)
    mac_rule = ("L x D x (4D + 2L): the q, k, v and output projections (4 L D^2), then Q K^T "
                "and the attention weights times V (L^2 D each)")

    heads: int
    bias: bool = True

    def validate(self) -> None:
        check_positive(self, "heads")

    def output_shape(self, *xs: Shape) -> Shape:
        x = xs[0]
        expect_rank(x, (3,), "[N, L, D] (a sequence of L tokens of D features)")
        if int(x[2]) % self.heads:
            raise OpError(f"{self.heads} heads do not divide the {x[2]} features of each token",
                          at="heads", hint="D must be a multiple of heads: each head gets "
                          "D / heads of them")
        return x

    def size_rule(self, dims: Sequence[Dims], shapes: Sequence[Shape]) -> tuple[Dims, Any]:
        # NOTE: the projections are sized by the declared features (which the heads divide)
        return dims[0], dims[0][1] == int(shapes[0][2])

    def param_shapes(self, *xs: Shape) -> dict[str, tuple[int, ...]]:
        d = int(xs[0][2])
        p: dict[str, tuple[int, ...]] = {"in_proj_weight": (3 * d, d)}
        if self.bias:
            p["in_proj_bias"] = (3 * d,)
        p["out_proj.weight"] = (d, d)
        if self.bias:
            p["out_proj.bias"] = (d,)
        return p

    def mac_terms(self, y: Shape, *xs: Shape) -> tuple[int, ...]:
        length, d = dim_value(xs[0][1]), dim_value(xs[0][2])
        return (length, d, 4 * d + 2 * length)

    def arithmetic(self, y: Shape, *xs: Shape) -> list[str]:
        d = int(xs[0][2])
        return [f"features: {d} = {self.heads} heads x {d // self.heads} features each "
                f"({d} / {self.heads})"]

    def window(self, *xs: Shape) -> Window:
        return GLOBAL  # every token attends to every token: the field is the whole sequence

    def to_onnx(self, emit: Emitter, y: Value, *xs: Value) -> str:
        d = int(xs[0].shape[2])
        require_fixed(xs[0], [2], f"its projections are sized by the {d} features of each "
                      "token, which vary with the input size")
        h, hd = self.heads, d // self.heads
        qkv = _linear(emit, xs[0].name, "in_proj_weight", "in_proj_bias", 3 * d, d, self.bias)
        qkv = emit.node("Reshape", [qkv, emit.const([0, 0, 3, h, hd])])  # [N, L, 3, H, hd]
        qkv = emit.node("Transpose", [qkv], perm=[2, 0, 3, 1, 4])  # [3, N, H, L, hd]
        q, k, v = (emit.node("Gather", [qkv, emit.const(i)], axis=0) for i in range(3))
        q = emit.node("Mul", [q, emit.const(1 / math.sqrt(hd), "float32")])
        kt = emit.node("Transpose", [k], perm=[0, 1, 3, 2])
        weights = emit.node("Softmax", [emit.node("MatMul", [q, kt])], axis=-1)  # [N, H, L, L]
        out = emit.node("Transpose", [emit.node("MatMul", [weights, v])], perm=[0, 2, 1, 3])
        out = emit.node("Reshape", [out, emit.const([0, 0, d])])  # [N, L, D], heads joined
        return _linear(emit, out, "out_proj.weight", "out_proj.bias", d, d, self.bias)


def _linear(emit: Emitter, x: str, weight: str, bias: str, out: int, d: int, has_bias: bool
            ) -> str:
    """x W^T (+ b) on the last axis, W [out, d] stored as torch's Linear stores it."""
    w = emit.node("Transpose", [emit.weight(weight, (out, d), "he_in")], perm=[1, 0])
    y = emit.node("MatMul", [x, w])
    return emit.node("Add", [y, emit.weight(bias, (out,), "zeros")]) if has_bias else y
