"""The operator contract, one row per op in REGISTRY: .net call, input shapes -> output shape,
parameters and MACs; where torch has the same layer, built inside the test, its output shape,
parameter count and outputs (with its weights loaded into our compiled model by position) must
agree, and torch's FLOP counter must count 2 x our MACs for convolutions and dense layers."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision.transforms.functional as TF
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import netdsl
from conftest import check_text
from netdsl.ops import REGISTRY
from netdsl.ops.base import Op

Shape = tuple[Any, ...]


@dataclass(frozen=True)
class Case:
    call: str                 # the .net expression; inputs are x0, x1, ...
    inputs: tuple[Shape, ...]  # without the batch
    shape: Shape              # the output, without the batch
    params: int
    macs: int                 # by the rule in docs/costs.md, written out as a product
    torch: Callable[[], Any] | None = None  # an equivalent torch module (or function)
    buffers: int = 0
    tol: float = 1e-4
    notes: tuple[str, ...] = field(default=())


def seq(*mods: Any) -> Callable[[], Any]:
    return lambda: nn.Sequential(*mods)


def fn(f: Callable[..., Any]) -> Callable[[], Any]:
    return lambda: f


def tf_same(n: int, k: int, s: int, d: int = 1) -> tuple[int, int]:
    """TensorFlow's SAME padding (tf.nn.convolution docs): out = ceil(n / s), total padding
    max((out - 1)*s + (k - 1)*d + 1 - n, 0), the smaller half at the beginning."""
    out = -(-n // s)
    total = max((out - 1) * s + (k - 1) * d + 1 - n, 0)
    return total // 2, total - total // 2


def _same_conv() -> nn.Module:
    (t, b), (l, r) = tf_same(9, 4, 2), tf_same(9, 4, 2)
    return nn.Sequential(nn.ZeroPad2d((l, r, t, b)), nn.Conv2d(3, 4, 4, stride=2))


SOBEL = "[[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]"

OP_CASES: dict[str, list[Case]] = {
    "conv": [
        Case("conv(x0, 8, 3, stride: 2, pad: 1)", ((3, 9, 9),), (8, 5, 5),
             8 * 3 * 3 * 3 + 8, 8 * 5 * 5 * 3 * 3 * 3, seq(nn.Conv2d(3, 8, 3, 2, 1))),
        # pad (top, left, bottom, right); kernel (h, w); stride, dilation per axis; groups
        Case("conv(x0, 6, [3, 2], stride: [2, 1], pad: [1, 0, 1, 1], dilation: [1, 2], "
             "groups: 3, bias: false)", ((3, 9, 8),), (6, 5, 7),
             6 * 1 * 3 * 2, 6 * 5 * 7 * 1 * 3 * 2,
             seq(nn.ZeroPad2d((0, 1, 1, 1)),
                 nn.Conv2d(3, 6, (3, 2), (2, 1), dilation=(1, 2), groups=3, bias=False))),
        Case("conv(x0, 4, 3, pad: valid)", ((2, 6, 6),), (4, 4, 4), 4 * 2 * 9 + 4,
             4 * 4 * 4 * 2 * 9, seq(nn.Conv2d(2, 4, 3, padding="valid"))),
        Case("conv(x0, 4, 4, pad: same, dilation: 2)", ((2, 7, 7),), (4, 7, 7), 4 * 2 * 16 + 4,
             4 * 7 * 7 * 2 * 16, seq(nn.Conv2d(2, 4, 4, padding="same", dilation=2))),
        Case("conv(x0, 4, 4, stride: 2, pad: same)", ((3, 9, 9),), (4, 5, 5), 4 * 3 * 16 + 4,
             4 * 5 * 5 * 3 * 16, _same_conv),
        Case("conv(x0, 4, 5, stride: 2)", ((2, 11),), (4, 4), 4 * 2 * 5 + 4, 4 * 4 * 2 * 5,
             seq(nn.Conv1d(2, 4, 5, 2))),
        Case("conv(x0, 3, 3, pad: [1, 0, 0])", ((2, 5, 6, 7),), (3, 5, 4, 5), 3 * 2 * 27 + 3,
             3 * 5 * 4 * 5 * 2 * 27, seq(nn.Conv3d(2, 3, 3, padding=(1, 0, 0)))),
        Case(f"conv(x0, 1, 3, weights: {SOBEL}, bias: false)", ((1, 6, 6),), (1, 4, 4), 9,
             4 * 4 * 9, fn(lambda x: F.conv2d(x, torch.tensor(
                 [[[[-1., 0, 1], [-2, 0, 2], [-1, 0, 1]]]])))),
    ],
    "depthwise": [
        Case("depthwise(x0, 5)", ((3, 12, 12),), (3, 8, 8), 3 * 25 + 3, 3 * 8 * 8 * 1 * 25,
             seq(nn.Conv2d(3, 3, 5, groups=3))),
        Case("depthwise(x0, 3, stride: 2, pad: 1, multiplier: 2, bias: false)", ((4, 9, 9),),
             (8, 5, 5), 8 * 9, 8 * 5 * 5 * 1 * 9,
             seq(nn.Conv2d(4, 8, 3, 2, 1, groups=4, bias=False))),
    ],
    "conv_transpose": [
        Case("conv_transpose(x0, 4, 3, stride: 2, pad: 1, output_pad: 1)", ((6, 5, 5),),
             (4, 10, 10), 6 * 4 * 9 + 4, 6 * 5 * 5 * 4 * 9,
             seq(nn.ConvTranspose2d(6, 4, 3, 2, 1, output_padding=1))),
        Case("conv_transpose(x0, 6, 2, stride: 2, groups: 3, bias: false)", ((3, 4, 4),),
             (6, 8, 8), 3 * 2 * 4, 3 * 4 * 4 * 2 * 4,
             seq(nn.ConvTranspose2d(3, 6, 2, 2, groups=3, bias=False))),
        Case("conv_transpose(x0, 2, 3, dilation: 2)", ((2, 5, 5),), (2, 9, 9), 2 * 2 * 9 + 2,
             2 * 5 * 5 * 2 * 9, seq(nn.ConvTranspose2d(2, 2, 3, dilation=2))),
        Case("conv_transpose(x0, 3, 4, stride: 3, output_pad: 2)", ((2, 6),), (3, 21),
             2 * 3 * 4 + 3, 2 * 6 * 3 * 4, seq(nn.ConvTranspose1d(2, 3, 4, 3, output_padding=2))),
    ],
    "maxpool": [
        Case("maxpool(x0, 3, stride: 2, pad: 1)", ((2, 9, 9),), (2, 5, 5), 0, 2 * 5 * 5 * 9,
             seq(nn.MaxPool2d(3, 2, 1))),
        Case("maxpool(x0, 2, ceil: true)", ((2, 9, 9),), (2, 5, 5), 0, 2 * 5 * 5 * 4,
             seq(nn.MaxPool2d(2, ceil_mode=True))),
        # ceil mode drops a last window that would start in the end padding (PyTorch, ONNX)
        Case("maxpool(x0, 2, pad: 1, ceil: true)", ((1, 5, 5),), (1, 3, 3), 0, 1 * 3 * 3 * 4,
             seq(nn.MaxPool2d(2, 2, 1, ceil_mode=True))),
        Case("maxpool(x0, 2, stride: 1, dilation: 2)", ((1, 8, 8),), (1, 6, 6), 0, 6 * 6 * 4,
             seq(nn.MaxPool2d(2, 1, dilation=2))),
        Case("maxpool(x0, 3, stride: 2, floor: true)", ((2, 10),), (2, 4), 0, 2 * 4 * 3,
             seq(nn.MaxPool1d(3, 2))),
    ],
    "avgpool": [
        Case("avgpool(x0, 3, stride: 2, pad: 1, count_include_pad: false)", ((2, 9, 9),),
             (2, 5, 5), 0, 2 * 5 * 5 * 9, seq(nn.AvgPool2d(3, 2, 1, count_include_pad=False))),
        Case("avgpool(x0, 3, stride: 2, pad: 1)", ((2, 9, 9),), (2, 5, 5), 0, 2 * 5 * 5 * 9,
             seq(nn.AvgPool2d(3, 2, 1))),
        Case("avgpool(x0, 2, ceil: true)", ((2, 9, 9),), (2, 5, 5), 0, 2 * 5 * 5 * 4,
             seq(nn.AvgPool2d(2, ceil_mode=True))),
        Case("avgpool(x0, 2)", ((6, 28, 28),), (6, 14, 14), 0, 6 * 14 * 14 * 4,
             seq(nn.AvgPool2d(2))),
    ],
    "globalavgpool": [Case("globalavgpool(x0)", ((4, 7, 7),), (4, 1, 1), 0, 4 * 7 * 7,
                           seq(nn.AdaptiveAvgPool2d(1)))],
    "globalmaxpool": [Case("globalmaxpool(x0)", ((4, 7, 7),), (4, 1, 1), 0, 4 * 7 * 7,
                           seq(nn.AdaptiveMaxPool2d(1)))],
    # windows [floor(o*n/m), ceil((o+1)*n/m)): heights 7 -> 2 sum 4 + 4 elements, widths
    # 9 -> 3 sum 3 + 3 + 3; one add per element of every window
    "adaptive_avgpool": [Case("adaptive_avgpool(x0, [2, 3])", ((3, 7, 9),), (3, 2, 3), 0,
                              3 * 8 * 9, seq(nn.AdaptiveAvgPool2d((2, 3)))),
                         Case("adaptive_avgpool(x0, 3)", ((2, 6, 6),), (2, 3, 3), 0, 2 * 6 * 6,
                              seq(nn.AdaptiveAvgPool2d(3)))],
    "dense": [Case("dense(x0, 5)", ((16,),), (5,), 16 * 5 + 5, 16 * 5, seq(nn.Linear(16, 5))),
              Case("dense(x0, 5, bias: false)", ((16,),), (5,), 80, 80,
                   seq(nn.Linear(16, 5, bias=False)))],
    "flatten": [Case("flatten(x0)", ((3, 4, 5),), (60,), 0, 0, seq(nn.Flatten()))],
    "reshape": [Case("reshape(x0, [3, -1])", ((3, 8, 8),), (3, 64), 0, 0,
                     fn(lambda x: x.reshape(x.shape[0], 3, -1)))],
    "relu": [Case("relu(x0)", ((3, 4, 4),), (3, 4, 4), 0, 48, seq(nn.ReLU()))],
    "relu6": [Case("relu6(x0)", ((3, 4, 4),), (3, 4, 4), 0, 48, seq(nn.ReLU6()))],
    "leaky_relu": [Case("leaky_relu(x0, 0.2)", ((3, 4, 4),), (3, 4, 4), 0, 48,
                        seq(nn.LeakyReLU(0.2)))],
    "elu": [Case("elu(x0, 0.5)", ((3, 4, 4),), (3, 4, 4), 0, 48, seq(nn.ELU(0.5)))],
    "tanh": [Case("tanh(x0)", ((3, 4, 4),), (3, 4, 4), 0, 48, seq(nn.Tanh()))],
    "sigmoid": [Case("sigmoid(x0)", ((3, 4, 4),), (3, 4, 4), 0, 48, seq(nn.Sigmoid()))],
    "softmax": [Case("softmax(x0)", ((10,),), (10,), 0, 3 * 10, seq(nn.Softmax(1))),
                Case("softmax(x0, axis: 3)", ((3, 4, 5),), (3, 4, 5), 0, 3 * 60,
                     seq(nn.Softmax(3)))],
    "gelu": [Case("gelu(x0)", ((3, 4, 4),), (3, 4, 4), 0, 48, seq(nn.GELU()))],
    "silu": [Case("silu(x0)", ((3, 4, 4),), (3, 4, 4), 0, 48, seq(nn.SiLU()))],
    "swish": [Case("swish(x0)", ((3, 4, 4),), (3, 4, 4), 0, 48, seq(nn.SiLU()))],
    "hardswish": [Case("hardswish(x0)", ((3, 4, 4),), (3, 4, 4), 0, 48, seq(nn.Hardswish()))],
    "hardsigmoid": [Case("hardsigmoid(x0)", ((3, 4, 4),), (3, 4, 4), 0, 48,
                         seq(nn.Hardsigmoid()))],
    "dropout": [Case("dropout(x0, 0.3)", ((3, 4, 4),), (3, 4, 4), 0, 0, seq(nn.Dropout(0.3)))],
    "identity": [Case("identity(x0)", ((3, 4, 4),), (3, 4, 4), 0, 0, seq(nn.Identity()))],
    "bn": [Case("bn(x0)", ((4, 5, 5),), (4, 5, 5), 2 * 4, 4 * 5 * 5, seq(nn.BatchNorm2d(4)),
                buffers=2 * 4),
           Case("bn(x0, eps: 0.001)", ((6,),), (6,), 2 * 6, 6,
                seq(nn.BatchNorm1d(6, eps=1e-3)), buffers=2 * 6)],
    "lrn": [Case("lrn(x0, size: 3, alpha: 0.01, beta: 0.75, k: 2)", ((6, 4, 4),), (6, 4, 4), 0,
                 3 * 6 * 4 * 4, seq(nn.LocalResponseNorm(3, 0.01, 0.75, 2.0)))],
    "add": [Case("x0 + x1", ((3, 4, 4), (3, 4, 4)), (3, 4, 4), 0, 1 * 48,
                 fn(lambda a, b: a + b)),
            Case("add(x0, x1, x0)", ((3, 4, 4), (3, 4, 4)), (3, 4, 4), 0, 2 * 48,
                 fn(lambda a, b: a + b + a))],
    "mul": [Case("x0 * x1", ((3, 4, 4), (3, 1, 1)), (3, 4, 4), 0, 48, fn(lambda a, b: a * b))],
    "concat": [Case("concat(x0, x1)", ((3, 4, 4), (5, 4, 4)), (8, 4, 4), 0, 0,
                    fn(lambda a, b: torch.cat([a, b], 1))),
               Case("concat(x0, x1, x0, axis: 3)", ((3, 4, 4), (3, 4, 2)), (3, 4, 10), 0, 0,
                    fn(lambda a, b: torch.cat([a, b, a], 3)))],
    # even margins: torchvision's center_crop is the reference
    "crop": [Case("crop(x0, size: [4, 6])", ((2, 8, 8),), (2, 4, 6), 0, 0,
                  fn(lambda x: TF.center_crop(x, [4, 6]))),
             Case("crop(x0, like: x1)", ((2, 10, 8), (1, 6, 4)), (2, 6, 4), 0, 0,
                  fn(lambda x, r: TF.center_crop(x, list(r.shape[2:]))))],
    "pad": [Case("pad(x0, 1)", ((3, 4, 4),), (3, 6, 6), 0, 0, seq(nn.ZeroPad2d(1))),
            Case('pad(x0, [1, 2, 0, 3], mode: "reflect")', ((3, 5, 5),), (3, 6, 10), 0, 0,
                 seq(nn.ReflectionPad2d((2, 3, 1, 0)))),
            Case('pad(x0, 2, mode: "edge")', ((3, 4, 4),), (3, 8, 8), 0, 0,
                 seq(nn.ReplicationPad2d(2))),
            Case("pad(x0, channels: 5)", ((3, 4, 4),), (8, 4, 4), 0, 0,
                 fn(lambda x: F.pad(x, (0, 0, 0, 0, 0, 5))))],
    "upsample": [
        Case("upsample(x0, scale: 2)", ((3, 4, 5),), (3, 8, 10), 0, 0,
             seq(nn.Upsample(scale_factor=2, mode="nearest"))),
        Case('upsample(x0, size: [5, 12], mode: "bilinear")', ((3, 4, 4),), (3, 5, 12), 0,
             4 * 3 * 5 * 12, seq(nn.Upsample(size=(5, 12), mode="bilinear"))),
        Case('upsample(x0, scale: 2, mode: "bicubic")', ((2, 4, 4),), (2, 8, 8), 0,
             16 * 2 * 8 * 8, seq(nn.Upsample(scale_factor=2, mode="bicubic"))),
        Case('upsample(x0, scale: 2, mode: "bilinear", align_corners: true)', ((2, 4, 4),),
             (2, 8, 8), 0, 4 * 2 * 8 * 8,
             seq(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True))),
        Case("upsample(x0, like: x1)", ((2, 4, 4), (1, 12, 8)), (2, 12, 8), 0, 0,
             fn(lambda x, r: F.interpolate(x, size=r.shape[2:], mode="nearest"))),
    ],
}

CASES = [pytest.param(op, c, id=f"{op}-{i}") for op, cases in OP_CASES.items()
         for i, c in enumerate(cases)]
FLOP_COUNTED = ("conv", "depthwise", "conv_transpose", "dense")  # torch's FlopCounterMode


def program(case: Case) -> str:
    decl = "\n".join(f"  input x{i}: [N, {', '.join(map(str, s))}]"
                     for i, s in enumerate(case.inputs))
    return f"network t {{\n{decl}\n  output y = {case.call}\n}}\n"


def test_every_registered_operator_has_a_row():
    assert set(REGISTRY) == set(OP_CASES)


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_operator_documents_itself(name):
    cls = REGISTRY[name]
    owner = next(c for c in cls.__mro__ if "mac_rule" in vars(c))
    assert owner is not Op and cls.mac_rule.strip(), f"{name} states no MAC rule"
    assert cls.summary.strip() and cls.__doc__ and cls.__doc__.strip()


@pytest.mark.parametrize("op,case", CASES)
def test_operator_row(op, case):
    stats = check_text(program(case)).stats
    (layer,) = [lay for lay in stats.layers if lay.op != "input"]
    assert layer.op == op
    assert layer.shape == ("N", *case.shape)
    assert (layer.params, layer.buffers, layer.macs) == (case.params, case.buffers, case.macs)


@pytest.mark.parametrize("op,case", [c for c in CASES if c.values[1].torch is not None])
def test_operator_agrees_with_torch(op, case):
    torch.manual_seed(0)
    module = case.torch()
    xs = [torch.randn(2, *s) for s in case.inputs]
    if isinstance(module, nn.Module):
        module.eval()
        for name, buf in module.named_buffers():  # BN statistics that are not the identity
            if name.endswith("running_mean"):
                buf.copy_(torch.randn_like(buf))
            elif name.endswith("running_var"):
                buf.copy_(torch.rand_like(buf) + 0.5)
        for p in module.parameters():
            p.data.copy_(torch.randn_like(p))
    with torch.no_grad():
        ref = module(*xs).numpy()
    assert ref.shape == (2, *case.shape)
    graph = netdsl.load(program(case))
    ours = graph.stats.tensors()
    state = {k: v.numpy() for k, v in module.state_dict().items()
             if not k.endswith("num_batches_tracked")} if isinstance(module, nn.Module) else {}
    if isinstance(module, nn.Module):
        assert [tuple(v.shape) for v in state.values()] == list(ours.values())
        assert sum(p.numel() for p in module.parameters()) == graph.stats.params
    weights = dict(zip(ours, state.values())) if state else None  # None: fixed or no weights
    model = netdsl.compile(program(case), weights=weights)
    out = netdsl.run(model, {f"x{i}": x.numpy() for i, x in enumerate(xs)}, provider="cpu")
    np.testing.assert_allclose(out["y"], ref, rtol=case.tol, atol=case.tol)


@pytest.mark.parametrize("op,case", [c for c in CASES if c.values[0] in FLOP_COUNTED
                                     and c.values[1].torch is not None])
def test_macs_agree_with_torch_flop_counter(op, case):
    module = case.torch()
    with FlopCounterMode(display=False) as counter:
        module(*(torch.randn(1, *s) for s in case.inputs))
    assert counter.get_total_flops() == 2 * case.macs

