"""REGISTRY → docs/costs.md (the cost model) and docs/ops.md (the operator reference).

Both files are generated from each op's `summary`, `mac_rule`, docstring and fields, so that they
cannot drift from the code; a test compares the committed files with this output. Regenerate with
`python tools/gendocs.py ops costs` (this module is the part of tools/gendocs.py for operators)."""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path
from typing import Any

from netdsl.ops import REGISTRY
from netdsl.ops.base import Op
from netdsl.ops.types import literal, words

DOCS = Path(__file__).resolve().parents[1] / "docs"

COSTS_HEAD = """\
# The cost model

Generated from the operator registry by `python tools/gendocs.py costs`; do not edit.

`netdsl summary` reports, for every layer, its parameters, its buffers and its MACs, and for the
network their totals and the peak activation memory.

- **MACs** count multiply-accumulates: a convolution or a dense layer does one per weight and
  output position, which is the count the lecture uses ("5x5x200 x 32x32x92 ~ 470 million
  multiplications"). Every other operator is costed by the rule in the table below, one
  MAC-equivalent per elementary operation (a compare, an add, an exp), so that the total is an
  honest estimate of the work. A zero is always a stated rule (a view, a copy, the identity at
  inference), never a missing one.
- **FLOPs = 2 x MACs** throughout (a multiply and an add per MAC), as torch's FLOP counter and
  most papers count convolutions.
- Counts are per example (batch 1): shapes are written with `H x W` for the spatial axes; 1-D and
  3-D inputs use the length, or depth x height x width, in the same place.
- **Parameters** are the learned tensors (weights, biases, batch norm's scale and shift);
  **buffers** are the rest of the state (batch norm's running mean and variance), reported apart,
  as torch separates `parameters()` from `buffers()`.
- **Activation memory** of a layer is its output tensor at batch 1 in float32 (4 bytes an
  element). The **peak** runs the layers in the order the source defines them; a tensor is alive
  from the layer that makes it until the last layer that reads its values has run (network
  outputs until the end), so a U-Net's skip tensors stay alive until their concat. A `like:`
  tensor gives only a size and does not extend a lifetime. The peak is the largest sum of live
  tensors after any layer.

| operator | MACs per example |
| --- | --- |
"""

OPS_HEAD = """\
# Operators

Generated from the operator registry by `python tools/gendocs.py ops`; do not edit. The cost of
each operator is in [costs.md](costs.md).

Arguments are given by position (in the order listed) or by keyword; the tensor comes first,
usually through a pipe (`x -> conv(64, 3, pad: 1)`). Spatial arguments (`kernel`, `stride`,
`pad`, `dilation`, `size`) take one integer for every axis or a list with one per axis.

The output size of a sliding window (conv, depthwise, pooling) along an axis of size N is
`floor((N + P_begin + P_end - D*(F - 1) - 1) / S) + 1`, the lecture's `(N - F + 2P)/S + 1`.
A stride that does not tile its input exactly is an error (E302) unless the layer says
`floor: true` or the network says `option floor: true`; pooling may ask for `ceil: true`
instead. `pad: same` follows ONNX SAME_UPPER (TensorFlow's SAME): the output is `ceil(N / S)`,
the total padding `max((out - 1)*S + D*(F - 1) + 1 - N, 0)`, and an odd total puts the extra row
at the end (bottom, right). `pad: valid` is no padding.

Receptive fields (`netdsl summary`, `netdsl explain`) follow Araujo, Norris and Sim, "Computing
receptive fields of convolutional neural networks" (Distill, 2019). Each op states, per axis, how
many neighbouring inputs an output reads (`extent`: D*(F - 1) + 1 for a sliding window), how far
apart in the input neighbouring outputs are (`f`: the stride; 1/S for a transposed conv or an
upsampling by S) and where output 0 is centred (`offset`: D*(F - 1)/2 - P_begin for a sliding
window; the start of a crop; minus the begin of a pad). A layer maps its input's field (size r,
jump j, start u) to `r + (extent - 1)*j`, `j*f` and `u + offset*j`. Where branches join (add,
concat, mul), the field is the union of the branches' fields; branches whose jumps or centres
differ are misaligned, and netdsl warns (W301). Global pooling and dense layers see the whole
input. Through convolutions and pooling the numbers are exact for every output. Transposed
convs and upsampling read their inputs unevenly (outputs 2k and 2k + 1 of a 2x nearest
upsampling read the same input), so each reports the widest field and the mean centre; after
them, fields differ from output to output and the reported ones are estimates: right on average,
within the range of the actual ones (a 3-level U-Net's outputs see 92 to 100 pixels; netdsl
reports 96), each centre within about half the coarsest jump.
"""


def _ops() -> list[type[Op]]:
    return [REGISTRY[name] for name in sorted(REGISTRY)]


def costs_markdown() -> str:
    rows = [f"| `{cls.name}` | {cls.mac_rule} |" for cls in _ops()]
    return COSTS_HEAD + "\n".join(rows) + "\n"


def _default(f: dataclasses.Field[Any]) -> str:
    if f.default is dataclasses.MISSING:
        return "required"
    if "option" in f.metadata:
        otherwise = f", else `{f.metadata['shown']}`" if f.metadata.get("shown") else ""
        return f"the network's `option {f.metadata['option']}`{otherwise}"
    return "none" if f.default is None else f"`{literal(f.default)}`"


def _section(cls: type[Op]) -> str:
    lo, hi = cls.inputs
    inputs = f"{lo}" if lo == hi else f"{lo} or more" if hi is None else f"{lo} to {hi}"
    doc = inspect.cleandoc(cls.__doc__ or "")
    lines = [f"## `{cls.name}`", "", doc, "", f"`{cls.signature().summary}`", "",
             f"Input tensors: {inputs}. MACs: {cls.mac_rule}.", ""]
    fields = dataclasses.fields(cls)
    if fields:
        lines += ["| argument | type | default |", "| --- | --- | --- |"]
        lines += [f"| `{f.name}` | {words(str(f.type))} | {_default(f)} |" for f in fields]
        lines.append("")
    return "\n".join(lines)


def _prelude_sections() -> str:
    """netdsl/prelude.net's blocks (usable in every file without `use`): the comment above each
    block and its parameter line, read from the prelude itself."""
    from netdsl.elaborator.modules import _prelude
    lines = ["# Prelude blocks", "",
             "Blocks written in netdsl itself (netdsl/prelude.net), usable in every file without "
             "`use`; a file may define a block of the same name for itself. A block call is a "
             "scope: its layers are named NAME.LABEL (see [language.md](language.md#layer-names)).",
             ""]
    for name, blk in sorted(_prelude().blocks.items()):
        assert blk.span.source is not None
        text = blk.span.source.text
        before = text[:blk.span.start].rstrip("\n").split("\n")
        comment = []
        while before and before[-1].startswith("#"):
            comment.insert(0, before.pop().lstrip("# "))
        head = text[blk.span.start:text.index("{", blk.span.start)].strip()
        lines += [f"## `{name}`", "", " ".join(comment), "", f"`{head}`", ""]
    return "\n".join(lines)


def ops_markdown() -> str:
    return (OPS_HEAD + "\n" + "\n".join(_section(cls) for cls in _ops()) + "\n"
            + _prelude_sections())


FILES = {"costs.md": costs_markdown, "ops.md": ops_markdown}
