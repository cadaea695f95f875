"""The zoo's modern CNNs against their references. GoogLeNet, MobileNetV2 and EfficientNet-B0
against torchvision's models, built inside each test: the same state_dict (names, shapes, order),
the same parameter count, and the same output with the same weights. GoogLeNet's paper network
against the paper's Table 1, row by row (without torch). And the language features these files
rely on."""

from __future__ import annotations

import math
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

import netdsl
from conftest import ZOO, rendered
from torchvision_ref import assert_same_tensors, compare_outputs, randomize_bn

if TYPE_CHECKING:
    import torch

# ------------------------------------------------------------------------ torchvision references


def _googlenet(tvm: ModuleType) -> torch.nn.Module:
    # The auxiliary classifiers run only in training; transform_input is off by default.
    return tvm.googlenet(weights=None, aux_logits=False, init_weights=True,
                         transform_input=False)


# each builds its model from torchvision.models
MODELS: list[tuple[str, str, Callable[[ModuleType], torch.nn.Module]]] = [
    ("googlenet.net", "googlenet", _googlenet),
    ("mobilenet_v2.net", "mobilenet_v2", lambda tvm: tvm.mobilenet_v2(weights=None)),
    ("efficientnet_b0.net", "efficientnet_b0", lambda tvm: tvm.efficientnet_b0(weights=None)),
]
IDS = [network for _, network, _ in MODELS]


def _reference(make: Callable[[ModuleType], torch.nn.Module], seed: int = 0) -> torch.nn.Module:
    """torchvision's model, seeded, in eval mode, with random BN statistics and affine terms so
    that every batch norm does something (fresh ones are the identity)."""
    import torch
    import torchvision.models as tvm
    torch.manual_seed(seed)
    return randomize_bn(make(tvm).eval(), seed + 1)


@pytest.mark.parametrize("path,network,make", MODELS, ids=IDS)
def test_state_dict_equals_torchvision(path: str, network: str, make: Any,
                                       torchvision: ModuleType) -> None:
    model = _reference(make)
    assert_same_tensors(ZOO / path, network, model, ordered=True)  # and the parameter count


@pytest.mark.slow
@pytest.mark.parametrize("path,network,make", MODELS, ids=IDS)
def test_output_equals_torchvision(path: str, network: str, make: Any, torch: ModuleType,
                                   torchvision: ModuleType) -> None:
    model = _reference(make)
    x = np.random.default_rng(1).standard_normal((2, 3, 224, 224)).astype(np.float32)
    with torch.no_grad():
        scale = model(torch.from_numpy(x)).abs().max().item()
    assert scale > 1e-3, "a degenerate reference output would make the comparison vacuous"
    assert compare_outputs(ZOO / path, network, model, (2, 3, 224, 224), seed=1) <= 1e-4


# ------------------------------------------------------------- the papers' tables and costs

# The output of each row of the papers' architecture tables, read off the next row's input
# column: MobileNetV2 (Sandler et al. 2018, Table 2: conv2d, 7 bottleneck rows, conv2d 1x1,
# avgpool) and EfficientNet-B0 (Tan & Le 2019, Table 1: 9 stages). A row of n layers ends at its
# last layer in torchvision's numbering.
STAGES = {
    "mobilenet_v2": [("features.0", (112, 112, 32)), ("features.1", (112, 112, 16)),
                     ("features.3", (56, 56, 24)), ("features.6", (28, 28, 32)),
                     ("features.10", (14, 14, 64)), ("features.13", (14, 14, 96)),
                     ("features.16", (7, 7, 160)), ("features.17", (7, 7, 320)),
                     ("features.18", (7, 7, 1280)), ("avgpool", (1, 1, 1280))],
    "efficientnet_b0": [("features.0", (112, 112, 32)), ("features.1", (112, 112, 16)),
                        ("features.2", (56, 56, 24)), ("features.3", (28, 28, 40)),
                        ("features.4", (14, 14, 80)), ("features.5", (14, 14, 112)),
                        ("features.6", (7, 7, 192)), ("features.7", (7, 7, 320)),
                        ("features.8", (7, 7, 1280))],
}


