"""The command line's arguments (cli stage): argv → argparse.Namespace. Every subcommand with its
description, its arguments' help and its exit codes (the epilogs), their value checks (`--rename`,
`--input-size`, `--range`: a bad value is a usage error) and `--version`. Each subcommand's
`func` is its cmd_* function (reading.py, writing.py). Each subcommand is declared by
`@_subcommand` over the function that adds its arguments, which a process calls only for the
command it runs."""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import Callable
from typing import Any

from netdsl.cli.base import _Usage
from netdsl.cli.reading import (
    cmd_check,
    cmd_diff,
    cmd_explain,
    cmd_graph,
    cmd_list,
    cmd_sizes,
    cmd_summary,
)
from netdsl.cli.writing import cmd_compile, cmd_fmt, cmd_import, cmd_lsp, cmd_run
from netdsl.options import DEFAULT_OPSET
from netdsl.version import version


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse exits 2 by itself; keep one exit path
        raise _Usage(f"{self.prog}: {message}")


def _rename(rule: str) -> str:
    """--rename: checked here, so that a bad regular expression is a usage error (exit 2)."""
    from netdsl.weights import rename_rule
    try:
        rename_rule(rule)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return rule


def _input_size(text: str) -> tuple[int, ...]:
    try:
        size = tuple(int(v) for v in text.lower().split("x"))
    except ValueError:
        size = ()
    if not size or min(size) < 1:
        raise argparse.ArgumentTypeError(f"takes sizes such as 64 or 64x48, not {text!r}")
    return size


def _network_name(text: str) -> str:
    if not text.strip():  # NOTE: else "" would check every network, as if none were named
        raise argparse.ArgumentTypeError(f"takes a network's name, not {text!r}")
    return text


def _size_range(text: str) -> tuple[int, int]:
    lo, sep, hi = text.partition(":")
    try:
        bounds = (int(lo), int(hi)) if sep else ()
    except ValueError:
        bounds = ()
    if not bounds or not 1 <= bounds[0] <= bounds[1] or bounds[1] - bounds[0] >= 1 << 20:
        raise argparse.ArgumentTypeError(f"takes LO:HI with 1 <= LO <= HI (at most 2^20 sizes), "
                                         f"such as 1:4096, not {text!r}")
    return bounds


EXIT_CODES = """exit codes:
  0  ok
  1  the input has errors (diagnostics on stderr)
  2  a usage error: an unknown flag, a file that is missing or cannot be read
  3  an internal error: a bug in netdsl (please report it)"""


# NOTE: `netdsl --help`'s: check's diagnostics in a format for tools go where the tool reads
TOP_EXIT_CODES = EXIT_CODES.replace("(diagnostics on stderr)", (
    "(diagnostics on stderr; `check --format json|github|sarif`\n     prints them on stdout)"))
CHECK_EXIT_CODES = EXIT_CODES.replace("(diagnostics on stderr)", (
    "(diagnostics on stderr; with --format json, github or sarif\n     on stdout)"))


GRAPH_EXIT_CODES = """exit codes:
  0  ok: the picture is written
  1  the input has errors (diagnostics on stderr)
  2  a usage error: an unknown flag or -o suffix, a missing file, Graphviz's `dot` not installed
  3  an internal error: a bug in netdsl (please report it)"""


FMT_EXIT_CODES = """exit codes:
  0  ok: formatted (with --check or --diff: every file is formatted already)
  1  errors: a file does not parse, or (with --check or --diff) a file would change
  2  a usage error: a missing or unreadable file
  3  an internal error: a bug in netdsl (please report it)"""


DIFF_EXIT_CODES = """exit codes:
  0  ok: compared (with --exit-code: and no differences)
  1  either file has errors, or (with --exit-code) the networks differ
  2  a usage error: a missing file, not a git repository, an unknown revision, a file absent at
     that revision
  3  an internal error: a bug in netdsl (please report it)"""


LSP_EXIT_CODES = """exit codes:
  0  ok: the editor shut the server down
  1  not used: a document's errors go to the editor as diagnostics, not to the exit code
  2  a usage error: pygls is not installed (pip install 'netdsl[lsp]')
  3  an internal error: a bug in netdsl (please report it)"""


