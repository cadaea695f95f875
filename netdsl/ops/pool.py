"""Pooling: max and average over a window, and their global forms."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from netdsl.ops import register
from netdsl.ops.base import (
    GLOBAL,
    Dims,
    Emitter,
    Geometry,
    Op,
    OpError,
    Shape,
    Value,
    Window,
    axis_names,
    check_positive,
    dim_value,
    expect_rank,
    fmt_shape,
    per_axis,
    pinned,
    rounds_down,
    same_pads_vary,
    size_formula,
    sliding,
    window_geometry,
    window_kernel,
    window_out,
    window_sizes,
)
from netdsl.ops.signature import argument, network_option, tensor_input
from netdsl.ops.types import Ints, Pad, Tensor


@dataclass(frozen=True, slots=True)
class _Pool(Op):
    positional: ClassVar[tuple[str, ...]] = ("kernel", "stride", "pad", "dilation", "ceil", "floor")

    kernel: Ints
    stride: Ints | None = argument(None, shown="kernel")  # defaults to the kernel
    pad: Pad = 0
    dilation: Ints = 1
    ceil: bool = False
    floor: bool | None = network_option("floor", shown="false")

    def validate(self) -> None:
        check_positive(self, "kernel", "dilation")
        if self.stride is not None:
            check_positive(self, "stride")
        if not isinstance(self.pad, str):
            check_positive(self, "pad", allow_zero=("pad",))

    def _geometry(self, x: Shape) -> Geometry:
        stride = self.stride if self.stride is not None else self.kernel
        g = window_geometry(x, self.kernel, stride, self.dilation, self.pad)
        for k, pb, pe in zip(g.kernel, g.pad_begin, g.pad_end):
            if max(pb, pe) > k // 2:
                raise OpError(f"pad {max(pb, pe)} is more than half the kernel {k}: "
                              "some windows would see only padding",
                              at="pad", code="E206")
        return g

    def output_shape(self, *xs: Shape) -> Shape:
        x = xs[0]
        k, s, d, pb, pe = self._geometry(x)
        names = axis_names(len(k))
        sizes = tuple(window_out(int(x[2 + i]), k[i], s[i], pb[i], pe[i], d[i],
                                 floor=rounds_down(self.floor, self.pad), ceil=self.ceil,
                                 axis=names[i], max_pad=k[i] // 2)
                      for i in range(len(k)))
        return (x[0], x[1], *sizes)

    def size_rule(self, dims: Sequence[Dims], shapes: Sequence[Shape]) -> tuple[Dims, Any]:
        x = dims[0]
        stride = self.stride if self.stride is not None else self.kernel
        sizes, ok = window_sizes(x, self.kernel, stride, self.dilation, self.pad,
                                 floor=rounds_down(self.floor, self.pad), ceil=self.ceil,
                                 max_pad=True)
        return (x[0], *sizes), ok

    def mac_terms(self, y: Shape, *xs: Shape) -> tuple[int, ...]:
        return (*(dim_value(v) for v in y[1:]), *window_kernel(xs[0], self.kernel))

    def window(self, *xs: Shape) -> Window:
        k, s, d, pb, _ = self._geometry(xs[0])
        return sliding(k, s, d, pb)

    def arithmetic(self, y: Shape, *xs: Shape) -> list[str]:
        k, s, d, pb, pe = self._geometry(xs[0])
        lines = []
        for i, name in enumerate(axis_names(len(k))):
            n, out = int(xs[0][2 + i]), int(y[2 + i])
            text = size_formula(n, k[i], s[i], pb[i], pe[i], d[i], out,
                                "ceil" if self.ceil else "floor")
            if self.ceil and -(-(n + pb[i] + pe[i] - d[i] * (k[i] - 1) - 1) // s[i]) + 1 > out:
                text += " (one fewer: the last window would start in the end padding)"
            lines.append(f"{name}: {text}")
        return lines

    def _attrs(self, v: Value, pads: Sequence[int] | None = None) -> dict[str, object]:
        x = v.shape
        k, s, d, pb, pe = self._geometry(x)
        ceil = self.ceil
        where: dict[str, object]
        if v.spatial_varies():
            # NOTE: for every input size: ceil mode as declared (onnxruntime drops a last window
            # that would start in the end padding, as netdsl and torch do), and `pad: same` as
            # SAME_UPPER where its padding depends on the size
            where = dict(pads=[*pb, *pe])
            if same_pads_vary(self.pad, k, s, d):
                if any(n != 1 for n in d):  # NOTE: onnxruntime 1.32 computes a wrong size then
                    raise pinned("`pad: same` with a stride and a dilation pads by the input "
                                 "size, and onnxruntime's pools take SAME padding only without "
                                 "a dilation", at="pad")
                where = dict(auto_pad="SAME_UPPER")
        else:
            pb, pe, ceil = self._onnx_pads(x)
            where = dict(pads=list(pads) if pads is not None else [*pb, *pe])
        attrs: dict[str, object] = dict(kernel_shape=list(k), strides=list(s), **where,
                                        ceil_mode=int(ceil))
        if any(v != 1 for v in d):
            attrs["dilations"] = list(d)
        return attrs

    def _onnx_pads(self, x: Shape) -> tuple[tuple[int, ...], tuple[int, ...], bool]:
        """ONNX's begin and end pads and ceil mode: without ceil mode (and the end padding that
        gives its sizes) where it drops a last window on some axis."""
        _, _, _, pb, pe = self._geometry(x)
        if self.ceil:
            drops, ends = self._ceil_ends(x)
            if drops:
                return pb, ends, False
        return pb, pe, self.ceil

    def _ceil_ends(self, x: Shape) -> tuple[bool, tuple[int, ...]]:
        """Whether ceil mode drops a last window that would start in the end padding on some
        axis (netdsl, torch and onnxruntime drop it; onnx's shape inference before opset 22 does
        not), and the end padding that gives ceil mode's sizes without ceil mode: the same
        windows, the last one ending where the padding (or the overflow past it) ends."""
        k, s, d, pb, pe = self._geometry(x)
        y = self.output_shape(x)
        drops, ends = False, []
        for i in range(len(k)):
            n, out, span = int(x[2 + i]), int(y[2 + i]), d[i] * (k[i] - 1) + 1
            drops = drops or -(-(n + pb[i] + pe[i] - span) // s[i]) + 1 > out
            ends.append(max(0, (out - 1) * s[i] + span - n - pb[i]))
        return drops, tuple(ends)


@register
@dataclass(frozen=True, slots=True)
class MaxPool(_Pool):
    """Max pooling; stride defaults to the kernel. With `indices: true` the call gives a list:
    the pooled tensor and where each maximum came from, for maxunpool (SegNet's decoder;
    nn.MaxPool2d(return_indices=True)): `p, idx = x -> maxpool(2, indices: true)`."""

    name = "maxpool"
    mac_rule = ("C x Hout x Wout x Kh x Kw: one compare per window element (with `indices: "
                "true` the indices' node counts as many again: ONNX's MaxPool computes them "
                "anew for its second output)")
    summary = "max pooling: {call}"

    indices: bool = False

    def parts(self, *xs: Shape) -> tuple[Op, ...]:
        if not self.indices:
            return ()
        plain = dataclasses.replace(self, indices=False)
        return plain, MaxPoolIndices(**{f.name: getattr(plain, f.name)
                                        for f in dataclasses.fields(plain)})

    def to_onnx(self, emit: Emitter, y: Value, *xs: Value) -> str:
        return emit.node("MaxPool", [xs[0].name], **self._attrs(xs[0]))


@dataclass(frozen=True, slots=True)
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
@dataclass(frozen=True, slots=True)
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


@register
@dataclass(frozen=True, slots=True)
class AvgPool(_Pool):
    """Average pooling; with count_include_pad (default true, as PyTorch) the padded zeros count
    in the mean."""

    name = "avgpool"
    mac_rule = "C x Hout x Wout x Kh x Kw: one add per window element (the divide is folded)"
    summary = "average pooling: {call}"
    positional = (*_Pool.positional, "count_include_pad")

    count_include_pad: bool = True

    def validate(self) -> None:
        _Pool.validate(self)
        dil = (self.dilation,) if isinstance(self.dilation, int) else self.dilation
        if any(v != 1 for v in dil):
            raise OpError("average pooling takes no dilation", at="dilation", code="E206")

    def to_onnx(self, emit: Emitter, y: Value, *xs: Value) -> str:
        x = xs[0]
        if x.spatial_varies():
            return emit.node("AveragePool", [x.name],
                             count_include_pad=int(self.count_include_pad), **self._attrs(x))
        pb, ends, _ = self._onnx_pads(x.shape)
        pe = self._geometry(x.shape).pad_end
        if not (self.count_include_pad and any(e > p for e, p in zip(ends, pe))):
            return emit.node("AveragePool", [x.name],
                             count_include_pad=int(self.count_include_pad), **self._attrs(x))
        # NOTE: windows past the end padding without ceil mode (it drops a last window on
        # another axis): torch's divisor counts the declared padding but not the overflow, so
        # the padding becomes a Pad node's zeros and the overflow pads that do not count
        padded = emit.node("Pad", [x.name, emit.const([0, 0, *pb, 0, 0, *pe])])
        overflow = [0] * len(pb) + [max(0, e - p) for e, p in zip(ends, pe)]
        return emit.node("AveragePool", [padded], count_include_pad=0,
                         **self._attrs(x, overflow))


@dataclass(frozen=True, slots=True)
class _GlobalPool(Op):

    def output_shape(self, *xs: Shape) -> Shape:
        expect_rank(xs[0], (3, 4, 5), "[N, C, spatial...]")
        return (xs[0][0], xs[0][1], *([1] * (len(xs[0]) - 2)))

    def size_rule(self, dims: Sequence[Dims], shapes: Sequence[Shape]) -> tuple[Dims, Any]:
        x = dims[0]
        return (x[0], *(n * 0 + 1 for n in x[1:])), True

    def mac_terms(self, y: Shape, *xs: Shape) -> tuple[int, ...]:
        return tuple(dim_value(v) for v in xs[0][1:])

    def window(self, *xs: Shape) -> Window:
        return GLOBAL


@register
@dataclass(frozen=True, slots=True)
class GlobalAvgPool(_GlobalPool):
    """Mean over all spatial positions: [N, C, H, W] -> [N, C, 1, 1]."""

    name = "globalavgpool"
    mac_rule = "C x Hin x Win: one add per input element"
    summary = "global average pooling: [N, C, H, W] -> [N, C, 1, 1]"

    def to_onnx(self, emit: Emitter, y: Value, *xs: Value) -> str:
        return emit.node("GlobalAveragePool", [xs[0].name])


@register
@dataclass(frozen=True, slots=True)
class GlobalMaxPool(_GlobalPool):
    """Max over all spatial positions: [N, C, H, W] -> [N, C, 1, 1]."""

    name = "globalmaxpool"
    mac_rule = "C x Hin x Win: one compare per input element"
    summary = "global max pooling: [N, C, H, W] -> [N, C, 1, 1]"

    def to_onnx(self, emit: Emitter, y: Value, *xs: Value) -> str:
        return emit.node("GlobalMaxPool", [xs[0].name])


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
@dataclass(frozen=True, slots=True)
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
