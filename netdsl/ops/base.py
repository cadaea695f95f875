"""What every operator shares (ops stage, pure): the Op base class, shapes, receptive-field
windows, the Emitter protocol, OpError, and the small shape helpers every op module uses. The
sliding-window arithmetic (output sizes, padding, window geometry) that conv and pooling share:
ops/geometry.py. How an op's fields declare what they mean, and the Signature computed from them:
ops/signature.py."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from netdsl.limits import MAX_TENSOR_ELEMENTS
from netdsl.ops.signature import Signature, signature_of
from netdsl.record import Record, record

Dim = int | str  # str only for a symbolic batch dimension ("N")
Shape = tuple[Dim, ...]
# A shape over many input sizes at once (netdsl sizes): one int64 numpy array per non-batch axis,
# every array over the same candidates. Typed Any: numpy is imported only where sizes are swept.
Dims = tuple[Any, ...]


class OpError(Exception):
    """A shape or argument the op cannot accept. Pure: no spans; build/ places the caret.

    `at` names where the caret goes: a field ("groups"), or an input ("x0", "x1", ...).
    """

    def __init__(self, message: str, at: str = "x0", hint: str = "", code: str = "E301"):
        super().__init__(message)
        self.message, self.at, self.hint, self.code = message, at, hint, code


@record
class Window(Record):
    """How an op's outputs map onto its input, per spatial axis, for the receptive-field
    recurrence (Araujo et al., Distill 2019). Along each axis, output o reads `extent`
    neighbouring input positions centred on input index `offset + o * jump` (indices count input
    positions, so jump < 1 means upsampling). kind: "pointwise" (extent 1, jump 1, offset 0),
    "local" (the three tuples apply), "global" (every output reads the whole input), "moves"
    (an op that rearranges axes: input axis a becomes output axis `moves[a]`, None where it is
    mixed with others, so that a field along it is unknown), "unknown" (no exact field)."""

    kind: str = "pointwise"
    extent: tuple[int, ...] = ()
    jump: tuple[float, ...] = ()
    offset: tuple[float, ...] = ()
    moves: tuple[int | None, ...] = ()


POINTWISE = Window()
GLOBAL = Window("global")
UNKNOWN = Window("unknown")


def moved(moves: Sequence[int | None]) -> Window:
    """Axes rearranged: input axis a is output axis moves[a] (None: mixed with others)."""
    return Window("moves", moves=tuple(moves))


def sliding(kernel: Sequence[int], stride: Sequence[int], dilation: Sequence[int],
            pad_begin: Sequence[int]) -> Window:
    """A sliding window (conv, pooling): extent D(F - 1) + 1, jump S, and output 0 centred on
    input index D(F - 1)/2 - P_begin."""
    ext = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    return Window("local", ext, tuple(float(s) for s in stride),
                  tuple((e - 1) / 2 - p for e, p in zip(ext, pad_begin)))


def shifted(offsets: Sequence[float]) -> Window:
    """Output o is input o + offset (a crop's start; minus a pad's begin)."""
    n = len(offsets)
    return Window("local", (1,) * n, (1.0,) * n, tuple(float(v) for v in offsets))


@record
class Value(Record):
    """A tensor as to_onnx sees it: its ONNX name, its (checked) shape, and the axes whose size
    is not fixed in the model (a model for every input size: the shape is one example of them,
    and a lowering may not bake those sizes in; the batch axis is never listed)."""

    name: str
    shape: Shape
    dynamic: frozenset[int] = frozenset()

    def varies(self, axes: Sequence[int] | range | None = None) -> bool:
        """Whether any of `axes` (default: every one) has a size that varies."""
        return bool(self.dynamic) if axes is None else any(a in self.dynamic for a in axes)

    def spatial_varies(self) -> bool:
        return self.varies(range(2, len(self.shape)))


def pinned(why: str, at: str = "x0") -> OpError:
    """The error a lowering raises where it needs a size that varies in a model for every input
    size (export/lowering.py names the layer that pins the input size)."""
    return OpError(why, at=at, code="E301")


def require_fixed(x: Value, axes: Sequence[int], why: str, at: str = "x0") -> None:
    """A lowering that bakes the sizes of `axes` of x into the model (a weight's shape): fine
    unless they vary."""
    if x.varies(axes):
        raise pinned(why, at)


class Emitter(Protocol):
    """What an op's to_onnx may do; export/lowering.py records it as plain data."""

    def node(self, op_type: str, inputs: Sequence[str], **attrs: Any) -> str:
        """Add one ONNX node; returns the name of its (single) output."""
        ...

    def node_outputs(self, op_type: str, inputs: Sequence[str], count: int, /,
                     **attrs: Any) -> list[str]:
        """Add one ONNX node with `count` outputs (a max pool and its indices); their names."""
        ...

    def weight(self, suffix: str, shape: Sequence[int], init: str, values: Any = None) -> str:
        """A parameter or buffer initializer named `<layer>.<suffix>` (`<layer>` alone for the
        suffix "": a `param`). init: "he_out" (kaiming normal, fan_out: convolutions, as
        torchvision), "he_in" (fan_in: dense), "zeros", "ones", "fixed" (the nested list
        `values`, broadcast to `shape`), "normal" or "trunc_normal" (`values` is the std; the
        truncation is torch's default, to [-2, 2]). A network's `option init: "xavier"` turns
        both he kinds into Xavier/Glorot normal."""
        ...

    def const(self, values: Any, dtype: str = "int64") -> str:
        """An unnamed constant initializer (shapes, axes, scales)."""
        ...

    @property
    def opset(self) -> int: ...


class Op(Record):
    """An operator kind. Subclasses are frozen dataclasses whose fields are the keywords a user may
    write; `name` is the .net spelling. Defaults: identity shape, no params, no cost, pointwise.

    A field says what it means by how it is declared (ops/signature.py): plain
    (`stride: Ints = 1`, or `argument()` for how the signature shows it), `tensor_input()`,
    `network_option(name)` or `axis_argument(default)`. `positional` lists the keywords that
    positional arguments fill, `one_of` the keywords of which a call gives exactly one (shown
    `size: [h, w] | like: t`), and `summary` describes the op, with `{call}` where the generated
    call goes."""

    name: ClassVar[str] = ""
    inputs: ClassVar[tuple[int, int | None]] = (1, 1)  # (min, max) tensor inputs; None: any
    positional: ClassVar[tuple[str, ...]] = ()
    one_of: ClassVar[tuple[str, ...]] = ()
    summary: ClassVar[str] = ""  # one line for the reference; `{call}`: the generated call
    mac_rule: ClassVar[str] = ""  # the documented cost rule (docs/costs.md); every op states one
    dtype: ClassVar[str] = "float32"  # the element type of the value a node of it makes
    if TYPE_CHECKING:  # every subclass is a dataclass: dataclasses.fields and replace take ops
        __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]

    @classmethod
    def signature(cls) -> Signature:
        return signature_of(cls)

    def args(self) -> dict[str, Any]:
        """The op's arguments by field name, as written or defaulted (`netdsl diff` compares
        them)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def validate(self) -> None:
        """Range checks on the arguments alone; raise OpError(at=field, code="E206")."""

    def output_shape(self, *xs: Shape) -> Shape:
        return xs[0]

    def parts(self, *xs: Shape) -> tuple[Op, ...]:
        """A call that yields several values (split, a max pool with its indices) makes one
        node per value, whose ops these are, and returns their list; each part is an ordinary
        single-valued op (split's parts are slices). Empty: the call is one node of this op."""
        return ()

    def param_shapes(self, *xs: Shape) -> dict[str, tuple[int, ...]]:
        """Learnable tensors, suffix -> shape, in torch's state_dict order."""
        return {}

    def buffer_shapes(self, *xs: Shape) -> dict[str, tuple[int, ...]]:
        """Non-learnable state (BN running statistics), suffix -> shape."""
        return {}

    def mac_terms(self, y: Shape, *xs: Shape) -> tuple[int, ...]:
        """The factors whose product is this node's MAC count, in the order `mac_rule` names
        them (explain prints them as the product)."""
        return (0,)

    def mac_count(self, y: Shape, *xs: Shape) -> int:
        return math.prod(self.mac_terms(y, *xs))

    def arithmetic(self, y: Shape, *xs: Shape) -> list[str]:
        """The output-size arithmetic per spatial axis with this node's numbers (explain)."""
        return []

    def window(self, *xs: Shape) -> Window:
        return POINTWISE

    def size_rule(self, dims: Sequence[Dims], shapes: Sequence[Shape]) -> tuple[Dims, Any]:
        """output_shape over many input sizes at once, vectorised (netdsl/sizes.py): dims[i]
        holds input i's non-batch sizes, shapes[i] its shape at the declared size (the node's
        own inputs). Returns the output's sizes and a boolean mask of the candidates this op
        accepts (True: all). Default: the identity, as for pointwise ops; an op that changes
        sizes states its rule (tests/test_sizes.py checks every op's rule against its cases)."""
        return dims[0], True

    def value_inputs(self, n: int) -> range:
        """Which of its n inputs an op reads the values of; the others (a `like:` tensor) give
        only their shape, so they neither widen the receptive field nor stay alive for it."""
        return range(n)

    def axes_from_front(self, rank: int) -> Op:
        """This op with every axis argument counted from the front of a rank-`rank` input, so
        that it names the same axis after more axes are appended at the end."""
        axes = self.signature().axes
        if not axes:
            return self
        return dataclasses.replace(self, **{f: getattr(self, f) % rank for f in axes})

    def to_onnx(self, emit: Emitter, y: Value, *xs: Value) -> str:
        raise NotImplementedError(f"{self.name} has no ONNX lowering")


# ----------------------------------------------------------------------------------- pure helpers

def dim_value(v: Any) -> Any:
    """A size as a number: an int, or on symbolic sizes (anysize.py) the symbolic.Expr itself,
    so that costs (mac_terms) and windows become formulas in the named sizes."""
    if type(v) is int:  # NOTE: the common case, decided without importing netdsl.symbolic
        return v
    from netdsl.symbolic import Expr
    return v if isinstance(v, Expr) else int(v)


def numel(shape: Sequence[Dim]) -> int:
    """Elements per example: the product of the non-batch dims (dim 0 is the batch)."""
    return math.prod(int(d) for d in shape[1:])


def expect_rank(x: Shape, ranks: Sequence[int], layout: str, at: str = "x0") -> None:
    if len(x) not in ranks:
        names = [f"{r}-D" for r in ranks]
        want = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
        raise OpError(f"needs a {want} input {layout}, but the input is {fmt_shape(x)}", at=at)


def data_axis(axis: int, x: Shape, at: str = "axis") -> int:
    """`axis` of x counted from the front; an error unless it is a non-batch axis."""
    r = len(x)
    if not -r <= axis < r or axis % r == 0:
        raise OpError(f"axis {axis} is not a non-batch axis of the {r}-D input {fmt_shape(x)}",
                      at=at, code="E206", hint=f"the axes are 1 to {r - 1} (or -1 to -{r - 1} "
                      "from the end); axis 0 is the batch")
    return axis % r


def axis_names(n: int) -> tuple[str, ...]:
    """The spatial axes' names for n of them, as messages and explain call them."""
    return ("length",) if n == 1 else ("height", "width") if n == 2 else (
        "depth", "height", "width")


def fmt_shape(shape: Sequence[Dim], compact: bool = False) -> str:
    """`[N, 3, 224, 224]` (a tensor), or with `compact` `7x7` (a kernel, a window)."""
    if compact:
        return "x".join(str(d) for d in shape)
    return "[" + ", ".join(str(d) for d in shape) + "]"


def per_axis(value: int | Sequence[int], n: int, what: str) -> tuple[int, ...]:
    """Expand an int or a list to n spatial axes."""
    if isinstance(value, int):
        return (value,) * n
    if len(value) == 1:
        return (int(value[0]),) * n
    if len(value) != n:
        raise OpError(f"{what} has {len(value)} values for {n} spatial axes", at=what, code="E206")
    return tuple(int(v) for v in value)


def check_positive(op: Op, *fields: str, allow_zero: tuple[str, ...] = ()) -> None:
    for f in fields:
        v = getattr(op, f)
        vals = [v] if isinstance(v, int) else list(v) if isinstance(v, (list, tuple)) else []
        lo = 0 if f in allow_zero else 1
        for x in vals:
            if x < lo:
                raise OpError(f"{f} must be {'>= 0' if lo == 0 else 'positive'}, not {x}",
                              at=f, code="E206")


def elements(shape: Shape) -> int:
    """The elements of a tensor of `shape`, per sample where a dim is symbolic (the batch N)."""
    return math.prod(d for d in shape if isinstance(d, int))


def check_sizes(op: Op, xs: Sequence[Shape], y: Shape) -> int:
    """E215 if the output or a parameter of `op` exceeds limits.MAX_TENSOR_ELEMENTS (checked
    before anything is allocated for it: compile and run would die making it); else the number
    of parameters `op` has."""
    if elements(y) > MAX_TENSOR_ELEMENTS:
        raise OpError(f"the output {fmt_shape(y)} would hold {elements(y):,} elements, over the "
                      f"limit of {MAX_TENSOR_ELEMENTS:,} per tensor", code="E215", at="",
                      hint="netdsl's limits keep a network within what onnxruntime can allocate")
    total = 0
    for suffix, shape in op.param_shapes(*xs).items():
        n = elements(shape)
        if n > MAX_TENSOR_ELEMENTS:
            raise OpError(f"the parameter `{suffix}` {fmt_shape(shape)} would hold {n:,} "
                          f"elements, over the limit of {MAX_TENSOR_ELEMENTS:,} per tensor",
                          code="E215", at="")
        total += n
    return total


def broadcast(a: Shape, b: Shape) -> Shape | None:
    """numpy's (and ONNX's multidirectional) broadcasting: the shapes aligned at their last axes,
    each pair of sizes equal or one of them 1; the result, or None where they do not broadcast.
    A symbolic batch size ("N") meets only itself or 1."""
    out: list[Dim] = []
    for i in range(1, max(len(a), len(b)) + 1):
        p = a[-i] if i <= len(a) else 1
        q = b[-i] if i <= len(b) else 1
        if p != q and 1 not in (p, q):
            return None
        out.append(q if p == 1 else p)
    return tuple(reversed(out))
