"""The reference pages, generated from the code: `python tools/gendocs.py
errors|zoo|ops|costs|parser|all [--stdout]`. A test compares each committed page with this output.

- errors: docs/errors.md from diagnostics.CODES and one example per code, each rendered by running
  it, so the page shows what a user really sees (tests/test_diagnostics.py);
- zoo: the zoo table in README.md, from `netdsl check` of every zoo network (tests/test_zoo.py);
- ops, costs: docs/ops.md and docs/costs.md from the operator registry (gendocs_ops.py beside
  this file; tests/test_ops.py);
- parser: netdsl/parser.json, the pre-built LALR parser the package loads instead of analysing
  the grammar at every start (netdsl/parse/loading.py; tests/test_security.py)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gendocs_ops
from netdsl.diagnostics import CODES, Diagnostic, NetdslError, render_all
from netdsl.parse import serialized_parser

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True, slots=True)
class Example:
    """A .net program (checked as `example.net`) that shows one code as its first diagnostic."""

    text: str
    network: str | None = None
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Command:
    """A command line that shows the code (weights, files, runtime): documented, not run here."""

    line: str


_NET = "network tiny {{\n  input image: [N, 3, 32, 32]\n{body}\n}}\n"


def _net(body: str) -> Example:
    return Example(_NET.format(body="\n".join("  " + line for line in body.splitlines())))


EXAMPLES: dict[str, Example | Command] = {
    "E001": Command("netdsl check missing.net"),
    "W001": _net("image -> conv(16, 3) -> output features  # netdsl: ignore[W301]"),
    "E101": _net("image -> conv(16, 3, stride = 2) -> output features"),
    "E102": _net("k = " + "-" * 151 + "1\nimage -> conv(16, 3) -> output features"),
    "E201": _net("x = image -> conv(16, 3)\nx2 -> relu -> output features"),
    "E202": _net("image -> cnov(16, 3) -> output features"),
    "E203": _net("image -> conv(16, 3, strid: 2) -> output features"),
    "E204": _net("image -> conv(16) -> output features"),
    "E205": _net("image -> conv(image.channels / 2, 3) -> output features"),
    "E206": _net("image -> conv(16, 0) -> output features"),
    "E207": _net("image -> relu(0.1) -> output features"),
    "E208": _net("image -> conv(16, 3, kernel: 5) -> output features"),
    "E209": Example("block unit(x) {\n  return x -> conv(16, 3, pad: 1) -> unit\n}\n\n"
                    + _NET.format(body="  image -> unit -> output features")),
    "E210": Example('use "blocks/missing.net"\n\n'
                    + _NET.format(body="  image -> relu -> output features")),
    "E211": _net("image -> conv1: conv(16, 3) -> conv1: conv(16, 3) -> output features"),
    "E212": _net("image + 1 -> output features"),
    "E213": Example(_NET.format(body="  image -> relu -> output features"), network="tiny2"),
    "E214": Example("network tiny(classes = 10) {\n  input image: [N, 3, 32, 32]\n"
                    "  image -> flatten -> dense(classes) -> output logits\n}\n",
                    params={"clases": 100}),
    "E215": _net("image -> conv(3, 3, pad: 1) * 100000 -> output features"),
    "E216": _net("features = image -> conv(16, 3)"),
    "E217": Example("network tiny {\n  input image: [N, 3, 0, 32]\n"
                    "  image -> output features\n}\n"),
    "E218": _net('image -> "conv 1": conv(16, 3) -> output features'),
    "E219": Example("network tiny {\n  input image: [N, 3, H, W] where H >= 64\n"
                    "  image -> relu -> output features\n}\n", params={"H": 32, "W": 32}),
    "E301": _net("image -> flatten -> conv(16, 3) -> output features"),
    "E302": Example("network lecture {\n  input image: [N, 1, 7, 7]\n"
                    "  image -> conv(1, 3, stride: 3) -> output features\n}\n"),
    "E303": _net("a = image -> conv(16, 3, pad: 1)\nb = image -> conv(32, 3, pad: 1)\n"
                 "a + b -> output features"),
    "E304": _net("x = image -> conv(16, 3)\nx: [N, 16, 32, 32]\nx -> output features"),
    "E305": _net("image -> conv(16, 3) -> output features\nexpect params == 432"),
    "E306": Command("netdsl compile zoo/unet.net --network unet --fully-convolutional "
                    "-o unet.onnx  (U-Net has no flatten -> dense head)"),
    "W301": _net("a = image -> conv(16, 2, stride: 2)\n"
                 "b = image -> conv(16, 1, stride: 2, floor: true)\n"
                 "a + b -> output features"),
    "E401": Command("netdsl compile zoo/lenet.net --weights other.npz -o lenet.onnx"),
    "E402": Command("netdsl compile zoo/lenet.net -o zoo/"),
    "E403": Command("netdsl run broken.onnx --random"),
    "E404": Command("netdsl run lenet.onnx --input image=wrong_shape.npy"),
    "E405": Command("netdsl run lenet.onnx --random --provider cuda  (no CUDA here)"),
    "E406": Command("netdsl compile zoo/lenet.net --weights diverged.npz -o lenet.onnx  (a NaN)"),
    "E407": Command("netdsl import detector.onnx -o detector.net  (NonMaxSuppression x1, ...)"),
    "W401": Command("netdsl compile zoo/lenet.net --weights huge.npz -o lenet.onnx  (1e300)"),
}


def example_diagnostics(example: Example) -> list[Diagnostic]:
    """What checking the example reports: its errors, or else its warnings (suppression
    comments applied, as `netdsl check` does)."""
    from netdsl.pipeline import check_source
    from netdsl.source import Source
    from netdsl.suppress import Suppressor
    source = Source("example.net", example.text)
    try:
        checked = check_source(source, example.network, dict(example.params))
    except NetdslError as e:
        return list(e.diagnostics)
    return Suppressor().file(source, checked.stats.warnings)


def _file_error() -> str:
    from netdsl.elaborator import read_text
    try:
        read_text("missing.net")
    except NetdslError as e:
        return render_all(e.diagnostics)
    raise AssertionError("missing.net exists")


def errors_markdown() -> str:
    """The text of docs/errors.md."""
    out = [
        "# netdsl diagnostics",
        "",
        "Generated by `python tools/gendocs.py errors` from `netdsl/diagnostics.py` (the codes)",
        "and `tools/gendocs.py` (one example each, rendered by running it); a test keeps this",
        "page current.",
        "",
        "Every mistake in a `.net` file is reported as a diagnostic with a stable code: E0xx",
        "files, E1xx syntax, E2xx names and arguments, E3xx shapes, E4xx weights, models and",
        "runtime; W codes are warnings. A diagnostic is printed as",
        "`file:line:col: error[CODE]: message`, then the source line with carets under the place",
        "(`^^^`; `---` marks related places,",
        "`:::` introduces a line of another file), then `= note:` lines (for a mistake inside a",
        "block: where the block was called from) and `= hint:` lines. Checking goes on past a",
        "mistake, so independent mistakes in one file are all reported; a mistake is reported",
        "once, not again through everything computed from it.",
        "",
        "| code | name | meaning |",
        "| --- | --- | --- |",
    ]
    out += [f"| [{code}](#{code.lower()}-{slug}) | {slug} | {meaning} |"
            for code, (slug, meaning) in CODES.items()]
    out += ["", _CLI_SECTION]
    for code, (slug, meaning) in CODES.items():
        out += ["", f"## {code} {slug}", "", meaning[:1].upper() + meaning[1:] + ".", ""]
        example = EXAMPLES.get(code)
        if isinstance(example, Example):
            cli = " ".join(f"--set {k}={v}" for k, v in example.params.items())
            cli += f" --network {example.network}" if example.network else ""
            out += [f"`example.net`{f' (checked with `{cli.strip()}`)' if cli else ''}:", "",
                    "```", example.text.rstrip("\n"), "```", "", "```",
                    render_all(example_diagnostics(example)), "```"]
        elif isinstance(example, Command):
            out += ["For example:", "", "```", f"$ {example.line}"]
            out += [_file_error()] if code == "E001" else []
            out += ["```"]
        else:
            out += ["(no example yet: add one to `tools/gendocs.py`)"]
    return "\n".join(out) + "\n"


_CLI_SECTION = """## `netdsl check`: exit codes, flags and formats

