"""Check cost: `netdsl check` as a cold process against `python -c "import lark, networkx"` (the
imports it cannot avoid: the parser and the IR's store; shown also without the interpreter's
teardown, which a netdsl command skips, so that netdsl's own work shows), the in-process check
of a warm process with its stages, and generated residual towers checked in process:
milliseconds per layer at each size (linear time shows as a flat column).

    nice python bench/check.py [--repeats 5] [--layers 250,1000,2500,10000,25000,100000]
                               [--network resnet152] [--against DIR]

A tower is U units of (conv 3x3 -> bn -> add -> relu): 4U + 1 layers with its input, U the
largest that fits the asked number of layers (100,000 is also the elaborator's limit, MAX_NODES).
The cold processes may write bytecode (as `pip install` does) and run once untimed first. Times
are medians of --repeats; `cpu` is the process's CPU time, less disturbed by other jobs on a
shared machine than wall time. Nothing asserts a time.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import netdsl  # noqa: E402
from bench.common import child_env, timed  # noqa: E402
from netdsl.analysis import analyze  # noqa: E402
from netdsl.elaborator import build, load_module  # noqa: E402
from netdsl.expect_check import check_expectations  # noqa: E402
from netdsl.parse import parse  # noqa: E402
from netdsl.pipeline import read_source  # noqa: E402
from netdsl.values import MAX_REPEAT  # noqa: E402

TOWER = """block res(x) {{
  return relu(x + (x -> conv(8, 3, pad: 1, bias: false) -> bn))
}}
network tower {{
  input x: [N, 8, 8, 8]
  x -> {chain} -> output y
}}
"""


def tower(layers: int) -> tuple[str, int]:
    """The text of the largest tower with at most `layers` layers, and its number of units."""
    units = max(1, (layers - 1) // 4)
    counts = [MAX_REPEAT] * (units // MAX_REPEAT) + [units % MAX_REPEAT] * bool(units % MAX_REPEAT)
    return TOWER.format(chain=" -> ".join(f"res * {k}" for k in counts)), units


def wall(argv: list[str], root: Path = ROOT) -> float:
    t = time.perf_counter()
    # NOTE: in `root`: `python -m` puts the current directory first on the path
    subprocess.run(argv, env=child_env(root), cwd=root, check=True, capture_output=True)
    return time.perf_counter() - t


def cold(network: str, repeats: int, other: Path | None = None) -> None:
    def check(root: Path) -> list[str]:
        return [sys.executable, "-m", "netdsl", "check", str(root / "zoo" / "resnet.net"),
                "--network", network]
    # NOTE: the same imports, ending without the interpreter's teardown, as netdsl's commands
    # end (cli/entry.py): what the floor spends freeing its modules, shown apart
    argvs = {"check": (check(ROOT), ROOT),
             "floor": ([sys.executable, "-c", "import lark, networkx"], ROOT),
             "bare": ([sys.executable, "-c", "import lark, networkx, os; os._exit(0)"], ROOT)}
    if other is not None:
        argvs["other"] = (check(other), other)
    runs: dict[str, list[float]] = {k: [] for k in argvs}
    for argv, root in argvs.values():
        wall(argv, root)  # untimed: bytecode written, files in the page cache
    for _ in range(repeats):  # NOTE: in turn, so that all see the same machine
        for k, (argv, root) in argvs.items():
            runs[k].append(wall(argv, root))
    ours, base, imports = (statistics.median(runs[k]) for k in ("check", "floor", "bare"))
    print(f"cold process, median of {repeats}: netdsl check {network} {ours * 1000:.0f} ms, "
          f"import lark, networkx {base * 1000:.0f} ms: {ours / base:.2f}x (the imports without "
          f"the teardown {imports * 1000:.0f} ms: netdsl's own work "
          f"{(ours - imports) * 1000:.0f} ms)")
    if other is not None:
        theirs = statistics.median(runs["other"])
        print(f"  the checkout {other}, in the same turns: {theirs * 1000:.0f} ms: "
              f"{theirs / base:.2f}x")


def warm(network: str, repeats: int) -> None:
    path = ROOT / "zoo" / "resnet.net"
    netdsl.load(path, network)  # warm: parser built, modules imported
    w, c = timed(lambda: netdsl.load(path, network), repeats)
    source = read_source(path)
    module, ns = load_module(source)
    graph = build(module, ns, network, {})
    stages = {"parse": lambda: parse(source),  # NOTE: load_module would reuse the last parse
              "elaborate": lambda: build(module, ns, network, {}),
              "analyse": lambda: check_expectations(graph, analyze(graph))}
    parts = ", ".join(f"{k} {timed(f, repeats)[1] * 1000:.1f}" for k, f in stages.items())
    print(f"warm, in process, median of {repeats}: netdsl.load {network} {w * 1000:.1f} ms "
          f"(cpu {c * 1000:.1f} ms: {parts})")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--layers", default="250,1000,2500,10000,25000,100000",
                   help="tower sizes, in layers")
    p.add_argument("--tower-repeats", type=int, default=3)
    p.add_argument("--network", default="resnet152", help="of zoo/resnet.net, checked whole")
    p.add_argument("--against", type=Path, metavar="DIR",
                   help="another checkout (git worktree add DIR REV) whose cold check runs in "
                        "turn with this one's")
    a = p.parse_args(argv)
    cold(a.network, a.repeats, a.against)
    warm(a.network, a.repeats)
    print(f"\ntowers, median of {a.tower_repeats}\n"
          f"{'units':>8} {'layers':>8} {'wall s':>8} {'ms/layer':>9} {'cpu ms/layer':>12}")
    for size in (int(s) for s in a.layers.split(",")):
        text, units = tower(size)
        layers = len(netdsl.loads(text, "tower").graph)
        w, c = timed(lambda: netdsl.loads(text, "tower"), a.tower_repeats)  # noqa: B023
        print(f"{units:8} {layers:8} {w:8.2f} {w * 1000 / layers:9.3f} {c * 1000 / layers:12.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