@pytest.mark.parametrize("network", list(STAGES))
def test_stage_sizes_follow_the_paper(network: str) -> None:
    graph = netdsl.load(ZOO / f"{network}.net")
    ours = [(scope, _hwc(_last(graph, scope).shape)) for scope, _ in STAGES[network]]
    assert ours == STAGES[network]


# Multiply-adds of the convolutions and linear layers, as the papers count them, to the
# precision they print: MobileNetV2 300M (Table 4), EfficientNet-B0 0.39B "FLOPs" (Table 2,
# which counts multiply-adds). GoogLeNet's are checked row by row against its Table 1 below.
@pytest.mark.parametrize("path,network,published,digits", [
    ("mobilenet_v2.net", "mobilenet_v2", 300e6, 2),
    ("efficientnet_b0.net", "efficientnet_b0", 0.39e9, 2),
], ids=["mobilenet_v2", "efficientnet_b0"])
def test_multiply_adds_match_the_paper(path: str, network: str, published: float,
                                       digits: int) -> None:
    graph = netdsl.load(ZOO / path, network)
    macs = sum(lay.macs for lay in graph.stats.layers if lay.op in ("conv", "dense"))
    assert float(f"{macs:.{digits}g}") == published


# --------------------------------------------------------------------- GoogLeNet's Table 1

# Szegedy et al., "Going deeper with convolutions", CVPR 2015, Table 1, as printed: type,
# patch size/stride, output size; #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj; params
# (K = 1024, as the 112K and 1000K rows show); ops (multiply-adds, M = 10^6). `layers` are the
# layer scopes of zoo/googlenet.net's `inception_v1` that make the row. The dropout row is our
# `dropout` after flatten; the softmax row is the loss's (the network returns logits).
Row = tuple[str, tuple[str, ...], tuple[int, int, int], tuple[int, ...], str, str]
TABLE_1: list[Row] = [
    ("convolution 7x7/2", ("conv1",), (112, 112, 64), (), "2.7K", "34M"),
    ("max pool 3x3/2", ("maxpool1",), (56, 56, 64), (), "", ""),
    ("convolution 3x3/1", ("conv2", "conv3"), (56, 56, 192), (64, 192), "112K", "360M"),
    ("max pool 3x3/2", ("maxpool2",), (28, 28, 192), (), "", ""),
    ("inception (3a)", ("inception3a",), (28, 28, 256), (64, 96, 128, 16, 32, 32), "159K",
     "128M"),
    ("inception (3b)", ("inception3b",), (28, 28, 480), (128, 128, 192, 32, 96, 64), "380K",
     "304M"),
    ("max pool 3x3/2", ("maxpool3",), (14, 14, 480), (), "", ""),
    ("inception (4a)", ("inception4a",), (14, 14, 512), (192, 96, 208, 16, 48, 64), "364K",
     "73M"),
    ("inception (4b)", ("inception4b",), (14, 14, 512), (160, 112, 224, 24, 64, 64), "437K",
     "88M"),
    ("inception (4c)", ("inception4c",), (14, 14, 512), (128, 128, 256, 24, 64, 64), "463K",
     "100M"),
    ("inception (4d)", ("inception4d",), (14, 14, 528), (112, 144, 288, 32, 64, 64), "580K",
     "119M"),
    ("inception (4e)", ("inception4e",), (14, 14, 832), (256, 160, 320, 32, 128, 128), "840K",
     "170M"),
    ("max pool 3x3/2", ("maxpool4",), (7, 7, 832), (), "", ""),
    ("inception (5a)", ("inception5a",), (7, 7, 832), (256, 160, 320, 32, 128, 128), "1072K",
     "54M"),
    ("inception (5b)", ("inception5b",), (7, 7, 1024), (384, 192, 384, 48, 128, 128), "1388K",
     "71M"),
    ("avg pool 7x7/1", ("avgpool",), (1, 1, 1024), (), "", ""),
    ("dropout (40%)", ("dropout",), (1, 1, 1024), (), "", ""),
    ("linear", ("fc",), (1, 1, 1000), (), "1000K", "1M"),
]
# The two rows whose printed params and ops disagree with their own shape columns.
INCONSISTENT = {"convolution 7x7/2", "inception (5a)"}


