"""Adaptive average pooling (adaptive_avgpool): to a fixed output size, as torch's
AdaptiveAvgPool, windows of uneven sizes included."""

from __future__ import annotations

import math
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
    check_positive,
    dim_value,
    expect_rank,
    fmt_shape,
    per_axis,
)
from netdsl.ops.types import Ints
from netdsl.record import record


def _bins(n: int, m: int) -> list[tuple[int, int]]:
    """torch's adaptive windows: output o of m averages inputs [floor(o*n/m), ceil((o+1)*n/m))."""
    return [(o * n // m, -(-(o + 1) * n // m)) for o in range(m)]


def _widest(n: int, m: int) -> int:
    """The widest window of _bins(n, m): n / m when m divides n (the windows tile), else from
    the bins (few: MAX_UNEVEN bounds n * m)."""
    return n // m if n % m == 0 else max(e - s for s, e in _bins(n, m))


def _summed(n: Any, m: int) -> Any:
    """The inputs summed over all of _bins(n, m): n + m - gcd(n, m), as the windows overlap by
    one wherever a boundary i*n/m (0 < i < m) is not whole. gcd(n, m) is written as the sum of
    phi(d) over the divisors d of m that divide n, so that a size which is a formula (anysize)
    gives one."""
    if isinstance(n, int):
        return n + m - math.gcd(n, m)
    return n + m - sum(_phi(d) * (n % d == 0) for d in range(1, m + 1) if m % d == 0)


def _phi(d: int) -> int:
    """Euler's totient: the k in 1..d with gcd(k, d) = 1."""
    return sum(1 for k in range(1, d + 1) if math.gcd(k, d) == 1)


MAX_UNEVEN = 2**20  # elements of the averaging matrix that uneven adaptive windows lower to


@register
@record
class AdaptiveAvgPool(Op):
    """Average pooling to a fixed output size, as torch's AdaptiveAvgPool (VGG's and AlexNet's
    `avgpool`): along an axis of n inputs, output o averages inputs floor(o*n/m) up to
    ceil((o+1)*n/m). Equal sizes: the identity; m divides n: a plain average pool; otherwise the
    windows differ in size, and the lowering multiplies by constant averaging matrices."""

    name = "adaptive_avgpool"
    summary = "adaptive average pooling: {call} -> [N, C, *size]"
    positional = ("size",)
    mac_rule = "C x (window elements summed over each axis's outputs): one add per element"

    size: Ints

    def validate(self) -> None:
        check_positive(self, "size")

    def _sizes(self, x: Shape) -> tuple[int, ...]:
        expect_rank(x, (3, 4, 5), "[N, C, spatial...]")
        return per_axis(self.size, len(x) - 2, "size")

    def output_shape(self, *xs: Shape) -> Shape:
        ms = self._sizes(xs[0])
        if len(ms) > 2 and any(int(n) % m for n, m in zip(xs[0][2:], ms)):
            raise OpError(f"adaptive pooling of a 3-D input needs output sizes that divide the "
                          f"input sizes {fmt_shape(xs[0][2:])}", at="size", code="E206")
        for n, m in zip(xs[0][2:], ms):
            if int(n) % m and int(n) * m > MAX_UNEVEN:
                raise OpError(f"adaptive pooling of {n} inputs to {m} outputs needs an averaging "
                              f"matrix of {int(n) * m:,} elements, over the limit of "
                              f"{MAX_UNEVEN:,}", at="size", code="E215",
                              hint="choose an output size that divides the input size")
        return (xs[0][0], xs[0][1], *ms)

    def size_rule(self, dims: Sequence[Dims], shapes: Sequence[Shape]) -> tuple[Dims, Any]:
        x, ms = dims[0], self._sizes(shapes[0])
        ok = True  # any size >= 1 (a 3-D input: sizes the outputs divide)
        for n, m in zip(x[1:], ms):
            ok = ok & (n % m == 0) if len(ms) > 2 else ok & (n >= 1)
        return (x[0], *(n * 0 + m for n, m in zip(x[1:], ms))), ok

    def mac_terms(self, y: Shape, *xs: Shape) -> tuple[int, ...]:
        ns = [dim_value(v) for v in xs[0][2:]]
        return (dim_value(xs[0][1]), *(_summed(n, m) for n, m in zip(ns, self._sizes(xs[0]))))

    def window(self, *xs: Shape) -> Window:
        # exact when m divides n; otherwise the widest window at the mean spacing n/m
        ns, ms = [int(v) for v in xs[0][2:]], self._sizes(xs[0])
        ext = tuple(_widest(n, m) for n, m in zip(ns, ms))
        return Window("local", ext, tuple(n / m for n, m in zip(ns, ms)),
                      tuple((e - 1) / 2 for e in ext))

    def to_onnx(self, emit: Emitter, y: Value, *xs: Value) -> str:
        x = xs[0]
        ns, ms = [int(v) for v in x.shape[2:]], self._sizes(x.shape)
        if x.spatial_varies():
            return _adaptive_any_size(emit, x, ms)
        if all(n % m == 0 for n, m in zip(ns, ms)):
            if list(ms) == ns:
                return x.name
            k = [n // m for n, m in zip(ns, ms)]
            return emit.node("AveragePool", [x.name], kernel_shape=k, strides=k)
        out = x.name  # y = A_h @ x @ A_w^T: each A averages the windows of one axis
        for axis, (n, m) in reversed(list(enumerate(zip(ns, ms)))):
            a = [[1 / (e - s) if s <= i < e else 0.0 for i in range(n)] for s, e in _bins(n, m)]
            if axis == len(ns) - 1:
                out = emit.node("MatMul", [out, emit.const([list(r) for r in zip(*a)], "float32")])
            else:
                out = emit.node("MatMul", [emit.const(a, "float32"), out])
        return out


def _adaptive_any_size(emit: Emitter, x: Value, ms: Sequence[int]) -> str:
    """Adaptive average pooling whose windows follow the input's size at run time: along each
    axis of n inputs, output o is (S[e] - S[b]) / (e - b) with b = floor(o n / m), e = ceil((o +
    1) n / m) and S the running sum with a 0 in front (CumSum); one axis after the other, as
    the mean over a box is the mean of the means along its axes."""
    if all(m == 1 for m in ms):
        return emit.node("GlobalAveragePool", [x.name])
    out, rank = x.name, len(x.shape)
    for axis, m in enumerate(ms, 2):
        n = emit.node("Shape", [x.name], start=axis, end=axis + 1)
        o = emit.const(list(range(m)))
        begin = emit.node("Div", [emit.node("Mul", [o, n]), emit.const(m)])
        top = emit.node("Add", [emit.node("Mul", [emit.const(list(range(1, m + 1))), n]),
                                emit.const(m - 1)])
        end = emit.node("Div", [top, emit.const(m)])
        sums = emit.node("CumSum", [out, emit.const(axis)])
        front = [0] * (2 * rank)
        front[axis] = 1
        sums = emit.node("Pad", [sums, emit.const(front)])
        total = emit.node("Sub", [emit.node("Gather", [sums, end], axis=axis),
                                  emit.node("Gather", [sums, begin], axis=axis)])
        width = emit.node("Cast", [emit.node("Sub", [end, begin])], to=1)  # 1: FLOAT
        width = emit.node("Reshape", [width, emit.const([m] + [1] * (rank - 1 - axis))])
        out = emit.node("Div", [total, width])
    return out