def _command(sub: Any, name: str, summary: str, description: str,
             epilog: str = EXIT_CODES) -> argparse.ArgumentParser:
    """A subcommand whose --help has a description, every argument, and the exit codes."""
    q: argparse.ArgumentParser = sub.add_parser(
        name, help=summary, description=textwrap.fill(description, 79), epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    return q


def _root_option(q: argparse.ArgumentParser) -> None:
    q.add_argument("--root", metavar="DIR",
                   help="the folder `use` lines may read in and below (default: the folder of "
                        "the file given)")


def _network_options(q: argparse.ArgumentParser, default: str = "needed if it defines several"
                     ) -> None:
    _root_option(q)
    q.add_argument("--network", metavar="NAME", type=_network_name,
                   help=f"which network of the file ({default})")
    q.add_argument("--set", action="append", metavar="NAME=VALUE",
                   help="override a network parameter, e.g. --set classes=10 (repeatable)")


class _Version(argparse.Action):
    """--version, which reads the package metadata only when asked (version.py)."""

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        print(f"netdsl {version()}")
        parser.exit()


_Arguments = Callable[[argparse.ArgumentParser], None]
_COMMANDS: dict[str, tuple[str, str, str, _Arguments]] = {}  # name -> its help and arguments


def _subcommand(name: str, summary: str, description: str,
                epilog: str = EXIT_CODES) -> Callable[[_Arguments], _Arguments]:
    """Declares a subcommand: its one-line summary, its --help's description and exit codes, and
    (the function decorated) its arguments; `netdsl --help` lists them in this file's order."""
    def declare(arguments: _Arguments) -> _Arguments:
        _COMMANDS[name] = (summary, description, epilog, arguments)
        return arguments
    return declare


def _parser(only: str | None = None) -> argparse.ArgumentParser:
    """netdsl's arguments; with `only`, the arguments of that command alone (`netdsl --help` and
    an unknown command's message list the others by their one-line summary all the same): a
    process runs one command, and building all twelve costs it ~2 ms."""
    p = _Parser(prog="netdsl", description="Check, measure, compile and run .net architectures.",
                epilog=TOP_EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action=_Version, nargs=0,
                   help="show program's version number and exit")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, (summary, description, epilog, arguments) in _COMMANDS.items():
        if only is None or name == only:
            arguments(_command(sub, name, summary, description, epilog))
        else:
            sub.add_parser(name, help=summary)
    return p


@_subcommand("check", "parse, check shapes and expectations; exit 1 on errors",
             "Check every network of every file (a directory: every *.net below it), or "
             "the one --network names, each on its own: syntax, names, shapes and `expect` "
             "lines. Prints one line per network and every diagnostic; the codes, the "
             "suppression comment `# netdsl: ignore[CODE]` and the JSON schema are in "
             "docs/errors.md.", CHECK_EXIT_CODES)
def _check_arguments(q: argparse.ArgumentParser) -> None:
    q.add_argument("files", nargs="+", metavar="FILE|DIR",
                   help="the .net files to check; a directory means every *.net below it, "
                        "hidden directories and build, dist, venv, node_modules, "
                        "site-packages, __pycache__ below it skipped (docs/ci.md)")
    _network_options(q, "default: every network")
    q.add_argument("--format", choices=("text", "json", "github", "sarif"), default="text",
                   help="text for people (default); json: one object on stdout for tools; "
                        "github: workflow commands (pull-request annotations); sarif: SARIF 2.1.0")
    q.add_argument("-q", "--quiet", action="store_true",
                   help="print only errors: no ok lines, no warnings, no summary")
    q.add_argument("--warnings-as-errors", action="store_true", help="exit 1 on any warning")
    q.add_argument("--ignore", action="append", metavar="CODE",
                   help="drop the diagnostics of this code, e.g. W301 (repeatable)")
    q.set_defaults(func=cmd_check)


@_subcommand("list", "the networks and blocks a file defines",
             "List the networks and blocks a file defines (not those it `use`s), with their "
             "parameters and defaults.")
def _list_arguments(q: argparse.ArgumentParser) -> None:
    q.add_argument("file", metavar="FILE", help="the .net file")
    _root_option(q)
    q.set_defaults(func=cmd_list)


@_subcommand("summary", "per layer: shape, params, MACs, receptive field",
             "Check a network and print one row per layer: output shape, parameters, MACs "
             "and receptive field, then the totals and the peak activation memory. The cost "
             "rules are in docs/costs.md, the JSON layout in docs/summary-json.md.")
def _summary_arguments(q: argparse.ArgumentParser) -> None:
    q.add_argument("file", metavar="FILE", help="the .net file")
    _network_options(q)
    q.add_argument("--depth", type=int, default=None, metavar="K",
                   help="fold layers into their first K name parts (layer1.0.conv1 -> layer1)")
    q.add_argument("--format", choices=("text", "json", "markdown"), default="text",
                   help="a text table (default), JSON for tools, or a markdown table")
    q.set_defaults(func=cmd_summary)


@_subcommand("explain", "the lecture's arithmetic for one layer",
             "Show how one layer's output size, parameters, MACs and receptive field are "
             "computed, with the numbers filled in.")
def _explain_arguments(q: argparse.ArgumentParser) -> None:
    q.add_argument("file", metavar="FILE", help="the .net file")
    q.add_argument("layer", metavar="LAYER",
                   help="the layer's name, as `netdsl summary` lists it (e.g. layer1.0.conv1)")
    _network_options(q)
    q.set_defaults(func=cmd_explain)


@_subcommand("diff", "compare two versions of a file: layers, shapes, params, MACs",
             "Compare two .net files, or a file with its text at a git revision (--against "
             "REV reads it with `git show REV:path` in the file's repository; files it "
             "`use`s are read from the working tree). Reports layers added, removed, changed "
             "and renamed (matched by name), output shapes that changed, and params, MACs "
             "and peak memory per top-level block and in total.",
             epilog=DIFF_EXIT_CODES)
def _diff_arguments(q: argparse.ArgumentParser) -> None:
    q.add_argument("old", metavar="OLD", help="the old file; with --against, the file to compare")
    q.add_argument("new", metavar="NEW", nargs="?", help="the new file")
    q.add_argument("--against", metavar="REV",
                   help="compare the file with its text at this git revision (branch, tag, commit)")
    _network_options(q)
    q.add_argument("--format", choices=("text", "markdown", "json"), default="text",
                   help="markdown fits a pull-request comment; json: schema netdsl-diff/1")
    q.add_argument("--exit-code", action="store_true",
                   help="exit 1 when the networks differ, as `git diff --exit-code`")
    q.set_defaults(func=cmd_diff)


@_subcommand("sizes", "which input sizes pass the shape check",
             "Sweep the input sizes of a range at once and print those that pass every "
             "shape check (exact windows unless floor was asked for, aligned adds, concats "
             "and crops, no size below 1), with the output shapes at each: arithmetic "
             "progressions as `188 + 16k (k = 0..244)`, in the input size n. Square sizes "
             "first, then each spatial axis alone (the others as declared). A `flatten -> "
             "dense` head pins the size. Annotations and `expect` lines, which state the "
             "declared size's numbers, are not evaluated.")
def _sizes_arguments(q: argparse.ArgumentParser) -> None:
    q.add_argument("file", metavar="FILE", help="the .net file")
    _network_options(q)
    q.add_argument("--input", metavar="NAME",
                   help="which input to size (default: the first with spatial axes)")
    q.add_argument("--range", type=_size_range, default=(1, 4096), metavar="LO:HI",
                   help="the candidate sizes, both included (default 1:4096)")
    q.add_argument("--square", action="store_true",
                   help="only square sizes (every spatial axis the same), not each axis alone")
    q.add_argument("--format", choices=("text", "json"), default="text",
                   help="text for people (default); json: one object (docs/sizes.md)")
    q.set_defaults(func=cmd_sizes)


@_subcommand("graph", "draw a network: layers, blocks, shapes (Graphviz)",
             "Draw a network as a graph, inputs at the top: a box per layer with its "
             "operator, key arguments and output shape; blocks as clusters (folded to one "
             "box each below --depth); adds and concatenations as round nodes. The output's "
             "suffix picks the format: .dot needs nothing, .svg/.png/.pdf/.html need "
             "Graphviz's `dot` program; .html is one page whose boxes show params, MACs and "
             "receptive field on hover.", GRAPH_EXIT_CODES)
def _graph_arguments(q: argparse.ArgumentParser) -> None:
    q.add_argument("file", metavar="FILE", help="the .net file")
    _network_options(q)
    q.add_argument("--depth", type=int, default=None, metavar="K",
                   help="fold layers into their first K name parts (layer1.0.conv1 -> layer1)")
    q.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="the picture to write: OUT.svg, .png, .pdf, .dot or .html")
    q.set_defaults(func=cmd_graph)


