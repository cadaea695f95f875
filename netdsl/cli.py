"""The command line: check | list | summary | explain | diff | compile | run. Prints diagnostics,
sets the exit code (0 ok, 1 the input has errors, 2 usage errors, 3 internal errors). Heavy modules
(onnx, onnxruntime) are imported only by the commands that need them."""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from netdsl import __version__
from netdsl.diagnostics import Diagnostic, NetdslError, render, to_dict

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


def _input_size(text: str) -> tuple[int, ...]:
    try:
        size = tuple(int(v) for v in text.lower().split("x"))
    except ValueError:
        size = ()
    if not size or min(size) < 1:
        raise argparse.ArgumentTypeError(f"takes sizes such as 64 or 64x48, not {text!r}")
    return size


# ------------------------------------------------------------------------------------ commands

CHECK_SCHEMA = "netdsl-check/1"  # `check --format json`; documented in docs/errors.md


def cmd_check(a: argparse.Namespace) -> int:
    """Check every file, every network in it (or --network); exit 0, 1 (errors) or 2 (a file
    that cannot be read). Each file and network is checked on its own: one's errors do not hide
    another's."""
    params = _params(a.set)
    code = EXIT_OK
    files: list[dict[str, Any]] = []
    for path in a.files:
        file_code, report = _check_file(path, a, params)
        code, files = max(code, file_code), files + [report]
    if a.format == "json":
        print(json.dumps({"schema": CHECK_SCHEMA, "ok": code == EXIT_OK, "files": files},
                         indent=2))
    return code


def _check_file(path: str, a: argparse.Namespace, params: dict[str, Any]
                ) -> tuple[int, dict[str, Any]]:
    from netdsl.pipeline import check_all, source_of
    from netdsl.report import si
    report: dict[str, Any] = {"path": path, "ok": False, "networks": [], "diagnostics": []}

    def show(diags: Sequence[Diagnostic]) -> None:
        report["diagnostics"] += [to_dict(d) for d in diags]
        if a.format == "text":
            _emit(diags)

    try:
        results = check_all(source_of(Path(path)), a.network, params)
    except NetdslError as e:
        show(e.diagnostics)
        return (EXIT_USAGE if _unreadable(e) else EXIT_ERRORS), report
    if not results and a.format == "text" and not a.quiet:
        print(f"{path}: ok (blocks only, no network)")
    for name, result in results:
        if isinstance(result, NetdslError):
            report["networks"].append({"name": name, "ok": False})
            show(result.diagnostics)
            continue
        graph, stats = result.graph, result.stats
        report["networks"].append({
            "name": name, "ok": True, "params": stats.params, "macs": stats.macs,
            "outputs": {o: list(graph.node(n).shape or ()) for o, n in graph.outputs.items()}})
        show(stats.warnings)
        if a.format == "text" and not a.quiet:
            print(f"{path}: {name}: ok ({stats.params:,} params, {si(stats.macs)} MACs)")
    report["ok"] = all(n["ok"] for n in report["networks"])
    return (EXIT_OK if report["ok"] else EXIT_ERRORS), report


def _unreadable(e: NetdslError) -> bool:
    """A file that cannot be read at all (E001) is a usage error, like a missing one: exit 2."""
    return all(d.code == "E001" for d in e.diagnostics)


def cmd_list(a: argparse.Namespace) -> int:
    """The networks and blocks a file defines (not those it `use`s), with their parameters."""
    from netdsl import syntax as s
    from netdsl.build import load_module
    from netdsl.pipeline import source_of
    module, _ = load_module(source_of(Path(a.file)))
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
    from netdsl.pipeline import check_source, source_of
    from netdsl.report import summary
    if a.depth is not None and a.depth < 1:
        raise _Usage(f"--depth takes a positive number of name parts, not {a.depth}")
    checked = check_source(source_of(Path(a.file)), a.network, _params(a.set))
    _emit(checked.stats.warnings)
    print(summary(checked.graph, checked.stats, a.format, a.depth))
    return EXIT_OK


def cmd_explain(a: argparse.Namespace) -> int:
    from netdsl.pipeline import check_source, source_of
    from netdsl.report import explain
    checked = check_source(source_of(Path(a.file)), a.network, _params(a.set))
    print(explain(checked.graph, checked.stats, a.layer))
    return EXIT_OK


