"""What the benchmark scripts share: medians of timed repeats, and the environment of a child
process that runs netdsl as an installed package would (with its bytecode)."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed(f: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median wall and CPU seconds of `f()` over `repeats` calls."""
    walls, cpus = [], []
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        f()
        walls.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
    return statistics.median(walls), statistics.median(cpus)


def child_env(root: Path = ROOT) -> dict[str, str]:
    """This environment, with the checkout (or another, `root`) first on the path and bytecode
    allowed."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # NOTE: an installed package has its bytecode
    return env
