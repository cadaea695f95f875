"""Fuzz netdsl: `mutate` (zoo and doc programs, mutated, through `check`) and `generate` (random
valid networks through check → compile → onnx full_check → strict shape inference →
onnxruntime). Prints counts by outcome; saves each distinct bug's reproducer, shrunk, to --out.

    python tools/fuzz.py mutate --count 100000 --seed 1 --jobs 2
    python tools/fuzz.py generate --count 20000 --seed 1 --jobs 2
    python tools/fuzz.py shrink fuzz-out/crash-....net --mode mutate

Exit status: 0 when no input crashed, hung, blew up or disagreed; 1 otherwise."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # netdsl from this checkout

import fuzz_generate
import fuzz_mutate
from fuzz_run import Pool, Tally, Target, classify, save, shrink

MODES = {"mutate": (fuzz_mutate.inputs, fuzz_mutate.check, fuzz_mutate.prepare),
         "generate": (fuzz_generate.inputs, fuzz_generate.differential, fuzz_generate.prepare)}


def run(mode: str, count: int, seed: int, jobs: int = 1, seconds: float = 10.0,
        memory_mb: int = 4096, out: Path | None = None, shrink_s: float = 30.0,
        progress: bool = False, max_seconds: float = 0.0) -> Tally:
    """Fuzz `count` inputs (or as many as `max_seconds` allow); the Tally has the counts and the
    first input of each bug."""
    make, target, prepare = MODES[mode]
    tally = Tally()
    pool = Pool(target, jobs, seconds, memory_mb, prepare)
    began = time.monotonic()
    try:
        for result, text, path in pool.map(make(seed, count)):
            if tally.add(result, text, path) and out is not None:
                small = _shrunk(target, text, path, result.key, seconds, shrink_s)
                print(f"new: {result.outcome} {result.detail}\n  -> "
                      f"{save(out, result, small, path)}", flush=True)
            if max_seconds and time.monotonic() - began > max_seconds:
                break
            if progress and tally.total % 1000 == 0:
                print(f"{tally.total} inputs, {time.monotonic() - began:.0f} s", flush=True)
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM (main): a run stopped early keeps its counts
        print(f"stopped after {tally.total} inputs: the counts so far", flush=True)
    finally:
        pool.close()
    return tally


def _shrunk(target: Target, text: str, path: str, key: str, seconds: float, budget: float) -> str:
    """The reproducer made small: inputs that fail with the same key (hangs are left as they
    are: each try would cost the whole time limit)."""
    if budget <= 0 or key.startswith("hang") or key in ("died", "memory"):
        return text
    return shrink(text, lambda t: classify(target, t, path, seconds).key == key, budget)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for mode in MODES:
        p = sub.add_parser(mode, help=f"fuzz by {mode}")
        p.add_argument("--count", type=int, default=1000, help="inputs to try (default 1000)")
        p.add_argument("--seed", type=int, default=1, help="the same seed, the same inputs")
        p.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
        p.add_argument("--timeout", type=float, default=10.0, help="CPU seconds per input")
        p.add_argument("--memory", type=int, default=4096, help="MiB of address space per worker")
        p.add_argument("--out", type=Path, default=Path("fuzz-out"), help="reproducers go here")
        p.add_argument("--shrink", type=float, default=30.0, help="seconds to shrink each bug")
        p.add_argument("--max-seconds", type=float, default=0.0,
                       help="stop after this long, with the counts so far (0: no limit)")
    p = sub.add_parser("shrink", help="make a saved reproducer smaller, failing the same way")
    p.add_argument("file", type=Path)
    p.add_argument("--mode", choices=list(MODES), default="mutate")
    p.add_argument("--path", default="", help="the path it checks as (`use` resolves from it)")
    p.add_argument("--budget", type=float, default=120.0, help="seconds to spend")
    args = parser.parse_args(argv)
    if args.command == "shrink":
        return _shrink_file(args.file, args.mode, args.path, args.budget)
    began = time.monotonic()
    signal.signal(signal.SIGTERM, _interrupt)
    tally = run(args.command, args.count, args.seed, args.jobs, args.timeout, args.memory,
                args.out, args.shrink, progress=True, max_seconds=args.max_seconds)
    print(f"{args.command} --count {args.count} --seed {args.seed}: {tally.total} inputs in "
          f"{time.monotonic() - began:.0f} s\n{tally.report()}")
    return 1 if tally.bugs else 0


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def _shrink_file(file: Path, mode: str, path: str, budget: float) -> int:
    target = MODES[mode][1]
    text = file.read_text(encoding="utf-8", errors="surrogatepass")
    if text.startswith("# fuzz: "):  # the header save() wrote: the outcome and the path
        header, text = text.split("\n", 1)
        path = path or header.rsplit("(from ", 1)[-1].rstrip(")")
    path = path or str(file)
    first = classify(target, text, path, 10.0)
    print(f"{first.outcome}: {first.detail}")
    small = shrink(text, lambda t: classify(target, t, path, 10.0).key == first.key, budget)
    print(small)
    return 0


if __name__ == "__main__":
    sys.exit(main())
