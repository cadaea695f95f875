"""How netdsl import writes a layer (its stage between reader.py and render.py): Layer, one
stage of the .net program; numbers, lists of sizes and window arguments as the .net writes them;
a weight's layer name from its parameter name."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import field
from typing import Any

import numpy as np

from netdsl.record import MutableRecord, record


@record(frozen=False, slots=False)
class Layer(MutableRecord):
    """One stage of the .net program: `"label": call`, on `inputs` (tensor names)."""

    op: str  # netdsl's op name, the label's fallback
    call: str  # the call as written, `conv(64, 3, stride: 2)`
    inputs: list[str]
    output: str
    hint: str  # where the label comes from: a parameter's prefix or the node name
    params: dict[str, np.ndarray] = field(default_factory=dict)  # suffix -> array
    more: list[str] = field(default_factory=list)  # the outputs after `output` (its indices)
    label: str = ""


class _NotFinite(ValueError):
    """A number that _num cannot write (inf, nan): the .net has no literal for it."""


def _num(v: float) -> str:
    if not math.isfinite(float(v)):
        raise _NotFinite(float(v))
    s = f"{float(v):.9g}"
    return s if any(c in s for c in ".en") else s + ".0"


def _ints(v: Sequence[int], as_list: bool = False) -> str:
    v = [int(i) for i in v]
    if not as_list and len(set(v)) == 1:
        return str(v[0])
    return "[" + ", ".join(map(str, v)) + "]"


def _dims(shape: Sequence[int | str]) -> str:
    """A tensor's dims as the messages write them: `[N, 3, h]`, `?` where unnamed."""
    return "[" + ", ".join(str(d) if d else "?" for d in shape) + "]"


def _window(a: dict[str, Any], pads: list[int]) -> list[str]:
    out = []
    if a.get("strides") and any(v != 1 for v in a["strides"]):
        out.append(f"stride: {_ints(a['strides'])}")
    auto = a.get("auto_pad") or "NOTSET"
    if auto == "VALID":
        pass
    elif auto.startswith("SAME"):
        out.append("pad: same")
    elif any(pads):
        r = len(pads) // 2
        out.append("pad: " + (_ints(pads[:r]) if pads[:r] == pads[r:] else _ints(pads, True)))
    if a.get("dilations") and any(v != 1 for v in a["dilations"]):
        out.append(f"dilation: {_ints(a['dilations'])}")
    return out


def _prefix(param: str) -> str:
    """`layer1.0.conv1.weight` → `layer1.0.conv1`; "" for an exporter's made-up name."""
    if param.startswith("onnx::") or "." not in param or "/" in param:
        return ""
    return param.rsplit(".", 1)[0]