def _number(text: str) -> float:
    """"2.7K" -> 2764.8 (K = 1024), "34M" -> 34e6."""
    return float(text[:-1]) * {"K": 1024, "M": 1e6}[text[-1]]


def _kernel(row: Row) -> int:
    return int(row[0].split()[1].split("x")[0])


def _filters(row: Row, depth_in: int) -> int:
    """The row's weights, from Table 1's own columns and the depth of the row above."""
    kind, _, (_, _, depth), cols, _, _ = row
    if kind.startswith("inception"):
        c1, c3r, c3, c5r, c5, proj = cols
        return depth_in * (c1 + c3r + c5r + proj) + 9 * c3r * c3 + 25 * c5r * c5
    if kind.startswith("convolution") and cols:  # a 1x1 reduction, then the convolution
        reduce, out = cols
        return depth_in * reduce + _kernel(row) ** 2 * reduce * out
    if kind.startswith("convolution"):
        return _kernel(row) ** 2 * depth_in * depth
    return depth_in * depth if kind == "linear" else 0


def _biases(row: Row) -> int:
    """One bias per filter: Table 1 counts weights only, the paper's layers have biases."""
    kind, _, (_, _, depth), cols, _, _ = row
    if kind.startswith("inception"):
        c1, c3r, c3, c5r, c5, proj = cols
        return c1 + c3r + c3 + c5r + c5 + proj
    if kind.startswith("convolution") or kind == "linear":
        return sum(cols) if cols else depth
    return 0


@pytest.fixture(scope="module")
def paper_net() -> Any:
    return netdsl.load(ZOO / "googlenet.net", "inception_v1")


def _layers(graph: Any, row: Row) -> list[Any]:
    scopes = row[1]
    return [lay for lay in graph.stats.layers
            if any(lay.name == s or lay.name.startswith(s + ".") for s in scopes)]


def _last(graph: Any, scope: str) -> Any:
    return [lay for lay in graph.stats.layers
            if lay.name == scope or lay.name.startswith(scope + ".")][-1]


def _hwc(shape: tuple[Any, ...]) -> tuple[int, int, int]:
    return (1, 1, shape[1]) if len(shape) == 2 else (shape[2], shape[3], shape[1])


def _depths_in() -> list[int]:
    return [3] + [row[2][2] for row in TABLE_1[:-1]]


def test_table1_output_size_of_every_row(paper_net: Any) -> None:
    ours = [_hwc(_layers(paper_net, row)[-1].shape) for row in TABLE_1]
    assert ours == [row[2] for row in TABLE_1]


def test_table1_weights_of_every_row_follow_its_columns(paper_net: Any) -> None:
    """Params per row, from the table's #1x1 ... pool proj columns (the 5x5 branch really 5x5)."""
    for row, depth_in in zip(TABLE_1, _depths_in()):
        ours = sum(math.prod(lay.param_shapes["weight"]) for lay in _layers(paper_net, row)
                   if "weight" in lay.param_shapes)
        assert ours == _filters(row, depth_in), row[0]


def test_table1_total_parameters(paper_net: Any) -> None:
    """The network's parameters are the table's weights and one bias per filter."""
    rows = list(zip(TABLE_1, _depths_in()))
    total = sum(_filters(row, d) + _biases(row) for row, d in rows)
    assert paper_net.stats.params == total


