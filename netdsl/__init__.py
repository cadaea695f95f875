"""netdsl: a language for neural-network architectures, shape-checked, costed and lowered to ONNX.

Public API (heavy modules load lazily: `import netdsl` does not import onnx or onnxruntime):
    load(path_or_text, network=None, **params) -> Graph   (checked; .stats on the result)
    compile(path_or_text, network=None, *, opset, batch, seed, init, weights, **params)
        -> ModelProto
    run(model_or_path, inputs=None, *, provider="auto", batch=1, **params) -> dict of arrays
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from netdsl.diagnostics import Diagnostic, NetdslError

if TYPE_CHECKING:
    import numpy as np
    import onnx

    from netdsl.ir import Graph

__version__ = "0.1.0"
__all__ = ["Diagnostic", "NetdslError", "__version__", "compile", "load", "run"]


def load(path_or_text: str | Path, network: str | None = None, **params: Any) -> Graph:
    """Parse, elaborate and check a network; returns its Graph, with `graph.stats` attached."""
    from netdsl.pipeline import check_source, source_of
    checked = check_source(source_of(path_or_text), network, params)
    checked.graph.stats = checked.stats  # type: ignore[attr-defined]
    return checked.graph


def compile(path_or_text: str | Path, network: str | None = None, *, opset: int | None = None,
            batch: int | None = None, seed: int = 0, init: str | None = None,
            weights: Any = None, **params: Any) -> onnx.ModelProto:
    """Check and lower to ONNX. `weights`: a path (.npz/.safetensors) or a name -> array mapping."""
    from netdsl import weights as wmod
    from netdsl.pipeline import compile_source, source_of
    wpath = "weights"
    if isinstance(weights, (str, Path)):
        wpath, weights = str(weights), wmod.read(weights)
    _, model = compile_source(source_of(path_or_text), network, params, opset=opset, batch=batch,
                              seed=seed, init=init, weights=weights, weights_path=wpath)
    return model


def run(model: Any, inputs: dict[str, np.ndarray] | None = None, *, network: str | None = None,
        provider: str = "auto", batch: int = 1, seed: int = 0, **params: Any
        ) -> dict[str, np.ndarray]:
    """Run a ModelProto, an .onnx path, or a .net path/text (compiled in memory) on onnxruntime.
    Without inputs, random normal inputs (seeded) of batch size `batch` are used."""
    from netdsl import export, runtime
    if isinstance(model, (str, Path)) and str(model).endswith(".onnx"):
        export.check_file(model)
        model = Path(model)  # onnxruntime reads it, external data included
    elif isinstance(model, (str, Path)):
        model = compile(model, network, seed=seed, **params)
    session = runtime.Session(model, provider)
    feeds = inputs if inputs is not None else runtime.random_inputs(session.inputs, batch, seed)
    return session.run(feeds)
