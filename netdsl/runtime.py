"""ONNX model → outputs, on onnxruntime (CPU, or CUDA where onnxruntime-gpu is installed).
The only module that imports onnxruntime."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnxruntime as ort

from netdsl.diagnostics import NetdslError, error

_PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}


@dataclass(frozen=True, slots=True)
class Port:
    name: str
    shape: tuple[Any, ...]  # ints, or str for symbolic dims


def providers(choice: str = "auto") -> list[str]:
    """The onnxruntime providers for a choice of auto|cpu|cuda; E405 if cuda is not available."""
    available = ort.get_available_providers()
    if choice == "cpu":
        return ["CPUExecutionProvider"]
    if choice == "cuda":
        if "CUDAExecutionProvider" not in available:
            raise NetdslError([error("E405", "the CUDA execution provider is not available in "
                                     "this onnxruntime", hints=[
                                         "install onnxruntime-gpu (and a CUDA runtime), or use "
                                         "--provider cpu"])])
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    if "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def accepts(model: bytes) -> bool:
    """Whether onnxruntime loads this model (export.default_opset probes opsets with it)."""
    opts = ort.SessionOptions()
    opts.log_severity_level = 4  # a refusal is an answer here, not an error to log
    try:
        ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
    except Exception:  # noqa: BLE001 - onnxruntime raises its own Fail/InvalidGraph
        return False
    return True


class Session:
    """One onnxruntime InferenceSession with input checking."""

    def __init__(self, model: Any, provider: str = "auto", threads: int = 0):
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        data = model if isinstance(model, (bytes, str)) else model.SerializeToString()
        try:
            self._s = ort.InferenceSession(data, opts, providers=providers(provider))
        except NetdslError:
            raise
        except Exception as e:  # noqa: BLE001 - onnxruntime raises its own Fail/InvalidGraph
            raise NetdslError([error("E403", f"onnxruntime cannot load the model: "
                                     f"{str(e).splitlines()[0][:300]}")]) from None
        self.providers = self._s.get_providers()

    @property
    def inputs(self) -> list[Port]:
        return [Port(i.name, tuple(i.shape)) for i in self._s.get_inputs()]

    @property
    def outputs(self) -> list[Port]:
        return [Port(o.name, tuple(o.shape)) for o in self._s.get_outputs()]

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        checked = {}
        expected = {p.name: p for p in self.inputs}
        for name in feeds:
            if name not in expected:
                raise NetdslError([error("E404", f"the model has no input `{name}`",
                                         hints=[f"its inputs: {', '.join(expected)}"])])
        for name, port in expected.items():
            if name not in feeds:
                raise NetdslError([error("E404", f"input `{name}` is missing: it needs shape "
                                         f"{_fmt(port.shape)}")])
            arr = np.asarray(feeds[name])
            if arr.dtype.kind not in "fiub":
                raise NetdslError([error("E404", f"input `{name}` has dtype {arr.dtype}; it "
                                         "needs float32")])
            if len(arr.shape) != len(port.shape) or any(
                    isinstance(d, int) and d != a for d, a in zip(port.shape, arr.shape)):
                raise NetdslError([error("E404", f"input `{name}` has shape {list(arr.shape)}; "
                                         f"the model expects {_fmt(port.shape)}")])
            checked[name] = np.ascontiguousarray(arr, dtype=np.float32)
        names = [o.name for o in self.outputs]
        results = self._s.run(names, checked)
        return dict(zip(names, results))


def _fmt(shape: tuple[Any, ...]) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def random_inputs(ports: list[Port], batch: int = 1, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {p.name: rng.standard_normal([d if isinstance(d, int) else batch for d in p.shape]
                                        ).astype(np.float32) for p in ports}


def note(message: str) -> None:
    print(f"note: {message}", file=sys.stderr)
