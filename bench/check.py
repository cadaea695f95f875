"""Check cost: `netdsl check` as a cold process against `python -c "import lark, networkx"` (the
imports it cannot avoid), the in-process check of a warm process, and generated residual towers
checked in process: milliseconds per layer at each size (linear time shows as a flat column).

    nice python bench/check.py [--repeats 5] [--towers 1000,10000,100000]

A tower of N units is N x (conv 3x3 -> bn -> add -> relu): 4N layers. Nothing asserts a time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import netdsl  # noqa: E402

TOWER = """block res(x) {
  return relu(x + (x -> conv(8, 3, pad: 1, bias: false) -> bn))
}
network tower(n = 1000) {
  input x: [N, 8, 8, 8]
  x -> res * n -> output y
}
"""


def wall(argv: list[str]) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t = time.perf_counter()
    subprocess.run(argv, env=env, check=True, capture_output=True)
    return time.perf_counter() - t


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--towers", default="1000,10000,100000", help="units per tower")
    a = p.parse_args(argv)
    check = [sys.executable, "-m", "netdsl", "check", str(ROOT / "zoo" / "resnet.net"),
             "--network", "resnet152"]
    floor = [sys.executable, "-c", "import lark, networkx"]
    runs: dict[str, list[float]] = {"check": [], "floor": []}
    for _ in range(a.repeats):  # NOTE: in turn, so that both see the same machine
        runs["check"].append(wall(check))
        runs["floor"].append(wall(floor))
    ours, base = (statistics.median(runs[k]) for k in ("check", "floor"))
    print(f"cold process, median of {a.repeats}: netdsl check resnet152 {ours * 1000:.0f} ms, "
          f"import lark, networkx {base * 1000:.0f} ms: {ours / base:.2f}x")
    path = ROOT / "zoo" / "resnet.net"
    netdsl.load(path, "resnet152")  # warm: parser built, modules imported
    times = []
    for _ in range(a.repeats):
        t = time.perf_counter()
        netdsl.load(path, "resnet152")
        times.append(time.perf_counter() - t)
    print(f"warm, in process: netdsl.load resnet152 {statistics.median(times) * 1000:.1f} ms")
    print(f"\n{'units':>8} {'layers':>8} {'check s':>9} {'ms/layer':>9}")
    for n in (int(s) for s in a.towers.split(",")):
        t = time.perf_counter()
        net = netdsl.loads(TOWER, "tower", {"n": n})
        took = time.perf_counter() - t
        layers = sum(1 for _ in net.graph.nodes())
        print(f"{n:8} {layers:8} {took:9.2f} {took * 1000 / layers:9.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
