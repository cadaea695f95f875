"""Rectifiers (relu, leaky_relu, elu, relu6): shape-preserving, no parameters; and Elementwise,
the base of every elementwise activation (softmax.py's and the sigmoid family's in sigmoid.py
too). NOTE: apart from those, and from dropout and identity (passthrough.py), so that a check of
a network that uses relu alone creates the classes of this module only (each class costs
~0.1 ms at a cold start)."""

from __future__ import annotations

from typing import Any, ClassVar

from netdsl.ops import register
from netdsl.ops.base import Emitter, Op, Shape, Value, dim_value
from netdsl.record import record


@record
class Elementwise(Op):
    """An activation applied to each element alone: its ONNX operator, one operation each."""

    onnx: ClassVar[str] = ""
    mac_rule = "C x H x W (every output element): one operation per element"

    def mac_terms(self, y: Shape, *xs: Shape) -> tuple[int, ...]:
        return tuple(dim_value(v) for v in y[1:])

    def onnx_attrs(self) -> dict[str, Any]:
        return {}

    def to_onnx(self, emit: Emitter, y: Value, *xs: Value) -> str:
        return emit.node(self.onnx, [xs[0].name], **self.onnx_attrs())


def simple(spelling: str, onnx_op: str, text: str, module: str = __name__) -> type[Op]:
    """An activation that is its ONNX operator alone, registered from `module`."""
    cls: type[Op] = record(
        type(spelling.title().replace("_", ""), (Elementwise,),
             {"__doc__": text, "name": spelling, "onnx": onnx_op, "summary": text,
              "__module__": module}))
    return register(cls)


Relu = simple("relu", "Relu", "max(x, 0)")


@register
@record
class LeakyRelu(Elementwise):
    """x for x > 0, slope * x otherwise."""

    name = "leaky_relu"
    onnx = "LeakyRelu"
    summary = "{call}"
    positional = ("slope",)
    slope: float = 0.01

    def onnx_attrs(self) -> dict[str, Any]:
        return {"alpha": self.slope}


@register
@record
class Elu(Elementwise):
    """x for x > 0, alpha * (exp(x) - 1) otherwise."""

    name = "elu"
    onnx = "Elu"
    summary = "{call}"
    positional = ("alpha",)
    alpha: float = 1.0

    def onnx_attrs(self) -> dict[str, Any]:
        return {"alpha": self.alpha}


@register
@record
class Relu6(Elementwise):
    """min(max(x, 0), 6): ReLU clipped at 6 (MobileNetV2)."""

    name = "relu6"
    summary = "min(max(x, 0), 6)"

    def to_onnx(self, emit: Emitter, y: Value, *xs: Value) -> str:
        bounds = [emit.const(0.0, "float32"), emit.const(6.0, "float32")]
        return emit.node("Clip", [xs[0].name, *bounds])
