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
    x, y = xs[0], xs[1] if len(xs) > 1 else None
    if op in ("Cast", "Identity"):
        return x
    if op == "Gather":
        # NOTE: an object array's element comes back as itself: a 0-d array again
        assert y is not None
        return np.asarray(np.take(x, y.astype(int), axis=int(a.get("axis", 0))), object)
    if op == "Concat":
        return np.concatenate(list(xs), axis=int(a["axis"]))
    if op in ("Unsqueeze", "Squeeze"):
        axes = [int(v) for v in (a.get("axes", []) if y is None else y)]
        if op == "Squeeze":
            return np.squeeze(x, axis=tuple(axes) if axes else None)
        out = x
        for ax in sorted(v % (x.ndim + len(axes)) for v in axes):
            out = np.expand_dims(out, ax)
        return out
    if op == "Slice":
        end, steps = xs[2] if len(xs) > 2 else None, xs[4] if len(xs) > 4 else None
        if x.ndim != 1 or y is None or end is None:
            return None
        return x[int(y[0]):int(end[0]):int(steps[0]) if steps is not None else 1]
    assert y is not None
    return _arithmetic(op, x, y)


def _arithmetic(op: str, x: np.ndarray, y: np.ndarray) -> np.ndarray | None:
    """Add, Sub, Mul, Div (rounding toward zero, as ONNX's on integers) of known sizes, element
    by element: where either size varies, the result is `?` (a size that varies, of no name),
    so that a Gather or Slice of the known ones still finds them (netdsl's crop: the offsets
    (x.shape - like.shape) / 2 of the spatial axes)."""
    a, b = np.broadcast_arrays(x, y)
    out = np.empty(a.shape, dtype=object)
    for i in np.ndindex(a.shape):
        p, q = a[i], b[i]
        out[i] = "?" if isinstance(p, str) or isinstance(q, str) else _apply(op, int(p), int(q))
    return out


def _apply(op: str, p: int, q: int) -> int:
    if op == "Add":
        return p + q
    if op == "Sub":
        return p - q
    if op == "Mul":
        return p * q
    return abs(p) // abs(q) * (1 if (p < 0) == (q < 0) else -1)
