"""Whole-process compile: `netdsl compile` as a user runs it against `python -c` building the
torchvision model and torch.onnx.export-ing it to a file, with `python -c "import onnx, numpy"`
printed as the floor no Python tool that writes ONNX with numpy goes below.

    nice python bench/process.py [--models resnet50,vgg16,resnet152,mobilenet_v2] [--repeats 3]

Each repeat runs every command once, in turn (floor, netdsl, netdsl --init zeros, torch), so that
the sides share the machine's state, after one untimed netdsl run (bytecode written, as `pip
install` does, and the zoo file read); the table gives medians of wall time, of CPU time (user +
system of all the child's threads: on a shared machine far steadier than wall time) and of peak
RSS (the child's own ru_maxrss and rusage, from os.wait4). Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import child_env  # noqa: E402

ZOO = {  # model -> (.net file, network); torchvision builds the same name
    "resnet18": ("resnet.net", "resnet18"), "resnet50": ("resnet.net", "resnet50"),
    "resnet152": ("resnet.net", "resnet152"), "vgg16": ("vgg.net", "vgg16"),
    "vgg19": ("vgg.net", "vgg19"), "mobilenet_v2": ("mobilenet_v2.net", "mobilenet_v2"),
}
TORCH = ("import torch, torchvision, warnings; warnings.simplefilter('ignore'); "
         "m = torchvision.models.{model}().eval(); "
         "torch.onnx.export(m, (torch.zeros(1, 3, 224, 224),), {out!r}, dynamo=False, "
         "input_names=['x'], output_names=['y'], "
         "dynamic_axes={{'x': {{0: 'N'}}, 'y': {{0: 'N'}}}})")


def measure(argv: list[str]) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + system, all threads) and peak RSS (MB) of one child
    process."""
    t = time.perf_counter()
    p = subprocess.Popen(argv, env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    if status != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {p.stderr.read().decode() if p.stderr else ''}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024  # Linux: kilobytes


def commands(model: str, out: Path) -> dict[str, list[str]]:
    net, network = ZOO[model]
    compile_ = [sys.executable, "-m", "netdsl", "compile", str(ROOT / "zoo" / net),
                "--network", network, "-o", str(out / "netdsl.onnx")]
    return {"floor": [sys.executable, "-c", "import onnx, numpy"], "netdsl": compile_,
            "zeros": [*compile_, "--init", "zeros"],
            "torch": [sys.executable, "-c", TORCH.format(model=model, out=str(out / "t.onnx"))]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="resnet50,vgg16,resnet152,mobilenet_v2")
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args(argv)
    print(f"whole processes, median of {a.repeats}: wall s, CPU s (peak RSS MB); "
          f"{os.cpu_count()} cores")
    print(f"{'model':13} {'floor':>17} {'netdsl':>17} {'--init zeros':>17} {'torch':>19} "
          f"{'wall ratio':>10} {'CPU ratio':>9} {'RSS ratio':>9} {'weights MB':>10}")
    for model in a.models.split(","):
        with tempfile.TemporaryDirectory() as d:
            cmds = commands(model, Path(d))
            runs: dict[str, list[tuple[float, float, float]]] = {k: [] for k in cmds}
            measure(cmds["netdsl"])  # untimed: bytecode written, files in the page cache
            for _ in range(a.repeats):
                for k, argv_ in cmds.items():
                    runs[k].append(measure(argv_))
            weights = (Path(d) / "netdsl.onnx").stat().st_size / 1e6
        med = {k: tuple(statistics.median(r[i] for r in v) for i in range(3))
               for k, v in runs.items()}
        cell = {k: f"{w:5.2f} {c:5.2f} ({r:4.0f})" for k, (w, c, r) in med.items()}
        ratio = [med["torch"][i] / med["netdsl"][i] for i in range(3)]
        print(f"{model:13} {cell['floor']:>17} {cell['netdsl']:>17} {cell['zeros']:>17} "
              f"{cell['torch']:>19} {ratio[0]:9.1f}x {ratio[1]:8.1f}x {ratio[2]:8.1f}x "
              f"{weights:10.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