@_subcommand("fmt", "rewrite .net files in the one canonical layout",
             "Rewrite files in the canonical layout: 2-space indentation, one space around "
             "operators and after `,` and `:`, long pipes broken before `->` and aligned "
             "under the first arrow, trailing comments aligned. Comments are kept, and the "
             "result always means the same program. Exit 1 (with --check or --diff) when a "
             "file would change, or when a file has a syntax error.",
             FMT_EXIT_CODES)
def _fmt_arguments(q: argparse.ArgumentParser) -> None:
    q.add_argument("files", nargs="+", metavar="FILE|DIR",
                   help="the .net files to format; a directory means every *.net below it, "
                        "skipping what `check` skips (hidden directories, build, venv...); `-` "
                        "formats standard input to standard output (for editors)")
    q.add_argument("--check", action="store_true",
                   help="write nothing; list the files that would change and exit 1 if any")
    q.add_argument("--diff", action="store_true",
                   help="write nothing; print a unified diff of each file that would change")
    q.set_defaults(func=cmd_fmt)


@_subcommand("compile", "lower to an .onnx file",
             "Check a network and lower it to an ONNX file. Weights are random (He or "
             "Xavier, seeded by --seed) unless --weights gives them by parameter name. The "
             f"default opset is {DEFAULT_OPSET}, the same on every machine: onnxruntime >= "
             "1.12 and TensorRT 8.6 load it; --opset asks for a newer one.")