`netdsl check FILE|DIR... [--network NAME] [--set NAME=VALUE] [--format text|json|github|sarif]
[--warnings-as-errors] [--ignore CODE]... [-q]` checks every network of every file (or the one
`--network` names), each on its own; a directory stands for every `*.net` file below it, sorted
by path, symbolic links followed, hidden directories and `build`, `dist`, `venv`, `node_modules`
and the like skipped ([ci.md](ci.md) lists them; a directory given by name is checked). A file
given twice (also as `./a.net`, by a link, or within a directory given) is checked once, where it
first comes. Exit codes: `0` every file passed; `1` some file has errors (or warnings, with
`--warnings-as-errors`); `2` a usage error: an unknown flag, a malformed
`--set`, an unknown `--ignore` code, a directory without `.net` files or one that cannot be read,
or a file that cannot be read at all (E001: missing, a directory, unreadable, binary). A file of
blocks only, without a network, passes.

- `--format text` (the default): diagnostics on stderr, one `FILE: NETWORK: ok (...)` line per
  passing network on stdout and, for a directory or several files, a summary line on stderr at
  the end: `checked 12 files, 25 networks: 1 error, 2 warnings (0.84 s)`.
- `--format github`: one GitHub Actions workflow command per diagnostic on stdout, which annotates
  the pull request's diff: `::error file=F,line=L,col=C,endLine=L,endColumn=C2,title=E302
  fractional-size::MESSAGE` (`::warning` for W codes; `endColumn` exclusive; a place over
  several lines gets `line` and `endLine` only, as GitHub's runner requires).
  The message holds the related places, notes and hints on lines of their own; it is escaped as
  GitHub's toolkit escapes (`%` `%25`, CR `%0D`, LF `%0A`; in `file` and `title` also `:` `%3A`
  and `,` `%2C`).
- `--format sarif`: a SARIF 2.1.0 log on stdout for GitHub code scanning and other SARIF viewers:
  a rule per code that occurs (its name, meaning and a link to this page), a result per
  diagnostic with its region (1-based; `endColumn` exclusive, as SARIF has it) and the related
  places as `relatedLocations`. It validates against the official SARIF 2.1.0 schema.
- `--format json`: below.

Paths in `github` and `sarif` output are relative to the working directory (run netdsl from the
repository's root), absolute for files outside it.

Suppressing: `--ignore CODE` (repeatable) drops every diagnostic of that code. A comment
`# netdsl: ignore[W301]` (several codes: `# netdsl: ignore[W301, E303]`) drops the diagnostics of
those codes whose carets (`^^^`) start on its line. A comment that drops nothing is reported as
W001 after every file was checked (a file that `use`s its file may call its blocks), when every
network of its file was checked to the end (without errors, and without `--network`). A network
whose every error is ignored is `not measured`, and passes. `-q` prints only what fails the check:
errors (and warnings with `--warnings-as-errors`), no ok lines, no summary; in every format.

