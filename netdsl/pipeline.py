"""The whole compiler, one line per stage: text → AST → checked graph → stats → ONNX."""

from __future__ import annotations

import dataclasses
import gc
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

from netdsl import syntax
from netdsl.analysis import Stats, analyze
from netdsl.diagnostics import Diagnostic, NetdslError
from netdsl.elaborator import Namespace, UnmetShapes, build, load_module, read_text
from netdsl.ir import Graph
from netdsl.options import CompileOptions, Weights
from netdsl.record import Record, record
from netdsl.source import Source, Span

if TYPE_CHECKING:
    import numpy as np
    import onnx

    from netdsl import export


@record
class Network(Record):
    """A checked network: its graph (the IR, every shape inferred) and its stats (params, MACs,
    receptive fields, memory, warnings). What netdsl.load and netdsl.loads return."""

    graph: Graph
    stats: Stats
    files: tuple[str, ...] = ()  # the files its source `use`s (resolved): inputs of a compile
    given: frozenset[str] = frozenset()  # named input sizes given from outside (--set H=572)
    symbolic: Any = None  # anysize.Symbolic where derived to check examples (else None)

    @property
    def name(self) -> str:
        return self.graph.name


def read_source(path: str | os.PathLike[str],
                root: str | os.PathLike[str] | None = None) -> Source:
    """The Source of a .net file; a file that cannot be read is E001. `root`: the folder its
    `use` lines may read in and below (default: the file's own folder)."""
    return Source(str(path), read_text(Path(path)), str(Path(root or Path(path).parent).resolve()))


def check_source(source: Source, network: str | None = None,
                 params: Mapping[str, Any] | None = None) -> Network:
    """Parse, elaborate, infer shapes, analyse and evaluate `expect` lines; raises NetdslError."""
    module, namespace = load_module(source)            # parse/ + use   (syntax, imports)
    return _check(module, namespace, network, params)


def _check(module: syntax.Module, namespace: Namespace, network: str | None,
           params: Mapping[str, Any] | None, example: Span | None = None) -> Network:
    found: list[Diagnostic] = []
    try:
        with _gc_paused():
            graph = build(module, namespace, network, dict(params or {}),  # elaborator: AST → IR
                          example=example)
    except UnmetShapes as e:  # NOTE: the graph is whole: its other `expect` lines are checked too
        graph, found = e.graph, list(e.diagnostics)
    except NetdslError as e:  # NOTE: an E302 names the nearest input sizes that fit (sizes.py)
        if not any(d.code == "E302" for d in e.diagnostics):
            raise
        from netdsl.sizes import with_size_hint
        raise with_size_hint(e, module, namespace, network, params) from None
    with _gc_paused():
        stats = analyze(graph)                          # analysis.py: params, MACs, RF, memory
        found += _expectations(graph, stats)            # expect_check.py: after analysis
    sym = None
    if graph.examples:                                  # anysize.py: examples at other sizes
        sym = _examples(module, namespace, network, params, graph, found)
    if found:  # the build's E304/E305, the `expect` lines' and the examples', in source order
        raise NetdslError(_in_order(found))
    given = frozenset(k for k in params or {} if k in graph.sizes)
    return Network(graph, stats, tuple(namespace.files), given, sym)


def _in_order(found: list[Diagnostic]) -> list[Diagnostic]:
    """Diagnostics by where they point: in one file by position, the files in the order they
    first come (one without a place after those of the files seen before it)."""
    files: dict[str, int] = {}
    def key(d: Diagnostic) -> tuple[int, int]:
        span = d.primary.span if d.primary else None
        if span is None or span.source is None:
            return (len(files), 0)
        return (files.setdefault(span.source.path, len(files)), span.start)
    return sorted(found, key=key)


def _expectations(graph: Graph, stats: Stats) -> list[Diagnostic]:
    """The `expect` lines' pass, which reads the stats. NOTE: imported by a source that has such
    lines alone (with expectations.py, ~10 ms of a cold start)."""
    if graph.expectations:
        from netdsl.expect_check import check_expectations
        try:
            check_expectations(graph, stats)
        except NetdslError as e:
            return list(e.diagnostics)
    return []