def _compile_arguments(q: argparse.ArgumentParser) -> None:
    q.add_argument("file", metavar="FILE", help="the .net file")
    _network_options(q)
    q.add_argument("-o", "--output", metavar="OUT.onnx",
                   help="the ONNX file to write (atomically; weights over 2 GB go beside it)")
    q.add_argument("--triton-repo", metavar="DIR",
                   help="also (or instead) write a Triton model repository entry: "
                        "DIR/NAME/1/model.onnx and DIR/NAME/config.pbtxt (docs/serving.md)")
    q.add_argument("--max-batch", type=int, metavar="B",
                   help="with --triton-repo: max_batch_size for a symbolic batch (default: 8)")
    q.add_argument("--dynamic-batching", action="store_true",
                   help="with --triton-repo: let Triton batch requests together")
    q.add_argument("--opset", type=int, default=DEFAULT_OPSET, metavar="N",
                   help=f"ONNX opset, {DEFAULT_OPSET} (the default) to the newest the installed "
                        "onnx knows")
    q.add_argument("--batch", type=int, default=None, metavar="B",
                   help="fix the batch size (default: a symbolic N)")
    q.add_argument("--seed", type=int, default=0, metavar="S",
                   help="seed of the initial weights (default: 0)")
    q.add_argument("--init", choices=("he", "xavier", "zeros"), default=None,
                   help="initialisation (default: the network's `option init`, else he); zeros: "
                        "every randomly initialised weight is 0, a structurally valid model "
                        "written at disk speed, for tests and CI that need only the graph")
    q.add_argument("--weights", metavar="FILE",
                   help=".npz, .safetensors, or a torch.save'd state_dict (.pt/.pth/.bin, read "
                        "without running pickled code) with every parameter, by name "
                        "(conv1.weight, ...)")
    q.add_argument("--rename", action="append", default=[], type=_rename,
                   metavar="PATTERN=REPLACEMENT",
                   help="rename the --weights names before matching: a Python regular "
                        "expression and its replacement (\\1 for a group); repeatable, applied "
                        "in order")
    q.add_argument("--fully-convolutional", action="store_true",
                   help="turn the flatten -> dense head into convolutions (FCN)")
    q.add_argument("--input-size", type=_input_size, metavar="HxW",
                   help="the input size to compile for: of a network whose inputs name their "
                        "sizes ([N, 3, H, W]: as --set H=.. W=..), or with --fully-convolutional")
    q.add_argument("--no-source-lines", action="store_true",
                   help="leave the source lines out of the nodes' doc strings (keep file:line:col)")
    q.set_defaults(func=cmd_compile)