With `--format json`, stdout holds one object (schema `netdsl-check/1`; fields are only ever
added, never renamed or removed, without a new schema name):

```
{
  "schema": "netdsl-check/1",
  "ok": false,                          # every file passed
  "files": [
    {
      "path": "zoo/lenet.net",          # as given, or as found below a given directory
      "ok": true,
      "networks": [                     # empty when the file cannot be read or parsed
        {"name": "lenet5", "ok": true, "params": 61706, "macs": 429362,
         "outputs": {"probs": ["N", 10]}},          # params, macs, outputs when measured
        {"name": "unet", "ok": true, "params": 31030658, "macs": 150580663040,
         "outputs": {"scores": ["N", 2, 388, 388]},  # at the sizes below
         "sizes": {"H": 572, "W": 572},  # with named input sizes only: the numbers' binding,
         "valid": [{"symbols": ["H"], "text": "H = 188 + 16k",   # each group of equal sizes'
                    "progressions": [[188, 16]]}, ...],          # valid set ([first, step];
                                                  # null when not solved exactly)
         "conditions": [],                        # conditions across groups, as text
         "output_formulas": {"scores": ["N", 2, "H - 184", "W - 184"]},
         "pin": null},                            # the layer that fixes the sizes, as text
        {"name": "other", "ok": false}
      ],
      "diagnostics": [                  # errors and warnings of the file, in order (not
                                        # the suppressed ones; with -q, errors only)
        {
          "code": "E302", "slug": "fractional-size", "severity": "error",  # or "warning"
          "message": "...",
          "file": "zoo/x.net", "line": 3, "column": 28,  # the primary label; null for E001
          "labels": [{"file": "zoo/x.net", "line": 3, "column": 28, "end_line": 3,
                      "end_column": 36, "start": 97, "end": 106,
                      "message": "...", "primary": true}],
          "hints": ["..."],
          "notes": ["in block `b` called at zoo/x.net:9:5"]
        }
      ]
    }
  ]
}
```

