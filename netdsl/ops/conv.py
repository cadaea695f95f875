"""Convolutions: conv (1-D, 2-D or 3-D by the input's rank; groups) and depthwise conv, and the
checks of groups that conv_transpose.py shares."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from netdsl.ops import register
from netdsl.ops.base import (
    Dims,
    Emitter,
    Op,
    OpError,
    Shape,
    Value,
    Window,
    axis_names,
    check_positive,
    dim_value,
    fmt_shape,
    require_fixed,
    sliding,
)
from netdsl.ops.geometry import (
    Geometry,
    rounds_down,
    same_pads,
    same_pads_vary,
    size_formula,
    window_geometry,
    window_kernel,
    window_out,
    window_sizes,
)
from netdsl.ops.signature import argument, network_option
from netdsl.ops.types import Ints, Pad, Weights
from netdsl.record import record


def check_groups(out: int, groups: int) -> None:
    """The output channels split into the groups (validate, before any input is known)."""
    if out % groups:
        raise OpError(f"out {out} does not split into groups {groups}", at="groups",
                      code="E206")


def check_input_groups(x: Shape, groups: int, hint: str = "") -> None:
    """The input's channels split into the groups."""
    c = int(x[1])
    if c % groups:
        raise OpError(f"the input {fmt_shape(x)} has {c} channels, which do not split into "
                      f"{groups} groups", at="groups", hint=hint)


def weights_array_shape(w: object) -> tuple[int, ...]:
    shape: list[int] = []
    while isinstance(w, tuple):
        shape.append(len(w))
        w = w[0]
    return tuple(shape)


