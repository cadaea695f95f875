"""A user's mistake never becomes a Python traceback, a hang or a memory blow-up: zoo and doc
programs mutated by tools/fuzz_mutate.py (seeded, so a failure reproduces) either check or fail
with diagnostics that render. The long run is `python tools/fuzz.py mutate` (README,
"Reliability"); these are its short tiers, and tests of the harness itself."""

from __future__ import annotations

import random

import pytest

import fuzz_mutate
from conftest import ROOT
from fuzz_run import Pool, Result, Tally, classify, shrink
from netdsl import NetdslError, limits
from netdsl.elaborator import scope
from netdsl.values import MAX_REPEAT

# Bugs the fuzzer found that are not fixed yet (issue #12): the start of a key -> a minimal
# reproducer. A run whose only bugs are these is an expected failure; delete an entry with its
# fix.
KNOWN: dict[str, str] = {}


def _outcomes(seed: int, count: int) -> Tally:
    tally = Tally()
    for text, path in fuzz_mutate.inputs(seed, count, quick=True):
        tally.add(classify(fuzz_mutate.check, text, path, 5.0), text, path)
    return tally


def _assert_clean(tally: Tally) -> None:
    assert tally.counts["E101"] and len(tally.counts) > 3  # the mutations really break programs
    bugs = {key: f"{r.detail}\n--- {path}\n{text}" for key, (r, text, path) in tally.bugs.items()}
    new = {k: v for k, v in bugs.items() if not k.startswith(tuple(KNOWN))}
    assert not new, "\n\n".join(f"{k}: {v}" for k, v in new.items())
    if bugs:
        pytest.xfail(f"known bugs: {sorted(bugs)}")


def test_mutated_programs_fail_only_with_diagnostics():
    _assert_clean(_outcomes(seed=0, count=50))


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(1, 5))
def test_more_mutated_programs_fail_only_with_diagnostics(seed):
    _assert_clean(_outcomes(seed, count=75))


def test_mutations_are_seeded():
    assert list(fuzz_mutate.inputs(7, 20)) == list(fuzz_mutate.inputs(7, 20))
    assert list(fuzz_mutate.inputs(7, 20)) != list(fuzz_mutate.inputs(8, 20))


def _bomb(text: str, path: str) -> str:
    if text == "crash":
        raise KeyError("boom")
    if text == "hang":
        while True:
            pass
    if text == "memory":
        return str(len(bytearray(2**40)))
    if text == "wrong":
        raise NetdslError([])
    return "ok"


def test_outcomes_are_classified():
    assert classify(_bomb, "fine", "x.net", 1.0) == Result("ok")
    assert classify(_bomb, "crash", "x.net", 1.0).outcome == "crash"
    assert classify(_bomb, "crash", "x.net", 1.0).detail == "KeyError: 'boom'"
    assert classify(_bomb, "hang", "x.net", 0.2).outcome == "hang"
    assert classify(_bomb, "memory", "x.net", 1.0).outcome == "memory"
    assert classify(fuzz_mutate.check, "network {", "x.net", 5.0) == Result("E101")


@pytest.mark.slow
def test_pool_classifies_every_input_and_keeps_going():
    """Hangs (stopped by the CPU-time alarm), memory blow-ups and crashes each become an
    outcome in the worker processes, and the other inputs still run."""
    pool = Pool(_bomb, jobs=2, seconds=0.2, memory_mb=512)
    try:
        got = sorted(r.outcome for r, _, _ in pool.map(
            [("hang", "a"), ("memory", "b"), ("fine", "c"), ("crash", "d")]))
    finally:
        pool.close()
    assert got == ["crash", "hang", "memory", "ok"]


def test_shrink_keeps_the_failure_and_drops_the_rest():
    rng = random.Random(0)
    noise = "\n".join(f"line {rng.randrange(100)} x" for _ in range(40))
    small = shrink(noise + "\nBUG here\n" + noise, lambda t: "BUG" in t)
    assert small.strip() == "BUG"


def test_the_readme_states_the_commands_and_the_limits_as_the_code_has_them():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    (section,) = [s for s in readme.split("\n## ") if s.startswith("Reliability")]
    assert "python tools/fuzz.py mutate --count 100000" in section
    assert "python tools/fuzz.py generate --count 20000" in section
    rows = [("MAX_REPEAT", MAX_REPEAT), ("MAX_NODES", scope.MAX_NODES),
            ("MAX_DEPTH", scope.MAX_DEPTH), ("MAX_STEPS", scope.MAX_STEPS),
            *((k, v) for k, v in vars(limits).items() if k.startswith("MAX_"))]
    for name, value in rows:
        (row,) = [ln for ln in section.splitlines() if ln.startswith(f"| `{name}`")]
        shown = "2^63 - 1" if value == 2**63 - 1 else f"{value:,}"
        assert f"| {shown} |" in row, (name, row)


@pytest.mark.slow
def test_a_long_run_stopped_by_sigterm_prints_its_counts(tmp_path):
    """A long run is stopped (a CI job's time limit, `kill`): it still prints the counts so far,
    and no worker prints a traceback."""
    import os
    import signal
    import subprocess
    import sys
    import time
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "tools" / "fuzz.py"), "mutate", "--count", "1000000",
         "--seed", "3", "--jobs", "2", "--out", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    time.sleep(8)
    os.killpg(proc.pid, signal.SIGTERM)  # the run and its workers, as `timeout` reaches them
    out, err = proc.communicate(timeout=60)
    assert "Traceback" not in err, err
    lines = out.splitlines()
    stopped = next(line for line in lines if line.startswith("stopped after "))
    total = int(stopped.split()[2])
    assert f"inputs: {total}" in lines
    assert any(line.startswith("outcomes: E101 ") for line in lines)
    assert proc.returncode in (0, 1)
