"""The spatial border: crop (to a size, or to a tensor's, as U-Net's copy and crop) and pad
(zeros, reflect or edge; and channels, as ResNet's parameter-free shortcut)."""

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
    expect_rank,
    fmt_shape,
    per_axis,
    shifted,
)
from netdsl.ops.signature import argument, tensor_input
from netdsl.ops.types import Ints, Tensor
from netdsl.record import record


@register
@record
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
@record
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

