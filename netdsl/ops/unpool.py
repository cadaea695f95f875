"""Max unpooling (maxunpool) and the indices it reads, the second value of `maxpool(...,
indices: true)` (MaxPoolIndices, made by MaxPool.parts)."""

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
    check_positive,
    fmt_shape,
)
from netdsl.ops.geometry import Geometry, window_geometry
from netdsl.ops.pool import MaxPool
from netdsl.ops.signature import argument, tensor_input
from netdsl.ops.types import Ints, Tensor
from netdsl.record import record


@record
class MaxPoolIndices(MaxPool):
    """The indices of a max pool (`maxpool(..., indices: true)`'s second value): where in the
    input each maximum is, as ONNX MaxPool's second output, a flat index into the whole input
    tensor (torch's count within one channel's plane: the same places). maxunpool reads them."""

    name = "maxpool_indices"  # NOTE: not registered: made only by maxpool's parts()
    dtype = "int64"
    mac_rule = ("C x Hout x Wout x Kh x Kw: the pool's compares again (ONNX's MaxPool computes "
                "them for its second output)")

    def to_onnx(self, emit: Emitter, y: Value, *xs: Value) -> str:
        return emit.node_outputs("MaxPool", [xs[0].name], 2, **self._attrs(xs[0]))[1]


@register
@record
class MaxUnpool(Op):
    """Max unpooling (Zeiler and Fergus 2014; SegNet, Badrinarayanan et al. 2017): every value
    goes back to where its max pool found the maximum, zeros elsewhere, as nn.MaxUnpool2d. Give
    the pool's indices and its kernel, stride and pad; `like:` its input, where the pool
    rounded down (the default size is (in - 1) x stride - 2 x pad + kernel)."""

    name = "maxunpool"
    inputs = (1, 3)
    summary = "{call}: the inverse of maxpool(..., indices: true)"
    positional = ("kernel", "stride", "pad")
    mac_rule = "0: data movement only (each value written to its place)"

    kernel: Ints
    stride: Ints | None = argument(None, shown="kernel")
    pad: Ints = 0
    indices: Tensor | None = tensor_input(shown="idx")
    like: Tensor | None = tensor_input()

    def validate(self) -> None:
        if self.indices is None:
            raise OpError("needs the indices of its max pool: `indices: idx`", at="indices",
                          code="E204", hint="`p, idx = x -> maxpool(2, indices: true)`, then "
                          "`p -> ... -> maxunpool(2, indices: idx)`")
        check_positive(self, "kernel")
        if self.stride is not None:
            check_positive(self, "stride")
        check_positive(self, "pad", allow_zero=("pad",))

    def _geometry(self, x: Shape) -> Geometry:
        stride = self.stride if self.stride is not None else self.kernel
        return window_geometry(x, self.kernel, stride, 1, self.pad)

    def output_shape(self, *xs: Shape) -> Shape:
        x, idx = xs[0], xs[1]
        k, s, _, pb, pe = self._geometry(x)
        if tuple(idx[1:]) != tuple(x[1:]):
            raise OpError(f"the indices {fmt_shape(idx)} are not the shape of the input "
                          f"{fmt_shape(x)}", at="indices", code="E303")
        sizes = [(int(n) - 1) * si - b - e + ki for n, si, b, e, ki in zip(x[2:], s, pb, pe, k)]
        if self.like is None:
            return (x[0], x[1], *sizes)
        ref = xs[2]
        if len(ref) != len(x) or ref[1] != x[1] or any(
                not n <= int(m) < n + si for n, m, si in zip(sizes, ref[2:], s)):
            raise OpError(f"cannot unpool {fmt_shape(x)} to the size of {fmt_shape(ref)}: "
                          f"each axis may be {sizes} plus less than the stride", at="like",
                          code="E303")
        return (x[0], x[1], *(int(m) for m in ref[2:]))

    def size_rule(self, dims: Sequence[Dims], shapes: Sequence[Shape]) -> tuple[Dims, Any]:
        x = dims[0]
        k, s, _, pb, pe = self._geometry(shapes[0])
        sizes = [(n - 1) * si - b - e + ki for n, si, b, e, ki in zip(x[1:], s, pb, pe, k)]
        ok = True
        for p, q in zip(x, dims[1]):  # the indices are the input's shape
            ok = ok & (p == q)
        if self.like is None:
            return (x[0], *sizes), ok
        ref = dims[2]  # its size: the default plus less than the stride
        for n, m, si in zip(sizes, ref[1:], s):
            ok = ok & (n <= m) & (m < n + si)
        return (x[0], *ref[1:]), ok & (ref[0] == x[0])

    def value_inputs(self, n: int) -> range:
        return range(2)  # `like` gives a size

    def window(self, *xs: Shape) -> Window:
        # as a transposed conv: output o comes from input i with i*S - P + t = o (0 <= t < F)
        k, s, _, pb, _ = self._geometry(xs[0])
        return Window("local", tuple((ki - 1) // si + 1 for ki, si in zip(k, s)),
                      tuple(1 / si for si in s),
                      tuple((p - (ki - 1) / 2) / si for ki, si, p in zip(k, s, pb)))

    def to_onnx(self, emit: Emitter, y: Value, *xs: Value) -> str:
        k, s, _, pb, pe = self._geometry(xs[0].shape)
        size: list[str] = []
        if self.like is not None and not (xs[0].spatial_varies() or xs[2].spatial_varies()):
            # NOTE: onnx's shape inference gives no shape to a MaxUnpool with an output_shape
            # input (not even a constant one); its kernel only sizes the output ((in - 1) x
            # stride - pads + kernel: the indices place every value), so a kernel larger by
            # what `like` adds gives that size in a form onnx infers
            k = tuple(int(m) - (int(n) - 1) * si + b + e
                      for m, n, si, b, e in zip(y.shape[2:], xs[0].shape[2:], s, pb, pe))
        elif self.like is not None:  # sizes known only when it runs: the reference's shape
            size = [emit.node("Shape", [xs[2].name])]
        return emit.node("MaxUnpool", [xs[0].name, xs[1].name, *size], kernel_shape=list(k),
                         strides=list(s), pads=[*pb, *pe])
