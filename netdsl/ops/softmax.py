"""Softmax: exp(x) / sum(exp(x)) along an axis, the classifier's last step. Elementwise as
activation.py's, though each output reads its whole axis."""

from __future__ import annotations

from typing import Any

from netdsl.ops import register
from netdsl.ops.activation import Elementwise
from netdsl.ops.base import OpError, Shape, Window, dim_value, moved
from netdsl.ops.signature import axis_argument
from netdsl.record import record


@register
@record
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
