"""Structural ops: flatten, reshape, add, broadcast multiply, concat. (Crop and pad, which
change the spatial border, are border.py's.)"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from netdsl.ops import register
from netdsl.ops.base import (
    POINTWISE,
    Dims,
    Emitter,
    Op,
    OpError,
    Shape,
    Value,
    Window,
    broadcast,
    dim_value,
    fmt_shape,
    moved,
    numel,
    per_axis,
    pinned,
)
from netdsl.ops.signature import axis_argument
from netdsl.ops.types import Ints
from netdsl.record import record


@register
@record
class Flatten(Op):
    """[N, C, H, W] -> [N, C*H*W] (everything after the batch)."""

    name = "flatten"
    summary = "[N, d1, d2, ...] -> [N, d1*d2*...]"
    mac_rule = "0: a view, no computation"

    def output_shape(self, *xs: Shape) -> Shape:
        return (xs[0][0], numel(xs[0]))

    def size_rule(self, dims: Sequence[Dims], shapes: Sequence[Shape]) -> tuple[Dims, Any]:
        return (math.prod(dims[0]),), True

    def window(self, *xs: Shape) -> Window:
        if all(d == 1 for d in xs[0][2:]):
            return POINTWISE  # one position (after a global pool): its field is every output's
        return moved([0, *[None] * (len(xs[0]) - 1)])  # positions mixed into one axis

    def to_onnx(self, emit: Emitter, y: Value, *xs: Value) -> str:
        return emit.node("Flatten", [xs[0].name], axis=1)


@register
@record
class Reshape(Op):
    """Reshape everything after the batch to `shape` (one entry may be -1)."""

    name = "reshape"
    summary = "{call}: [N, ...] -> [N, *shape]; one -1 is inferred"
    positional = ("shape",)
    mac_rule = "0: a view, no computation"

    shape: Ints

    def validate(self) -> None:
        dims = per_axis(self.shape, 1, "shape") if isinstance(self.shape, int) else self.shape
        if sum(d == -1 for d in dims) > 1 or any(d == 0 or d < -1 for d in dims):
            raise OpError(f"shape {list(dims)} may hold positive sizes and at most one -1",
                          at="shape", code="E206")

    def output_shape(self, *xs: Shape) -> Shape:
        dims = (self.shape,) if isinstance(self.shape, int) else self.shape
        total, known = numel(xs[0]), math.prod(d for d in dims if d != -1)
        if -1 in dims:
            if total % known:
                raise OpError(f"cannot reshape {fmt_shape(xs[0])} ({total} per example) into "
                              f"{list(dims)}", at="shape")
            dims = tuple(total // known if d == -1 else d for d in dims)
        elif known != total:
            raise OpError(f"cannot reshape {fmt_shape(xs[0])} ({total} per example) into "
                          f"{list(dims)} ({known})", at="shape")
        return (xs[0][0], *dims)

    def size_rule(self, dims: Sequence[Dims], shapes: Sequence[Shape]) -> tuple[Dims, Any]:
        shape = (self.shape,) if isinstance(self.shape, int) else self.shape
        total = math.prod(dims[0])
        known = math.prod(d for d in shape if d != -1)
        return (tuple(total // known if d == -1 else total * 0 + d for d in shape),
                total % known == 0 if -1 in shape else total == known)

    def window(self, *xs: Shape) -> Window:
        # NOTE: the trailing axes that keep their sizes keep their positions (ShuffleNet's
        # [N, C, H, W] -> [N, g, C/g, H, W]); every other axis is mixed, and a receptive field
        # on one of them is unknown from here on (never passed through as if nothing moved).
        x, y = xs[0], self.output_shape(*xs)
        kept = 0
        while kept < min(len(x), len(y)) - 1 and x[-1 - kept] == y[-1 - kept]:
            kept += 1
        moves: list[int | None] = [0, *[None] * (len(x) - 1)]
        for i in range(1, kept + 1):
            moves[len(x) - i] = len(y) - i
        return moved(moves)

    def to_onnx(self, emit: Emitter, y: Value, *xs: Value) -> str:
        if xs[0].varies():  # the declared shape, whose -1 takes what varies
            dims = (self.shape,) if isinstance(self.shape, int) else tuple(self.shape)
            if -1 not in dims:
                raise pinned(f"it reshapes to the fixed shape {list(dims)}, which holds "
                             f"{numel(xs[0].shape)} values per example only at this input size",
                             at="shape")
            return emit.node("Reshape", [xs[0].name, emit.const([0, *dims])])
        return emit.node("Reshape", [xs[0].name, emit.const([0, *[int(d) for d in y.shape[1:]]])])


@register
@record
class Add(Op):
    """Elementwise sum: `a + b`. The shapes match (residual connections), or one side broadcasts
    to the other's shape over its size-1 or missing leading axes, as numpy and ONNX do (a
    position embedding [1, L, D] onto [N, L, D], a bias [C, 1, 1] onto [N, C, H, W]). The result
    is always one of the inputs' shapes: two tensors that would both grow ([N, 1, 5] + [N, 4, 1])
    are refused, since a sum larger than either side is almost always a mistake."""

    name = "add"
    inputs = (2, None)
    summary = "a + b: shapes match, or one broadcasts to the other (numpy's rule)"
    mac_rule = "(inputs - 1) x C x H x W: one add per element per extra input"

    def output_shape(self, *xs: Shape) -> Shape:
        target = next((y for y in xs if all(broadcast(x, y) == tuple(y) for x in xs)), None)
        if target is not None:
            return target
        for i, x in enumerate(xs[1:], 1):
            if broadcast(xs[0], x) not in (tuple(xs[0]), tuple(x)):
                raise OpError(f"cannot add {fmt_shape(xs[0])} and {fmt_shape(x)}: the shapes "
                              "must match, or one broadcast to the other", at=f"x{i}",
                              code="E303", hint=_add_hint(xs[0], x))
        raise OpError(f"cannot add {', '.join(fmt_shape(x) for x in xs)}: no input has a shape "
                      "that all the others broadcast to", at="x1", code="E303")

    def size_rule(self, dims: Sequence[Dims], shapes: Sequence[Shape]) -> tuple[Dims, Any]:
        """Sizes broadcast pairwise, and the sum has one operand's sizes (output_shape's rule)."""
        dims = _aligned(dims)
        out, ok = dims[0], True
        for d in dims[1:]:
            for p, q in zip(out, d):
                ok = ok & ((p == q) | (p == 1) | (q == 1))
            out = tuple(p * (q == 1) + q * (q != 1) for p, q in zip(out, d))
        some = False
        for d in dims:
            same = True
            for p, q in zip(d, out):
                same = same & (p == q)
            some = some | same
        return out, ok & some

    def mac_terms(self, y: Shape, *xs: Shape) -> tuple[int, ...]:
        return (len(xs) - 1, *(dim_value(v) for v in y[1:]))

    def to_onnx(self, emit: Emitter, y: Value, *xs: Value) -> str:
        acc = emit.node("Add", [xs[0].name, xs[1].name])
        for x in xs[2:]:
            acc = emit.node("Add", [acc, x.name])
        return acc


def _aligned(dims: Sequence[Dims]) -> list[Dims]:
    """Operands' sizes lined up at their last axes, as broadcasting does (a param has fewer)."""
    n = max(len(d) for d in dims)
    return [(1,) * (n - len(d)) + tuple(d) for d in dims]


