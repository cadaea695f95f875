"""Every network of every zoo/*.net file, as a user meets it: `netdsl check` passes; the network
states its parameter count and the shape of an output (`expect params == N`,
`expect OUT: [...]`); its ONNX passes onnx's full checker; onnx's strict shape inference, run
without our shapes, agrees with ours on every tensor; and onnxruntime runs it on random input
(batch 1) with outputs of our shapes. A file added to zoo/ is tested without a change here.

Speed: the ONNX checks cost about 1 s per 10M parameters on two cores (weights are generated,
serialised twice and loaded by onnxruntime), so networks above HEAVY_PARAMS (the VGG family,
FCN's VGG16 backbone) get them for the smallest such network of their file only; the others
still pass `check`, the expectations test, and (for the torchvision families) the state_dict
and output comparisons of their own test files. NETDSL_ZOO_ALL=1 lowers every network.
Networks that elaborate to the same graph (`resnet` with its defaults and `resnet50`) are
lowered once.
"""

from __future__ import annotations

import dataclasses
import os
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest

import netdsl
from conftest import ROOT, ZOO, cli
from netdsl import NetdslError, syntax as s
from netdsl.elaborator import load_module
from netdsl.expectations import Compare, Metric
from netdsl.ir import Graph, InputOp
from netdsl.pipeline import Network, read_source

HEAVY_PARAMS = 100_000_000
SLOW_PARAMS = 20_000_000  # lowering a larger network takes over about 2 s: marked slow
ALL = os.environ.get("NETDSL_ZOO_ALL") == "1"
ZOO_FILES = sorted(ZOO.glob("*.net"))


def _network_names(path: Path) -> list[str | None]:
    try:
        return list(load_module(read_source(path))[1].order) or [None]
    except NetdslError:
        return [None]  # the tests below then fail with the file's diagnostics


NETWORKS = [(path, name) for path in ZOO_FILES for name in _network_names(path)]


def _id(path: Path, name: str | None) -> str:
    return f"{path.stem}:{name}"


@cache
def _network(path: Path, name: str) -> Network:
    return netdsl.load(path, name)


def _graph(path: Path, name: str) -> Graph:
    return _network(path, name).graph


def _lowered() -> list[tuple[Path, str]]:
    """The networks whose ONNX is checked: each distinct graph once; of the heavy ones, the
    smallest of each file."""
    chosen, seen, heavy = [], set(), {}
    for path, name in NETWORKS:
        try:
            g = _network(path, name) if name else None
        except NetdslError:
            g = None  # fails in test_zoo_network_checks; lowering it would say nothing more
        if g is None:
            continue
        params = tuple(sorted(map(repr, g.graph.params.items())))
        key = (path, _definition(path, name).name.id, params)
        if key in seen:
            continue
        seen.add(key)
        if g.stats.params > HEAVY_PARAMS and not ALL:
            if path not in heavy or g.stats.params < heavy[path][1]:
                heavy[path] = (name, g.stats.params)
            continue
        chosen.append((path, name))
    return chosen + [(path, name) for path, (name, _) in heavy.items()]


@cache
def _definition(path: Path, name: str) -> s.Network:
    """The `network` a name elaborates: itself, or the target of an alias."""
    ns = load_module(read_source(path))[1]
    item = ns.networks[name]
    return ns.networks[item.target.id] if isinstance(item, s.NetworkAlias) else item


# ------------------------------------------------------------------------------------ check

@pytest.mark.parametrize(("path", "name"), NETWORKS, ids=[_id(*n) for n in NETWORKS])
def test_zoo_network_checks(path, name):
    args = ["check", str(path)] + (["--network", name] if name else [])
    code, out, err = cli(*args)
    assert code == 0, err
    assert name is not None and f"{name}: ok" in out


# ----------------------------------------------------------------------------- expectations

def _walk(node: Any):
    """Every node under node (of the AST or an expectation's tree), depth first."""
    yield node
    if dataclasses.is_dataclass(node):
        for f in dataclasses.fields(node):
            yield from _walk(getattr(node, f.name))
    elif isinstance(node, tuple):
        for item in node:
            yield from _walk(item)


def _states_params(tree: Any) -> bool:
    """`params == ...` (or `... == params`): an exact count, not a bound."""
    return isinstance(tree, Compare) and tree.ops == ("==",) and any(
        isinstance(n, Metric) and n.name == "params" for n in _walk(tree))


@pytest.mark.parametrize(("path", "name"), NETWORKS, ids=[_id(*n) for n in NETWORKS])
def test_zoo_network_states_params_and_output_shapes(path, name):
    assert name is not None, f"{path.name} does not parse or defines no network"
    graph = _graph(path, name)
    assert any(_states_params(ex.tree) for ex in graph.expectations), (
        f"{path.name}: network `{name}` states no `expect params == N`")
    shapes = {st.name.id for st in _walk(_definition(path, name).body)
              if isinstance(st, s.ExpectShape)}
    assert shapes & set(graph.outputs), (
        f"{path.name}: network `{name}` states the shape of none of its outputs "
        f"({', '.join(graph.outputs)}): write `expect {next(iter(graph.outputs))}: [...]`")


