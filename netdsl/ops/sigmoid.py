"""The sigmoid family: squashing curves (sigmoid, tanh, hardsigmoid) and the self-gated
x * sigmoid(x) forms (silu and swish, hardswish, gelu). Elementwise, as activation.py's."""

from __future__ import annotations

import math
from typing import Any

from netdsl.ops import register
from netdsl.ops.activation import Elementwise, simple
from netdsl.ops.base import Emitter, Value
from netdsl.ops.signature import argument
from netdsl.record import record

Tanh = simple("tanh", "Tanh", "hyperbolic tangent", __name__)
Sigmoid = simple("sigmoid", "Sigmoid", "1 / (1 + exp(-x))", __name__)


@register
@record
class HardSigmoid(Elementwise):
    """max(0, min(1, alpha * x + beta)); the defaults are PyTorch's (1/6, 1/2), not ONNX's."""

    name = "hardsigmoid"
    onnx = "HardSigmoid"
    summary = "{call}"
    positional = ("alpha", "beta")
    alpha: float = argument(1 / 6, shown="1/6")
    beta: float = 0.5

    def onnx_attrs(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "beta": self.beta}


@register
@record
class HardSwish(Elementwise):
    """x * hardsigmoid(x) (MobileNetV3)."""

    name = "hardswish"
    onnx = "HardSwish"
    summary = "x * relu6(x + 3) / 6"


@register
@record
class Silu(Elementwise):
    """x * sigmoid(x), also called swish (EfficientNet)."""

    name = "silu"
    summary = "x * sigmoid(x) (swish)"

    def to_onnx(self, emit: Emitter, y: Value, *xs: Value) -> str:
        return emit.node("Mul", [xs[0].name, emit.node("Sigmoid", [xs[0].name])])


@register
@record
class Swish(Silu):
    """The same function as silu, under the name the EfficientNet paper uses."""

    name = "swish"
    summary = "x * sigmoid(x) (silu)"


@register
@record
class Gelu(Elementwise):
    """x * Phi(x), exact (erf) form, as torch.nn.GELU()."""

    name = "gelu"
    summary = "x * Phi(x), the exact erf form"

    def to_onnx(self, emit: Emitter, y: Value, *xs: Value) -> str:
        if emit.opset >= 20:
            return emit.node("Gelu", [xs[0].name])
        x = xs[0].name
        erf = emit.node("Erf", [emit.node("Div", [x, emit.const(math.sqrt(2.0), "float32")])])
        half = emit.node("Mul", [x, emit.const(0.5, "float32")])
        return emit.node("Mul", [half, emit.node("Add", [erf, emit.const(1.0, "float32")])])