def _equal(first: Dims, *others: Dims, skip: int = -1) -> Any:
    """The mask of the candidates where every axis (but `skip`) of the others equals first's."""
    ok = True
    for dims in others:
        for j, (p, q) in enumerate(zip(first, dims)):
            if j != skip:
                ok = ok & (p == q)
    return ok


def _add_hint(a: Shape, b: Shape) -> str:
    if len(a) == len(b) == 4 and a[1] != b[1] and a[2:] == b[2:]:
        return (f"project the shortcut with a 1x1 conv to {a[1]} channels, or zero-pad its "
                "channels with pad(channels: ...)")
    if len(a) == len(b) == 4 and a[2:] != b[2:]:
        return "the spatial sizes differ: give the shortcut the same stride as the main path"
    return ""


@register
@record
class Mul(Op):
    """Elementwise product with numpy's broadcasting: `x * gate` with a gate [N, C, 1, 1]
    (squeeze-and-excitation), `x * gamma` with a layer scale [C, 1, 1] (ConvNeXt)."""

    name = "mul"
    inputs = (2, 2)
    summary = "a * b: numpy's broadcasting (SE gates [N, C, 1, 1], layer scales [C, 1, 1])"
    mac_rule = "C x H x W (the output): one multiply per element"

    def output_shape(self, *xs: Shape) -> Shape:
        a, b = xs
        y = broadcast(a, b)
        if y is None:
            raise OpError(f"cannot multiply {fmt_shape(a)} by {fmt_shape(b)}: aligned at the "
                          "last axis, every axis must match or be 1", at="x1", code="E303")
        return y

    def size_rule(self, dims: Sequence[Dims], shapes: Sequence[Shape]) -> tuple[Dims, Any]:
        ok = True
        for p, q in zip(*_aligned(dims)):
            ok = ok & ((p == q) | (p == 1) | (q == 1))
        return tuple(p * (q == 1) + q * (q != 1) for p, q in zip(*_aligned(dims))), ok

    def mac_terms(self, y: Shape, *xs: Shape) -> tuple[int, ...]:
        return tuple(dim_value(v) for v in y[1:])

    def to_onnx(self, emit: Emitter, y: Value, *xs: Value) -> str:
        return emit.node("Mul", [xs[0].name, xs[1].name])


@register
@record
class Concat(Op):
    """Join tensors along an axis (default 1, the channels): inception modules, U-Net skips."""

    name = "concat"
    inputs = (1, None)
    summary = "{call}: all other axes must match"
    positional = ("axis",)
    mac_rule = "0: data movement only"

    axis: int = axis_argument(1)

    def output_shape(self, *xs: Shape) -> Shape:
        r = len(xs[0])
        if not 1 <= (self.axis % r if -r <= self.axis < r else -1) < r:
            raise OpError(f"axis {self.axis} is not a non-batch axis of a {r}-D input", at="axis",
                          code="E206")
        ax = self.axis % r
        for i, x in enumerate(xs[1:], 1):
            if len(x) != r or any(x[j] != xs[0][j] for j in range(1, r) if j != ax):
                raise OpError(f"cannot concatenate {fmt_shape(xs[0])} and {fmt_shape(x)} on "
                              f"axis {ax}: the other axes must match", at=f"x{i}", code="E303",
                              hint="crop the larger one to the other's size with crop(x, like: y)"
                              if len(x) == r and r >= 3 else "")
        total = sum(int(x[ax]) for x in xs)
        return tuple(total if j == ax else d for j, d in enumerate(xs[0]))

    def size_rule(self, dims: Sequence[Dims], shapes: Sequence[Shape]) -> tuple[Dims, Any]:
        ax = self.axis % len(shapes[0]) - 1  # dims leave out the batch
        total = sum(d[ax] for d in dims)
        return (tuple(total if j == ax else v for j, v in enumerate(dims[0])),
                _equal(dims[0], *dims[1:], skip=ax))

    def to_onnx(self, emit: Emitter, y: Value, *xs: Value) -> str:
        return emit.node("Concat", [x.name for x in xs], axis=self.axis % len(y.shape))
