"""Benchmarks: netdsl against PyTorch, measured side by side in one run.

    python bench/run.py [--models lenet,resnet50,mobilenet_v2,googlenet,unet] [--repeats 5]
                        [--rounds 5] [--runs 20] [--batches 1,8]

(a) compile: netdsl's text -> onnx.ModelProto (parse, check, He init, lower) against building the
    same model in torch (torchvision's; LeNet-5 written below, U-Net from the zoo's tests) and
    torch.onnx.export.
(b) inference: onnxruntime latency of our ONNX against torch.onnx.export's, for the same
    architecture and the same weights (torch's, loaded into ours by name; the outputs are checked
    to agree), at each batch size. Sessions alternate, one alive at a time; each side's median
    over all rounds. Each model's achieved GFLOP/s (2 x netdsl's MACs x batch / our median) is
    printed against the float32 GEMM rate of this machine, measured in the same run just before
    each row: an onnxruntime MatMul of two 1024 x 1024 matrices with the same threads.

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import netdsl  # noqa: E402
from bench.common import timed  # noqa: E402


@dataclass(frozen=True, slots=True)
class Case:
    name: str
    path: Path
    network: str
    input_shape: tuple[int, ...]  # at batch 1
    torch_model: Callable[[], Any]  # builds the reference nn.Module (random init)
    params: dict[str, Any] = field(default_factory=dict)  # the network's parameters


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


def mobilenet_v2() -> Any:
    import torchvision
    return torchvision.models.mobilenet_v2()


def googlenet() -> Any:
    import torchvision  # NOTE: as tests/test_zoo_modern.py: no auxiliary heads (training only)
    return torchvision.models.googlenet(aux_logits=False, init_weights=True,
                                        transform_input=False)


def unet() -> Any:
    sys.path.insert(0, str(ROOT / "tests"))
    from test_zoo_segmentation import _torch_unet  # the paper's U-Net with our layer names
    return _torch_unet(pad=0)


ZOO = ROOT / "zoo"
CASES = {
    "lenet": Case("lenet", ZOO / "lenet.net", "lenet5", (1, 1, 32, 32), lenet5),
    "resnet50": Case("resnet50", ZOO / "resnet.net", "resnet50", (1, 3, 224, 224), resnet50),
    "mobilenet_v2": Case("mobilenet_v2", ZOO / "mobilenet_v2.net", "mobilenet_v2",
                         (1, 3, 224, 224), mobilenet_v2),
    "googlenet": Case("googlenet", ZOO / "googlenet.net", "googlenet", (1, 3, 224, 224),
                      googlenet),
    "unet": Case("unet", ZOO / "unet.net", "unet", (1, 1, 188, 188), unet, {"H": 188, "W": 188}),
}


def median_ms(fn: Callable[[], object], repeats: int) -> float:
    return 1000 * timed(fn, repeats)[0]


def torch_export(model: Any, shape: tuple[int, ...]) -> bytes:
    """torch.onnx.export's model, with a symbolic batch like ours. NOTE: the TorchScript exporter
    (dynamo=False), which bench/README.md's tables measure (the torch.export-based one needs
    onnxscript, not installed when they were taken)."""
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
    netdsl.compile(case.path, case.network, case.params)  # the first call imports lark, onnx...
    first = 1000 * (time.perf_counter() - t)
    ours = median_ms(lambda: netdsl.compile(case.path, case.network, case.params), repeats)
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
    ours = netdsl.compile(case.path, case.network, case.params, weights=torch_state(model))
    return ours.SerializeToString(), torch_export(model, case.input_shape)


def session(data: bytes, threads: int, level: str) -> Any:
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.graph_optimization_level = getattr(ort.GraphOptimizationLevel, level)
    return ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])


def bench_inference(case: Case, models: tuple[bytes, bytes], batch: int, rounds: int, runs: int,
                    threads: int, level: str) -> dict[str, Any]:
    ours, theirs = models
    shape = (batch, *case.input_shape[1:])
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
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
            "err": err}


def optimised(models: tuple[bytes, bytes], threads: int, level: str) -> dict[str, str]:
    return {side: optimised_ops(data, threads, level) for side, data in zip(("ours", "theirs"),
                                                                            models)}


def gemm_rate(threads: int, n: int = 1024, runs: int = 20) -> float:
    """This machine's float32 GEMM rate in GFLOP/s: onnxruntime's MatMul of two n x n matrices
    with `threads` intra-op threads (the kernels convolutions end in), median of `runs`."""
    import onnx
    from onnx import TensorProto, helper
    x = helper.make_tensor_value_info("a", TensorProto.FLOAT, [n, n])
    w = helper.make_tensor_value_info("b", TensorProto.FLOAT, [n, n])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [n, n])
    graph = helper.make_graph([helper.make_node("MatMul", ["a", "b"], ["y"])], "gemm", [x, w], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    gemm = session(model.SerializeToString(), threads, "ORT_ENABLE_ALL")
    rng = np.random.default_rng(0)
    feed = {k: rng.standard_normal((n, n)).astype(np.float32) for k in ("a", "b")}
    gemm.run(None, feed)
    return 2 * n**3 / (median_ms(lambda: gemm.run(None, feed), runs) / 1000) / 1e9


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
    p.add_argument("--models", default=",".join(CASES))
    p.add_argument("--batches", default="1,8", help="inference batch sizes")
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

    batches = [int(b) for b in a.batches.split(",")]
    models = {c.name: same_weights(c) for c in cases}
    macs = {c.name: netdsl.load(c.path, c.network, c.params).stats.macs for c in cases}
    for level in a.levels.split(","):
        print(f"\n(b) onnxruntime CPU latency, {level}, median of {a.rounds} x {a.runs} runs "
              f"(ms); GFLOP/s: ours, and a float32 GEMM (MatMul 1024^3, {a.threads} threads) "
              "measured just before")
        print(f"{'model':13} {'batch':>5} {'netdsl':>10} {'torch.onnx':>11} {'netdsl/torch':>13} "
              f"{'(of minima)':>12} {'max rel err':>12} {'GFLOP/s':>8} {'GEMM':>6} "
              f"{'of GEMM':>8}")
        details = []
        for c in cases:
            for batch in batches:
                gemm = gemm_rate(a.threads)  # NOTE: per row: a shared machine's rate drifts
                r = bench_inference(c, models[c.name], batch, a.rounds, a.runs, a.threads, level)
                rate = 2 * macs[c.name] * batch / (r["ours"] / 1000) / 1e9
                print(f"{c.name:13} {batch:5} {r['ours']:10.3f} {r['theirs']:11.3f} "
                      f"{r['ours'] / r['theirs']:12.2f}x "
                      f"{r['ours_min'] / r['theirs_min']:11.2f}x {r['err']:12.1e} "
                      f"{rate:8.1f} {gemm:6.1f} {rate / gemm:7.0%}")
            details += [f"  {c.name} {side}: {ops}"
                        for side, ops in optimised(models[c.name], a.threads, level).items()]
        print("nodes onnxruntime runs:\n" + "\n".join(details))
    return 0


if __name__ == "__main__":
    sys.exit(main())