@_subcommand("import", "turn an ONNX model into a .net program (and its weights)",
             "Read an ONNX model (as torch.onnx.export writes it) and write the .net program "
             "that compiles back to it: one labelled pipe stage per layer, named after the "
             "weights' initializers or torch's module paths, so that parameter names equal "
             "the checkpoint's keys (but a weight that an Add or Mul reads, ConvNeXt's "
             "layer_scale, becomes a `param` whose name is the key as an identifier: "
             "features_1_0_layer_scale). Operators it does not read are all listed (E407) and "
             "nothing is written. --weights writes the model's weights by parameter name, "
             "for `netdsl compile OUT.net --weights FILE`.")
def _import_arguments(q: argparse.ArgumentParser) -> None:
    q.add_argument("model", metavar="MODEL.onnx", help="the ONNX model to read")
    q.add_argument("-o", "--output", required=True, metavar="OUT.net",
                   help="the .net file to write (atomically, with --weights)")
    q.add_argument("--weights", metavar="FILE",
                   help="also write the weights, by parameter name (.npz or .safetensors)")
    q.add_argument("--network", metavar="NAME",
                   help="the network's name in the program (default: the ONNX graph's name)")
    q.set_defaults(func=cmd_import)


@_subcommand("run", "run a .net or .onnx model on onnxruntime",
             "Run a model on onnxruntime and print each output's shape and statistics. "
             "MODEL is an .onnx file, or else a .net file, compiled in memory with weights "
             "seeded by --seed. An .onnx model for every input size takes --random inputs "
             "at the size it was checked at, or at --set H=SIZE.")
def _run_arguments(q: argparse.ArgumentParser) -> None:
    q.add_argument("model", metavar="MODEL", help="an .onnx file, or a .net file")
    _network_options(q)
    q.add_argument("--input", action="append", metavar="NAME=FILE.npy",
                   help="an input array (repeatable; a bare FILE.npy for a one-input model)")
    q.add_argument("--random", action="store_true", help="random normal inputs (seeded)")
    q.add_argument("--batch", type=int, default=None, metavar="B",
                   help="batch size of --random inputs, for a model whose batch is not fixed "
                        "(default: 1)")
    q.add_argument("--seed", type=int, default=0, metavar="S",
                   help="seed of --random and of a .net model's weights (default: 0)")
    q.add_argument("--provider", choices=("auto", "cpu", "cuda"), default="auto",
                   help="auto: CUDA when onnxruntime-gpu has it, else the CPU")
    q.add_argument("--top", type=int, default=0, metavar="K",
                   help="for a classifier's [N, K] output: the K most likely classes")
    q.add_argument("--save", metavar="DIR",
                   help="save every output as DIR/NAME.npy (NAME made a safe file name: "
                        "letters, digits, _ - .; never outside DIR, never over an input)")
    q.set_defaults(func=cmd_run)


@_subcommand("lsp", "the language server, for editors (stdio)",
             "Serve the Language Server Protocol on stdin and stdout, for an editor to "
             "start: diagnostics as you type (those of `check`), hover (a layer's shape, "
             "params, MACs, receptive field), go to definition, completion and formatting. "
             "Needs the `lsp` extra: pip install 'netdsl[lsp]'. Logs go to stderr.",
             LSP_EXIT_CODES)
def _lsp_arguments(q: argparse.ArgumentParser) -> None:
    q.set_defaults(func=cmd_lsp)
