"""The whole compiler, one line per stage: text → AST → checked graph → stats → ONNX."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from netdsl import syntax
from netdsl.analysis import Stats, analyze
from netdsl.diagnostics import NetdslError
from netdsl.elaborator import Namespace, build, load_module, read_text
from netdsl.expectations import check_expectations
from netdsl.ir import Graph
from netdsl.source import Source

if TYPE_CHECKING:
    import onnx


@dataclass
class Checked:
    graph: Graph
    stats: Stats


def source_of(path_or_text: str | Path) -> Source:
    """A Source from a path (a Path, or a str on one line without `{`: every network has one)
    or from .net text; a path that cannot be read is E001."""
    if isinstance(path_or_text, Path) or ("\n" not in path_or_text
                                          and "{" not in path_or_text):
        return Source(str(path_or_text), read_text(path_or_text))
    return Source("<string>", path_or_text)


def check_source(source: Source, network: str | None = None,
                 params: dict[str, Any] | None = None) -> Checked:
    """Parse, elaborate, infer shapes, analyse and evaluate `expect` lines; raises NetdslError."""
    module, namespace = load_module(source)            # parse.py + use  (syntax, imports)
    return _check(module, namespace, network, params)


def _check(module: syntax.Module, namespace: Namespace, network: str | None,
           params: dict[str, Any] | None) -> Checked:
    graph = build(module, namespace, network, params)  # elaborator/: AST → IR with shapes
    stats = analyze(graph)                              # analysis.py: params, MACs, RF, memory
    check_expectations(graph, stats)                    # NOTE: after analysis, which they read
    return Checked(graph, stats)


def network_names(source: Source) -> list[str]:
    return load_module(source)[1].order


def check_all(source: Source, network: str | None = None, params: dict[str, Any] | None = None
              ) -> list[tuple[str, Checked | NetdslError]]:
    """`netdsl check`: every network of a file (or the one named), each checked on its own, so
    that one network's errors do not hide another's. Raises NetdslError for a file that does not
    parse or import, names no such network, or defines nothing at all. A file of blocks only
    checks as an empty list."""
    module, namespace = load_module(source)
    if network is None and not namespace.order and any(
            isinstance(item, syntax.Block) for item in module.items):
        return []
    results: list[tuple[str, Checked | NetdslError]] = []
    names: list[str | None] = [network] if network else [*namespace.order] or [None]
    for name in names:
        try:
            checked = _check(module, namespace, name, params)
            results.append((checked.graph.name, checked))
        except NetdslError as e:
            if name is None:
                raise
            results.append((name, e))
    return results


def compile_source(source: Source, network: str | None = None,
                   params: dict[str, Any] | None = None, fully_convolutional: bool = False,
                   input_size: tuple[int, ...] | None = None, **options: Any) -> tuple[Checked,
                                                                                 onnx.ModelProto]:
    """check_source, then lowering; options go to export.to_onnx (opset, batch, seed, init,
    weights: a name -> array mapping, checked against the graph's parameters). With
    fully_convolutional, the `flatten -> dense` head becomes convolutions first (rewrite.py;
    dense weights are reshaped to kernels), re-inferred for `input_size` if given."""
    from netdsl import export, weights
    checked = check_source(source, network, params)
    if fully_convolutional:                             # rewrite.py: FC layers become convs
        from netdsl import rewrite
        graph = rewrite.fully_convolutional(checked.graph, input_size)
        checked = Checked(graph, analyze(graph))
        if options.get("weights") is not None:
            options["weights"] = rewrite.convert_weights(options["weights"],
                                                         checked.stats.tensors())
    if options.get("weights") is not None:
        options["weights"] = weights.check(options["weights"], checked.stats.tensors(),
                                           options.pop("weights_path", "weights"))
    options.pop("weights_path", None)
    return checked, export.to_onnx(checked.graph, **options)
