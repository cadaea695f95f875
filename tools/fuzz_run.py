"""Fuzzing harness: (input, target) → outcome, each input in a worker process under a time and a
memory limit. Shared by both fuzzers of tools/fuzz.py (mutate, generate).

An outcome is a short label: `ok`, a diagnostic code (`E301`: the target raised NetdslError, its
first diagnostic's code), `rejected:E301` (the generator's valid program was refused), `fail`
(a differential disagreement), `crash` (any other exception: an internal error), `hang` (over the
time limit) or `memory` (MemoryError, or a worker that died under the memory limit)."""

from __future__ import annotations

import hashlib
import multiprocessing as mp
import resource
import signal
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from netdsl.diagnostics import NetdslError

Target = Callable[[str, str], str]  # (text, path) -> "ok" or a label; raises on failure
BAD = ("crash", "hang", "memory", "fail")  # outcomes that are bugs (rejected:... too, for generate)


class Timeout(BaseException):
    """Raised by the alarm inside a worker: BaseException, so no `except Exception` eats it."""


class Disagreement(AssertionError):
    """The differential oracle: check, the ONNX checker and onnxruntime disagree. `key` names
    the stage and the ONNX op, so that one bug is reported once."""

    def __init__(self, message: str, key: str):
        super().__init__(message)
        self.key = key


@dataclass(frozen=True)
class Result:
    outcome: str  # ok, E301, rejected:E301, fail, crash, hang, memory
    detail: str = ""  # for bad outcomes: the exception, one line, and where it came from
    key: str = ""  # what makes two bugs the same bug (exception type and innermost frame)


def classify(target: Target, text: str, path: str, seconds: float) -> Result:
    """Run one input in this process, under the alarm; every exception becomes a Result. The
    limit is CPU time (ITIMER_PROF), so that a loaded machine does not make inputs hang."""
    def alarm(*_: Any) -> None:
        raise Timeout

    old = signal.signal(signal.SIGPROF, alarm)
    signal.setitimer(signal.ITIMER_PROF, seconds)
    try:
        return Result(target(text, path))
    except Timeout as e:  # keyed by where it was stopped: one key per slow spot
        return Result("hang", f"over {seconds:g} s of CPU", _key(e, "hang"))
    except NetdslError as e:
        return Result(e.diagnostics[0].code if e.diagnostics else "E?")
    except MemoryError:
        return Result("memory", "MemoryError", "memory")
    except RecursionError as e:
        return _bad("crash", e)
    except Disagreement as e:
        return Result("fail", str(e)[:300], f"fail:{e.key}")
    except Exception as e:  # noqa: BLE001 - anything else is an internal error: the finding
        return _bad("crash", e)
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, old)


def _bad(outcome: str, e: BaseException) -> Result:
    first = (str(e).splitlines() or [""])[0][:200]
    return Result(outcome, f"{type(e).__name__}: {first}", _key(e, type(e).__name__))


def _key(e: BaseException, kind: str) -> str:
    """The exception type and the innermost netdsl function: one key per distinct bug (no line
    number, so that a key stays the same while the code around it changes)."""
    frames = [f for f in traceback.extract_tb(e.__traceback__) if "netdsl" in f.filename]
    where = f"{Path(frames[-1].filename).name}:{frames[-1].name}" if frames else "?"
    return f"{kind}@{where}"


def _worker(conn: Connection, target: Target, seconds: float, memory_mb: int) -> None:
    # NOTE: Ctrl-C and SIGTERM reach the whole process group: the parent stops the run and
    # prints its counts; a worker ends without a traceback of its own
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if memory_mb:
        limit = memory_mb * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    sys.setrecursionlimit(10_000)
    while True:
        job = conn.recv()
        if job is None:
            return
        try:
            result = classify(target, job[0], job[1], seconds)
        except Timeout:  # NOTE: the alarm went off in classify's own handlers, after the target
            result = Result("hang", f"over {seconds:g} s of CPU", "hang")
        conn.send(result)


