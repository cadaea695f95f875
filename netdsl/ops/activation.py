"""Rectifiers (relu, leaky_relu, elu, relu6), softmax, dropout and identity: shape-preserving, no
parameters; and Elementwise, the base of every elementwise activation (the sigmoid family's, in
sigmoid.py, too). NOTE: two modules, so that a check of a network that uses relu alone creates
the classes of this one (each frozen dataclass costs ~0.4 ms at a cold start)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from netdsl.ops import register
from netdsl.ops.base import Emitter, Op, OpError, Shape, Value, Window, dim_value, moved
from netdsl.ops.signature import axis_argument


@dataclass(frozen=True, slots=True, eq=False, repr=False)
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
    cls: type[Op] = dataclass(frozen=True, slots=True, eq=False, repr=False)(
        type(spelling.title().replace("_", ""), (Elementwise,),
             {"__doc__": text, "name": spelling, "onnx": onnx_op, "summary": text,
              "__module__": module}))
    return register(cls)


Relu = simple("relu", "Relu", "max(x, 0)")


@register
@dataclass(frozen=True, slots=True, eq=False, repr=False)
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
@dataclass(frozen=True, slots=True, eq=False, repr=False)
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
@dataclass(frozen=True, slots=True, eq=False, repr=False)
class Relu6(Elementwise):
    """min(max(x, 0), 6): ReLU clipped at 6 (MobileNetV2)."""

    name = "relu6"
    summary = "min(max(x, 0), 6)"

    def to_onnx(self, emit: Emitter, y: Value, *xs: Value) -> str:
        bounds = [emit.const(0.0, "float32"), emit.const(6.0, "float32")]
        return emit.node("Clip", [xs[0].name, *bounds])


@register
@dataclass(frozen=True, slots=True, eq=False, repr=False)
class Softmax(Elementwise):
    """exp(x) / sum(exp(x)) along an axis (default 1: the classes, or the channels)."""

    name = "softmax"
    onnx = "Softmax"
    summary = "{call}"
    positional = ("axis",)
    mac_rule = "3 x C x H x W: an exp, an add to the sum and a divide per element"
    axis: int = axis_argument(1)

    def output_shape(self, *xs: Shape) -> Shape:
        if not -len(xs[0]) <= self.axis < len(xs[0]):
            raise OpError(f"axis {self.axis} is out of range for a {len(xs[0])}-D input",
                          at="axis", code="E206")
        return xs[0]

    def mac_terms(self, y: Shape, *xs: Shape) -> tuple[int, ...]:
        return (3, *(dim_value(v) for v in y[1:]))

    def window(self, *xs: Shape) -> Window:
        ax = self.axis % len(xs[0])  # mixes the positions along its axis (a spatial softmax)
        return moved([None if a == ax else a for a in range(len(xs[0]))])

    def onnx_attrs(self) -> dict[str, Any]:
        return {"axis": self.axis}


@register
@dataclass(frozen=True, slots=True, eq=False, repr=False)
class Dropout(Op):
    """Dropout: the identity at inference, kept so that layer names and positions match
    training code."""

    name = "dropout"
    summary = "{call}: the identity at inference"
    positional = ("p",)
    mac_rule = "0: the identity at inference"
    p: float = 0.5

    def validate(self) -> None:
        if not 0 <= self.p < 1:
            raise OpError(f"p must be in [0, 1), not {self.p}", at="p", code="E206")

    def to_onnx(self, emit: Emitter, y: Value, *xs: Value) -> str:
        return emit.node("Identity", [xs[0].name])


@register
@dataclass(frozen=True, slots=True, eq=False, repr=False)
class Identity(Op):
    """Passes its input through unchanged."""

    name = "identity"
    summary = "the identity"
    mac_rule = "0: no computation"

    def to_onnx(self, emit: Emitter, y: Value, *xs: Value) -> str:
        return emit.node("Identity", [xs[0].name])
