"""Shape-computing subgraphs (netdsl import, before reader.py's walk of the nodes): ONNX nodes,
the dims of their inputs and the model's constants → the values of the integer tensors that
Shape, Gather, Unsqueeze, Squeeze, Concat, Slice, Cast, Identity and integer arithmetic compute
from them, by tensor name; a size that varies is its name (the batch: `N`). torch's legacy
exporter writes `x.view(x.size(0), -1)` with a dynamic batch as Shape -> Gather -> Unsqueeze ->
Concat -> Reshape, and `F.interpolate(size=...)` as Shape -> Slice -> Concat -> Resize."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from netdsl import export

Dims = Callable[[str], "list[int | str] | None"]  # a tensor's dims (a name where it varies)
Const = Callable[[str], "np.ndarray | None"]
READ = {"Shape", "Gather", "Unsqueeze", "Squeeze", "Concat", "Slice", "Cast", "Identity", "Add",
        "Sub", "Mul", "Div"}


def evaluate(nodes: Sequence[Any], dims: Dims, const: Const) -> dict[str, np.ndarray]:
    """The values (object arrays of ints and names) of the tensors that the nodes compute from
    shapes and integer constants alone, in order."""
    values: dict[str, np.ndarray] = {}

    def value(t: str) -> np.ndarray | None:
        if t in values:
            return values[t]
        c = const(t) if t else None
        return None if c is None or c.dtype.kind not in "iu" else c.astype(object)

    for n in nodes:
        if n.op_type not in READ or n.domain not in ("", "ai.onnx"):
            continue
        try:
            v = _step(n, export.attributes(n), value, dims)
        except (ValueError, IndexError, TypeError, ZeroDivisionError):
            v = None  # NOTE: a form this does not follow: the node is read as a layer, or E407
        if v is not None:
            values[n.output[0]] = v
    return values


def _step(n: Any, a: dict[str, Any], value: Callable[[str], np.ndarray | None], dims: Dims
          ) -> np.ndarray | None:
    op = n.op_type
    if op == "Shape":
        d = dims(n.input[0])
        if d is None:
            return None
        shape = [v if isinstance(v, int) and v > 0 else (v or "?") for v in d]
        return np.array(shape[a.get("start", 0):a.get("end", len(shape))] or [], dtype=object)
    xs = [value(i) if i else None for i in n.input]
    if xs[0] is None or (op not in ("Unsqueeze", "Squeeze", "Slice")
                         and any(v is None for v in xs)):
        return None
    x = xs[0]
    if op in ("Cast", "Identity"):
        return x
    if op == "Gather":
        # NOTE: an object array's element comes back as itself: a 0-d array again
        return np.asarray(np.take(x, xs[1].astype(int), axis=int(a.get("axis", 0))), object)
    if op == "Concat":
        return np.concatenate(list(xs), axis=int(a["axis"]))
    if op in ("Unsqueeze", "Squeeze"):
        axes = a.get("axes") if len(xs) < 2 or xs[1] is None else [int(v) for v in xs[1]]
        if op == "Squeeze":
            return np.squeeze(x, axis=tuple(axes) if axes is not None else None)
        out = x
        for ax in sorted(int(v) % (x.ndim + len(axes)) for v in axes or ()):
            out = np.expand_dims(out, ax)
        return out
    if op == "Slice":
        if x.ndim != 1 or any(v is None for v in xs[1:3]):
            return None
        steps = xs[4] if len(xs) > 4 and xs[4] is not None else [1]
        return x[int(xs[1][0]):int(xs[2][0]):int(steps[0])]
    return _arithmetic(op, x, xs[1])


def _arithmetic(op: str, x: np.ndarray, y: np.ndarray) -> np.ndarray | None:
    """Add, Sub, Mul, Div (rounding toward zero, as ONNX's on integers) of known sizes; None
    where a size varies."""
    if any(isinstance(v, str) for v in (*np.ravel(x), *np.ravel(y))):
        return None
    a, b = np.broadcast_arrays(x, y)
    f = {"Add": lambda p, q: p + q, "Sub": lambda p, q: p - q, "Mul": lambda p, q: p * q,
         "Div": lambda p, q: abs(p) // abs(q) * (1 if (p < 0) == (q < 0) else -1)}[op]
    out = np.empty(a.shape, dtype=object)
    for i in np.ndindex(a.shape):
        out[i] = f(int(a[i]), int(b[i]))
    return out