def cmd_diff(a: argparse.Namespace) -> int:
    """Two files, or one against a git revision (its `use`d files from the working tree)."""
    from netdsl import diff, diff_report
    from netdsl.pipeline import source_of
    from netdsl.source import Source
    if (a.against is None) == (a.new is None):
        raise _Usage("give two files (netdsl diff OLD NEW), or one and --against REV")
    params = _params(a.set)
    label = None
    if a.against is None:
        old, new = source_of(Path(a.old)), source_of(Path(a.new))
    else:  # NOTE: the file first, so that a missing one is reported as missing
        new = source_of(Path(a.old))
        old = Source(a.old, diff.read_revision(Path(a.old), a.against))
        label = f"{a.against}:{a.old}"
    result = diff.diff_sources(old, new, a.network, params, label)
    print(diff_report.render(result, a.format))
    return EXIT_ERRORS if a.exit_code and result.differs else EXIT_OK


def cmd_compile(a: argparse.Namespace) -> int:
    from netdsl import export, files, weights as wmod
    from netdsl.pipeline import compile_source, source_of
    if a.batch is not None and a.batch < 1:
        raise _Usage("--batch must be at least 1")
    if a.input_size and not a.fully_convolutional:
        raise _Usage("--input-size needs --fully-convolutional")
    out, src = Path(a.output), Path(a.file)
    # NOTE: before compiling, so that a bad path fails fast; save() checks again as it writes
    files.check_writable(out, [src, *([Path(a.weights)] if a.weights else [])])
    weights = wmod.read(a.weights) if a.weights else None
    checked, model = compile_source(source_of(src), a.network, _params(a.set), opset=a.opset,
                                    batch=a.batch, seed=a.seed, init=a.init, weights=weights,
                                    weights_path=a.weights or "weights",
                                    fully_convolutional=a.fully_convolutional,
                                    input_size=a.input_size)
    export.save(model, out)
    print(f"{out}: {checked.graph.name}, opset {model.opset_import[0].version}, "
          f"{checked.stats.params:,} params, {len(model.graph.node)} ONNX nodes")
    return EXIT_OK


def cmd_run(a: argparse.Namespace) -> int:
    from netdsl import export, files, runtime
    from netdsl.pipeline import compile_source, source_of
    if not a.input and not a.random:
        raise _Usage("give --input NAME=FILE.npy or --random")
    if a.input and a.random:
        raise _Usage("give either --input or --random, not both")
    if a.batch < 1 or a.top < 0:
        raise _Usage("--batch must be at least 1 and --top at least 0")
    path = Path(a.model)
    model: Any
    if path.suffix == ".net":
        model = compile_source(source_of(path), a.network, _params(a.set), seed=a.seed)[1]
    else:
        export.check_file(path)
        model = path  # onnxruntime reads it, external data included
    if a.save:
        files.check_dir(Path(a.save), "--save")
    session = runtime.Session(model, a.provider)
    if session.note:
        print(f"note: {session.note}", file=sys.stderr)
    feeds = (runtime.read_inputs(a.input, session.inputs) if a.input
             else runtime.random_inputs(session.inputs, a.batch, a.seed))
    outputs = session.run(feeds)
    print(f"provider: {session.providers[0]}")
    for name, arr in feeds.items():
        print(f"input {name}: shape {list(arr.shape)}")
    for name, arr in outputs.items():
        print(_describe(name, arr, a.top))
    if a.save:
        written = runtime.save_outputs(outputs, Path(a.save))
        print(f"saved {', '.join(str(w) for w in written)}")
    return EXIT_OK


def _describe(name: str, arr: Any, top: int) -> str:
    """An output's shape and statistics; for a classifier ([N, K]) with --top, the top-k
    (index, probability) per example (softmax first, unless it is already a distribution)."""
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

