"""The ONNX nodes that move, cut, pad or resize a tensor → Layers (for reader.py's walk, each
a function of the _Reader and the node): Transpose, Slice and Split, ReduceMean over the
spatial axes, Reshape, Resize and Upsample, Pad."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from netdsl.importer.calls import Layer, _dims, _ints, _num

if TYPE_CHECKING:
    from netdsl.importer.reader import _Reader


def transpose(r: _Reader, n: Any, a: dict[str, Any]) -> Layer:
    """permute(perm), or transpose(a, b) where perm swaps two axes (torch's x.transpose);
    the batch stays first. No perm reverses the axes (of the rank onnx infers)."""
    rank = r.rank(n.input[0])
    perm = [int(v) for v in a.get("perm", range((rank or 0) - 1, -1, -1))]
    if not perm or perm[0] != 0:
        raise r.fail(n, f"perm {perm} moves the batch axis: netdsl's permute keeps axis "
                     "0 first")
    moved = [i for i, p in enumerate(perm) if p != i]
    if len(moved) == 2:
        call = f"transpose({moved[0]}, {moved[1]})"
    else:
        call = f"permute({_ints(perm, True)})"
    return Layer(call.split("(")[0], call, [n.input[0]], n.output[0], n.name)


def slices(r: _Reader, n: Any, a: dict[str, Any]) -> list[Layer]:
    """Slice: a slice layer per axis (python's x[start:end:step] clamps as ONNX's does);
    Split: a slice layer per output in use (torch.split, torch.chunk)."""
    x, rank = n.input[0], r.rank(n.input[0])
    if n.op_type == "Split":
        ax = int(a.get("axis", 0)) % (rank or 1)
        size = (r.shape(x) or [])[ax] if rank else None
        given = r.const(n.input[1]) if len(n.input) > 1 and n.input[1] else a.get("split")
        if given is None and isinstance(size, int):
            k, c = len(n.output), -(-size // len(n.output))  # the last one smaller
            given = [min(c, size - i * c) for i in range(k)]
        if given is None:
            raise r.fail(n, "parts of no recorded sizes")
        at = [0, *np.cumsum([int(v) for v in given]).tolist()]
        cuts = [(o, [ax], [at[i]], [at[i + 1]], [1])
                for i, o in enumerate(n.output) if o in r.used]
    else:
        def ints(i: int, default: Any) -> list[int]:
            if len(n.input) <= i or not n.input[i]:
                return [int(t) for t in default]
            return [int(t) for t in np.ravel(r.need(n, n.input[i]))]
        starts, ends = ints(1, a.get("starts", [])), ints(2, a.get("ends", []))
        axes = ints(3, a.get("axes", range(len(starts))))
        cuts = [(n.output[0], axes, starts, ends, ints(4, [1] * len(starts)))]
    out = []
    for o, axes, begin, end, steps in cuts:
        x = n.input[0]
        if rank is None or any(ax % rank == 0 for ax in axes) or any(s < 1 for s in steps):
            raise r.fail(n, f"axes {axes} with steps {steps}: netdsl's slice keeps the "
                         "batch axis and steps forward")
        for k, ax in enumerate(axes):
            args = [str(ax % rank), str(begin[k])]
            args += [str(end[k])] if end[k] < 2**31 else []  # NOTE: INT64_MAX: to the end
            args += [f"step: {steps[k]}"] if steps[k] != 1 else []
            last = k == len(axes) - 1
            out.append(Layer("slice", f"slice({', '.join(args)})", [x],
                             o if last else f"{o}/{k}", n.name))
            x = f"{o}/{k}"
    return out


def reduce_mean(r: _Reader, n: Any, a: dict[str, Any]) -> list[Layer]:
    """The mean over every spatial axis (torch's AdaptiveAvgPool2d(1) as its default
    exporter writes it): globalavgpool, then flatten where the axes are not kept (torch's
    `x.mean([2, 3])`). Its input's rank from the value_infos."""
    axes = r.const(n.input[1]) if len(n.input) > 1 and n.input[1] else a.get("axes")
    rank = r.rank(n.input[0])
    if axes is None or rank is None or rank < 3 or sorted(
            int(v) % rank for v in np.ravel(axes)) != list(range(2, rank)):
        raise r.fail(n, "only the mean over every spatial axis (globalavgpool) has a "
                     "netdsl op")
    if a.get("keepdims", 1):
        return [Layer("globalavgpool", "globalavgpool", [n.input[0]], n.output[0], n.name)]
    kept = f"{n.output[0]}/keepdims"
    return [Layer("globalavgpool", "globalavgpool", [n.input[0]], kept, n.name),
            Layer("flatten", "flatten", [kept], n.output[0], n.name)]


def reshape(r: _Reader, n: Any, a: dict[str, Any]) -> Layer:
    """netdsl's reshape keeps the batch: where the shape's first entry copies it (0), is
    its size, or (-1) leaves it so; a 0 elsewhere copies the input's size there."""
    given = r.sizes(n, n.input[1], n.input[0])
    x = r.shape(n.input[0]) or []
    if a.get("allowzero", 0) and 0 in given:
        raise r.fail(n, f"shape {given} with allowzero: sizes of 0, which netdsl's "
                     "reshape does not make")
    rest = [x[i] if d == 0 and i < len(x) else d for i, d in enumerate(given[1:], 1)]
    fixed = [d for d in rest if isinstance(d, int) and d != 0]
    static = bool(x) and all(isinstance(d, int) for d in x[1:])
    # NOTE: -1 first, of sizes that vary, keeps the batch where they fit: the check decides
    if len(fixed) == len(rest) and (given[0] == 0 or (x and given[0] == x[0]) or (
            given[0] == -1 and -1 not in fixed and (
                not static or math.prod(fixed) == math.prod(map(int, x[1:]))))):
        if fixed == [-1] or (static and fixed == [math.prod(map(int, x[1:]))]):
            # torch's x.view(x.size(0), -1), or torch.flatten(x, 1)
            return Layer("flatten", "flatten", [n.input[0]], n.output[0], n.name)
        return Layer("reshape", f"reshape({_ints(fixed, True)})", [n.input[0]],
                     n.output[0], n.name)
    raise r.fail(n, f"shape {given} of {_dims(x) if x else 'a tensor of unknown shape'} "
                 "does not keep the batch axis: netdsl's reshape keeps axis 0 (the "
                 "batch) and reshapes the others")


def resize(r: _Reader, n: Any, a: dict[str, Any]) -> Layer:
    x = list(n.input)
    mode = {"nearest": "nearest", "linear": "bilinear", "cubic": "bicubic"}.get(
        a.get("mode", "nearest"))
    coord = a.get("coordinate_transformation_mode", "half_pixel")
    rounding = a.get("nearest_mode", "round_prefer_floor")
    scales = r.const(x[2]) if len(x) > 2 and x[2] else None
    if n.op_type == "Upsample":  # NOTE: its coordinates are x / scale, rounded down
        scales = r.const(x[1]) if len(x) > 1 else np.asarray(a.get("scales"))
        coord, rounding = "asymmetric", "floor"
    sizes = np.asarray(r.sizes(n, x[3], x[0])) if len(x) > 3 and x[3] else None
    if mode is None:
        raise r.fail(n, f"mode {a.get('mode')}")
    if sizes is not None and a.get("keep_aspect_ratio_policy", "stretch") != "stretch":
        raise r.fail(n, f"keep_aspect_ratio_policy {a['keep_aspect_ratio_policy']}: "
                     "netdsl's upsample computes other values")
    if a.get("axes") is not None:
        scales, sizes = _resize_axes(r, n, a["axes"], scales, sizes)
    whole = [int(v) for v in scales] if scales is not None and scales.size > 0 and all(
        float(v).is_integer() for v in scales) else []
    why = _resize_differs(a, mode, coord, rounding, whole)
    if why:
        raise r.fail(n, f"{why}: netdsl's upsample computes other values")
    shape = r.shape(x[0]) or []
    if scales is not None and scales.size and any(float(v) != 1 for v in scales[:2]):
        why = f"scales {[float(v) for v in scales]}"
    elif (scales is None or not scales.size) and sizes is not None and len(shape) > 1 and (
            isinstance(shape[1], int) and int(sizes[1]) != shape[1]):
        why = f"sizes {[int(v) for v in sizes]} of {_dims(shape)}"
    if why:
        raise r.fail(n, f"{why}: netdsl's upsample resizes the spatial axes only")
    args = []
    if scales is not None and scales.size:
        s = [float(v) for v in scales[2:]]
        args.append(_num(s[0]) if len(set(s)) == 1 else "[" + ", ".join(map(_num, s)) + "]")
    elif sizes is not None:
        args.append(f"size: {_ints([int(v) for v in sizes[2:]], True)}")
    else:
        raise r.fail(n, "neither constant scales nor sizes")
    if mode != "nearest":
        args.append(f'mode: "{mode}"')
        if coord == "align_corners":
            args.append("align_corners: true")
    return Layer("upsample", f"upsample({', '.join(args)})", x[:1], n.output[0], n.name)


def _resize_axes(r: _Reader, n: Any, axes: Sequence[int], scales: np.ndarray | None,
                 sizes: np.ndarray | None) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Resize's scales or sizes for its `axes` (opset 18) spread over every axis: the
    others keep their sizes (scale 1)."""
    shape = r.shape(n.input[0])
    if shape is None:
        raise r.fail(n, "`axes` given, and the rank of its input is not recorded")
    at = [int(v) % len(shape) for v in axes]
    if scales is not None and scales.size:
        full = np.ones(len(shape), np.float32)
        full[at] = scales
        return full, sizes
    if sizes is not None:
        full_sizes = np.array([d if isinstance(d, int) and d > 0 else -1 for d in shape])
        full_sizes[at] = sizes
        if (full_sizes[2:] < 0).any():
            raise r.fail(n, f"axes {list(axes)} leave a spatial axis of no recorded size")
        return scales, full_sizes
    return scales, sizes


def pad(r: _Reader, n: Any, a: dict[str, Any]) -> Layer:
    pads = r.need(n, n.input[1]) if len(n.input) > 1 else np.asarray(a["pads"])
    p = r._spread(n, [int(v) for v in pads])
    k = len(p) // 2
    mode = {"constant": "zeros", "reflect": "reflect", "edge": "edge"}.get(
        a.get("mode", "constant"))
    if mode is None:
        raise r.fail(n, f"mode {a.get('mode')}: netdsl pads with zeros, reflect or edge")
    value = r.const(n.input[2]) if len(n.input) > 2 and n.input[2] else a.get("value")
    if mode == "zeros" and value is not None and float(np.ravel(value)[0]) != 0.0:
        raise r.fail(n, f"the constant {float(np.ravel(value)[0])}: netdsl pads with "
                     "zeros")
    if any(v < 0 for v in p):
        raise r.fail(n, f"pads {p}: a negative amount crops, and netdsl's pad adds")
    if p[0] or p[k]:
        raise r.fail(n, "padding the batch axis")
    args = [_ints(p[2:k] + p[k + 2:], True)]
    if p[1] or p[k + 1]:
        args.append(f"channels: [{p[1]}, {p[k + 1]}]")
    if mode != "zeros":
        args.append(f'mode: "{mode}"')
    return Layer("pad", f"pad({', '.join(args)})", [n.input[0]], n.output[0], n.name)


def _resize_differs(a: dict[str, Any], mode: str, coord: str, rounding: str,
                    whole: list[int]) -> str:
    """Why a Resize computes other values than netdsl's upsample ("" where it does not):
    nearest is x / scale rounded down (or, at `whole` scales, the forms that round to the same
    pixel); bilinear and bicubic are half-pixel or align-corners, bicubic with torch's
    a = -0.75."""
    if a.get("antialias", 0):
        return "antialias"
    if mode == "nearest":
        same = ((coord, rounding) == ("asymmetric", "floor")
                or ((coord, rounding) == ("asymmetric", "round_prefer_floor") and whole
                    and max(whole) <= 2)  # NOTE: x / 2 is k or k + 0.5, rounded to k
                or (whole and coord in ("half_pixel", "pytorch_half_pixel")
                    and rounding.startswith("round_prefer"))
                or (whole and (coord, rounding) == ("tf_half_pixel_for_nn", "floor")))
        return "" if same else f"nearest_mode {rounding} with {coord} coordinates"
    if coord not in ("half_pixel", "pytorch_half_pixel", "align_corners"):
        return f"{coord} coordinates"
    if mode == "bicubic" and (float(a.get("cubic_coeff_a", -0.75)) != -0.75
                              or a.get("exclude_outside", 0)):
        return "cubic_coeff_a other than -0.75, or exclude_outside"
    return ""


def gather(r: _Reader, n: Any, a: dict[str, Any]) -> list[Layer]:
    """Gather of one constant index along an axis but the batch, of a tensor of rank 3 (ViT's
    class token, `x[:, 0]`): a slice of that one, then flatten (the axis gone)."""
    index = r.const(n.input[1])
    rank = r.rank(n.input[0])
    axis = int(a.get("axis", 0)) % rank if rank else 0
    if index is None or index.ndim != 0 or rank != 3 or axis == 0:
        raise r.fail(n, "only one constant index of an axis but the batch, of a tensor of rank "
                     "3, is read (a slice, then flatten)")
    i, size = int(index), (r.shape(n.input[0]) or [""] * 3)[axis]
    i += size if i < 0 and isinstance(size, int) else 0
    if i < 0:
        raise r.fail(n, f"index {int(index)} of an axis whose size is not recorded")
    kept = f"{n.output[0]}/kept"
    return [Layer("slice", f"slice({axis}, {i}, {i + 1})", [n.input[0]], kept, n.name),
            Layer("flatten", "flatten", [kept], n.output[0], n.name)]