def _examples(module: syntax.Module, namespace: Namespace, network: str | None,
              params: Mapping[str, Any] | None, graph: Graph, found: list[Diagnostic]) -> Any:
    """The examples at other sizes than the build's (graph.examples): each holds where the
    symbolic shapes (anysize.py) give its shape at its sizes; else (no formula there, or another
    shape, or a build that read the sizes, `conv(x.height // 4, 3)`) a build at its sizes decides.
    Of that build's errors, its E305 and those that are no expectation's go into `found`.
    Returns the symbolic shapes (`check` prints them)."""
    from netdsl.anysize import derive
    sym = derive(graph)  # NOTE: a build that read the sizes pins: no formula past the read
    seen: set[tuple[str, str, tuple[str, int, int] | None]] = set()  # a build's, once
    for ex in graph.examples:
        sizes = {**graph.sizes, **ex.at}
        if sym.shape_at(ex.node, sizes) == ex.dims:
            continue
        try:
            _check(module, namespace, network, {**(params or {}), **sizes}, ex.span)
        except NetdslError as e:
            at = ", ".join(f"{k} = {v}" for k, v in sizes.items())
            note = f"found building at the sizes of the example at {ex.span.where()}: {at}"
            for d in e.diagnostics:
                if ex.span.covers(d.primary.span if d.primary else None):
                    found.append(d)
                elif d.code not in ("E304", "E305") and (  # NOTE: those state the first's sizes
                        (d.code, d.message, d.location()) not in seen):
                    seen.add((d.code, d.message, d.location()))
                    found.append(dataclasses.replace(d, notes=(*d.notes, note)))
    return sym


@contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while a graph is built and analysed: what they allocate stays
    alive, and each full collection rescans all of it, a cost that grows with the network (25%
    more time per layer at 40k layers than at 1k). Collection resumes after, as it was."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


class SizeConflict(ValueError):
    """A size given by name (`--set H=36`, `params={"H": 36}`) that the input size binds to
    another value; the caller words it in its own terms (flags or keywords)."""

    def __init__(self, name: str, value: Any):
        super().__init__(name, value)
        self.name, self.value = name, value


def size_params(graph: Graph, size: tuple[int, ...],
                given: Mapping[str, Any] | None = None) -> dict[str, int]:
    """An input size (`--input-size HxW`, `input_size=`) without the fully convolutional rewrite:
    the named sizes of the graph's inputs (`[N, 3, H, W]`), in their order, bound to it (one
    number: every named size), as params to check the network again with. ValueError (worded to
    follow the option's name) where the inputs name no sizes or the count does not match;
    SizeConflict where `given` (the params) binds one of them to another value."""
    names = list(dict.fromkeys(d for dims in graph.declared.values() for d in dims[2:]
                               if isinstance(d, str)))
    if not names:
        raise ValueError("needs the fully convolutional rewrite (--fully-convolutional, "
                         "fully_convolutional=True), or inputs that name their sizes "
                         "([N, 3, H, W])")
    if len(size) not in (1, len(names)):
        raise ValueError(f"gives {len(size)} sizes for the {len(names)} named sizes "
                         f"{', '.join(names)}")
    sizes = dict(zip(names, size * len(names) if len(size) == 1 else size))
    for name, value in (given or {}).items():
        if name in sizes and value != sizes[name]:  # NOTE: else the input size would win silently
            raise SizeConflict(name, value)
    return sizes


def network_names(source: Source) -> list[str]:
    return load_module(source)[1].order


def check_all(source: Source, network: str | None = None, params: Mapping[str, Any] | None = None
              ) -> list[tuple[str, Network | NetdslError]]:
    """`netdsl check`: every network of a file (or the one named), each checked on its own, so
    that one network's errors do not hide another's. Raises NetdslError for a file that does not
    parse or import, names no such network, or defines nothing at all. A file of blocks only
    checks as an empty list."""
    module, namespace = load_module(source)
    if network is None and not namespace.order and any(
            isinstance(item, syntax.Block) for item in module.items):
        return []
    results: list[tuple[str, Network | NetdslError]] = []
    names: list[str | None] = [network] if network else [*namespace.order] or [None]
    for name in names:
        try:
            checked = _check(module, namespace, name, params)
            results.append((checked.graph.name, checked))
        except NetdslError as e:
            if name is None or name not in namespace.networks:  # NOTE: no such network
                raise
            results.append((name, e))
    return results