class _Conv(Op):
    """What conv and depthwise share; a subclass says how many output channels and groups an
    input with c channels gets."""

    kernel: Ints
    stride: Ints
    pad: Pad
    dilation: Ints
    bias: bool
    weights: Weights | None
    floor: bool | None

    mac_rule = "Cout x Hout x Wout x (Cin / groups) x Kh x Kw"

    def _channels(self, c: int) -> tuple[int, int]:
        """(output channels, groups) for an input with c channels."""
        raise NotImplementedError

    def _validate_window(self) -> None:
        check_positive(self, "kernel", "stride", "dilation")
        if not isinstance(self.pad, str):
            check_positive(self, "pad", allow_zero=("pad",))

    def _geometry(self, x: Shape) -> Geometry:
        return window_geometry(x, self.kernel, self.stride, self.dilation, self.pad)

    def output_shape(self, *xs: Shape) -> Shape:
        x = xs[0]
        k, s, d, pb, pe = self._geometry(x)
        c = int(x[1])
        out, groups = self._channels(c)
        check_input_groups(x, groups,
                           hint=f"groups must divide both {c} input and {out} output channels")
        if self.weights is not None:
            self._check_weights(c, k)
        names = axis_names(len(k))
        floor = rounds_down(self.floor, self.pad)
        sizes = tuple(window_out(int(x[2 + i]), k[i], s[i], pb[i], pe[i], d[i],
                                 floor=floor, axis=names[i]) for i in range(len(k)))
        return (x[0], out, *sizes)

    def size_rule(self, dims: Sequence[Dims], shapes: Sequence[Shape]) -> tuple[Dims, Any]:
        x = dims[0]
        sizes, ok = window_sizes(x, self.kernel, self.stride, self.dilation, self.pad,
                                 floor=rounds_down(self.floor, self.pad))
        c = int(shapes[0][1])  # the weights are sized by the declared channels
        return (x[0] * 0 + self._channels(c)[0], *sizes), ok & (x[0] == c)

    def _check_weights(self, c: int, k: tuple[int, ...]) -> None:
        out, groups = self._channels(c)
        got = weights_array_shape(self.weights)
        full = (out, c // groups, *k)
        if got != k and got != full:
            raise OpError(f"the fixed weights are {fmt_shape(got, True)}, but the kernel is "
                          f"{fmt_shape(k, True)}: give {fmt_shape(k, True)} (one kernel for every "
                          f"channel pair) or {fmt_shape(full, True)}",
                          at="weights", code="E206")

    def param_shapes(self, *xs: Shape) -> dict[str, tuple[int, ...]]:
        k = window_kernel(xs[0], self.kernel)
        out, groups = self._channels(int(xs[0][1]))
        p = {"weight": (out, int(xs[0][1]) // groups, *k)}
        if self.bias:
            p["bias"] = (out,)
        return p

    def mac_terms(self, y: Shape, *xs: Shape) -> tuple[int, ...]:
        k = window_kernel(xs[0], self.kernel)
        groups = self._channels(dim_value(xs[0][1]))[1]
        return (*(dim_value(v) for v in y[1:]), dim_value(xs[0][1]) // groups, *k)

    def window(self, *xs: Shape) -> Window:
        k, s, d, pb, _ = self._geometry(xs[0])
        return sliding(k, s, d, pb)

    def arithmetic(self, y: Shape, *xs: Shape) -> list[str]:
        k, s, d, pb, pe = self._geometry(xs[0])
        return [f"{name}: " + size_formula(int(xs[0][2 + i]), k[i], s[i], pb[i], pe[i], d[i],
                                           int(y[2 + i]))
                for i, name in enumerate(axis_names(len(k)))]

    def to_onnx(self, emit: Emitter, y: Value, *xs: Value) -> str:
        k, s, d, pb, pe = self._geometry(xs[0].shape)
        shapes = self.param_shapes(xs[0].shape)
        if self.weights is not None:
            w = emit.weight("weight", shapes["weight"], "fixed", self.weights)
        else:
            w = emit.weight("weight", shapes["weight"], "he_out")
        b = [emit.weight("bias", shapes["bias"], "zeros")] if self.bias else []
        groups = self._channels(int(xs[0].shape[1]))[1]
        require_fixed(xs[0], [1], f"its weights are sized by the {xs[0].shape[1]} input "
                      "channels, which vary with the input size")
        if xs[0].spatial_varies() and same_pads_vary(self.pad, k, s, d):
            if any(v != 1 for v in d):  # onnxruntime: no auto_pad with a dilation
                x = emit.node("Pad", [xs[0].name, same_pads(emit, xs[0], k, s, d)])
                return emit.node("Conv", [x, w, *b], kernel_shape=list(k), strides=list(s),
                                 dilations=list(d), group=groups)
            return emit.node("Conv", [xs[0].name, w, *b], kernel_shape=list(k), strides=list(s),
                             auto_pad="SAME_UPPER", dilations=list(d), group=groups)
        return emit.node("Conv", [xs[0].name, w, *b], kernel_shape=list(k), strides=list(s),
                         pads=[*pb, *pe], dilations=list(d), group=groups)


@register
@record
class Conv(_Conv):
    """Convolution over N, C and 1 to 3 spatial axes (the input's rank decides: conv1d, conv2d,
    conv3d). kernel, stride, dilation: an int or one per axis; pad: an int, one per axis,
    begins then ends ((top, left, bottom, right) in 2-D), `valid` or `same` (ONNX SAME_UPPER)."""

    name = "conv"
    summary = "convolution: {call}"
    positional = ("out", "kernel", "stride", "pad", "dilation", "groups", "bias", "weights",
                  "floor")

    out: int
    kernel: Ints
    stride: Ints = 1
    pad: Pad = argument(0, shown="0 | [h, w] | [t, l, b, r] | valid | same")
    dilation: Ints = 1
    groups: int = 1
    bias: bool = True
    weights: Weights | None = argument(None, shown="fixed kernel")
    floor: bool | None = network_option("floor", shown="false")

    def validate(self) -> None:
        check_positive(self, "out", "groups")
        self._validate_window()
        check_groups(self.out, self.groups)

    def _channels(self, c: int) -> tuple[int, int]:
        return self.out, self.groups


@register
@record
class Depthwise(_Conv):
    """Depthwise convolution: one kernel per input channel (`multiplier` of them), i.e. a conv
    with groups = channels and out = channels * multiplier (MobileNet, Xception)."""

    name = "depthwise"
    mac_rule = "(C x multiplier) x Hout x Wout x 1 x Kh x Kw: each output filters one channel"
    summary = "depthwise convolution: {call}"
    positional = ("kernel", "stride", "pad", "dilation", "multiplier", "bias", "weights", "floor")

    kernel: Ints
    stride: Ints = 1
    pad: Pad = 0
    dilation: Ints = 1
    multiplier: int = 1
    bias: bool = True
    weights: Weights | None = argument(None, shown="fixed kernel")
    floor: bool | None = network_option("floor", shown="false")

    def validate(self) -> None:
        check_positive(self, "multiplier")
        self._validate_window()

    def _channels(self, c: int) -> tuple[int, int]:
        return c * self.multiplier, c