@dataclass
class Tally:
    """Counts by outcome, and the first input of each distinct bug."""

    counts: Counter[str] = field(default_factory=Counter)
    bugs: dict[str, tuple[Result, str, str]] = field(default_factory=dict)  # key -> result, text

    def add(self, result: Result, text: str, path: str) -> bool:
        """Count it; True if it is a new bug."""
        self.counts[result.outcome] += 1
        bad = result.outcome in BAD or result.outcome.startswith("rejected")
        if bad and (result.key or result.outcome) not in self.bugs:
            self.bugs[result.key or result.outcome] = (result, text, path)
            return True
        return False

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def report(self) -> str:
        bad = {k: v for k, v in self.counts.items() if k in BAD or k.startswith("rejected")}
        lines = [f"inputs: {self.total}",
                 "outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(self.counts.items())),
                 f"crashes: {self.counts['crash']}, hangs: {self.counts['hang']}, "
                 f"memory: {self.counts['memory']}, failures: {sum(bad.values())}",
                 f"distinct bugs: {len(self.bugs)}"]
        lines += [f"  {key}: {r.detail}" for key, (r, _, _) in sorted(self.bugs.items())]
        return "\n".join(lines)


class Pool:
    """`jobs` worker processes; a worker far over the time limit (in C code, where the alarm
    cannot reach it) or dead is replaced, and its input counted as a hang or a memory blow-up.
    `prepare` runs once before the workers fork (imports, so that no input pays for them)."""

    def __init__(self, target: Target, jobs: int, seconds: float, memory_mb: int,
                 prepare: Callable[[], None] | None = None):
        if prepare is not None:
            prepare()
        self._args = (target, seconds, memory_mb)
        self._grace = seconds * 10 + 30  # wall clock, on a loaded machine: C code that hangs
        self._ctx = mp.get_context("fork")  # NOTE: the workers inherit the imported compiler
        self._all: list[Any] = []
        self._idle = [self._start() for _ in range(max(1, jobs))]

    def _start(self) -> tuple[Any, Connection]:
        ours, theirs = self._ctx.Pipe()
        proc = self._ctx.Process(target=_worker, args=(theirs, *self._args), daemon=True)
        proc.start()
        self._all.append(proc)
        return proc, ours

    def map(self, inputs: Iterable[tuple[str, str]]) -> Iterator[tuple[Result, str, str]]:
        """Results in completion order, with their input (text, path)."""
        pending = iter(inputs)
        busy: dict[Connection, tuple[Any, str, str, float]] = {}
        while True:
            while self._idle:
                job = next(pending, None)
                if job is None:
                    break
                proc, conn = self._idle.pop()
                conn.send(job)
                busy[conn] = (proc, job[0], job[1], time.monotonic())
            if not busy:
                return
            for conn in wait(list(busy), timeout=1.0):
                proc, text, path, _ = busy.pop(conn)  # type: ignore[arg-type]
                try:
                    yield conn.recv(), text, path  # type: ignore[union-attr]
                    self._idle.append((proc, conn))  # type: ignore[arg-type]
                except EOFError:  # died: killed by the memory limit or a signal
                    proc.join()
                    yield Result("memory", f"worker died ({proc.exitcode})", "died"), text, path
                    self._idle.append(self._start())
            now = time.monotonic()
            for conn, (proc, text, path, began) in list(busy.items()):
                if now - began > self._grace:
                    proc.kill()
                    proc.join()
                    del busy[conn]
                    yield Result("hang", f"over {self._grace:g} s (killed)", "hang"), text, path
                    self._idle.append(self._start())

    def close(self) -> None:
        for proc, conn in self._idle:
            conn.send(None)
            proc.join(timeout=5)
        for proc in self._all:  # the busy ones, when the caller stopped early
            if proc.is_alive():
                proc.kill()
                proc.join()


def shrink(text: str, still_fails: Callable[[str], bool], budget: float = 60.0) -> str:
    """Delta debugging, lines then tokens: the smallest text found (within `budget` seconds)
    that still fails the same way."""
    import re
    deadline = time.monotonic() + budget
    for split, join in ((lambda t: t.split("\n"), "\n"), (lambda t: re.findall(r"\s*\S+", t), "")):
        parts = split(text)
        chunk = max(1, len(parts) // 2)
        while chunk >= 1 and time.monotonic() < deadline:
            i, progress = 0, False
            while i < len(parts) and time.monotonic() < deadline:
                candidate = parts[:i] + parts[i + chunk:]
                if candidate and still_fails(join.join(candidate)):
                    parts, progress = candidate, True
                else:
                    i += chunk
            if not progress:
                chunk //= 2
        text = join.join(parts)
    return text


def save(folder: Path, result: Result, text: str, path: str) -> Path:
    """A reproducer file: a comment naming the outcome, then the input."""
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    name = "".join(c if c.isalnum() else "-" for c in (result.key or result.outcome))
    file = folder / f"{name}-{digest}.net"
    header = f"# fuzz: {result.outcome}: {result.detail} (from {path})\n".replace("\r", " ")
    file.write_text(header + text, encoding="utf-8", errors="surrogatepass")
    return file
