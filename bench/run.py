"""Benchmarks: netdsl against PyTorch, measured side by side in one run.

    python bench/run.py [--models lenet,resnet50] [--repeats 5] [--rounds 3] [--runs 20]

(a) compile: netdsl's text -> onnx.ModelProto (parse, check, He init, lower) against building the
    same model in torch (torchvision's resnet50; LeNet-5 written below) and torch.onnx.export.
(b) inference: onnxruntime latency of our ONNX against torch.onnx.export's, for the same
    architecture and the same weights (torch's, loaded into ours by name; the outputs are checked
    to agree). Sessions alternate, one alive at a time; each side's median over all rounds.

Every number is a median of repeats; ratios compare numbers from this same run. Results vary with
the machine: record them in bench/README.md with the machine they came from.
"""

from __future__ import annotations

import argparse
import collections
import gc
import io
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import netdsl  # noqa: E402


@dataclass(frozen=True, slots=True)
class Case:
    name: str
    path: Path
    network: str
    input_shape: tuple[int, ...]
    torch_model: Callable[[], Any]  # builds the reference nn.Module (random init)


def lenet5() -> Any:
    """LeNet-5 as zoo/lenet.net writes it, with the same layer names."""
    from torch import nn

    class LeNet5(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.c1, self.c3 = nn.Conv2d(1, 6, 5), nn.Conv2d(6, 16, 5)
            self.c5 = nn.Conv2d(16, 120, 5)
            self.f6, self.f7 = nn.Linear(120, 84), nn.Linear(84, 10)

        def forward(self, x: Any) -> Any:
            import torch
            f = torch.nn.functional
            x = f.avg_pool2d(torch.tanh(self.c1(x)), 2)
            x = f.avg_pool2d(torch.tanh(self.c3(x)), 2)
            x = torch.flatten(torch.tanh(self.c5(x)), 1)
            return torch.softmax(self.f7(torch.tanh(self.f6(x))), dim=1)

    return LeNet5()


def resnet50() -> Any:
    import torchvision
    return torchvision.models.resnet50()


CASES = {
    "lenet": Case("lenet", ROOT / "zoo" / "lenet.net", "lenet5", (1, 1, 32, 32), lenet5),
    "resnet50": Case("resnet50", ROOT / "zoo" / "resnet.net", "resnet50", (1, 3, 224, 224),
                     resnet50),
}


def median_ms(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times)


def torch_export(model: Any, shape: tuple[int, ...]) -> bytes:
    """torch.onnx.export's model, with a symbolic batch like ours. NOTE: the TorchScript exporter
    (dynamo=False): the torch.export-based one needs onnxscript, which is not installed here."""
    import torch
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model.eval(), (torch.zeros(shape),), buf, dynamo=False,
                          input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "N"}, "y": {0: "N"}})
    return buf.getvalue()


# ------------------------------------------------------------------------------- compile

def bench_compile(case: Case, repeats: int) -> dict[str, float]:
    t = time.perf_counter()
    netdsl.compile(case.path, case.network)  # the first call also builds the parser
    first = 1000 * (time.perf_counter() - t)
    ours = median_ms(lambda: netdsl.compile(case.path, case.network), repeats)
    torch_export(case.torch_model(), case.input_shape)  # warm torch's tracer the same way
    theirs = median_ms(lambda: torch_export(case.torch_model(), case.input_shape), repeats)
    build = median_ms(case.torch_model, repeats)
    return {"first": first, "ours": ours, "theirs": theirs, "build": build}


# ----------------------------------------------------------------------------- inference

def randomised(case: Case) -> Any:
    """The torch model with random BN statistics and affine parameters, so that BN matters."""
    import torch
    model = case.torch_model().eval()
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if name.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
            elif name.endswith(("running_mean", "bias")):
                t.copy_(torch.randn(t.shape, generator=g) * 0.1)
    return model


def same_weights(case: Case) -> tuple[bytes, bytes]:
    sys.path.insert(0, str(ROOT / "tests"))
    from torchvision_ref import torch_state
    model = randomised(case)
    ours = netdsl.compile(case.path, case.network, weights=torch_state(model))
    return ours.SerializeToString(), torch_export(model, case.input_shape)


def session(data: bytes, threads: int, level: str) -> Any:
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.graph_optimization_level = getattr(ort.GraphOptimizationLevel, level)
    return ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])


