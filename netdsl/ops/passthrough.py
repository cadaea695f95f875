"""The ops that pass their input on at inference: dropout (kept so that layer names and
positions match training code) and identity. Shape-preserving, no parameters, no cost."""

from __future__ import annotations

from netdsl.ops import register
from netdsl.ops.base import Emitter, Op, OpError, Value
from netdsl.record import record


@register
@record
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
@record
class Identity(Op):
    """Passes its input through unchanged."""

    name = "identity"
    summary = "the identity"
    mac_rule = "0: no computation"

    def to_onnx(self, emit: Emitter, y: Value, *xs: Value) -> str:
        return emit.node("Identity", [xs[0].name])
