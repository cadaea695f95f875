"""The commands that write or run (cli stage): fmt, compile, import, run and lsp. Arguments → the
files they write, the model they run, the server they serve; heavy modules (onnx, onnxruntime,
numpy) are imported inside the commands that need them."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

from netdsl.cli.base import EXIT_ERRORS, EXIT_OK, _emit, _params, _sizes, _Usage
from netdsl.diagnostics import NetdslError
from netdsl.limits import MAX_BATCH
from netdsl.options import SEEDS, CompileOptions


def _lines(text: str) -> list[str]:
    """The lines of a text, each with its end: only `\n` ends one, as `patch` reads a file
    (str.splitlines ends lines at a form feed, among others)."""
    return re.findall(r"[^\n]*\n|[^\n]+\Z", text)


def cmd_fmt(a: argparse.Namespace) -> int:
    """Rewrite files in the canonical layout (`-`: standard input to standard output);
    --check/--diff only report."""
    from netdsl.checkrun import PathError, expand
    from netdsl.files import atomic
    if "-" in a.files:
        if a.files != ["-"]:
            raise _Usage("fmt -: standard input stands alone, without files")
        raw = sys.stdin.buffer.read().decode("utf-8", errors="replace")
        result = _reformat(raw, "<stdin>", a)
        if result is None:
            return EXIT_ERRORS
        if not (a.check or a.diff):
            sys.stdout.write(result[1])
        return EXIT_ERRORS if result[0] and (a.check or a.diff) else EXIT_OK
    try:
        paths = expand(a.files)
    except PathError as e:
        raise _Usage(str(e)) from None
    changed, failed = [], False
    for path in paths:
        try:
            with open(path, encoding="utf-8", newline="") as f:
                raw = f.read()
        except (OSError, UnicodeDecodeError) as e:
            raise _Usage(f"{path}: cannot read: {getattr(e, 'strerror', None) or e}") from None
        result = _reformat(raw, path, a)
        if result is None:
            failed = True
        elif result[0]:
            changed.append(path)
            if not (a.check or a.diff):
                with atomic(Path(path)) as (tmp,):  # a symlink's target, not the link
                    tmp.write_text(result[1], encoding="utf-8", newline="")
                print(f"reformatted {path}", file=sys.stderr)
    if failed:
        return EXIT_ERRORS
    return EXIT_ERRORS if changed and (a.check or a.diff) else EXIT_OK


def _reformat(raw: str, path: str, a: argparse.Namespace) -> tuple[bool, str] | None:
    """Whether the text `raw` changes, and it formatted, with its own line ends and byte order
    mark (a Windows file stays one); None where it does not parse (the diagnostics shown).
    With --diff, prints the diff; with --check or --diff, says it would change."""
    import difflib

    from netdsl.fmt import format_source
    bom = "\ufeff" if raw.startswith("\ufeff") else ""
    text = raw[len(bom):].replace("\r\n", "\n").replace("\r", "\n")  # as read_text()
    newline = "\r\n" if "\r\n" in raw else "\n"
    try:
        new = format_source(text, path)
    except NetdslError as e:
        _emit(e.diagnostics)
        return None
    if new == text:
        return False, raw
    if a.diff:  # NOTE: the lines with the file's own ends, as it is and as it would be
        for line in difflib.unified_diff(
                _lines(raw[len(bom):]), _lines(new.replace("\n", newline)),
                f"{path} (original)", f"{path} (formatted)"):
            # the last line of a file without a final newline, marked as `diff -u` does
            end = "" if line.endswith("\n") else "\n\\ No newline at end of file\n"
            sys.stdout.write(line + end)
    if a.check or a.diff:
        print(f"would reformat {path}", file=sys.stderr)
    return True, bom + new.replace("\n", newline)


def _check_batch_seed(batch: int | None, seed: int) -> None:
    if batch is not None and batch > MAX_BATCH:
        raise _Usage(f"--batch must be at most {MAX_BATCH}")
    if not 0 <= seed < SEEDS:
        raise _Usage(f"--seed must be 0 to 2**32 - 1 = {SEEDS - 1}")


def _not_stdout(output: str | None, command: str, suffix: str) -> None:
    if output == "-":  # NOTE: not a file named `-`, which the user would not look for
        raise _Usage(f"-o -: {command} writes a file, not stdout; give a file name such as "
                     f"model{suffix}")


def cmd_compile(a: argparse.Namespace) -> int:
    from netdsl import files
    from netdsl.pipeline import SizeConflict, check_source, lower, read_source, size_params
    if a.batch is not None and a.batch < 1:
        raise _Usage("--batch must be at least 1")
    _check_batch_seed(a.batch, a.seed)
    if a.rename and not a.weights:
        raise _Usage("--rename needs --weights")
    if not a.output and not a.triton_repo:
        raise _Usage("give -o OUT.onnx, --triton-repo DIR, or both")
    _not_stdout(a.output, "compile", ".onnx")
    _check_triton_flags(a)
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
            sizes = size_params(checked.graph, a.input_size, _params(a.set))
        except SizeConflict as e:
            raise _Usage(f"--set {e.name}={e.value} and --input-size "
                         f"{'x'.join(map(str, a.input_size))} disagree; give one") from None
        except ValueError as e:
            raise _Usage(f"--input-size {e}") from None
        checked = check_source(read_source(src, a.root), a.network, {**_params(a.set), **sizes})
    triton = lower(checked, options) if a.triton_repo else None  # NOTE: in memory: the entry
    if triton is not None and a.dynamic_batching:
        from netdsl.serving import batch_varies
        if not batch_varies(triton[1]):  # NOTE: before -o is written
            raise _Usage("--dynamic-batching needs a batch that varies: the model's first axis "
                         "is fixed in the .net (declare it N)")
    if out is not None:
        files.check_writable(out, [Path(f) for f in checked.files])  # NOTE: what `use`s read
        lowered, written = lower(checked, options, out)  # stream.write: no onnx
        _emit(lowered.stats.warnings)
        print(f"{out}: {lowered.graph.name}, opset {written.opset}, "
              f"{lowered.stats.params:,} params, {len(written.nodes)} ONNX nodes")
    if triton is not None:
        from netdsl import serving
        if out is None:
            _emit(triton[0].stats.warnings)
        name = triton[0].graph.name
        entry = serving.write_repository(triton[1], Path(a.triton_repo), name,
                                         8 if a.max_batch is None else a.max_batch,
                                         a.dynamic_batching)
        print(f"{entry}: Triton model {name} (onnxruntime_onnx, version 1)")
    return EXIT_OK


def _check_triton_flags(a: argparse.Namespace) -> None:
    """--max-batch and --dynamic-batching shape the Triton entry of a model whose batch varies:
    a usage error where they would be dropped."""
    for flag, given in (("--max-batch", a.max_batch is not None),
                        ("--dynamic-batching", a.dynamic_batching)):
        if given and not a.triton_repo:
            raise _Usage(f"{flag} applies to the Triton entry: add --triton-repo DIR")
        if given and a.batch is not None:
            raise _Usage(f"{flag} needs a batch that varies: Triton joins requests only for a "
                         "model whose first axis is N; drop --batch")
    if a.max_batch is not None and a.max_batch < 1:
        raise _Usage("--max-batch must be at least 1")


def cmd_import(a: argparse.Namespace) -> int:
    from netdsl import export, files, importer, weights
    from netdsl.pipeline import check_source
    from netdsl.source import Source
    _not_stdout(a.output, "import", ".net")
    out, src = Path(a.output), Path(a.model)
    w_out = Path(a.weights) if a.weights else None
    if w_out is not None and w_out.suffix.lower() not in (".npz", ".safetensors"):
        raise _Usage(f"--weights {w_out}: give a .npz or .safetensors file name")
    if w_out is not None and w_out.resolve() == out.resolve():
        raise _Usage(f"--weights {w_out} is the -o file too; give each its own name")
    files.check_writable(out, [src], example="model.net")
    if w_out is not None:
        files.check_writable(w_out, [src, out])
    imported = importer.import_model(export.load(src), a.network, src.name)
    # NOTE: checked before anything is written: an importer bug is never a broken .net on disk
    if imported.sizes:  # checked at an example size, then written in as it checked
        imported, net = _with_example(imported, out, src)
    else:
        net = check_source(Source(str(out), imported.text, str(out.parent.resolve())))
    targets = [out] + ([w_out] if w_out is not None else [])
    with files.atomic(*targets) as temps:
        temps[0].write_text(imported.text, encoding="utf-8")
        if w_out is not None:
            with files.open_temp(temps[1]) as f:
                f.write(weights.encode(imported.weights, w_out.suffix))
    if imported.renamed:
        print("note: inputs and outputs renamed in the program (a keyword, not an "
              "identifier, or a name taken): "
              + ", ".join(f"{a} -> {b}" for a, b in imported.renamed)
              + "; a model compiled from it has the new names", file=sys.stderr)
    print(f"{out}: {net.graph.name}, {imported.layers} layers in "
          f"{len(imported.text.splitlines())} lines, {net.stats.params:,} params"
          + (f"; weights in {w_out}" if w_out is not None else ""))
    return EXIT_OK


def _with_example(imported: Any, out: Path, src: Path) -> tuple[Any, Any]:
    """An imported model for every input size (torch's dynamic axes): its program with an
    example at the first of importer.EXAMPLE_SIZES where it checks, and the network checked
    there; E407 where it checks at none (without one, the check would be E219 about a file not
    written)."""
    from netdsl import importer
    from netdsl.diagnostics import error
    from netdsl.ops.base import fmt_shape
    from netdsl.pipeline import check_source
    from netdsl.source import Source
    for size in importer.EXAMPLE_SIZES:
        at = dict.fromkeys(imported.sizes, size)
        try:
            net = check_source(Source(str(out), imported.text, str(out.parent.resolve())),
                               None, at)
        except NetdslError:
            continue
        return importer.with_example(imported, {name: fmt_shape(net.graph.node(node).shape or ())
                                                for name, node in net.graph.outputs.items()},
                                     at), net
    raise NetdslError([error("E407", f"{src.name}: the input sizes {', '.join(imported.sizes)} "
                             "vary (dynamic axes), and the network checks at none of "
                             f"{', '.join(map(str, importer.EXAMPLE_SIZES))}", hints=[
                                 "export the model at a fixed size (dynamic axes for the batch "
                                 "only)"])])


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
    if (a.batch is not None and a.batch < 1) or a.top < 0:
        raise _Usage("--batch must be at least 1 and --top at least 0")
    if a.batch is not None and a.input:
        raise _Usage("--batch is the batch of --random inputs; --input arrays bring their own")
    _check_batch_seed(a.batch, a.seed)
    path = Path(a.model)
    model: Any
    if files.is_onnx(path):
        if a.network:
            raise _Usage(f"--network {a.network}: an .onnx model has no networks to choose from")
        if not path.exists():  # NOTE: exit 2, as for any missing file (README's exit codes)
            raise _Usage(f"{path}: no such file")
        export.check_file(path)
        model = path  # onnxruntime reads it, external data included
    else:
        model = compile_source(read_source(path, a.root), a.network, _params(a.set),
                               CompileOptions(seed=a.seed))[1]
    if a.save:
        files.check_dir(Path(a.save), "--save")
    session = runtime.Session(model, a.provider)
    given = _onnx_sizes(a.set, session.inputs) if files.is_onnx(path) else {}
    fixed = {p.shape[0] for p in session.inputs if p.shape and isinstance(p.shape[0], int)}
    if a.batch is not None and fixed and fixed != {a.batch}:
        raise _Usage(f"--batch {a.batch}: the model's batch is fixed at "
                     f"{', '.join(map(str, sorted(fixed)))} (compiled with --batch); "
                     "compile it without --batch for a batch of your choice")
    if session.note:
        print(f"note: {session.note}", file=sys.stderr)
    sizes = session.example_sizes  # a model for every size: --set H=.. on an .onnx picks one
    sizes.update(given)
    feeds = (runtime.read_inputs(a.input, session.inputs) if a.input
             else runtime.random_inputs(session.inputs, a.batch or 1, a.seed, sizes))
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


def _onnx_sizes(pairs: list[str] | None, ports: list[Any]) -> dict[str, int]:
    """--set on an .onnx model: sizes that vary in its inputs (a model for every size), by
    name; a usage error for any other name (a network parameter is set in the .net file)."""
    given = _sizes(pairs)
    varying = sorted({d for p in ports for d in p.shape[1:] if isinstance(d, str) and d})
    for name in given:
        if name not in varying:
            raise _Usage(f"--set {name}=...: the model has no size {name} that varies; " + (
                f"its sizes that do: {', '.join(varying)}" if varying
                else "every size of its inputs but the batch is fixed"))
    return given


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
