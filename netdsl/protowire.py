"""Protobuf's wire format, the little that writing a message as a stream needs: varints, field
keys of length-delimited fields, and a message's fields split around one field number. Pure
Python on protobuf messages (any message class: no onnx import here)."""

from __future__ import annotations

from typing import Any


def varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def key(field: int) -> bytes:
    """The key of a length-delimited field (wire type 2: bytes, strings, messages)."""
    return varint(field << 3 | 2)


def framed_size(field: int, length: int) -> int:
    """Bytes taken by field `field` holding `length` bytes: key, length, payload."""
    return len(key(field)) + len(varint(length)) + length


def frame(field: int, length: int) -> bytes:
    """What precedes `length` bytes of field `field`."""
    return key(field) + varint(length)


def split(message: Any, field: int) -> tuple[bytes, bytes]:
    """`message` serialised (deterministically) without field `field`, as the bytes of the
    fields numbered below it and those above: a streamed field goes between the two, in the
    order protobuf's own serialiser writes known fields (by number)."""
    fields = [descriptor for descriptor, _ in message.ListFields()]
    return (_only(message, [d.name for d in fields if d.number >= field]),
            _only(message, [d.name for d in fields if d.number <= field]))


def _only(message: Any, drop: list[str]) -> bytes:
    m = message.__class__()
    m.CopyFrom(message)
    for name in drop:
        m.ClearField(name)
    return bytes(m.SerializeToString(deterministic=True))