def bench_inference(case: Case, rounds: int, runs: int, threads: int,
                    level: str) -> dict[str, Any]:
    ours, theirs = same_weights(case)
    x = np.random.default_rng(0).standard_normal(case.input_shape).astype(np.float32)
    times: dict[str, list[float]] = {"ours": [], "theirs": []}
    outputs: dict[str, np.ndarray] = {}
    for _ in range(rounds):
        for side, data in (("ours", ours), ("theirs", theirs)):
            s = session(data, threads, level)
            feed = {s.get_inputs()[0].name: x}
            for _ in range(max(3, runs // 5)):
                outputs[side] = s.run(None, feed)[0]
            for _ in range(runs):
                t = time.perf_counter()
                s.run(None, feed)
                times[side].append(time.perf_counter() - t)
            del s  # one session alive at a time
            gc.collect()
    err = float(np.max(np.abs(outputs["ours"] - outputs["theirs"]))
                / max(float(np.max(np.abs(outputs["theirs"]))), 1e-12))
    return {"ours": 1000 * statistics.median(times["ours"]),
            "theirs": 1000 * statistics.median(times["theirs"]),
            "ours_min": 1000 * min(times["ours"]), "theirs_min": 1000 * min(times["theirs"]),
            "err": err,
            "nodes": {side: optimised_ops(data, threads, level)
                      for side, data in (("ours", ours), ("theirs", theirs))}}


def optimised_ops(data: bytes, threads: int, level: str) -> str:
    """The node types onnxruntime actually runs, after its graph optimisations."""
    import onnx
    import onnxruntime as ort
    with tempfile.TemporaryDirectory() as d:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.graph_optimization_level = getattr(ort.GraphOptimizationLevel, level)
        opts.optimized_model_filepath = str(Path(d) / "opt.onnx")
        opts.log_severity_level = 3  # saving NCHWc layouts warns that they are machine-specific
        ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])
        m = onnx.load(opts.optimized_model_filepath)
    counts = collections.Counter(f"{n.domain.replace('com.microsoft.', '')}:{n.op_type}"
                                 if n.domain else n.op_type for n in m.graph.node)
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))


# ---------------------------------------------------------------------------------- main

def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="lenet,resnet50")
    p.add_argument("--repeats", type=int, default=5, help="compile repeats")
    p.add_argument("--rounds", type=int, default=5, help="inference rounds (sessions per side)")
    p.add_argument("--runs", type=int, default=20, help="timed runs per session")
    p.add_argument("--threads", type=int, default=2, help="onnxruntime intra-op threads")
    p.add_argument("--levels", default="ORT_ENABLE_ALL,ORT_DISABLE_ALL",
                   help="onnxruntime graph optimisation levels to measure")
    a = p.parse_args(argv)
    import onnxruntime
    import torch
    torch.set_num_threads(a.threads)
    print(f"netdsl {netdsl.__version__}, torch {torch.__version__}, onnxruntime "
          f"{onnxruntime.__version__}, {a.threads} threads\n")
    cases = [CASES[m] for m in a.models.split(",")]

    print(f"(a) compile, median of {a.repeats} (ms)")
    print(f"{'model':10} {'netdsl':>10} {'(first)':>10} {'torch build':>12} "
          f"{'+ onnx.export':>14} {'torch/netdsl':>13}")
    for c in cases:
        r = bench_compile(c, a.repeats)
        print(f"{c.name:10} {r['ours']:10.1f} {r['first']:10.1f} {r['build']:12.1f} "
              f"{r['theirs']:14.1f} {r['theirs'] / r['ours']:12.2f}x")

    for level in a.levels.split(","):
        print(f"\n(b) onnxruntime CPU latency, batch 1, {level}, median of {a.rounds} x "
              f"{a.runs} runs (ms)")
        print(f"{'model':10} {'netdsl':>10} {'torch.onnx':>11} {'netdsl/torch':>13} "
              f"{'(of minima)':>12} {'max rel err':>12}")
        details = []
        for c in cases:
            r = bench_inference(c, a.rounds, a.runs, a.threads, level)
            print(f"{c.name:10} {r['ours']:10.3f} {r['theirs']:11.3f} "
                  f"{r['ours'] / r['theirs']:12.2f}x {r['ours_min'] / r['theirs_min']:11.2f}x "
                  f"{r['err']:12.1e}")
            details += [f"  {c.name} {side}: {ops}" for side, ops in r["nodes"].items()]
        print("nodes onnxruntime runs:\n" + "\n".join(details))
    return 0


if __name__ == "__main__":
    sys.exit(main())
