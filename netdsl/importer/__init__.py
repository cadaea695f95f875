"""ONNX model → .net source text and weights by parameter name (`netdsl import`). Beside the
lowering, in the other direction: it reads a ModelProto's plain fields (export/'s helpers turn
attributes and initializers into Python values, so onnx is imported there only). A package of
two stages:
- dims.py, patterns.py: first, the values of the subgraphs that compute sizes from shapes
  (Shape, Gather, Concat, ...: torch's `x.view(x.size(0), -1)` with a dynamic batch), and the
  subgraphs that are one layer (GELU's erf form, torch's MultiheadAttention, ViT's class token);
- reader.py: ModelProto → Layers: every node becomes one layer (its netdsl call, inputs, weights
  and where its name comes from); Identity and Dropout vanish, a zero Pad in front of a Conv
  becomes its pads; the nodes with weights or windows are read in weighted.py, those that move,
  cut, pad or resize in shaping.py; paths.py names the nodes from the module paths torch's
  default exporter records; calls.py holds Layer and how a call's numbers are written;
- render.py: Layers → .net text: layer labels from the weights' initializer names
  (`features.0.weight` → `features.0`) or from torch's node names (`/layer1/layer1.0/conv1/Conv`
  → `layer1.0.conv1`; its default exporter's module paths in the metadata, read alike), so
  parameter names equal torch's keys; each layer one labelled pipe stage
  (`-> "layer1.0.conv1": conv(64, 3, pad: 1, bias: false)`), single-consumer chains stay pipes,
  other tensors get variables; runs of layers under one module path that recur (ResNet's units)
  become blocks called once per run (render imports reader's Layer);
- here: import_model(), the E407 check of the operators before reading."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

from netdsl.diagnostics import NetdslError, error
from netdsl.importer.calls import Layer
from netdsl.importer.reader import SUPPORTED, _Reader
from netdsl.importer.render import _identifier, _label, _named_sizes, _ports, _render
from netdsl.record import Record, record

__all__ = ["EXAMPLE_SIZES", "SUPPORTED", "Imported", "Layer", "import_model", "with_example"]


@record(slots=False)
class Imported(Record):
    """An ONNX model turned into a .net program, with its weights."""

    text: str  # the .net program
    weights: dict[str, np.ndarray]  # by parameter name (`label.weight`, ...)
    layers: int
    sizes: tuple[str, ...] = ()  # the inputs' sizes that vary, by name (torch's dynamic axes)
    renamed: tuple[tuple[str, str], ...] = ()  # (ONNX name, .net name) of inputs and outputs


# NOTE: a model for every input size needs an example to be built at (an `expect ... at` line);
# the ONNX file has none, so the first of these common image sizes at which the network checks
EXAMPLE_SIZES = (224, 256, 299, 512, 128, 64, 32)


def with_example(imported: Imported, outputs: Mapping[str, str], at: Mapping[str, int]
                 ) -> Imported:
    """The program with an example for its named sizes: `expect y: [N, 1000] at h = 224, w =
    224` (the outputs' shapes there, as checked) before the network's closing brace."""
    where = ", ".join(f"{n} = {v}" for n, v in at.items())
    lines = [f"  expect {name}: {shape} at {where}\n" for name, shape in outputs.items()]
    body = imported.text.removesuffix("}\n")
    return dataclasses.replace(imported, text=body + "".join(lines) + "}\n")


def import_model(model: Any, network: str | None = None, source: str = "model.onnx"
                 ) -> Imported:
    """The .net program and weights of an onnx.ModelProto; E407 listing every operator that
    netdsl cannot express (each with its node names and count)."""
    g = model.graph
    reader = _Reader(model, source)
    unsupported = reader.unread()
    if unsupported:
        count = sum(map(len, unsupported.values()))
        uses = "nodes use operators" if count > 1 else "node uses an operator"
        # NOTE: "does not read", not "does not support": netdsl may have the op (transpose)
        listed = "; ".join(f"{op} x{len(ns)} ({', '.join(ns[:5])}{', ...' if len(ns) > 5 else ''})"
                           for op, ns in sorted(unsupported.items()))
        raise NetdslError([error("E407", f"{source}: {count} {uses} that netdsl import does not "
                                 f"read: {listed}", hints=["it reads " + ", ".join(SUPPORTED)])])
    reader = _Reader(model, source)
    layers = reader.layers()
    _label(layers)
    name = _identifier(network or g.name or "imported", "net")
    ports = _ports(reader, layers)
    text = _render(name, reader, layers, source, ports)
    weights = {f"{ly.label}.{k}".rstrip("."): np.ascontiguousarray(v, np.float32)
               for ly in layers for k, v in ly.params.items()}
    return Imported(text, weights, len(layers), _named_sizes(reader, ports),
                    tuple((a, b) for p in ports for a, b in p.items() if a != b))