def test_table1_ops_column_disagrees_only_in_conv1_and_5a(paper_net: Any) -> None:
    """The ops column is our multiply-accumulate count of the row's convolutions and linear layer,
    rounded to 1M, in every row but two. In those two, the printed params and ops agree with each
    other (ops = params x output area) but not with the row's own shapes:
    - conv1: a 7x7 convolution from 3 to 64 channels has 7*7*3*64 = 9,408 weights (9.2K) and
      118M multiply-adds on 112x112, not 2.7K and 34M (2.7K x 112^2 = 34.7M);
    - inception (5a): its columns give 1,042,432 weights (1018K) and 51.1M on 7x7, not 1072K and
      54M (1072K x 7^2 = 53.8M). 4e has the same columns on a 528-deep input (867,328 weights);
      5a's 832-deep input adds (832 - 528) x (256 + 160 + 32 + 128) = 175,104 to that."""
    disagree = set()
    for row, depth_in in zip(TABLE_1, _depths_in()):
        kind, _, (h, w, _), _, params, ops = row
        if not ops:
            continue
        macs = sum(lay.macs for lay in _layers(paper_net, row) if lay.op in ("conv", "dense"))
        if abs(macs / 1e6 - _number(ops) / 1e6) >= 1:
            disagree.add(kind)
            assert _number(params) * h * w == pytest.approx(_number(ops), rel=0.03), kind
            assert abs(_number(params) - _filters(row, depth_in)) > 0.02 * _filters(row, depth_in)
    assert disagree == INCONSISTENT


# ---------------------------------------------------------- what the zoo asks of the language

SEQUENTIAL = """
block conv_bn(x, out) {
  return x -> conv(out, 3, pad: 1, bias: false) -> bn -> relu
}
block act(x) {
  return x -> relu
}
network t {
  input image: [N, 3, 8, 8]
  features = image -> conv_bn(4) -> conv_bn(8) * 2 -> act
  features -> output y
}
"""


def test_a_block_that_returns_a_chain_numbers_its_layers_like_a_sequential() -> None:
    graph = netdsl.loads(SEQUENTIAL)
    assert list(graph.stats.tensors()) == [
        f"features.{i}.{j}.{suffix}" for i in range(3) for j, suffix in
        [(0, "weight"), (1, "weight"), (1, "bias"), (1, "running_mean"), (1, "running_var")]]
    names = [lay.name for lay in graph.stats.layers]
    assert "features.0.2" in names  # the relu holds position 2, as in nn.Sequential
    assert "features.3.relu" in names  # a single stage is no chain: its automatic name stays


def test_block_names_a_layer_but_still_starts_a_definition() -> None:
    text = """
block inner(x) {
  block = x -> conv(4, 1) -> bn
  return block + x -> conv(4, 1)
}
network t {
  input image: [N, 4, 8, 8]
  image -> inner -> output y
}
"""
    assert "inner.block.0.weight" in netdsl.loads(text).stats.tensors()


def test_a_block_inside_a_network_is_reported_as_a_missing_brace() -> None:
    text = "network t {\n  input x: [N, 3, 8, 8]\n  x -> relu -> output y\n\n" \
           "block b(x) {\n  return x\n}\n"
    assert rendered(text) == (
        "test.net:5:1: error[E101]: a block is defined inside a network or block\n"
        "  |\n"
        "1 | network t {\n"
        "  |           - still open\n"
        "5 | block b(x) {\n"
        "  | ^^^^^ a definition starts here\n"
        "  |\n"
        "  = hint: definitions go at the top level of a file: is a `}` missing above?")


def test_relu6_clips_like_torch(torch: ModuleType) -> None:
    text = "network t {\n  input x: [N, 3, 4, 4]\n  x -> relu6 -> output y\n}\n"
    x = np.linspace(-3, 9, 96, dtype=np.float32).reshape(2, 3, 4, 4)
    ours = netdsl.run(netdsl.compile(netdsl.loads(text)), {"x": x})["y"]
    np.testing.assert_array_equal(ours, torch.nn.ReLU6()(torch.from_numpy(x)).numpy())
