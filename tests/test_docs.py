"""Every example in README.md and docs/*.md runs, and shows what it really prints (issue 15).

The convention, by the info string after a fence's three backticks:

- ```net [file=NAME.net] [network=NAME] [fails=CODE] [run]: a whole .net program, checked as
  `netdsl check` does (every network in it). `fails=E302` says it must fail, with exactly the
  error codes listed (`fails=E302,E303`); `run` compiles it (`network=NAME`, else the first)
  and runs it once on onnxruntime with random inputs; `file=NAME.net` also saves it under that
  name for the document's commands. A fence with no info string whose first code line starts
  with `network`, `block` or `use` is a program too (other pages keep plain fences).
- ```console (or any block whose lines start with `$ `): each `$ netdsl ARGS` line is run as
  `netdsl ARGS` (the CLI's `main`, in process: what `python -m netdsl` runs), in a temporary
  folder that holds a copy of zoo/ and the document's `file=` programs, one folder per document
  with its commands run in order (so `compile -o` then `run` works). The lines after a command,
  up to the next `$ `, are its output (stdout, then stderr), compared exactly except that a line
  `...` stands for any number of lines and a line ending in `...` for any line that starts with
  the rest (for what depends on the machine: random values, execution providers), and timings
  (`1.36 s`, `12 ms`) are masked. The command must exit 1 where its shown output has an
  `error[E...]` line, else 0. Only `netdsl` commands may appear here.
- ```pycon: a doctest (`>>>` lines and their output), run in the document's folder.
- ```python: executed in the document's folder; a listing of a repository file (its first line a
  comment naming it, `# netdsl/ops/activation.py`) is shown, not run.
- ```sh: commands for a shell that this test does not run (installing, the test suite, the long
  fuzz and benchmark runs); each line must start with one of SHELL_COMMANDS, so that a netdsl
  command cannot hide there.
- ```names (docs/language.md, tests/test_language_doc.py), ```text, ```json, ```yaml, ```toml
  and plain fences that are no program: synopses, diagrams and file contents, not run here.
  `file=NAME` on any of them saves it for the document's commands all the same: docs/language.md
  shows the files that its commands read as ```text file=NAME.net, since each of its ```net
  blocks must list the layer names it makes.

The generated pages (docs/errors.md, ops.md, costs.md) are left out: tools/gendocs.py writes
their examples from the code, and their tests check that they are current.
"""

from __future__ import annotations

import doctest
import re
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import ROOT, ZOO, cli

GENERATED = {"errors.md", "ops.md", "costs.md"}
DOCS = [ROOT / "README.md"] + [p for p in sorted((ROOT / "docs").glob("*.md"))
                               if p.name not in GENERATED]
SHELL_COMMANDS = ("pip install ", "python -m pytest", "pytest ", "python tools/", "python bench/",
                  "git ", "#")
PROGRAM = re.compile(r"^(network|block|use)\b")
TIME = re.compile(r"\b\d+(\.\d+)? ?(ms|s)\b")  # `(1.36 s)`: masked on both sides
ERROR_LINE = re.compile(r"^(\S+: )?error\[E\d+\]", re.M)


@dataclass(frozen=True)
class Block:
    doc: Path
    line: int  # of the opening fence, 1-based
    info: str
    code: str

    @property
    def kind(self) -> str:
        lang = self.info.split()[0] if self.info else ""
        lines = [ln for ln in self.code.splitlines() if ln.strip() and not ln.startswith("#")]
        if lang in ("", "console", "text") and any(ln.startswith("$ ") for ln in lines):
            return "console"
        if lang == "" and lines and PROGRAM.match(lines[0]):
            return "net"
        return lang

    @property
    def attrs(self) -> dict[str, str]:
        return dict((w.split("=", 1) + [""])[:2] for w in self.info.split()[1:])

    def __str__(self) -> str:
        return f"{self.doc.relative_to(ROOT)}:{self.line}"


def blocks(doc: Path) -> list[Block]:
    out, lines, i = [], doc.read_text(encoding="utf-8").splitlines(), 0
    while i < len(lines):
        if lines[i].startswith("```"):
            start, info = i, lines[i][3:].strip()
            i += 1
            while not lines[i].startswith("```"):
                i += 1
            out.append(Block(doc, start + 1, info, "\n".join(lines[start + 1:i]) + "\n"))
        i += 1
    return out


ALL = [b for doc in DOCS for b in blocks(doc)]
NETS = [b for b in ALL if b.kind == "net"]
KNOWN = {"net", "console", "pycon", "python", "sh", "names", "text", "json", "yaml", "toml", ""}


def folder(tmp: Path, doc: Path) -> Path:
    """The document's working folder: zoo/ and its `file=` programs."""
    shutil.copytree(ZOO, tmp / "zoo")
    for b in blocks(doc):
        if "file" in b.attrs:
            (tmp / b.attrs["file"]).write_text(b.code, encoding="utf-8")
    return tmp


