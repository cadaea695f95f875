"""Structural ops: flatten, reshape, add, broadcast multiply, concat, crop, pad."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
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
    axis_names,
    broadcast,
    check_positive,
    dim_value,
    expect_rank,
    fmt_shape,
    moved,
    numel,
    per_axis,
    pinned,
    shifted,
)
from netdsl.ops.signature import argument, axis_argument, tensor_input
from netdsl.ops.types import Ints, Tensor


@register
@dataclass(frozen=True, slots=True)
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
@dataclass(frozen=True, slots=True)
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
@dataclass(frozen=True, slots=True)
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
@dataclass(frozen=True, slots=True)
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
@dataclass(frozen=True, slots=True)
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


@register
@dataclass(frozen=True, slots=True)
class Crop(Op):
    """Centre crop of the spatial axes, to `size` or to the spatial size of the tensor `like`
    (U-Net's copy and crop). Odd margins put the extra row at the end. `offset` starts the crop
    there instead of centring it (FCN's crops, which align receptive fields)."""

    name = "crop"
    inputs = (1, 2)
    summary = "{call}: crop the spatial axes"
    positional = ("size", "offset")
    one_of = ("size", "like")
    mac_rule = "0: data movement only"

    size: Ints | None = argument(None, shown="[h, w]")
    like: Tensor | None = tensor_input()
    offset: Ints | None = argument(None, shown="centred")

    def validate(self) -> None:
        if (self.size is None) == (self.like is None):
            raise OpError("crop takes exactly one of `size` and `like`", at="size", code="E206")
        if self.size is not None:
            check_positive(self, "size")
        if self.offset is not None:
            check_positive(self, "offset", allow_zero=("offset",))

    def _target(self, *xs: Shape) -> tuple[int, ...]:
        x = xs[0]
        expect_rank(x, (3, 4, 5), "[N, C, spatial...]")
        if self.size is not None:
            return per_axis(self.size, len(x) - 2, "size")
        ref = xs[1]
        if len(ref) != len(x):
            raise OpError(f"cannot crop {fmt_shape(x)} like {fmt_shape(ref)}: ranks differ",
                          at="like", code="E303")
        return tuple(int(v) for v in ref[2:])

    def _starts(self, *xs: Shape) -> tuple[int, ...]:
        t = self._target(*xs)
        if self.offset is not None:
            return per_axis(self.offset, len(t), "offset")
        return tuple((int(n) - m) // 2 for n, m in zip(xs[0][2:], t))

    def output_shape(self, *xs: Shape) -> Shape:
        t = self._target(*xs)
        for n, m in zip(xs[0][2:], t):
            if m > int(n):
                raise OpError(f"cannot crop {fmt_shape(xs[0])} to a larger size {list(t)}",
                              at="like" if self.like is not None else "size", code="E303")
        starts = self._starts(*xs)
        if any(s + m > int(n) for s, m, n in zip(starts, t, xs[0][2:])):
            raise OpError(f"a crop of {list(t)} from offset {list(starts)} runs past the end of "
                          f"{fmt_shape(xs[0])}", at="offset", code="E303")
        return (xs[0][0], xs[0][1], *t)

    def size_rule(self, dims: Sequence[Dims], shapes: Sequence[Shape]) -> tuple[Dims, Any]:
        x = dims[0]
        n = len(x) - 1
        targets = (list(dims[1][1:]) if self.like is not None
                   else [v * 0 + m for v, m in zip(x[1:], per_axis(self.size or 0, n, "size"))])
        ok = True
        for i, (v, m) in enumerate(zip(x[1:], targets)):
            start = per_axis(self.offset, n, "offset")[i] if self.offset is not None else 0
            ok = ok & (m <= v) & (start + m <= v)
        return (x[0], *targets), ok

    def window(self, *xs: Shape) -> Window:
        return shifted(self._starts(*xs))  # output 0 is input `start`

    def value_inputs(self, n: int) -> range:
        return range(1)  # `like` gives a size

    def arithmetic(self, y: Shape, *xs: Shape) -> list[str]:
        starts = self._starts(*xs)
        how = "" if self.offset is not None else " = ({} - {})//2"
        return [f"{a}: {y[2 + i]} of {xs[0][2 + i]}, from {starts[i]}"
                + how.format(xs[0][2 + i], y[2 + i]) for i, a in enumerate(axis_names(len(y) - 2))]

    def to_onnx(self, emit: Emitter, y: Value, *xs: Value) -> str:
        axes = list(range(2, len(y.shape)))
        if any(x.spatial_varies() for x in xs):
            return self._any_size(emit, xs, axes)
        starts = self._starts(*(x.shape for x in xs))
        ends = [s + int(n) for s, n in zip(starts, y.shape[2:])]
        return emit.node("Slice", [xs[0].name, emit.const(list(starts)), emit.const(ends),
                                   emit.const(axes)])

    def _any_size(self, emit: Emitter, xs: Sequence[Value], axes: list[int]) -> str:
        """The crop with its size (`like`'s) and its centred start computed at run time."""
        if self.like is not None and xs[1].spatial_varies():
            size = emit.node("Shape", [xs[1].name], start=2)
        else:
            size = emit.const(list(self._target(*(x.shape for x in xs))))
        if self.offset is not None:
            starts = emit.const(list(per_axis(self.offset, len(axes), "offset")))
        else:  # (n - m) // 2: Div of non-negative int64 rounds down
            margin = emit.node("Sub", [emit.node("Shape", [xs[0].name], start=2), size])
            starts = emit.node("Div", [margin, emit.const(2)])
        ends = emit.node("Add", [starts, size])
        return emit.node("Slice", [xs[0].name, starts, ends, emit.const(axes)])


@register
@dataclass(frozen=True, slots=True)
class Pad(Op):
    """Pad the spatial axes (zeros, reflect or edge) and/or the channels with zeros (ResNet's
    parameter-free shortcut, option A). `amount` is an int, [per axis] or [begins..., ends...];
    `channels` an int (added at the end) or [before, after]."""

    name = "pad"
    summary = "{call}"
    positional = ("amount", "mode", "channels")
    mac_rule = "0: data movement only"

    amount: Ints = 0
    mode: str = argument("zeros", shown='"zeros"|"reflect"|"edge"')
    channels: Ints = 0

    def validate(self) -> None:
        if self.mode not in ("zeros", "reflect", "edge"):
            raise OpError(f'unknown pad mode "{self.mode}"', at="mode", code="E206",
                          hint='use "zeros", "reflect" or "edge"')
        check_positive(self, "amount", "channels", allow_zero=("amount", "channels"))
        if self.channels != 0 and self.mode != "zeros":
            raise OpError("channels are padded with zeros only", at="mode", code="E206")

    def _pads(self, x: Shape) -> tuple[list[int], list[int]]:
        n = len(x) - 2
        a = self.amount
        if isinstance(a, int) or len(a) in (1, n):
            begins = list(per_axis(a, n, "amount"))
            ends = list(begins)
        elif len(a) == 2 * n:
            begins, ends = list(a[:n]), list(a[n:])
        else:
            raise OpError(f"amount has {len(a)} values for {n} spatial axes", at="amount",
                          code="E206")
        c = (0, self.channels) if isinstance(self.channels, int) else tuple(self.channels)
        if len(c) != 2:
            raise OpError("channels takes an int or [before, after]", at="channels", code="E206")
        return [0, c[0], *begins], [0, c[1], *ends]

    def output_shape(self, *xs: Shape) -> Shape:
        x = xs[0]
        expect_rank(x, (3, 4, 5), "[N, C, spatial...]")
        b, e = self._pads(x)
        if self.mode == "reflect":
            for i in range(2, len(x)):
                if max(b[i], e[i]) >= int(x[i]):
                    raise OpError(f"reflect padding {max(b[i], e[i])} needs an input wider than "
                                  f"that, but it is {x[i]}", at="amount")
        return (x[0], *(int(x[i]) + b[i] + e[i] for i in range(1, len(x))))

    def size_rule(self, dims: Sequence[Dims], shapes: Sequence[Shape]) -> tuple[Dims, Any]:
        b, e = self._pads(shapes[0])
        ok = True
        if self.mode == "reflect":
            for i, v in enumerate(dims[0][1:], 2):
                ok = ok & (v > max(b[i], e[i]))
        return tuple(v + b[i] + e[i] for i, v in enumerate(dims[0], 1)), ok

    def window(self, *xs: Shape) -> Window:
        return shifted([-p for p in self._pads(xs[0])[0][2:]])  # output 0 is input -begin

    def arithmetic(self, y: Shape, *xs: Shape) -> list[str]:
        b, e = self._pads(xs[0])
        names = ("channels", *axis_names(len(y) - 2))
        return [f"{a}: {b[i + 1]} + {xs[0][i + 1]} + {e[i + 1]} = {y[i + 1]}"
                for i, a in enumerate(names) if b[i + 1] or e[i + 1]]

    def to_onnx(self, emit: Emitter, y: Value, *xs: Value) -> str:
        b, e = self._pads(xs[0].shape)
        mode = {"zeros": "constant", "reflect": "reflect", "edge": "edge"}[self.mode]
        return emit.node("Pad", [xs[0].name, emit.const(b + e)], mode=mode)

