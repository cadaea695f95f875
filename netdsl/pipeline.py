"""The whole compiler, one line per stage: text → AST → checked graph → stats → ONNX."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from netdsl.analysis import Stats, analyze, check_expectations
from netdsl.build import build, load_module, read_text
from netdsl.ir import Graph
from netdsl.source import Source

if TYPE_CHECKING:
    import onnx


@dataclass
class Checked:
    graph: Graph
    stats: Stats


def source_of(path_or_text: str | Path) -> Source:
    """A Source from a path (str or Path naming an existing file, or ending in .net) or from text."""
    if isinstance(path_or_text, Path) or (
            "\n" not in path_or_text and "{" not in path_or_text
            and (path_or_text.endswith(".net") or Path(path_or_text).exists())):
        return Source(str(path_or_text), read_text(path_or_text))
    return Source("<string>", path_or_text)


def check_source(source: Source, network: str | None = None,
                 params: dict[str, Any] | None = None) -> Checked:
    """Parse, elaborate, infer shapes, analyse and evaluate `expect` lines; raises NetdslError."""
    module, namespace = load_module(source)            # parse.py + use  (syntax, imports)
    graph = build(module, namespace, network, params)  # build.py: AST → IR with shapes
    stats = analyze(graph)                              # analysis.py: params, MACs, RF, memory
    check_expectations(graph, stats)                    # NOTE: after analysis, which they read
    return Checked(graph, stats)


def network_names(source: Source) -> list[str]:
    return load_module(source)[1].order


def compile_source(source: Source, network: str | None = None,
                   params: dict[str, Any] | None = None, **options: Any) -> tuple[Checked,
                                                                                 onnx.ModelProto]:
    """check_source, then lowering; options go to export.to_onnx (opset, batch, seed, init,
    weights: a name -> array mapping, checked against the graph's parameters)."""
    from netdsl import export, weights
    checked = check_source(source, network, params)
    if options.get("weights") is not None:
        options["weights"] = weights.check(options["weights"], checked.stats.tensors(),
                                           options.pop("weights_path", "weights"))
    options.pop("weights_path", None)
    return checked, export.to_onnx(checked.graph, **options)
