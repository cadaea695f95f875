"""Lowered model (export.lowered: plain data) → an .onnx file, written as a stream without
onnx: the model's bytes encoded by protowire.py, each initializer's data after its header, block
by block (draw.BLOCK elements) as drawn on all cores a few blocks ahead of the writer, so that
the weights are never held whole; an all-zero tensor of HOLE_BYTES or more is a hole in the file
(it reads as zeros and costs no writing). The same bytes as export.save(export.to_onnx(...)):
tests/test_stream.py. numpy is imported only to draw (and for the rare constant plain Python
cannot pack as numpy does)."""

from __future__ import annotations

import array
import numbers
import os
import struct
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

from netdsl import export, files, protowire
from netdsl.draw import BLOCK, Draw
from netdsl.ir import Graph
from netdsl.options import CompileOptions
from netdsl.version import VERSION

HOLE_BYTES = 1 << 16  # a streamed all-zero tensor this large is a hole in the file (sparse)


def write(graph: Graph, path: str | os.PathLike[str], options: CompileOptions | None = None,
          external_bytes: int | None = None, dims: export.Dims | None = None,
          valid: export.Valid | None = None) -> export.Model:
    """export.to_onnx and export.save in one pass that never holds the weights and imports no
    onnx: the same bytes as save(to_onnx(graph, options), path, external_bytes). Returns the
    model as plain data."""
    model, inits = export.lowered(graph, options or CompileOptions(), dims, valid)
    path = Path(path)
    files.check_writable(path)
    limit = export.EXTERNAL_DATA_BYTES if external_bytes is None else external_bytes
    tensors = [_Tensor.of(i) for i in inits]
    if sum(t.nbytes for t in tensors) <= limit:
        files.write_bytes(path, lambda f: _stream(model, tensors, f, None))
        return model
    data = path.with_name(path.name + ".data")
    with files.atomic(data, path) as (tmp_data, tmp_model):
        with files.open_temp(tmp_model) as f, files.open_temp(tmp_data) as d:
            _stream(model, tensors, f, (data.name, d))
            d.truncate()  # NOTE: a hole at the end is no size until this
    return model


class _Tensor(NamedTuple):
    """An initializer as the writer sees it: dims, data type, size in bytes, and its data where
    made at once (an op's constant; given weights, as an array)."""

    name: str
    dims: tuple[int, ...]
    data_type: int
    nbytes: int
    draw: Draw | None  # None: `data` holds the values
    data: Any = None  # bytes or a float32 array

    @classmethod
    def of(cls, i: export.Init) -> _Tensor:
        v = i.values
        if isinstance(v, Draw):
            return cls(i.name, v.shape, protowire.DATA_TYPES["float32"], v.size * 4, v)
        if isinstance(v, export.Const):
            shape, data = packed(v)
            return cls(i.name, shape, protowire.DATA_TYPES[v.dtype], len(data), None, data)
        return cls(i.name, v.shape, protowire.DATA_TYPES[v.dtype.name], v.nbytes, None,
                   export.little_endian(v).reshape(-1))


def _stream(model: export.Model, tensors: Sequence[_Tensor], f: BinaryIO,
            external: tuple[str, BinaryIO] | None) -> None:
    heads, inline, offset = [], [], 0
    for t in tensors:
        if external is not None and t.nbytes >= export.INLINE_BYTES:
            heads.append(protowire.tensor_header(t.name, t.data_type, t.dims,
                                                 (external[0], offset, t.nbytes)))
            inline.append(False)
            offset += t.nbytes
        else:
            heads.append(protowire.tensor_header(t.name, t.data_type, t.dims)
                         + protowire.frame(protowire.TENSOR_RAW_DATA, t.nbytes))
            inline.append(True)
    sizes = [len(h) + (t.nbytes if keep else 0) for h, t, keep in zip(heads, tensors, inline)]
    before, after = _graph_parts(model)
    graph_size = (len(before) + len(after)
                  + sum(protowire.framed_size(protowire.GRAPH_INITIALIZER, n) for n in sizes))
    head, tail = protowire.model_parts(model.ir_version, "netdsl", VERSION, model.opset,
                                       model.props)
    f.write(head + protowire.frame(protowire.MODEL_GRAPH, graph_size) + before)
    blocks = _drawn([t.draw for t in tensors if t.draw is not None and t.draw.constant is None])
    for h, t, keep, n in zip(heads, tensors, inline, sizes):
        f.write(protowire.frame(protowire.GRAPH_INITIALIZER, n) + h)
        _data(t, f if keep or external is None else external[1], blocks)
    f.write(after + tail)