def compile_source(source: Source, network: str | None = None,
                   params: Mapping[str, Any] | None = None,
                   options: CompileOptions | None = None) -> tuple[Network, onnx.ModelProto]:
    """check_source, then lower."""
    return lower(check_source(source, network, params), options or CompileOptions())


@overload
def lower(net: Network, options: CompileOptions, path: None = None
          ) -> tuple[Network, onnx.ModelProto]: ...
@overload
def lower(net: Network, options: CompileOptions, path: str | os.PathLike[str]
          ) -> tuple[Network, export.Model]: ...
def lower(net: Network, options: CompileOptions, path: str | os.PathLike[str] | None = None
          ) -> tuple[Network, onnx.ModelProto | export.Model]:
    """A checked network → ONNX; with `path`, streamed into that file (stream.write: what is
    returned then is the model as plain data, and onnx is not imported). With
    fully_convolutional, the `flatten -> dense` head becomes convolutions first (rewrite.py;
    dense weights are reshaped to kernels), re-inferred for `input_size` if given. Weights are
    read here (the one place that reads weight files) and checked against the network's
    parameters; the network that was lowered is returned too."""
    from netdsl import export, stream
    arrays, label = _weights(options.weights)
    if arrays is not None and options.rename:           # weights.py: checkpoint names renamed
        from netdsl import weights
        arrays = weights.rename(arrays, options.rename, label)
    if options.fully_convolutional:                     # rewrite.py: FC layers become convs
        from netdsl import rewrite
        graph = rewrite.fully_convolutional(net.graph, options.input_size)
        net = dataclasses.replace(net, graph=graph, stats=analyze(graph))
        if arrays is not None:
            arrays = rewrite.convert_weights(arrays, net.stats.tensors())
    if arrays is not None:
        from netdsl import weights
        found = list(net.stats.warnings)
        arrays = weights.check(arrays, net.stats.tensors(), label, found)
        net = dataclasses.replace(net, stats=dataclasses.replace(net.stats, warnings=found))
    options = dataclasses.replace(options, weights=arrays)
    dims, valid = any_size(net, options)               # anysize.py: H, W stay dim_params
    if path is not None:
        return net, stream.write(net.graph, path, options, dims=dims, valid=valid)
    return net, export.to_onnx(net.graph, options, dims, valid)


def any_size(net: Network, options: CompileOptions) -> tuple[
        dict[str, tuple[str | None, ...]] | None, dict[tuple[str, ...], list[tuple[int, int]]]]:
    """The dim_params of a model for every input size (export.Dims) and the sizes it is valid
    at (export.Valid): for a network whose inputs name their sizes (`[N, 3, H, W]`) when none
    is given (--set H=..) and no --input-size fixes them; the sizes as anysize.py derives them
    (`H - 184`). None: a model for the built size. A layer that pins the size is E301, with the
    ways to a model."""
    graph = net.graph
    named = any(isinstance(d, str) for dims in graph.declared.values() for d in dims[2:])
    if not named or net.given or options.input_size:
        return None, {}
    from netdsl import anysize
    from netdsl.diagnostics import error
    from netdsl.symbolic import Expr
    sym = anysize.derive(graph)
    if sym.pin is not None:
        sizes = " ".join(f"--set {k}={v}" for k, v in graph.sizes.items())
        raise NetdslError([error(
            "E301", str(sym.pin), sym.pin.span,
            "needs a fixed size", hints=[
                f"compile it for one size: {sizes}",
                "or, for a `flatten -> dense` head, --fully-convolutional makes it convolutions"
                if not options.fully_convolutional and "for its weights" in sym.pin.reason
                else ""])])
    valid = {group: [(p.first, p.step) for p in v.progressions]
             for group, v in zip(sym.groups, sym.valid) if v is not None}
    return {name: tuple(sym.text(d) if isinstance(d, Expr) else None for d in shape)
            for name, shape in sym.shapes.items() if any(isinstance(d, Expr) for d in shape)}, valid


def _weights(given: Weights | None) -> tuple[Mapping[str, np.ndarray] | None, str]:
    """The arrays of `--weights` (a file is read here) and the name messages call them by."""
    if isinstance(given, (str, os.PathLike)):
        from netdsl import weights
        return weights.read(Path(given)), str(given)
    return given, "weights"
