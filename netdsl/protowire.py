"""Protobuf's wire format for ONNX, by hand: plain values → the bytes of onnx.proto's messages,
as `SerializeToString(deterministic=True)` writes what onnx.helper builds (make_node,
make_attribute, make_tensor_value_info, make_graph, make_model, set_model_props,
set_external_data). So that `netdsl compile` writes a model without importing onnx (~100 ms);
tests/test_stream.py checks the bytes against onnx's own for every zoo network and op case.

The rules that matter (onnx.proto is proto2): a field is written when set, zero or not; known
fields in field-number order; repeated scalars unpacked (a key per element); an int64 below zero
takes ten bytes (two's complement); a float is four little-endian bytes (fixed32)."""

from __future__ import annotations

import numbers
import struct
from collections.abc import Iterable, Sequence
from typing import Any

VARINT, FIXED32, LENGTH = 0, 5, 2  # the wire types used here

# AttributeProto.AttributeType
FLOAT, INT, STRING, FLOATS, INTS, STRINGS = 1, 2, 3, 6, 7, 8
# TensorProto.DataType by numpy's dtype name, and TensorProto.DataLocation.EXTERNAL
DATA_TYPES = {"float32": 1, "uint8": 2, "int8": 3, "uint16": 4, "int16": 5, "int32": 6,
              "int64": 7, "bool": 9, "float16": 10, "float64": 11, "uint32": 12, "uint64": 13}
EXTERNAL = 1
# field numbers of onnx.proto, the few the streamed writer frames itself
MODEL_GRAPH, GRAPH_INITIALIZER, TENSOR_RAW_DATA = 7, 5, 9


_SMALL = [bytes((n,)) for n in range(0x80)]  # one-byte varints: most keys, lengths and ints


def varint(n: int) -> bytes:
    if 0 <= n < 0x80:
        return _SMALL[n]
    n &= (1 << 64) - 1  # NOTE: negative int64s as protobuf writes them, ten bytes
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def key(field: int, wire: int = LENGTH) -> bytes:
    """The key of field `field` (default: a length-delimited one: bytes, strings, messages)."""
    return varint(field << 3 | wire)


def framed_size(field: int, length: int) -> int:
    """Bytes taken by field `field` holding `length` bytes: key, length, payload."""
    return len(key(field)) + len(varint(length)) + length


def frame(field: int, length: int) -> bytes:
    """What precedes `length` bytes of field `field`."""
    return key(field) + varint(length)


def blob(field: int, data: bytes | str) -> bytes:
    """A string, bytes or message field."""
    raw = data.encode() if isinstance(data, str) else data
    return frame(field, len(raw)) + raw


def number(field: int, n: int) -> bytes:
    """An int32/int64/enum field."""
    return key(field, VARINT) + varint(n)


def _float(field: int, x: float) -> bytes:
    return key(field, FIXED32) + struct.pack("<f", x)


def blobs(field: int, items: Iterable[bytes | str]) -> bytes:
    return b"".join(blob(field, i) for i in items)


# ----------------------------------------------------------------------------- onnx.proto


def attribute(name: str, value: Any) -> bytes:
    """AttributeProto as helper.make_attribute(name, value) makes it: name (1), f (2), i (3),
    s (4), floats (7), ints (8), strings (9), type (20). Ints and bools are INT, other reals
    FLOAT, strings STRING; a non-empty list takes the first kind all its elements are."""
    if isinstance(value, numbers.Integral):
        body, kind = number(3, int(value)), INT
    elif isinstance(value, numbers.Real):
        body, kind = _float(2, float(value)), FLOAT
    elif isinstance(value, (str, bytes)):
        body, kind = blob(4, value), STRING
    else:
        items = list(value)
        if items and all(isinstance(v, numbers.Integral) for v in items):
            body, kind = b"".join(number(8, int(v)) for v in items), INTS
        elif items and all(isinstance(v, numbers.Real) for v in items):
            body, kind = b"".join(_float(7, float(v)) for v in items), FLOATS
        elif items and all(isinstance(v, (str, bytes)) for v in items):
            body, kind = blobs(9, items), STRINGS
        else:
            raise TypeError(f"attribute {name}: {value!r} is no value netdsl lowers to")
    return blob(1, name) + body + number(20, kind)


def node(op_type: str, inputs: Sequence[str], outputs: Sequence[str], name: str, doc: str,
         attrs: Iterable[tuple[str, Any]]) -> bytes:
    """NodeProto as helper.make_node makes it (attributes in the order given: make_node sorts
    them by name and drops those that are None)."""
    return b"".join((blobs(1, inputs), blobs(2, outputs), blob(3, name) if name else b"",
                     blob(4, op_type), b"".join(blob(5, attribute(k, v)) for k, v in attrs),
                     blob(6, doc) if doc else b""))


def value_info(name: str, data_type: int, dims: Sequence[int | str | None]) -> bytes:
    """ValueInfoProto as helper.make_tensor_value_info makes it: a tensor type with a shape (a
    scalar's too); each dim a dim_value, a dim_param, or neither (None)."""
    shape = b"".join(blob(1, b"" if d is None else number(1, d) if isinstance(d, int)
                          else blob(2, d)) for d in dims)
    tensor = number(1, data_type) + blob(2, shape)
    return blob(1, name) + blob(2, blob(1, tensor))


def tensor_header(name: str, data_type: int, dims: Sequence[int],
                  external: tuple[str, int, int] | None = None) -> bytes:
    """A TensorProto without its data: dims (1), data_type (2), name (8); with `external`
    (location, offset, length), as set_external_data leaves it: external_data (13) entries and
    data_location (14)."""
    head = b"".join(number(1, d) for d in dims) + number(2, data_type) + blob(8, name)
    if external is None:
        return head
    location, offset, length = external
    return head + entries(13, {"location": location, "offset": str(offset),
                               "length": str(length)}) + number(14, EXTERNAL)


def entries(field: int, props: dict[str, str]) -> bytes:
    """StringStringEntryProto key (1), value (2), one per item, in order."""
    return b"".join(blob(field, blob(1, k) + blob(2, v)) for k, v in props.items())


def graph_parts(nodes: Iterable[bytes], name: str, doc: str, inputs: Iterable[bytes],
                outputs: Iterable[bytes], value_infos: Iterable[bytes]) -> tuple[bytes, bytes]:
    """GraphProto as helper.make_graph makes it, split where its initializers (5) go: node (1)
    and name (2) before; doc_string (10), input (11), output (12), value_info (13) after."""
    return (b"".join(blob(1, n) for n in nodes) + blob(2, name),
            (blob(10, doc) if doc else b"") + b"".join(blob(11, i) for i in inputs)
            + b"".join(blob(12, o) for o in outputs) + b"".join(blob(13, v) for v in value_infos))


def model_parts(ir_version: int, producer: str, producer_version: str, opset: int,
                props: dict[str, str]) -> tuple[bytes, bytes]:
    """ModelProto as helper.make_model (+ set_model_props) makes it, split where its graph (7)
    goes: ir_version (1), producer_name (2), producer_version (3) before; opset_import (8) of
    the default domain ("" set) and metadata_props (14) after."""
    return (number(1, ir_version) + blob(2, producer) + blob(3, producer_version),
            blob(8, blob(1, "") + number(2, opset)) + entries(14, props))
