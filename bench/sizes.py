"""Benchmark: `netdsl sizes`' vectorised sweep against the brute-force checker loop.

    python bench/sizes.py [--brute 64] [--repeats 5] [--networks resnet152,unet,googlenet,fcn8s]

For each network: the sweep of 1..4096 (square only, and square plus each axis alone as
`netdsl sizes` does; the graph is built once beforehand, and that build is timed too), against
the checker run once per size (elaborate with the input size substituted, strict shapes) on
--brute sizes around the declared one. Per candidate size side by side (square sweep against
checker), and their ratio. Medians of repeats.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import timed  # noqa: E402
from netdsl.diagnostics import NetdslError  # noqa: E402
from netdsl.elaborator import build, load_module  # noqa: E402
from netdsl.sizes import lenient_graph, valid_sizes  # noqa: E402
from netdsl.source import Source  # noqa: E402

CASES = [("resnet.net", "resnet152"), ("unet.net", "unet"), ("googlenet.net", "googlenet"),
         ("fcn.net", "fcn8s")]


def with_size(text: str, size: int) -> str:
    """Every input line's spatial sizes replaced (the brute force edits the text)."""
    def sub(m: re.Match[str]) -> str:
        dims = [d.strip() for d in m.group(2).split(",")]
        return f"input {m.group(1)}: [{', '.join(dims[:2] + [str(size)] * (len(dims) - 2))}]"
    text = re.sub(r"expect [\w.]+: \[[^\]]*\]( at [^#}\n]*)?", "", text)  # declared shapes
    text = re.sub(r"(?m)^\s*[\w.]+: \[N[^\n]*$", "", text)
    return re.sub(r"input (\w+): \[([^\]]+)\]( where [^\n]*)?", sub, text)  # named: fixed


def brute(text: str, network: str, sizes: range) -> int:
    ok = 0
    for s in sizes:
        module, ns = load_module(Source("t.net", with_size(text, s)))
        try:
            build(module, ns, network, {})
            ok += 1
        except NetdslError:
            pass
    return ok


def row(file: str, network: str, n_brute: int, repeats: int) -> str:
    text = (ROOT / "zoo" / file).read_text(encoding="utf-8")
    module, ns = load_module(Source(file, text))
    graph = lenient_graph(module, ns, network, None)
    t_build = timed(lambda: lenient_graph(module, ns, network, None), repeats)[0]
    t_square = timed(lambda: valid_sizes(graph, None, (1, 4096), square=True), repeats)[0]
    t_sweep = timed(lambda: valid_sizes(graph, None, (1, 4096)), repeats)[0]
    declared = int(graph.inputs[0].op.shape[2])  # type: ignore[attr-defined]
    lo = max(1, declared - n_brute // 2)
    t_brute = timed(lambda: brute(text, network, range(lo, lo + n_brute)),
                    max(1, repeats // 2))[0]
    per_sweep, per_brute = t_square / 4096, t_brute / n_brute
    return (f"{network:<12} {t_build * 1e3:>6.1f}ms {t_square * 1e3:>8.1f}ms "
            f"{t_sweep * 1e3:>9.1f}ms {per_sweep * 1e6:>8.1f}us {t_brute * 1e3:>9.0f}ms "
            f"{per_brute * 1e6:>8.0f}us {per_brute / per_sweep:>8.0f}x")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--brute", type=int, default=64, help="sizes the checker loop runs")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--networks", default=",".join(network for _, network in CASES))
    a = p.parse_args(argv)
    print(f"1..4096: square sweep, and square + each axis (netdsl sizes); checker loop on "
          f"{a.brute} sizes; per size: square sweep vs checker")
    print(f"{'network':<12} {'build':>8} {'square':>10} {'+ axes':>11} {'per size':>10} "
          f"{'checker':>11} {'per size':>10} {'ratio':>9}")
    for file, network in CASES:
        if network in a.networks.split(","):
            print(row(file, network, a.brute, a.repeats))


if __name__ == "__main__":
    main()
