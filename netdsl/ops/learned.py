"""Learned tensors: the node a `param` statement makes (ParamOp: its value is one initializer
named after it, as torch's nn.Parameter attributes are), and `expand`, which repeats such a
tensor's size-1 batch axis to a batch (ViT's class token, torch's `class_token.expand(n, -1, -1)`).
Arithmetic on them is add and mul (ops/tensor.py), which broadcast."""

from __future__ import annotations

from typing import ClassVar

from netdsl.ops import register
from netdsl.ops.base import Emitter, Op, OpError, Shape, Value, fmt_shape
from netdsl.ops.signature import tensor_input
from netdsl.ops.types import Tensor
from netdsl.record import record

# How a `param` statement may initialise its tensor, as torch's init functions do:
# a number (constant_), zeros, ones, normal(std) (normal_(0, std)), trunc_normal(std)
# (trunc_normal_(0, std), redrawn outside torch's default bounds [-2, 2]).
PARAM_INITS = ("zeros", "ones", "constant", "normal", "trunc_normal")


@record
class ParamOp(Op):
    """A learned tensor (`param gamma: [C, 1, 1] = 1e-6`); not callable from .net. Its shape is
    the tensor's own, without a batch axis of the network's: broadcasting lines it up."""

    name: ClassVar[str] = "param"
    inputs: ClassVar[tuple[int, int | None]] = (0, 0)
    mac_rule: ClassVar[str] = "0: a stored tensor, no computation"
    shape: tuple[int, ...] = ()
    init: str = "zeros"  # one of PARAM_INITS
    value: float = 0.0  # the constant, or the std of (trunc_)normal

    def output_shape(self, *xs: Shape) -> Shape:
        return self.shape

    def param_shapes(self, *xs: Shape) -> dict[str, tuple[int, ...]]:
        return {"": self.shape}  # "": the tensor is named by the node alone (`class_token`)

    def to_onnx(self, emit: Emitter, y: Value, *xs: Value) -> str:
        init, values = {"constant": ("fixed", self.value)}.get(self.init, (self.init, self.value))
        return emit.weight("", self.shape, init, values)


@register
@record
class Expand(Op):
    """Repeat a tensor's size-1 batch axis to the batch of `like`: `expand(class_token,
    like: x)` makes [1, 1, D] into [N, 1, D] for `concat(..., x, axis: 1)`."""

    name = "expand"
    inputs = (1, 2)
    summary = "{call}: [1, ...] -> [N, ...], N the batch of t (ViT's class token)"
    mac_rule = "0: data movement only"

    like: Tensor | None = tensor_input()

    def validate(self) -> None:
        if self.like is None:
            raise OpError("expand needs `like: t`, the tensor whose batch to take", at="like",
                          code="E206")

    def output_shape(self, *xs: Shape) -> Shape:
        x, ref = xs
        if not x or x[0] != 1:
            raise OpError(f"expand repeats a batch axis of size 1, but the input is "
                          f"{fmt_shape(x)}", at="x0", code="E303",
                          hint="declare the tensor with a leading 1: `param t: [1, ...]`")
        if len(ref) != len(x):
            raise OpError(f"cannot expand {fmt_shape(x)} like {fmt_shape(ref)}: ranks differ",
                          at="like", code="E303")
        return (ref[0], *x[1:])

    def value_inputs(self, n: int) -> range:
        return range(1)  # `like` gives a size

    def to_onnx(self, emit: Emitter, y: Value, *xs: Value) -> str:
        # NOTE: not Expand(t, Shape(like)...): onnx's shape inference cannot follow a computed
        # shape. `like` cut to [N, 1, ...] and cast to bool selects t from both sides of a Where,
        # which broadcasts t to [N, ...] and whose output shape inference knows.
        axes = list(range(1, len(y.shape)))
        cut = emit.node("Slice", [xs[1].name, emit.const([0] * len(axes)),
                                  emit.const([1] * len(axes)), emit.const(axes)])
        cond = emit.node("Cast", [cut], to=9)  # 9: BOOL
        return emit.node("Where", [cond, xs[0].name, xs[0].name])