def _graph_parts(model: export.Model) -> tuple[bytes, bytes]:
    """The graph's bytes before and after its initializers (protowire.graph_parts)."""
    infos = [[protowire.value_info(name, protowire.DATA_TYPES[dtype], dims)
              for name, dtype, dims in vs]
             for vs in (model.inputs, model.outputs, model.value_infos)]
    nodes = (protowire.node(n.op_type, n.inputs, n.outputs, n.name, n.doc, sorted(
        ((k, v) for k, v in n.attrs.items() if v is not None), key=lambda kv: kv[0]))
        for n in model.nodes)  # NOTE: as helper.make_node: attributes by name, None dropped
    return protowire.graph_parts(nodes, model.name, model.doc, *infos)


def _data(t: _Tensor, out: BinaryIO, blocks: Iterator[Any]) -> None:
    """One initializer's bytes into `out`: its data made at once, a constant fill (zeros as a
    hole where large), or drawn blocks, the next of `blocks` each."""
    v = t.draw
    if v is None:
        out.write(t.data)
    elif v.constant == 0 and t.nbytes >= HOLE_BYTES:
        out.seek(t.nbytes, os.SEEK_CUR)
    elif v.constant is not None:
        full, rest = divmod(v.size, BLOCK)
        chunk = struct.pack("<f", v.constant) * min(v.size, BLOCK)
        for _ in range(full):
            out.write(chunk)
        out.write(chunk[:rest * 4])
    else:
        for _ in range(v.blocks):
            out.write(next(blocks))


def _drawn(draws: Sequence[Draw]) -> Iterator[Any]:
    """Every block of `draws` in order (numpy arrays), made on all cores at most a few blocks
    ahead, each drawn into one of a ring of buffers. (A fresh 1 MiB array per block is a fresh
    mapping whose pages the kernel faults in and zeroes: a third of vgg16's drawing time.) A
    buffer is drawn into again only after the block it held was yielded and the caller came back
    for the next: `ahead` blocks are pending, one is being written, so ahead + 2 buffers
    suffice. Nothing to draw: no threads, no numpy."""
    if not draws:
        return
    import collections
    from concurrent.futures import Future, ThreadPoolExecutor

    import numpy as np
    workers = os.cpu_count() or 1
    ahead = 2 * workers
    ring = [np.empty(BLOCK, np.float32) for _ in range(ahead + 2)]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: collections.deque[Future[np.ndarray]] = collections.deque()
        k = 0
        for d in draws:
            for b in range(d.blocks):
                out = ring[k % len(ring)][:min(BLOCK, d.size - b * BLOCK)]
                pending.append(pool.submit(d.block, b, out))
                k += 1
                if len(pending) > ahead:
                    yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def packed(const: export.Const) -> tuple[tuple[int, ...], bytes]:
    """An op's constant: its shape and little-endian bytes as const.array() has them, without
    numpy where plain Python says the same: ints (bools) as int64, reals as float32, in nested
    lists of one shape (else numpy's)."""
    code = {"int64": "q", "float32": "f"}.get(const.dtype)
    try:
        if code is None:
            raise TypeError(const.dtype)
        shape, flat = _flatten(const.values)
        if code == "q" and not all(isinstance(v, numbers.Integral) for v in flat):
            raise TypeError("int64 from a non-integer")  # numpy truncates: leave it numpy's
        data = array.array(code, flat)
    except (TypeError, ValueError, OverflowError):
        a = const.array()
        return a.shape, export.little_endian(a).tobytes()
    if sys.byteorder == "big":
        data.byteswap()
    return shape, data.tobytes()


def _flatten(values: Any) -> tuple[tuple[int, ...], list[Any]]:
    """Nested lists (or tuples) of numbers: their shape and elements in row-major order;
    TypeError for anything else, ValueError where the lists differ in shape (ragged)."""
    if isinstance(values, (list, tuple)):
        parts = [_flatten(v) for v in values]
        if any(p[0] != parts[0][0] for p in parts):
            raise ValueError("ragged")
        inner = parts[0][0] if parts else ()
        return (len(values), *inner), [x for p in parts for x in p[1]]
    if isinstance(values, numbers.Real) and type(values).__module__ == "builtins":
        return (), [values]
    raise TypeError(type(values).__name__)
