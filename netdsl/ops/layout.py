"""Ops that rearrange a tensor without computing on it: slice, split, chunk, permute, transpose,
channel_shuffle; and matmul. Split and chunk yield several values: each part is a slice node
(Op.parts), so the IR, the analysis and the export only ever see single-valued nodes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from netdsl.ops import register
from netdsl.ops.base import (
    POINTWISE,
    UNKNOWN,
    Dim,
    Dims,
    Emitter,
    Op,
    OpError,
    Shape,
    Value,
    Window,
    check_positive,
    data_axis,
    dim_value,
    fmt_shape,
    moved,
    pinned,
    require_fixed,
)
from netdsl.ops.signature import argument, axis_argument
from netdsl.ops.types import Ints
from netdsl.record import record


@register
@record
class Slice(Op):
    """Elements start, start + step, ... before end along one axis (Python's x[start:end:step];
    a negative start or end counts from the axis's end; torch.narrow is `slice(axis, s, s + n)`)."""

    name = "slice"
    summary = "{call}: keep start:end:step of one axis"
    positional = ("axis", "start", "end", "step")
    mac_rule = "0: data movement only"

    axis: int = axis_argument(1)
    start: int = 0
    end: int | None = argument(None, shown="the end")
    step: int = 1

    def validate(self) -> None:
        check_positive(self, "step")

    def _range(self, x: Shape) -> tuple[int, range]:
        ax = data_axis(self.axis, x)
        n = int(x[ax])
        kept = range(n)[self.start:self.end:self.step]
        if not len(kept):
            end = n if self.end is None else self.end
            raise OpError(f"slice {self.start}:{end}:{self.step} of axis {ax} (size {n}) is "
                          "empty", at="start", code="E301")
        return ax, kept

    def output_shape(self, *xs: Shape) -> Shape:
        ax, kept = self._range(xs[0])
        return tuple(len(kept) if i == ax else d for i, d in enumerate(xs[0]))

    def size_rule(self, dims: Sequence[Dims], shapes: Sequence[Shape]) -> tuple[Dims, Any]:
        ax = data_axis(self.axis, shapes[0]) - 1  # dims leave out the batch
        n = dims[0][ax]
        # NOTE: Python's slice rule over arrays: an end counted from the back, both clamped
        # to [0, n], then ceil((end - start) / step) elements where end > start
        start = _clamp(self.start + n * (self.start < 0), n)
        end = n if self.end is None else _clamp(self.end + n * (self.end < 0), n)
        kept = (end - start + self.step - 1) // self.step * (end > start)
        return tuple(kept if j == ax else v for j, v in enumerate(dims[0])), kept > 0

    def window(self, *xs: Shape) -> Window:
        ax, kept = self._range(xs[0])
        if ax < 2:
            return POINTWISE  # channels: every output position is the same input position
        n = len(xs[0]) - 2
        # output o is input start + o * step along that axis (Window's jump and offset)
        return Window("local", (1,) * n,
                      tuple(float(self.step) if a == ax else 1.0 for a in range(2, n + 2)),
                      tuple(float(kept.start) if a == ax else 0.0 for a in range(2, n + 2)))

    def arithmetic(self, y: Shape, *xs: Shape) -> list[str]:
        ax, kept = self._range(xs[0])
        return [f"axis {ax}: {len(kept)} of {xs[0][ax]}, from {kept.start} every {kept.step}"]

    def to_onnx(self, emit: Emitter, y: Value, *xs: Value) -> str:
        ax, kept = self._range(xs[0].shape)
        if xs[0].varies([ax]):  # ONNX Slice clamps and counts from the end as Python does
            end = 2**63 - 1 if self.end is None else self.end
            return emit.node("Slice", [xs[0].name, emit.const([self.start]), emit.const([end]),
                                       emit.const([ax]), emit.const([self.step])])
        return emit.node("Slice", [xs[0].name, emit.const([kept.start]),
                                   emit.const([kept.start + len(kept) * kept.step]),
                                   emit.const([ax]), emit.const([kept.step])])


@record
class _Parts(Op):
    """An op whose call yields a list of consecutive slices of one axis."""

    def cuts(self, x: Shape) -> tuple[int, ...]:
        """The axis (from the front), then the size of each part."""
        raise NotImplementedError

    def output_shape(self, *xs: Shape) -> Shape:
        """The first part's shape (each part is its own slice node: parts())."""
        return self.parts(*xs)[0].output_shape(*xs)

    def part_sizes(self, n: Any, x: Shape) -> tuple[list[Any], Any]:
        """The parts' sizes when the axis is n (an int or an array of candidates), as many parts
        as at x, the declared input; and the mask of the n that cut so (netdsl sizes)."""
        raise NotImplementedError

    def parts(self, *xs: Shape) -> tuple[Op, ...]:
        ax, *sizes = self.cuts(xs[0])
        starts = [sum(sizes[:i]) for i in range(len(sizes))]
        return tuple(Part(ax, s, s + n, of=self, index=i)
                     for i, (s, n) in enumerate(zip(starts, sizes)))

    def size_rule(self, dims: Sequence[Dims], shapes: Sequence[Shape]) -> tuple[Dims, Any]:
        return Part(self.cuts(shapes[0])[0], of=self).size_rule(dims, shapes)  # the first

    def to_onnx(self, emit: Emitter, y: Value, *xs: Value) -> str:
        raise AssertionError("a call of split or chunk makes slice nodes")


@register
@record
class Split(_Parts):
    """Split one axis (default the channels) into consecutive parts of the given sizes, as
    torch.split(x, sizes, dim): a list of tensors (`parts[0]`, or `a, b = x -> split(...)`).
    One size: parts of that size, the last one what remains."""

    name = "split"
    summary = "{call}: a list of parts of those sizes along the axis"
    positional = ("sizes", "axis")
    mac_rule = "0: each part is a slice, data movement only"

    sizes: Ints
    axis: int = axis_argument(1)

    def validate(self) -> None:
        check_positive(self, "sizes")

    def cuts(self, x: Shape) -> tuple[int, ...]:
        ax = data_axis(self.axis, x)
        n = int(x[ax])
        if isinstance(self.sizes, int):  # as torch: parts of that size, the last the rest
            return (ax, *[self.sizes] * (n // self.sizes), *[n % self.sizes][:n % self.sizes])
        sizes = tuple(self.sizes)
        if sum(sizes) != n:
            raise OpError(f"sizes {list(sizes)} add up to {sum(sizes)}, but axis {ax} of "
                          f"{fmt_shape(x)} is {x[ax]}", at="sizes", code="E301")
        return (ax, *sizes)

    def part_sizes(self, n: Any, x: Shape) -> tuple[list[Any], Any]:
        if not isinstance(self.sizes, int):
            return [n * 0 + k for k in self.sizes], n == sum(self.sizes)
        count = len(self.cuts(x)) - 1  # parts of that size, the last one what remains
        whole = (count - 1) * self.sizes
        return ([n * 0 + self.sizes] * (count - 1) + [n - whole],
                (n > whole) & (n <= whole + self.sizes))



@register
@record
class Chunk(_Parts):
    """Split one axis (default the channels) into n equal parts, as torch.chunk(x, n, dim) where
    n divides the size: a list of n tensors."""

    name = "chunk"
    summary = "{call}: a list of n equal parts along the axis"
    positional = ("n", "axis")
    mac_rule = "0: each part is a slice, data movement only"

    n: int
    axis: int = axis_argument(1)

    def validate(self) -> None:
        check_positive(self, "n")

    def cuts(self, x: Shape) -> tuple[int, ...]:
        ax = data_axis(self.axis, x)
        size = int(x[ax])
        if size % self.n:
            raise OpError(f"axis {ax} of size {size} does not split into {self.n} equal parts",
                          at="n", code="E301",
                          hint="give the sizes instead: split([...], axis: ...)")
        return (ax, *[size // self.n] * self.n)

    def part_sizes(self, n: Any, x: Shape) -> tuple[list[Any], Any]:
        return [n // self.n] * self.n, (n % self.n == 0) & (n >= self.n)



@record
class Part(Slice):
    """One value of a split or chunk call: a slice at the declared size, whose size over other
    input sizes follows the call's cut (netdsl sizes), not a fixed start and end."""

    # NOTE: not registered: made only by split's and chunk's parts()
    of: _Parts | None = None
    index: int = 0

    def args(self) -> dict[str, Any]:
        return {k: v for k, v in Slice.args(self).items() if k not in ("of", "index")}

    def to_onnx(self, emit: Emitter, y: Value, *xs: Value) -> str:
        ax = data_axis(self.axis, xs[0].shape)
        if xs[0].varies([ax]):
            raise pinned(f"its parts are cut at the sizes of axis {ax} at this input size, and "
                         "that axis varies with the input size")
        return Slice.to_onnx(self, emit, y, *xs)

    def size_rule(self, dims: Sequence[Dims], shapes: Sequence[Shape]) -> tuple[Dims, Any]:
        assert self.of is not None
        ax = data_axis(self.axis, shapes[0]) - 1  # dims leave out the batch
        sizes, ok = self.of.part_sizes(dims[0][ax], shapes[0])
        return tuple(sizes[self.index] if j == ax else v for j, v in enumerate(dims[0])), ok


@register
@record
class Permute(Op):
    """Reorder the axes, as torch's x.permute(dims): output axis i is input axis dims[i]. The
    batch stays first (dims[0] = 0): `permute([0, 2, 3, 1])` makes NCHW channels-last."""

    name = "permute"
    summary = "{call}: output axis i is input axis dims[i]"
    positional = ("dims",)
    mac_rule = "0: data movement only"

    dims: Ints

    def _dims(self) -> tuple[int, ...]:
        return (self.dims,) if isinstance(self.dims, int) else tuple(self.dims)

    def validate(self) -> None:
        d = self._dims()
        if sorted(d) != list(range(len(d))):
            raise OpError(f"dims {list(d)} is not a permutation of 0 to {len(d) - 1}", at="dims",
                          code="E206", hint="name every axis once, the batch axis 0 first")
        if d[0] != 0:
            raise OpError(f"dims {list(d)} moves the batch axis", at="dims", code="E206",
                          hint="keep 0 first: the batch stays the first axis")

    def output_shape(self, *xs: Shape) -> Shape:
        d = self._dims()
        if len(d) != len(xs[0]):
            raise OpError(f"dims {list(d)} names {len(d)} axes, but the input {fmt_shape(xs[0])} "
                          f"has {len(xs[0])}", at="dims")
        return tuple(xs[0][i] for i in d)

    def size_rule(self, dims: Sequence[Dims], shapes: Sequence[Shape]) -> tuple[Dims, Any]:
        return tuple(dims[0][i - 1] for i in self._dims()[1:]), True

    def window(self, *xs: Shape) -> Window:
        d = self._dims()
        return moved([d.index(a) for a in range(len(d))])

    def to_onnx(self, emit: Emitter, y: Value, *xs: Value) -> str:
        return emit.node("Transpose", [xs[0].name], perm=list(self._dims()))


@register
@record
class Transpose(Op):
    """Swap two axes, as torch's x.transpose(a, b) (neither may be the batch)."""

    name = "transpose"
    summary = "{call}: swap two axes"
    positional = ("a", "b")
    mac_rule = "0: data movement only"

    a: int = axis_argument(1)
    b: int = axis_argument(2)

    def perm(self, x: Shape) -> list[int]:
        a, b = data_axis(self.a, x, "a"), data_axis(self.b, x, "b")
        p = list(range(len(x)))
        p[a], p[b] = b, a
        return p

    def output_shape(self, *xs: Shape) -> Shape:
        return tuple(xs[0][i] for i in self.perm(xs[0]))

    def size_rule(self, dims: Sequence[Dims], shapes: Sequence[Shape]) -> tuple[Dims, Any]:
        return tuple(dims[0][i - 1] for i in self.perm(shapes[0])[1:]), True

    def window(self, *xs: Shape) -> Window:
        return moved(self.perm(xs[0]))  # a swap is its own inverse

    def to_onnx(self, emit: Emitter, y: Value, *xs: Value) -> str:
        return emit.node("Transpose", [xs[0].name], perm=self.perm(xs[0].shape))


@register
@record
class ChannelShuffle(Op):
    """ShuffleNet's channel shuffle (Zhang et al. 2018; torchvision's shufflenetv2
    channel_shuffle, nn.ChannelShuffle): view the channels as [groups, C/groups], transpose,
    flatten back, so that the next grouped layer mixes every group."""

    name = "channel_shuffle"
    summary = "{call}: interleave the channels of the groups"
    positional = ("groups",)
    mac_rule = "0: data movement only"

    groups: int

    def validate(self) -> None:
        check_positive(self, "groups")

    def output_shape(self, *xs: Shape) -> Shape:
        x = xs[0]
        if len(x) < 3 or int(x[1]) % self.groups:
            raise OpError(f"the channels of {fmt_shape(x)} do not split into groups="
                          f"{self.groups}", at="groups" if len(x) >= 3 else "x0")
        return x

    def size_rule(self, dims: Sequence[Dims], shapes: Sequence[Shape]) -> tuple[Dims, Any]:
        return dims[0], dims[0][0] % self.groups == 0

    def to_onnx(self, emit: Emitter, y: Value, *xs: Value) -> str:
        c, rest = int(y.shape[1]), [int(d) for d in y.shape[2:]]
        x = xs[0]
        require_fixed(x, [1], f"it splits the {c} channels into groups, and they vary with the "
                      "input size")
        if x.varies():  # the positions as one axis, and back to the input's shape
            rest = [-1] if rest else []
        g = emit.node("Reshape", [x.name, emit.const([0, self.groups, c // self.groups, *rest])])
        t = emit.node("Transpose", [g], perm=[0, 2, 1, *range(3, len(rest) + 3)])
        back = emit.node("Shape", [x.name]) if x.varies() else emit.const([0, c, *rest])
        return emit.node("Reshape", [t, back])


@register
@record
class MatMul(Op):
    """Matrix product over the last two axes, broadcasting the others, as torch.matmul on
    tensors of rank 3 or more: [N, ..., M, K] x [N, ..., K, P] -> [N, ..., M, P]."""

    name = "matmul"
    inputs = (2, 2)
    summary = "matrix product: {call} over the last two axes, the others broadcast"
    mac_rule = ("B x M x K x P: a multiply-add per term of each of the B products (B: the "
                "broadcast axes after the batch)")

    def output_shape(self, *xs: Shape) -> Shape:
        a, b = xs
        for i, x in enumerate(xs):
            if len(x) < 3:
                raise OpError(f"needs inputs of rank 3 or more [N, ..., rows, columns], but "
                              f"input {i + 1} is {fmt_shape(x)}", at=f"x{i}")
        if a[-1] != b[-2]:
            raise OpError(f"cannot multiply {fmt_shape(a)} by {fmt_shape(b)}: {a[-1]} columns "
                          f"against {b[-2]} rows", at="x1", code="E303")
        return (*_broadcast(a[:-2], b[:-2]), a[-2], b[-1])

    def size_rule(self, dims: Sequence[Dims], shapes: Sequence[Shape]) -> tuple[Dims, Any]:
        a, b = dims
        ok = a[-1] == b[-2]
        n = max(len(a), len(b)) - 2  # the broadcast axes after the batch, aligned at the end
        pa, pb = (1,) * (n - len(a) + 2) + tuple(a[:-2]), (1,) * (n - len(b) + 2) + tuple(b[:-2])
        for p, q in zip(pa, pb):
            ok = ok & ((p == q) | (p == 1) | (q == 1))
        return (*(p * (q == 1) + q * (q != 1) for p, q in zip(pa, pb)), a[-2], b[-1]), ok

    def mac_terms(self, y: Shape, *xs: Shape) -> tuple[int, ...]:
        return (*(dim_value(d) for d in y[1:-2]), dim_value(y[-2]), dim_value(xs[0][-1]),
                dim_value(y[-1]))

    def window(self, *xs: Shape) -> Window:
        return UNKNOWN  # an output mixes a whole row of a with a whole column of b

    def to_onnx(self, emit: Emitter, y: Value, *xs: Value) -> str:
        return emit.node("MatMul", [xs[0].name, xs[1].name])


def _clamp(v: Any, n: Any) -> Any:
    """v clamped to [0, n], for ints and arrays alike."""
    v = v * (v > 0)
    return v - (v - n) * (v > n)


def _broadcast(a: Shape, b: Shape) -> tuple[Dim, ...]:
    """numpy's broadcasting of two shapes (aligned at the end; equal or 1)."""
    out: list[Dim] = []
    for i in range(1, max(len(a), len(b)) + 1):
        p = a[-i] if i <= len(a) else 1
        q = b[-i] if i <= len(b) else 1
        if p != q and 1 not in (p, q):
            raise OpError(f"cannot broadcast {fmt_shape(a)} against {fmt_shape(b)}: {p} and {q}",
                          at="x1", code="E303")
        out.append(q if p == 1 else p)
    return tuple(reversed(out))