Lines and columns are 1-based and count characters; `end_line`/`end_column` name the last
character of a label; `start`/`end` are character offsets into the file (end exclusive)."""


# What each zoo network is verified against, and by which test (the numbers in the table are
# computed; this column is the claim those tests back).
ZOO_REFERENCES: dict[str, str] = {
    "lenet5": "LeCun et al. 1998: 61,706 params (test_slice, test_lecture_numbers)",
    "alexnet": "torchvision: state_dict + outputs (test_zoo_classic)",
    "alexnet_paper": "a torch model of the paper's equations: outputs (test_zoo_classic)",
    "vgg": "torchvision vgg16: state_dict; outputs* (test_zoo_classic)",
    "resnet": "torchvision resnet50: state_dict + outputs (test_zoo_classic)",
    "inception_v1": "the paper's Table 1, row by row (test_zoo_modern)",
    "googlenet": "torchvision: state_dict + outputs (test_zoo_modern)",
    "mobilenet_v2": "torchvision: state_dict + outputs (test_zoo_modern)",
    "efficientnet_b0": "torchvision: state_dict + outputs (test_zoo_modern)",
    "xception": "the paper's Table 3: 22,855,952 params (test_zoo_xception)",
    "fcn_vgg16": "Long & Shelhamer's layers, crops and counts (test_zoo_segmentation)",
    "fcn_resnet50": "torchvision: state_dict + outputs (test_zoo_segmentation)",
    "unet": "the paper's Fig. 1 sizes; a torch U-Net: outputs (test_zoo_segmentation)",
    "shufflenet_v2_x1_0": "torchvision: state_dict + outputs (test_zoo_attention_era)",
    "convnext_tiny": "torchvision: state_dict + outputs (test_zoo_attention_era)",
    "vit": "the same code as vit_b_16 (test_zoo_attention_era)",
    "vit_b_16": "torchvision: state_dict + outputs (test_zoo_attention_era)",
    "segnet": "a torch SegNet: names, count, outputs (test_zoo_attention_era)",
    "lecture_filters": "a correlation loop in numpy (test_zoo_small)",
    "cnn_prototype": "a torch model: names, count, outputs (test_zoo_small)",
    "convnetjs_cifar10": "a torch model: names, count, outputs (test_zoo_small)",
}
def _reference(name: str) -> str:
    if name in ZOO_REFERENCES:
        return ZOO_REFERENCES[name]
    if name.startswith(("vgg", "resnet")):
        return "torchvision: state_dict; outputs* (test_zoo_classic)"
    if name.startswith("fcn"):
        return ZOO_REFERENCES["fcn_vgg16"]
    if name.startswith("unet"):
        return ZOO_REFERENCES["unet"]
    return ""


def zoo_markdown() -> str:
    """The zoo table: every network of every zoo/*.net file, as `netdsl check` measures it."""
    from netdsl.analysis import si
    from netdsl.pipeline import check_source, network_names, read_source
    rows = ["| file | network | params | MACs | output | verified against |",
            "| --- | --- | ---: | ---: | --- | --- |"]
    for path in sorted((ROOT / "zoo").glob("*.net")):
        source = read_source(path)
        for name in network_names(source):
            c = check_source(source, name)
            outs = ", ".join(f"{k} [{', '.join(map(str, c.graph.node(v).shape or ()))}]"
                             for k, v in c.graph.outputs.items())
            rows.append(f"| {path.name} | `{name}` | {c.stats.params:,} | "
                        f"{si(c.stats.macs)} | {outs} | {_reference(name)} |")
    return "\n".join(rows) + "\n"


_ZOO_BEGIN, _ZOO_END = "<!-- zoo table: python tools/gendocs.py zoo -->\n", "<!-- end zoo table -->"


def readme_with_zoo(readme: str) -> str:
    """README.md's text with the zoo table between its markers replaced by zoo_markdown()."""
    start = readme.index(_ZOO_BEGIN) + len(_ZOO_BEGIN)
    end = readme.index(_ZOO_END)
    return readme[:start] + zoo_markdown() + readme[end:]


def _readme() -> str:
    return readme_with_zoo((ROOT / "README.md").read_text(encoding="utf-8"))


def _parser_json() -> str:
    """netdsl/parser.json, kept as it is while it was built from this grammar (NOTE: Lark numbers
    the LALR states differently from run to run, so rebuilding would change every byte)."""
    from netdsl import parse
    try:
        text = parse.PARSER_FILE.read_text(encoding="utf-8")
        if json.loads(text).get("key") == parse.grammar_key(parse.load_grammar()):
            return text
    except (OSError, ValueError):
        pass
    return serialized_parser()


def _textmate() -> str:
    """editors/netdsl.tmLanguage.json with its operator names (support.function) from the
    registry, longest first so that an editor's regex engine matches a whole name."""
    import re

    from netdsl.ops import REGISTRY
    path = ROOT / "editors" / "netdsl.tmLanguage.json"
    grammar = json.loads(path.read_text(encoding="utf-8"))
    (rule,) = [p for p in grammar["repository"]["expression"]["patterns"]
               if p.get("name") == "support.function.netdsl"]
    names = "|".join(sorted(REGISTRY, key=lambda n: (-len(n), n)))
    rule["match"] = re.sub(r"^\\b\((.*?)\)\\b", lambda _: rf"\b({names})\b", rule["match"])
    return json.dumps(grammar, indent=2) + "\n"


# page -> (the file it writes, its text)
PAGES: dict[str, tuple[Path, Callable[[], str]]] = {
    "errors": (ROOT / "docs" / "errors.md", errors_markdown),
    "zoo": (ROOT / "README.md", _readme),
    "ops": (gendocs_ops.DOCS / "ops.md", gendocs_ops.ops_markdown),
    "costs": (gendocs_ops.DOCS / "costs.md", gendocs_ops.costs_markdown),
    "parser": (ROOT / "netdsl" / "parser.json", _parser_json),
    "textmate": (ROOT / "editors" / "netdsl.tmLanguage.json", _textmate),
}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    stdout = "--stdout" in args
    names = [a for a in args if a != "--stdout"]
    names = list(PAGES) if names == ["all"] else names
    if not names or any(n not in PAGES for n in names):
        print(f"usage: python tools/gendocs.py {'|'.join(PAGES)}|all [--stdout]", file=sys.stderr)
        return 2
    for name in names:
        path, make = PAGES[name]
        if stdout:
            sys.stdout.write(make())
        else:
            path.write_text(make(), encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
