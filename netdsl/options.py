"""Compile options: everything a compile may be told besides the network's own parameters, as one
typed record that `netdsl compile`, `netdsl.compile`, the pipeline and the lowering all read."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

# NOTE: a fixed default, so that the same .net gives the same bytes on every machine (the newest
# opset the local onnxruntime accepts would not). 17 (ONNX 1.12, 2022) is widely deployed:
# onnxruntime >= 1.12 and TensorRT 8.6 load it, and it is the first opset with LayerNormalization.
# Every operator lowers at 17 and at the newest opset the installed onnx knows (tests/test_export).
DEFAULT_OPSET = 17

# a weight file (.npz or .safetensors, read by the pipeline) or arrays by parameter name
Weights = Mapping[str, "np.ndarray"] | str | os.PathLike[str]


@dataclass(frozen=True, slots=True)
class CompileOptions:
    """How to lower a checked network to ONNX (the flags of `netdsl compile`)."""

    opset: int = DEFAULT_OPSET  # --opset: 17 to the newest the installed onnx knows
    batch: int | None = None  # --batch: a fixed batch size; None keeps the symbolic N
    seed: int = 0  # --seed: of the initial weights
    init: str | None = None  # --init he|xavier|zeros; None: the network's `option init`, else he
    weights: Weights | None = None  # --weights; None: initialised from `seed` and `init`
    rename: tuple[str, ...] = ()  # --rename 'PATTERN=REPLACEMENT': applied to weight names in order
    fully_convolutional: bool = False  # --fully-convolutional: the dense head becomes convs
    input_size: tuple[int, ...] | None = None  # --input-size, with fully_convolutional
    source_lines: bool = True  # False (--no-source-lines): doc strings give path:line:col only