def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="netdsl", description="Check, measure, compile and run .net architectures.")
    p.add_argument("--version", action="version", version=f"netdsl {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def net_opts(q: argparse.ArgumentParser) -> None:
        q.add_argument("--network", help="which network of the file")
        q.add_argument("--set", action="append", metavar="NAME=VALUE",
                       help="override a network parameter (repeatable)")

    q = sub.add_parser("check", help="parse, check shapes and expectations; exit 1 on errors")
    q.add_argument("files", nargs="+", metavar="FILE")
    net_opts(q)
    q.add_argument("--format", choices=("text", "json"), default="text")
    q.add_argument("-q", "--quiet", action="store_true", help="print only diagnostics")
    q.set_defaults(func=cmd_check)

    q = sub.add_parser("list", help="the networks and blocks a file defines")
    q.add_argument("file", metavar="FILE")
    q.set_defaults(func=cmd_list)

    q = sub.add_parser("summary", help="per layer: shape, params, MACs, receptive field")
    q.add_argument("file", metavar="FILE")
    net_opts(q)
    q.add_argument("--depth", type=int, default=None, metavar="K",
                   help="fold layers into their first K name parts (layer1.0.conv1 -> layer1)")
    q.add_argument("--format", choices=("text", "json", "markdown"), default="text")
    q.set_defaults(func=cmd_summary)

    q = sub.add_parser("explain", help="the lecture's arithmetic for one layer")
    q.add_argument("file", metavar="FILE")
    q.add_argument("layer", metavar="LAYER")
    net_opts(q)
    q.set_defaults(func=cmd_explain)

    q = sub.add_parser(
        "diff", help="compare two versions of a file: layers, shapes, params, MACs, memory",
        description="Compare two .net files, or a file with its text at a git revision "
        "(--against REV reads it with `git show REV:path` in the file's repository; files it "
        "`use`s are read from the working tree). Reports layers added, removed, changed and "
        "renamed (matched by name), output shapes that changed, and params, MACs and peak "
        "memory per top-level block and in total.",
        epilog="exit codes: 0 compared (or, with --exit-code, no differences), 1 differences "
        "with --exit-code or errors in either file, 2 usage errors (a missing file, not a git "
        "repository, an unknown revision, a file absent at that revision)")
    q.add_argument("old", metavar="OLD", help="the old file; with --against, the file to compare")
    q.add_argument("new", metavar="NEW", nargs="?", help="the new file")
    q.add_argument("--against", metavar="REV",
                   help="compare the file with its text at this git revision (branch, tag, commit)")
    net_opts(q)
    q.add_argument("--format", choices=("text", "markdown", "json"), default="text",
                   help="markdown fits a pull-request comment; json: schema netdsl-diff/1")
    q.add_argument("--exit-code", action="store_true",
                   help="exit 1 when the networks differ, as `git diff --exit-code`")
    q.set_defaults(func=cmd_diff)

    q = sub.add_parser("compile", help="lower to an .onnx file")
    q.add_argument("file", metavar="FILE")
    net_opts(q)
    q.add_argument("-o", "--output", required=True, metavar="OUT.onnx")
    q.add_argument("--opset", type=int, default=None,
                   help="ONNX opset (default: the newest onnx and onnxruntime both support)")
    q.add_argument("--batch", type=int, default=None, help="fix the batch size (default: N)")
    q.add_argument("--seed", type=int, default=0, help="seed of the initial weights")
    q.add_argument("--init", choices=("he", "xavier"), default=None,
                   help="initialisation (default: the network's `option init`, else he)")
    q.add_argument("--weights", metavar="FILE", help=".npz or .safetensors, by parameter name")
    q.add_argument("--fully-convolutional", action="store_true",
                   help="turn the flatten -> dense head into convolutions (FCN)")
    q.add_argument("--input-size", type=_input_size, metavar="HxW",
                   help="with --fully-convolutional: the input size to compile for")
    q.set_defaults(func=cmd_compile)

    q = sub.add_parser("run", help="run a .net or .onnx model on onnxruntime")
    q.add_argument("model", metavar="MODEL")
    net_opts(q)
    q.add_argument("--input", action="append", metavar="NAME=FILE.npy",
                   help="an input array (repeatable; a bare FILE.npy for a one-input model)")
    q.add_argument("--random", action="store_true", help="random normal inputs")
    q.add_argument("--batch", type=int, default=1, help="batch size of --random inputs")
    q.add_argument("--seed", type=int, default=0, help="seed of --random and of the weights")
    q.add_argument("--provider", choices=("auto", "cpu", "cuda"), default="auto",
                   help="auto: CUDA when onnxruntime-gpu has it, else the CPU")
    q.add_argument("--top", type=int, default=0, metavar="K")
    q.add_argument("--save", metavar="DIR", help="save outputs as .npy")
    q.set_defaults(func=cmd_run)
    return p


def main(argv: Sequence[str] | None = None) -> int:
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
    except BrokenPipeError:
        return EXIT_OK
    except Exception:  # noqa: BLE001 - a bug in netdsl, not the user's mistake
        traceback.print_exc()
        print("netdsl: internal error, please report it with the input that caused it",
              file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
