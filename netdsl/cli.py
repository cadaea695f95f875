"""The command line: check | list | summary | explain | diff | compile | run. Prints diagnostics,
sets the exit code (0 ok, 1 the input has errors, 2 usage errors, 3 internal errors). Heavy modules
(onnx, onnxruntime) are imported only by the commands that need them."""

from __future__ import annotations

import argparse
import gc
import io
import os
import sys
import textwrap
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from netdsl.diagnostics import Diagnostic, NetdslError, render, to_dict
from netdsl.limits import MAX_BATCH
from netdsl.options import DEFAULT_OPSET, SEEDS, CompileOptions
from netdsl.version import version

EXIT_OK, EXIT_ERRORS, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


class _Usage(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse exits 2 by itself; keep one exit path
        raise _Usage(f"{self.prog}: {message}")


def _color(stream: Any) -> bool:
    return bool(getattr(stream, "isatty", lambda: False)()) and "NO_COLOR" not in os.environ


def _emit(diags: Sequence[Diagnostic], fmt: str = "text") -> None:
    if fmt == "json":
        import json  # NOTE: by a JSON output alone, as in checkrun, formats and report
        print(json.dumps([to_dict(d) for d in diags], indent=2))
        return
    for d in diags:
        print(render(d, color=_color(sys.stderr)) + "\n", file=sys.stderr)


def _parse_value(text: str) -> Any:
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    for conv in (int, float):
        try:
            return conv(text.replace("_", ""))
        except ValueError:
            pass
    if text.startswith("[") and text.endswith("]"):
        import json
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            pass
    return text


def _params(pairs: Sequence[str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for p in pairs or ():
        if "=" not in p or not p.split("=", 1)[0].strip():
            raise _Usage(f"--set takes NAME=VALUE, not {p!r}")
        k, v = p.split("=", 1)
        out[k.strip()] = _parse_value(v)
    return out


def _sizes(pairs: Sequence[str] | None) -> dict[str, int]:
    """--set H=256 for an .onnx model: the size of a dim that varies in a model for every size."""
    out = {}
    for k, v in _params(pairs).items():
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise _Usage(f"--set {k}=...: the size of an input's dim takes a positive integer")
        out[k] = v
    return out


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


# ------------------------------------------------------------------------------------ commands

def cmd_check(a: argparse.Namespace) -> int:
    """Check every file (a directory: every `*.net` below it), every network in it (or
    --network); exit 0, 1 (errors; warnings too with --warnings-as-errors) or 2 (a file that
    cannot be read). Each file and network is checked on its own: one's errors do not hide
    another's. The work is checkrun.run's."""
    from netdsl.checkrun import Options, PathError, run
    from netdsl.diagnostics import CODES, did_you_mean
    for code in a.ignore or ():
        if code not in CODES:
            hint = did_you_mean(code, CODES, "docs/errors.md lists the codes")
            raise _Usage(f"--ignore takes a diagnostic code, not {code!r}: {hint}")
    opts = Options(a.network, _params(a.set), a.format, a.quiet, a.warnings_as_errors,
                   frozenset(a.ignore or ()), _color(sys.stderr), a.root)
    try:
        return run(a.files, opts)
    except PathError as e:
        raise _Usage(str(e)) from None


def _unreadable(e: NetdslError) -> bool:
    """A file that cannot be read at all (E001) is a usage error, like a missing one: exit 2."""
    return all(d.code == "E001" for d in e.diagnostics)


def cmd_list(a: argparse.Namespace) -> int:
    """The networks and blocks a file defines (not those it `use`s), with their parameters."""
    from netdsl import syntax as s
    from netdsl.elaborator import load_module
    from netdsl.pipeline import read_source
    module, _ = load_module(read_source(a.file, a.root))
    for item in module.items:
        if isinstance(item, s.Network):
            print(f"network {item.name.id}({_param_list(item.params)})")
        elif isinstance(item, s.NetworkAlias):
            args = [x.span.text() for x in item.args] + [k.span.text() for k in item.kwargs]
            print(f"network {item.name.id} = {item.target.id}({', '.join(args)})")
        elif isinstance(item, s.Block):
            print(f"block {item.name.id}({_param_list(item.params)})")
    return EXIT_OK


def _param_list(params: Sequence[Any]) -> str:
    return ", ".join(p.name.id + (f" = {p.default.span.text()}" if p.default else "")
                     for p in params)


def cmd_summary(a: argparse.Namespace) -> int:
    from netdsl.pipeline import check_source, read_source
    from netdsl.report import summary
    if a.depth is not None and a.depth < 1:
        raise _Usage(f"--depth takes a positive number of name parts, not {a.depth}")
    checked = check_source(read_source(a.file, a.root), a.network, _params(a.set))
    _emit(checked.stats.warnings)
    print(summary(checked.graph, checked.stats, a.format, a.depth))
    return EXIT_OK


def cmd_fmt(a: argparse.Namespace) -> int:
    """Rewrite files in the canonical layout; --check/--diff only report."""
    import difflib

    from netdsl.checkrun import PathError, expand
    from netdsl.files import atomic
    from netdsl.fmt import format_source
    try:
        paths = expand(a.files)
    except PathError as e:
        raise _Usage(str(e)) from None
    changed, failed = [], False
    for path in paths:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise _Usage(f"{path}: cannot read: {getattr(e, 'strerror', None) or e}") from None
        try:
            new = format_source(text, path)
        except NetdslError as e:
            _emit(e.diagnostics)
            failed = True
            continue
        if new == text:
            continue
        changed.append(path)
        if a.diff:
            sys.stdout.writelines(difflib.unified_diff(
                text.splitlines(keepends=True), new.splitlines(keepends=True),
                f"{path} (original)", f"{path} (formatted)"))
        if a.check or a.diff:
            print(f"would reformat {path}", file=sys.stderr)
        else:
            with atomic(Path(path)) as (tmp,):
                tmp.write_text(new, encoding="utf-8")
            print(f"reformatted {path}", file=sys.stderr)
    if failed:
        return EXIT_ERRORS
    return EXIT_ERRORS if changed and (a.check or a.diff) else EXIT_OK


def cmd_graph(a: argparse.Namespace) -> int:
    from netdsl.graph import FORMATS, DotMissing, render
    from netdsl.pipeline import check_source, read_source
    if a.depth is not None and a.depth < 1:
        raise _Usage(f"--depth takes a positive number of name parts, not {a.depth}")
    if Path(a.output).suffix.lower() not in FORMATS:
        raise _Usage(f"-o {a.output}: the suffix picks the format, one of {', '.join(FORMATS)}")
    checked = check_source(read_source(a.file, a.root), a.network, _params(a.set))
    _emit(checked.stats.warnings)
    try:
        render(checked.graph, checked.stats, Path(a.output), a.depth)
    except DotMissing as e:
        print(f"netdsl graph: {e}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


def cmd_explain(a: argparse.Namespace) -> int:
    from netdsl.pipeline import check_source, read_source
    from netdsl.report import explain
    checked = check_source(read_source(a.file, a.root), a.network, _params(a.set))
    print(explain(checked.graph, checked.stats, a.layer))
    return EXIT_OK


def cmd_diff(a: argparse.Namespace) -> int:
    """Two files, or one against a git revision (its `use`d files from the working tree)."""
    from netdsl import diff, diff_report
    from netdsl.pipeline import read_source
    from netdsl.source import Source
    if (a.against is None) == (a.new is None):
        raise _Usage("give two files (netdsl diff OLD NEW), or one and --against REV")
    params = _params(a.set)
    label = None
    if a.against is None:
        old, new = read_source(a.old, a.root), read_source(a.new, a.root)
    else:  # NOTE: the file first, so that a missing one is reported as missing
        new = read_source(a.old, a.root)
        old = Source(a.old, diff.read_revision(Path(a.old), a.against), new.root)
        label = f"{a.against}:{a.old}"
    result = diff.diff_sources(old, new, a.network, params, label)
    print(diff_report.render(result, a.format))
    return EXIT_ERRORS if a.exit_code and result.differs else EXIT_OK


def cmd_sizes(a: argparse.Namespace) -> int:
    from netdsl import sizes
    from netdsl.elaborator import load_module
    from netdsl.pipeline import read_source
    module, ns = load_module(read_source(a.file))
    graph = sizes.lenient_graph(module, ns, a.network, _params(a.set))
    try:
        report = sizes.valid_sizes(graph, a.input, a.range, a.square)
    except sizes.SizesError as e:
        raise _Usage(f"netdsl sizes: {e}") from None
    print(sizes.to_json(report) if a.format == "json" else sizes.to_text(report))
    return EXIT_OK


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


def _check_batch_seed(batch: int | None, seed: int) -> None:
    if batch is not None and batch > MAX_BATCH:
        raise _Usage(f"--batch must be at most {MAX_BATCH}")
    if not 0 <= seed < SEEDS:
        raise _Usage(f"--seed must be 0 to 2**32 - 1 = {SEEDS - 1}")


def cmd_compile(a: argparse.Namespace) -> int:
    from netdsl import files
    from netdsl.pipeline import check_source, lower, read_source, size_params
    if a.batch is not None and a.batch < 1:
        raise _Usage("--batch must be at least 1")
    _check_batch_seed(a.batch, a.seed)
    if a.rename and not a.weights:
        raise _Usage("--rename needs --weights")
    if not a.output and not a.triton_repo:
        raise _Usage("give -o OUT.onnx, --triton-repo DIR, or both")
    if a.max_batch < 1:
        raise _Usage("--max-batch must be at least 1")
    out, src = (Path(a.output) if a.output else None), Path(a.file)
    # NOTE: before compiling, so that a bad path fails fast; write() checks again as it writes
    if out is not None:
        files.check_writable(out, [src, *([Path(a.weights)] if a.weights else [])])
    options = CompileOptions(opset=a.opset, batch=a.batch, seed=a.seed, init=a.init,
                             weights=a.weights, fully_convolutional=a.fully_convolutional,
                             input_size=a.input_size if a.fully_convolutional else None,
                             rename=tuple(a.rename),
                             source_lines=not a.no_source_lines)
    checked = check_source(read_source(src, a.root), a.network, _params(a.set))
    if a.input_size and not a.fully_convolutional:  # a model for that size: the sizes bound
        try:
            sizes = size_params(checked.graph, a.input_size)
        except ValueError as e:
            raise _Usage(f"--input-size {e}") from None
        checked = check_source(read_source(src, a.root), a.network, {**_params(a.set), **sizes})
    if out is not None:
        files.check_writable(out, [Path(f) for f in checked.files])  # NOTE: what `use`s read
        lowered, written = lower(checked, options, out)  # stream.write: no onnx
        _emit(lowered.stats.warnings)
        print(f"{out}: {lowered.graph.name}, opset {written.opset}, "
              f"{lowered.stats.params:,} params, {len(written.nodes)} ONNX nodes")
    if a.triton_repo:
        from netdsl import serving
        lowered, model = lower(checked, options)  # NOTE: in memory: the entry holds the model
        if out is None:
            _emit(lowered.stats.warnings)
        entry = serving.write_repository(model, Path(a.triton_repo), lowered.graph.name,
                                         a.max_batch, a.dynamic_batching)
        print(f"{entry}: Triton model {lowered.graph.name} (onnxruntime_onnx, version 1)")
    return EXIT_OK


def cmd_import(a: argparse.Namespace) -> int:
    from netdsl import export, files, importer, weights
    from netdsl.pipeline import check_source
    from netdsl.source import Source
    out, src = Path(a.output), Path(a.model)
    w_out = Path(a.weights) if a.weights else None
    if w_out is not None and w_out.suffix.lower() not in (".npz", ".safetensors"):
        raise _Usage(f"--weights {w_out}: give a .npz or .safetensors file name")
    files.check_writable(out, [src])
    if w_out is not None:
        files.check_writable(w_out, [src, out])
    imported = importer.import_model(export.load(src), a.network, src.name)
    # NOTE: checked before anything is written: an importer bug is never a broken .net on disk
    net = check_source(Source(str(out), imported.text, str(out.parent.resolve())))
    targets = [out] + ([w_out] if w_out is not None else [])
    with files.atomic(*targets) as temps:
        temps[0].write_text(imported.text, encoding="utf-8")
        if w_out is not None:
            with files.open_temp(temps[1]) as f:
                f.write(weights.encode(imported.weights, w_out.suffix))
    print(f"{out}: {net.graph.name}, {imported.layers} layers in "
          f"{len(imported.text.splitlines())} lines, {net.stats.params:,} params"
          + (f"; weights in {w_out}" if w_out is not None else ""))
    return EXIT_OK


def cmd_lsp(a: argparse.Namespace) -> int:
    try:
        from netdsl import lsp
    except ImportError as e:  # pygls is the optional extra `lsp`
        raise _Usage(f"netdsl lsp needs pygls ({e}): pip install 'netdsl[lsp]'") from None
    return lsp.serve()


def cmd_run(a: argparse.Namespace) -> int:
    from netdsl import export, files, runtime
    from netdsl.pipeline import compile_source, read_source
    if not a.input and not a.random:
        raise _Usage("give --input NAME=FILE.npy or --random")
    if a.input and a.random:
        raise _Usage("give either --input or --random, not both")
    if a.batch < 1 or a.top < 0:
        raise _Usage("--batch must be at least 1 and --top at least 0")
    _check_batch_seed(a.batch, a.seed)
    path = Path(a.model)
    model: Any
    if files.is_onnx(path):
        export.check_file(path)
        model = path  # onnxruntime reads it, external data included
    else:
        model = compile_source(read_source(path, a.root), a.network, _params(a.set),
                               CompileOptions(seed=a.seed))[1]
    if a.save:
        files.check_dir(Path(a.save), "--save")
    session = runtime.Session(model, a.provider)
    if session.note:
        print(f"note: {session.note}", file=sys.stderr)
    sizes = session.example_sizes  # a model for every size: --set H=.. on an .onnx picks one
    sizes.update(_sizes(a.set) if files.is_onnx(path) else {})
    feeds = (runtime.read_inputs(a.input, session.inputs) if a.input
             else runtime.random_inputs(session.inputs, a.batch, a.seed, sizes))
    outputs = session.run(feeds)
    print(f"provider: {session.providers[0]}")
    for name, arr in feeds.items():
        print(f"input {name}: shape {list(arr.shape)}")
    for name, arr in outputs.items():
        print(_describe(name, arr, a.top))
    if a.save:
        read = [path, *(Path(s.partition("=")[2] or s) for s in a.input or ())]
        written = runtime.save_outputs(outputs, Path(a.save), read)
        print(f"saved {', '.join(str(w) for w in written)}")
    return EXIT_OK


def _describe(name: str, arr: Any, top: int) -> str:
    """An output's shape and statistics; for a classifier ([N, K]) with --top, the top-k
    (index, probability) per example (softmax first, unless it is already a distribution)."""
    import numpy as np
    with np.errstate(all="ignore"):  # NOTE: inf/nan outputs print as inf/nan, with no warning
        return _statistics(name, arr, top)


def _statistics(name: str, arr: Any, top: int) -> str:
    import numpy as np
    lines = [f"{name}: shape {list(arr.shape)}, mean {arr.mean():.6g}, std {arr.std():.6g}, "
             f"min {arr.min():.6g}, max {arr.max():.6g}"]
    if top and arr.ndim == 2:
        probs = arr if _is_distribution(arr) else _softmax(arr)
        for b in range(arr.shape[0]):
            best = np.argsort(-probs[b], kind="stable")[:top]
            lines.append(f"  [{b}] top-{len(best)}: " + ", ".join(
                f"{i} ({probs[b, i]:.4f})" for i in best))
    return "\n".join(lines)


def _is_distribution(arr: Any) -> bool:
    import numpy as np
    return bool(np.all(arr >= 0) and np.allclose(arr.sum(axis=1), 1.0, atol=1e-3))


def _softmax(arr: Any) -> Any:
    import numpy as np
    e = np.exp(arr - arr.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


# ------------------------------------------------------------------------------------- parsing

EXIT_CODES = """exit codes:
  0  ok
  1  the input has errors (diagnostics on stderr)
  2  a usage error: an unknown flag, a file that is missing or cannot be read
  3  an internal error: a bug in netdsl (please report it)"""


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
    q.add_argument("--network", metavar="NAME", help=f"which network of the file ({default})")
    q.add_argument("--set", action="append", metavar="NAME=VALUE",
                   help="override a network parameter, e.g. --set classes=10 (repeatable)")


class _Version(argparse.Action):
    """--version, which reads the package metadata only when asked (version.py)."""

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        print(f"netdsl {version()}")
        parser.exit()


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="netdsl", description="Check, measure, compile and run .net architectures.",
                epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action=_Version, nargs=0,
                   help="show program's version number and exit")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    q = _command(sub, "check", "parse, check shapes and expectations; exit 1 on errors",
                 "Check every network of every file (a directory: every *.net below it), or "
                 "the one --network names, each on its own: syntax, names, shapes and `expect` "
                 "lines. Prints one line per network and every diagnostic; the codes, the "
                 "suppression comment `# netdsl: ignore[CODE]` and the JSON schema are in "
                 "docs/errors.md.")
    q.add_argument("files", nargs="+", metavar="FILE|DIR",
                   help="the .net files to check; a directory means every *.net below it")
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

    q = _command(sub, "list", "the networks and blocks a file defines",
                 "List the networks and blocks a file defines (not those it `use`s), with their "
                 "parameters and defaults.")
    q.add_argument("file", metavar="FILE", help="the .net file")
    _root_option(q)
    q.set_defaults(func=cmd_list)

    q = _command(sub, "summary", "per layer: shape, params, MACs, receptive field",
                 "Check a network and print one row per layer: output shape, parameters, MACs "
                 "and receptive field, then the totals and the peak activation memory. The cost "
                 "rules are in docs/costs.md, the JSON layout in docs/summary-json.md.")
    q.add_argument("file", metavar="FILE", help="the .net file")
    _network_options(q)
    q.add_argument("--depth", type=int, default=None, metavar="K",
                   help="fold layers into their first K name parts (layer1.0.conv1 -> layer1)")
    q.add_argument("--format", choices=("text", "json", "markdown"), default="text",
                   help="a text table (default), JSON for tools, or a markdown table")
    q.set_defaults(func=cmd_summary)

    q = _command(sub, "explain", "the lecture's arithmetic for one layer",
                 "Show how one layer's output size, parameters, MACs and receptive field are "
                 "computed, with the numbers filled in.")
    q.add_argument("file", metavar="FILE", help="the .net file")
    q.add_argument("layer", metavar="LAYER",
                   help="the layer's name, as `netdsl summary` lists it (e.g. layer1.0.conv1)")
    _network_options(q)
    q.set_defaults(func=cmd_explain)

    q = _command(sub, "diff", "compare two versions of a file: layers, shapes, params, MACs",
                 "Compare two .net files, or a file with its text at a git revision (--against "
                 "REV reads it with `git show REV:path` in the file's repository; files it "
                 "`use`s are read from the working tree). Reports layers added, removed, changed "
                 "and renamed (matched by name), output shapes that changed, and params, MACs "
                 "and peak memory per top-level block and in total.",
                 epilog=DIFF_EXIT_CODES)
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

    q = _command(sub, "sizes", "which input sizes pass the shape check",
                 "Sweep the input sizes of a range at once and print those that pass every "
                 "shape check (exact windows unless floor was asked for, aligned adds, concats "
                 "and crops, no size below 1), with the output shapes at each: arithmetic "
                 "progressions as `188 + 16k (k = 0..244)`, in the input size n. Square sizes "
                 "first, then each spatial axis alone (the others as declared). A `flatten -> "
                 "dense` head pins the size. Annotations and `expect` lines, which state the "
                 "declared size's numbers, are not evaluated.")
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

    q = _command(sub, "graph", "draw a network: layers, blocks, shapes (Graphviz)",
                 "Draw a network as a graph, inputs at the top: a box per layer with its "
                 "operator, key arguments and output shape; blocks as clusters (folded to one "
                 "box each below --depth); adds and concatenations as round nodes. The output's "
                 "suffix picks the format: .dot needs nothing, .svg/.png/.pdf/.html need "
                 "Graphviz's `dot` program; .html is one page whose boxes show params, MACs and "
                 "receptive field on hover.", GRAPH_EXIT_CODES)
    q.add_argument("file", metavar="FILE", help="the .net file")
    _network_options(q)
    q.add_argument("--depth", type=int, default=None, metavar="K",
                   help="fold layers into their first K name parts (layer1.0.conv1 -> layer1)")
    q.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="the picture to write: OUT.svg, .png, .pdf, .dot or .html")
    q.set_defaults(func=cmd_graph)

    q = _command(sub, "fmt", "rewrite .net files in the one canonical layout",
                 "Rewrite files in the canonical layout: 2-space indentation, one space around "
                 "operators and after `,` and `:`, long pipes broken before `->` and aligned "
                 "under the first arrow, trailing comments aligned. Comments are kept, and the "
                 "result always means the same program. Exit 1 (with --check or --diff) when a "
                 "file would change, or when a file has a syntax error.",
                 FMT_EXIT_CODES)
    q.add_argument("files", nargs="+", metavar="FILE|DIR",
                   help="the .net files to format; a directory means every *.net below it")
    q.add_argument("--check", action="store_true",
                   help="write nothing; list the files that would change and exit 1 if any")
    q.add_argument("--diff", action="store_true",
                   help="write nothing; print a unified diff of each file that would change")
    q.set_defaults(func=cmd_fmt)

    q = _command(sub, "compile", "lower to an .onnx file",
                 "Check a network and lower it to an ONNX file. Weights are random (He or "
                 "Xavier, seeded by --seed) unless --weights gives them by parameter name. The "
                 f"default opset is {DEFAULT_OPSET}, the same on every machine: onnxruntime >= "
                 "1.12 and TensorRT 8.6 load it; --opset asks for a newer one.")
    q.add_argument("file", metavar="FILE", help="the .net file")
    _network_options(q)
    q.add_argument("-o", "--output", metavar="OUT.onnx",
                   help="the ONNX file to write (atomically; weights over 2 GB go beside it)")
    q.add_argument("--triton-repo", metavar="DIR",
                   help="also (or instead) write a Triton model repository entry: "
                        "DIR/NAME/1/model.onnx and DIR/NAME/config.pbtxt (docs/serving.md)")
    q.add_argument("--max-batch", type=int, default=8, metavar="B",
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
                   help=".npz, .safetensors, or a torch.save'd state_dict (.pt/.pth, read without "
                        "running pickled code) with every parameter, by name (conv1.weight, ...)")
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

    q = _command(sub, "import", "turn an ONNX model into a .net program (and its weights)",
                 "Read an ONNX model (as torch.onnx.export writes it) and write the .net program "
                 "that compiles back to it: one labelled pipe stage per layer, named after the "
                 "weights' initializers or torch's module paths, so that parameter names equal "
                 "the checkpoint's keys. Operators netdsl has no op for are all listed (E407) and "
                 "nothing is written. --weights writes the model's weights by parameter name, "
                 "for `netdsl compile OUT.net --weights FILE`.")
    q.add_argument("model", metavar="MODEL.onnx", help="the ONNX model to read")
    q.add_argument("-o", "--output", required=True, metavar="OUT.net",
                   help="the .net file to write (atomically, with --weights)")
    q.add_argument("--weights", metavar="FILE",
                   help="also write the weights, by parameter name (.npz or .safetensors)")
    q.add_argument("--network", metavar="NAME",
                   help="the network's name in the program (default: the ONNX graph's name)")
    q.set_defaults(func=cmd_import)

    q = _command(sub, "run", "run a .net or .onnx model on onnxruntime",
                 "Run a model on onnxruntime and print each output's shape and statistics. "
                 "MODEL is an .onnx file, or else a .net file, compiled in memory with weights "
                 "seeded by --seed. An .onnx model for every input size takes --random inputs "
                 "at the size it was checked at, or at --set H=SIZE.")
    q.add_argument("model", metavar="MODEL", help="an .onnx file, or a .net file")
    _network_options(q)
    q.add_argument("--input", action="append", metavar="NAME=FILE.npy",
                   help="an input array (repeatable; a bare FILE.npy for a one-input model)")
    q.add_argument("--random", action="store_true", help="random normal inputs (seeded)")
    q.add_argument("--batch", type=int, default=1, metavar="B",
                   help="batch size of --random inputs (default: 1)")
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

    q = _command(sub, "lsp", "the language server, for editors (stdio)",
                 "Serve the Language Server Protocol on stdin and stdout, for an editor to "
                 "start: diagnostics as you type (those of `check`), hover (a layer's shape, "
                 "params, MACs, receptive field), go to definition, completion and formatting. "
                 "Needs the `lsp` extra: pip install 'netdsl[lsp]'. Logs go to stderr.",
                 LSP_EXIT_CODES)
    q.set_defaults(func=cmd_lsp)
    return p


class _PipeGuard:
    """A text stream whose reader may go away (`netdsl check bad.net | head -0`): on EPIPE the
    rest of the output goes to /dev/null, as the Python docs advise (signal module, "Note on
    SIGPIPE"), instead of raising, so that the command finishes and its exit code survives."""

    def __init__(self, stream: Any):
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return int(self._stream.write(text))
        except BrokenPipeError:
            self._to_devnull()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._to_devnull()

    def _to_devnull(self) -> None:
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)
        except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
            pass  # not a file (a test's StringIO): nothing to point elsewhere

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def main(argv: Sequence[str] | None = None) -> int:
    """`netdsl ARGS`; without argv (the console script, python -m netdsl) the process's entry,
    which ends when it returns."""
    streams = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _PipeGuard(sys.stdout), _PipeGuard(sys.stderr)
    collecting = gc.isenabled()
    try:
        code = _main(argv)
        sys.stdout.flush()  # NOTE: here, not at exit, where EPIPE would turn the code into 120
        sys.stderr.flush()
        return code
    finally:
        sys.stdout, sys.stderr = streams
        if argv is None:  # NOTE: the process ends: its last collections need not scan it all
            gc.freeze()
        if collecting:
            gc.enable()


def _main(argv: Sequence[str] | None) -> int:
    parser = _parser()
    try:
        a = parser.parse_args(argv)
        if not getattr(a, "command", None):
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        for name in ("file", "model"):
            path = getattr(a, name, None)
            if path is not None and a.command != "run" and not Path(path).exists():
                raise _Usage(f"{path}: no such file")
        if getattr(a, "root", None) is not None and not Path(a.root).is_dir():
            raise _Usage(f"--root {a.root}: not a directory")
        if a.command != "lsp":
            # NOTE: one command runs, and what it imports and builds lives to its end: the
            # cyclic collector would only rescan it (with the freeze at exit, 15-20% of a cold
            # check or compile). The cycles left are a few KB a network; the server keeps it.
            gc.disable()
        return int(a.func(a))
    except _Usage as e:
        print(f"{e}\nusage: see `netdsl --help`", file=sys.stderr)
        return EXIT_USAGE
    except SystemExit as e:  # --help, --version: argparse exits; main() returns the code
        return int(e.code or 0)
    except NetdslError as e:
        _emit(e.diagnostics)
        return EXIT_USAGE if _unreadable(e) else EXIT_ERRORS
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception:  # noqa: BLE001 - a bug in netdsl, not the user's mistake
        traceback.print_exc()
        print("netdsl: internal error, please report it with the input that caused it",
              file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
