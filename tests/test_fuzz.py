"""A user's mistake never becomes a Python traceback: zoo files with random tokens deleted,
replaced or inserted (seeded, so a failure reproduces) either check or fail with diagnostics."""

from __future__ import annotations

import random
import re

import pytest

from conftest import ZOO
from netdsl import NetdslError
from netdsl.diagnostics import render_all
from netdsl.elaborator import load_module
from netdsl.pipeline import check_source
from netdsl.source import Source

TEXTS = {p.name: p.read_text(encoding="utf-8") for p in sorted(ZOO.glob("*.net"))}
TOKENS = sorted(set(re.findall(r"\w+|[^\s\w]", "\n".join(TEXTS.values()))))
ODD_NUMBERS = ["0", "-1", "1", "2", "7", "1000000", "2.5", "1e9", "-0"]


def mutate(text: str, rng: random.Random) -> str:
    parts = re.split(r"(\s+)", text)
    for _ in range(rng.randint(1, 3)):
        j = rng.randrange(len(parts))
        roll = rng.random()
        if roll < 0.3:
            parts[j] = ""
        elif roll < 0.6:
            parts[j] = rng.choice(TOKENS)
        elif roll < 0.8:
            parts.insert(j, rng.choice(TOKENS))
        else:
            parts[j] = rng.choice(ODD_NUMBERS)
    return "".join(parts)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(20))
def test_mutated_zoo_programs_fail_only_with_diagnostics(seed):
    rng = random.Random(seed)
    outcomes = set()
    for _ in range(25):
        name = rng.choice(sorted(TEXTS))
        source = Source(f"mutated-{name}", mutate(TEXTS[name], rng))
        try:
            _, namespace = load_module(source)
            for network in namespace.order[:2]:
                check_source(source, network)
            outcomes.add("ok")
        except NetdslError as e:
            assert e.diagnostics and all(d.message for d in e.diagnostics)
            assert render_all(e.diagnostics)  # and they render
            outcomes.add("error")
    assert "error" in outcomes  # the mutations really break programs
