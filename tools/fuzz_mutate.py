"""Mutation fuzzing: zoo and doc programs → mutated text → `check`'s outcome. Token-level
mutations (delete, replace, insert, numbers to extremes) and structure-aware ones (lines
duplicated or deleted, brackets unbalanced, identifiers swapped, control characters, deep
nesting, huge repeats). Seeded: the same seed gives the same inputs."""

from __future__ import annotations

import functools
import random
import re
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

NUMBERS = ["0", "-1", "1", "2", "3", "7", "-0", "2.5", "0.5", "1e9", "1e-9", "1e308", "1e400",
           "-1e400", "nan", "inf", "-inf", "1000000", "65536", "2147483648", "9223372036854775808",
           "10**12", "2**64", "1" + "0" * 400, "99999999999999999999", "1_000", "0x10", "1/0"]
CONTROL = ["\x00", "\x1b[2J", "\x1b]0;x\x07", "\r", "\t", "\x7f", "\u202e", "\ud800", "\ufeff",
           "\x0c", "\u2028"]
BRACKETS = "()[]{}"
WORD = re.compile(r"[A-Za-z_]\w*")


def corpus() -> dict[str, str]:
    """Seed programs: every zoo file, and every ``` block of the docs that looks like .net."""
    texts = {str(p): p.read_text(encoding="utf-8") for p in sorted((ROOT / "zoo").glob("*.net"))}
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = doc.read_text(encoding="utf-8")
        blocks = re.findall(r"^```(?:net)?\n(.*?)^```", text, re.M | re.S)
        for i, block in enumerate(blocks):
            if re.search(r"^\s*(network|block) \w", block, re.M):
                texts[f"{doc}#{i}"] = block
    return texts


def _tokens(texts: dict[str, str]) -> list[str]:
    return sorted(set(re.findall(r"\w+|[^\s\w]", "\n".join(texts.values()))))


def _token_level(text: str, rng: random.Random, tokens: list[str]) -> str:
    parts = re.split(r"(\s+)", text)
    for _ in range(rng.randint(1, 3)):
        j = rng.randrange(len(parts))
        roll = rng.random()
        if roll < 0.25:
            parts[j] = ""
        elif roll < 0.5:
            parts[j] = rng.choice(tokens)
        elif roll < 0.7:
            parts.insert(j, rng.choice(tokens))
        else:
            parts[j] = rng.choice(NUMBERS)
    return "".join(parts)


def _number(text: str, rng: random.Random, tokens: list[str]) -> str:
    spots = list(re.finditer(r"(?<![\w.])\d[\d_]*(\.\d+)?(e-?\d+)?", text))
    if not spots:
        return _token_level(text, rng, tokens)
    m = rng.choice(spots)
    return text[:m.start()] + rng.choice(NUMBERS) + text[m.end():]


def _identifiers(text: str, rng: random.Random, tokens: list[str]) -> str:
    words = sorted(set(WORD.findall(text)))
    a, b = rng.choice(words), rng.choice(words)
    return re.sub(rf"\b({re.escape(a)}|{re.escape(b)})\b", lambda m: b if m[0] == a else a, text)


def _lines(text: str, rng: random.Random, tokens: list[str]) -> str:
    lines = text.split("\n")
    i = rng.randrange(len(lines))
    roll = rng.random()
    if roll < 0.4:
        del lines[i]
    elif roll < 0.8:
        lines[i:i] = [lines[i]] * rng.choice([1, 2, 50])
    else:
        j = rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
    return "\n".join(lines)


def _brackets(text: str, rng: random.Random, tokens: list[str]) -> str:
    spots = [i for i, c in enumerate(text) if c in BRACKETS]
    i = rng.choice(spots) if spots else rng.randrange(len(text) + 1)
    if rng.random() < 0.5:
        return text[:i] + text[i + 1:]
    return text[:i] + rng.choice(BRACKETS) * rng.choice([1, 1, 3, 500]) + text[i:]


def _control(text: str, rng: random.Random, tokens: list[str]) -> str:
    i = rng.randrange(len(text) + 1)
    return text[:i] + rng.choice(CONTROL) + text[i:]


def _nesting(text: str, rng: random.Random, tokens: list[str]) -> str:
    """A deeply nested expression or block where a number stood."""
    depth = rng.choice([50, 200, 1000, 5000])
    kind = rng.choice(["(", "[", "-", "not ", "{"])
    close = {"(": ")", "[": "]", "{": "}"}.get(kind, "")
    nested = kind * depth + "1" + close * depth
    spots = list(re.finditer(r"(?<![\w.])\d+(?![\w.])", text))
    if not spots:
        return text + "\n" + nested
    m = rng.choice(spots)
    return text[:m.start()] + nested + text[m.end():]


def _repeat(text: str, rng: random.Random, tokens: list[str]) -> str:
    """A huge repeat count, a long chain, a big loop or a big literal."""
    n = rng.choice(["10000", "100000", "10**6", "2**31", "-5", "0"])
    kind = rng.randrange(4)
    if kind == 0:  # `-> relu * n` after an arrow
        return re.sub(r"-> *(\w+)", lambda m: f"-> {m[1]} * {n}", text, count=1)
    if kind == 1:
        return text.replace("->", "-> relu ->" * rng.choice([100, 3000]), 1)
    if kind == 2:
        return re.sub(r"\{\n", "{\n  for i in range(" + n + ") { k = i }\n", text, count=1)
    return re.sub(r"\{\n", "{\n  k = [" + ", ".join(["1"] * 20000) + "]\n", text, count=1)


MUTATIONS: list[Callable[[str, random.Random, list[str]], str]] = [
    _token_level, _token_level, _token_level, _number, _number, _identifiers, _lines, _lines,
    _brackets, _control, _nesting, _repeat]


def mutate(text: str, rng: random.Random) -> str:
    """One token-level mutation of `text` (deletions, replacements, insertions, odd numbers), with
    the corpus's tokens: what other tests (tests/test_fmt.py) perturb programs with."""
    return _token_level(text, rng, _corpus_tokens())


@functools.cache
def _corpus_tokens() -> list[str]:
    return _tokens(corpus())


def inputs(seed: int, count: int, quick: bool = False) -> Iterator[tuple[str, str]]:
    """`count` mutated programs (text, the path of the original: `use` lines resolve from it).
    `quick` (the test suite's tier): only the small seed programs, and no resource bombs."""
    texts = corpus()
    tokens = _tokens(texts)
    if quick:
        texts = {k: v for k, v in texts.items() if len(v) < 1500}
    mutations = [m for m in MUTATIONS if not quick or m not in (_repeat, _nesting)]
    names = sorted(texts)
    rng = random.Random(seed)
    for _ in range(count):
        name = rng.choice(names)
        text = texts[name]
        for _ in range(rng.choice([1, 1, 1, 2, 3])):
            text = rng.choice(mutations)(text, rng, tokens)
        yield text, name.split("#")[0]


def prepare() -> None:
    """Import what `check` uses, once, before the workers fork."""
    from netdsl import checkrun, pipeline  # noqa: F401


def check(text: str, path: str) -> str:
    """The target: `netdsl check` in process (every network of the file)."""
    from netdsl.diagnostics import NetdslError, render_all
    from netdsl.pipeline import check_all
    from netdsl.source import Source
    try:
        results = check_all(Source(path, text))
    except NetdslError as e:
        render_all(e.diagnostics)  # NOTE: rendering is part of the target: it must not crash
        raise
    errors = [r for _, r in results if isinstance(r, NetdslError)]
    for e in errors:
        render_all(e.diagnostics)
    if errors:
        raise errors[0]
    return "ok"