# ------------------------------------------------------------------------------------- ONNX

def _onnx_names(graph: Graph) -> dict[str, tuple[Any, ...]]:
    """Our shape of every tensor, by its ONNX name: a layer's value is named after the layer,
    except that the first output naming a layer's value gives it that name."""
    rename: dict[str, str] = {}
    for out, node in graph.outputs.items():
        if not isinstance(graph.node(node).op, InputOp):
            rename.setdefault(node, out)
    shapes = {rename.get(n.name, n.name): tuple(n.shape) for n in graph.nodes()}
    shapes.update({out: tuple(graph.node(node).shape) for out, node in graph.outputs.items()})
    return shapes


def _inferred(model: onnx.ModelProto, batch: int) -> dict[str, tuple[Any, ...] | None]:
    """onnx's strict shape inference from the inputs and weights alone: our value_info and
    output shapes are removed first, so that nothing of ours is taken on trust. The batch is
    fixed, because onnx forgets a symbolic batch where it resizes other axes (Resize with
    `axes` infers `unk__0`), and an unknown dim would prove nothing either way. Data propagation
    is on: at opset 17 (before Resize had `axes`) a resize to a size computes its `sizes` from
    the input's Shape, which onnx follows only so. Large weights become graph inputs of their
    shape: inference needs their shapes, not 500 MB of values."""
    g = model.graph
    small = [t for t in g.initializer if np.prod(t.dims) < 4096]
    large = [onnx.helper.make_tensor_value_info(t.name, t.data_type, list(t.dims))
             for t in g.initializer if np.prod(t.dims) >= 4096]
    inputs = []
    for inp in g.input:
        fixed = onnx.ValueInfoProto()
        fixed.CopyFrom(inp)
        fixed.type.tensor_type.shape.dim[0].dim_value = batch
        inputs.append(fixed)
    outputs = [onnx.helper.make_tensor_value_info(o.name, o.type.tensor_type.elem_type, None)
               for o in g.output]
    bare = onnx.helper.make_model(
        onnx.helper.make_graph(g.node, g.name, inputs + large, outputs, small),
        opset_imports=model.opset_import, ir_version=model.ir_version)
    inferred = onnx.shape_inference.infer_shapes(bare, strict_mode=True, data_prop=True).graph
    # a learned tensor (`param`) is a weight: its shape is the initializer's, not inferred
    shapes: dict[str, tuple[Any, ...] | None] = {t.name: tuple(t.dims) for t in small}
    for vi in (*inferred.input, *inferred.value_info, *inferred.output):
        t = vi.type.tensor_type
        shapes[vi.name] = tuple(d.dim_value if d.HasField("dim_value") else d.dim_param
                                for d in t.shape.dim) if t.HasField("shape") else None
    return shapes


LOWERED = _lowered()


@pytest.mark.parametrize(("path", "name"), [
    pytest.param(path, name, id=_id(path, name),
                 marks=pytest.mark.slow if _network(path, name).stats.params > SLOW_PARAMS else ())
    for path, name in LOWERED])
def test_zoo_network_lowers_to_valid_onnx_that_runs(path, name):
    graph = _graph(path, name)
    # NOTE: a network with named input sizes is compiled at its built ones (`--set H=..`), so
    # that every shape is a number to compare; its one model for all sizes: test_dynamic.py
    model = netdsl.compile(path, name, params=graph.sizes)
    onnx.checker.check_model(model, full_check=True)

    batch = 2
    theirs = _inferred(model, batch)
    ours = {k: tuple(batch if isinstance(d, str) else d for d in v)
            for k, v in _onnx_names(graph).items()}
    differ = {k: (v, theirs.get(k)) for k, v in ours.items() if theirs.get(k) != v}
    assert not differ, f"(ours, onnx) differ on {len(differ)} tensors: {list(differ.items())[:5]}"

    outputs = netdsl.run(model, batch=1)
    assert list(outputs) == list(graph.outputs)
    for out, node in graph.outputs.items():
        want = tuple(1 if isinstance(d, str) else d for d in graph.node(node).shape)
        assert outputs[out].shape == want
        assert np.isfinite(outputs[out]).all(), f"{out} has NaN or inf"



def test_readme_zoo_table_is_current():
    from gendocs import readme_with_zoo
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert readme == readme_with_zoo(readme), "run `python tools/gendocs.py zoo` and commit"


@pytest.mark.parametrize("path,name", NETWORKS, ids=[_id(p, n) for p, n in NETWORKS])
def test_zoo_expectations_follow_the_class_count(path, name):
    """`--set classes=7` changes the head; every expectation must still hold, so the published
    counts are written as the count at the default plus the head's share per class."""
    if name is None or "classes" not in _graph(path, name).params:
        pytest.skip("no `classes` parameter")
    graph = netdsl.load(path, name, params={"classes": 7}).graph
    assert any(graph.node(o).shape[1] == 7 for o in graph.outputs.values())