def test_every_block_follows_the_convention():
    assert len(NETS) >= 30
    assert [str(b) for b in ALL if b.kind not in KNOWN] == []
    for b in ALL:
        if b.kind == "sh":
            bad = [ln for ln in b.code.splitlines() if ln and not ln.startswith(SHELL_COMMANDS)]
            assert bad == [], f"{b}: not a setup command (run it in a ```console block)"
    files = [b.attrs["file"] for b in ALL if "file" in b.attrs]
    assert len(files) == len(set(files)), "a file name is used twice"


@pytest.mark.parametrize("block", NETS, ids=[str(b) for b in NETS])
def test_program(block: Block, tmp_path, monkeypatch):
    monkeypatch.chdir(folder(tmp_path, block.doc))
    (tmp_path / "example.net").write_text(block.code, encoding="utf-8")
    code, out, err = cli("check", "--format", "json", "example.net")
    import json
    report = json.loads(out)
    codes = sorted({d["code"] for f in report["files"] for d in f["diagnostics"]
                    if d["severity"] == "error"})
    want = sorted(block.attrs["fails"].split(",")) if "fails" in block.attrs else []
    assert codes == want, f"{block}: {err or out}"
    assert code == (1 if want else 0), err
    if "run" in block.attrs:
        import netdsl
        outputs = netdsl.run("example.net", network=block.attrs.get("network") or None)
        assert outputs and all(v.size for v in outputs.values())


def _commands(block: Block) -> list[tuple[str, list[str]]]:
    out: list[tuple[str, list[str]]] = []
    for line in block.code.rstrip("\n").splitlines():
        if line.startswith("$ "):
            out.append((line[2:], []))
        else:
            assert out, f"{block}: output before the first command"
            out[-1][1].append(line)
    return out


def _matches(shown: list[str], real: list[str]) -> bool:
    if not shown:
        return not real
    if shown[0] == "...":
        return any(_matches(shown[1:], real[k:]) for k in range(len(real) + 1))
    head = shown[0] == real[0] if real else False
    if real and shown[0].endswith("...") and not head:  # `logits: shape [1, 10]...`
        head = real[0].startswith(shown[0][:-3])
    return head and _matches(shown[1:], real[1:])


def _docs_with(kind: str) -> list[Path]:
    return [d for d in DOCS if any(b.kind == kind for b in blocks(d))]


@pytest.mark.parametrize("doc", _docs_with("console"), ids=lambda d: d.name)
def test_commands(doc: Path, tmp_path, monkeypatch):
    monkeypatch.chdir(folder(tmp_path, doc))
    for block in (b for b in blocks(doc) if b.kind == "console"):
        for command, shown in _commands(block):
            argv = shlex.split(command)
            assert argv[0] == "netdsl", f"{block}: only netdsl commands run here: {command}"
            code, out, err = cli(*argv[1:])
            real = [TIME.sub("TIME", ln.rstrip()) for ln in (out + err).rstrip("\n").splitlines()]
            shown = [TIME.sub("TIME", ln.rstrip()) for ln in shown]
            assert _matches(shown, real), (f"{block}: `{command}` printed\n" + "\n".join(real))
            want = 1 if any(ERROR_LINE.match(ln) for ln in shown) else 0
            assert code == want, f"{block}: `{command}` exited {code}\n{err}"


@pytest.mark.parametrize("doc", _docs_with("pycon"), ids=lambda d: d.name)
def test_doctests(doc: Path, tmp_path, monkeypatch):
    monkeypatch.chdir(folder(tmp_path, doc))
    text = "\n".join(b.code for b in blocks(doc) if b.kind == "pycon")
    test = doctest.DocTestParser().get_doctest(text, {}, doc.name, str(doc), 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    runner.run(test)
    assert runner.failures == 0, f"{doc.name}: {runner.failures} doctest failures (above)"


PYTHON = [b for b in ALL if b.kind == "python" and not re.match(r"# \S+\.py\n", b.code)]


@pytest.mark.parametrize("block", PYTHON, ids=[str(b) for b in PYTHON])
def test_python(block: Block, tmp_path, monkeypatch):
    monkeypatch.chdir(folder(tmp_path, block.doc))
    exec(compile(block.code, str(block), "exec"), {"__name__": "__doc_example__"})


def test_listings_name_real_files():
    for b in ALL:
        if b.kind == "python" and b not in PYTHON:
            assert (ROOT / b.code.split()[1]).is_file(), str(b)


def test_the_readme_links_the_docs_first():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    first = re.search(r"\]\((docs/[^)#]+)", readme)
    assert first and first.group(1) == "docs/language.md"
    for page in ("docs/tutorial.md", "docs/api.md"):
        assert f"({page})" in readme


def test_pydoc_renders_the_api():
    import pydoc

    import netdsl
    text = pydoc.render_doc(netdsl, renderer=pydoc.plaintext)
    for name in ("load", "loads", "compile", "run", "NetdslError", "Diagnostic"):
        assert re.search(rf"^\s*(class )?{name}\b", text, re.M), name
