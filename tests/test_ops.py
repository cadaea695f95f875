"""The operator contract, one row per op in REGISTRY: .net call, input shapes -> output shape,
parameters and MACs; where torch has the same layer, built inside the test, its output shape,
parameter count and outputs (with its weights loaded into our compiled model by position) must
agree, and torch's FLOP counter must count 2 x our MACs for convolutions and dense layers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

import netdsl
from conftest import NEEDS_TORCH, check_text, errors_of, rendered
from netdsl.ops import REGISTRY
from netdsl.ops.base import Op

# NOTE: the table below builds torch modules at import, so without torch the whole module skips
pytest.importorskip("torchvision", reason=NEEDS_TORCH)
import torch
import torch.nn.functional as F
import torchvision.transforms.functional as TF
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

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
    (top, bottom), (left, right) = tf_same(9, 4, 2), tf_same(9, 4, 2)
    return nn.Sequential(nn.ZeroPad2d((left, right, top, bottom)), nn.Conv2d(3, 4, 4, stride=2))


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
                  fn(lambda x, r: TF.center_crop(x, list(r.shape[2:])))),
             Case("crop(x0, size: [4, 4], offset: [1, 3])", ((2, 8, 8),), (2, 4, 4), 0, 0,
                  fn(lambda x: x[:, :, 1:5, 3:7]))],
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



# ------------------------------------------------------------------------------ the shape rule

def net(body: str, inp: str = "[N, 3, 8, 8]") -> str:
    return f"network n {{\n  input x: {inp}\n  {body}\n}}\n"


def out_shape(text: str) -> tuple[Any, ...]:
    checked = check_text(text)
    return checked.graph.node(checked.graph.outputs["y"]).shape


def test_floor_on_one_layer_matches_torch():
    ref = nn.Conv2d(3, 8, 3, stride=2, padding=1)(torch.zeros(1, 3, 64, 64)).shape
    assert out_shape(net("x -> conv(8, 3, stride: 2, pad: 1, floor: true) -> output y",
                         "[N, 3, 64, 64]")) == ("N", *ref[1:])


def test_floor_for_the_whole_network_matches_torch():
    ref = nn.Sequential(nn.Conv2d(3, 4, 3, stride=2), nn.MaxPool2d(3, 2))(
        torch.zeros(1, 3, 112, 112)).shape
    text = net("option floor: true\n  x -> conv(4, 3, stride: 2) -> maxpool(3, stride: 2) "
               "-> output y", "[N, 3, 112, 112]")
    assert out_shape(text) == ("N", *ref[1:])


def test_a_layer_can_ask_for_strictness_under_option_floor():
    text = net("option floor: true\n  x -> conv(4, 3, stride: 2, floor: false) -> output y",
               "[N, 3, 112, 112]")
    assert [d.code for d in errors_of(text)] == ["E302"]


def _ort_same_upper(x: np.ndarray, w: np.ndarray, s: int) -> np.ndarray:
    """onnxruntime's own SAME_UPPER convolution, from a hand-built ONNX graph."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper
    node = helper.make_node("Conv", ["x", "w"], ["y"], auto_pad="SAME_UPPER",
                            strides=[s, s])
    graph = helper.make_graph([node], "same", [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, list(x.shape))], [helper.make_tensor_value_info(
            "y", TensorProto.FLOAT, [None] * 4)], [numpy_helper.from_array(w, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"x": x})[0]


@settings(max_examples=25, deadline=None)
@given(n=st.integers(3, 12), k=st.integers(1, 5), s=st.integers(1, 3))
def test_same_padding_is_onnx_same_upper(n, k, s):
    """`pad: same` = ONNX SAME_UPPER = TensorFlow's SAME: output ceil(n / s), and an odd total
    padding puts its extra row at the end. onnxruntime's auto_pad is the reference (it has no
    dilation with SAME; the torch row `pad: same, dilation: 2` covers that)."""
    assume(k <= n + s)
    text = net(f"output y = conv(x, 2, {k}, stride: {s}, pad: same, bias: false)",
               f"[N, 1, {n}, {n}]")
    assert out_shape(text) == ("N", 2, -(-n // s), -(-n // s))
    rng = np.random.default_rng(n * 100 + k * 10 + s)
    x = rng.standard_normal((1, 1, n, n)).astype(np.float32)
    w = rng.standard_normal((2, 1, k, k)).astype(np.float32)
    ours = netdsl.run(netdsl.compile(text, weights={"y.weight": w}), {"x": x}, provider="cpu")
    np.testing.assert_allclose(ours["y"], _ort_same_upper(x, w, s), rtol=1e-5, atol=1e-5)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 40), k=st.integers(1, 7), s=st.integers(1, 4), p=st.integers(0, 3),
       d=st.integers(1, 3))
def test_output_size_rule_against_torch(n, k, s, p, d):
    """floor((N + 2P - D(F - 1) - 1)/S) + 1 under `floor: true`; strict mode accepts exactly
    the sizes where the division is whole, and rejects the rest with E302."""
    span = d * (k - 1) + 1
    assume(n + 2 * p >= span)
    ref = nn.Conv1d(1, 1, k, s, p, d)(torch.zeros(1, 1, n)).shape[-1]
    body = f"x -> conv(1, {k}, stride: {s}, pad: {p}, dilation: {d}{{}}) -> output y"
    assert out_shape(net(body.format(", floor: true"), f"[N, 1, {n}]"))[-1] == ref
    if (n + 2 * p - span) % s == 0:
        assert out_shape(net(body.format(""), f"[N, 1, {n}]"))[-1] == ref
    else:
        assert [e.code for e in errors_of(net(body.format(""), f"[N, 1, {n}]"))] == ["E302"]


# --------------------------------------------------------------------------------- bad input

# (id, input shape, body, code, the source text under the caret, words the message must hold)
ERRORS = [
    ("window-larger-than-input", "[N, 3, 5, 5]", "x -> conv(8, 7) -> output y", "E301", "7",
     ["input height 5", "window 7", "(5 - 7 + 2*0)/1 + 1 = -1"]),
    ("add-channels", "[N, 3, 8, 8]", "a = x -> conv(8, 3, pad: 1)\n  b = x -> conv(4, 3, pad: 1)"
     "\n  output y = a + b", "E303", "b", ["[N, 8, 8, 8]", "[N, 4, 8, 8]"]),
    ("concat-spatial", "[N, 3, 8, 8]", "a = x -> conv(8, 3, pad: 1)\n  b = x -> conv(4, 3)"
     "\n  output y = concat(a, b)", "E303", "b", ["[N, 8, 8, 8]", "[N, 4, 6, 6]"]),
    ("groups-do-not-divide", "[N, 3, 8, 8]", "x -> conv(8, 3, groups: 2) -> output y", "E301",
     "groups: 2", ["[N, 3, 8, 8]", "3 channels", "2 groups"]),
    ("dense-on-4d", "[N, 3, 8, 8]", "x -> dense(10) -> output y", "E301", "x",
     ["2-D input [N, C]", "[N, 3, 8, 8]"]),
    ("kernel-0", "[N, 3, 8, 8]", "x -> conv(8, 0) -> output y", "E206", "0",
     ["kernel must be positive, not 0"]),
    ("negative-stride", "[N, 3, 8, 8]", "x -> maxpool(2, stride: -1) -> output y", "E206",
     "stride: -1", ["stride must be positive, not -1"]),
    ("groups-0", "[N, 3, 8, 8]", "x -> conv(8, 3, groups: 0) -> output y", "E206",
     "groups: 0", ["groups must be positive, not 0"]),
    ("multiplier-0", "[N, 3, 8, 8]", "x -> depthwise(3, multiplier: 0) -> output y", "E206",
     "multiplier: 0", ["multiplier must be positive"]),
    ("unknown-upsample-mode", "[N, 3, 8, 8]", 'x -> upsample(scale: 2, mode: "cubic2") '
     "-> output y", "E206", 'mode: "cubic2"', ['unknown upsample mode "cubic2"']),
    ("unknown-pad-mode", "[N, 3, 8, 8]", 'x -> pad(1, mode: "mirror") -> output y', "E206",
     'mode: "mirror"', ['unknown pad mode "mirror"']),
    ("fixed-kernel-size", "[N, 1, 8, 8]", "x -> conv(1, 5, weights: [[1, 2, 1], [2, 4, 2], "
     "[1, 2, 1]]) -> output y", "E206", "weights: [[1, 2, 1], [2, 4, 2], [1, 2, 1]]",
     ["fixed weights are 3x3", "kernel is 5x5"]),
    ("output-pad-too-large", "[N, 3, 8, 8]", "x -> conv_transpose(4, 3, stride: 2, "
     "output_pad: 2) -> output y", "E206", "output_pad: 2", ["smaller than the stride 2"]),
    ("pool-pad-over-half", "[N, 3, 8, 8]", "x -> maxpool(2, pad: 2) -> output y", "E206",
     "pad: 2", ["more than half the kernel 2"]),
    ("crop-larger", "[N, 3, 8, 8]", "x -> crop(size: [9, 9]) -> output y", "E303",
     "size: [9, 9]", ["[N, 3, 8, 8]", "[9, 9]"]),
    ("crop-like-larger", "[N, 3, 8, 8]", "z = x -> pad(1)\n  output y = crop(x, like: z)",
     "E303", "like: z", ["[N, 3, 8, 8]", "[10, 10]"]),
    ("crop-offset-past-the-end", "[N, 3, 8, 8]", "x -> crop(size: [4, 4], offset: [5, 0]) "
     "-> output y", "E303", "offset: [5, 0]", ["runs past the end of [N, 3, 8, 8]"]),
    ("upsample-two-sizes", "[N, 3, 8, 8]", "x -> upsample(scale: 2, size: [4, 4]) "
     "-> output y", "E206", "size: [4, 4]", ["exactly one of"]),
    ("mul-not-broadcastable", "[N, 3, 8, 8]", "g = x -> conv(2, 1) -> globalavgpool\n"
     "  output y = x * g", "E303", "g", ["[N, 3, 8, 8]", "[N, 2, 1, 1]"]),
    ("reshape-count", "[N, 3, 8, 8]", "x -> reshape([5, -1]) -> output y", "E301",
     "[5, -1]", ["[N, 3, 8, 8]", "192 per example"]),
    ("concat-axis", "[N, 3, 8, 8]", "output y = concat(x, x, axis: 4)", "E206", "axis: 4",
     ["axis 4"]),
    ("reflect-too-wide", "[N, 3, 4, 4]", 'x -> pad(4, mode: "reflect") -> output y', "E301",
     "4", ["reflect padding 4", "it is 4"]),
    ("transposed-pad-eats-all", "[N, 3, 1, 1]", "x -> conv_transpose(2, 1, pad: 1) "
     "-> output y", "E301", "pad: 1", ["(1 - 1)*1 - 2*1 + (1 - 1) + 0 + 1 = -1"]),
    ("dropout-p", "[N, 3, 8, 8]", "x -> dropout(1.5) -> output y", "E206", "1.5",
     ["p must be in [0, 1)"]),
    ("bn-eps", "[N, 3, 8, 8]", "x -> bn(eps: 0) -> output y", "E206", "eps: 0",
     ["eps must be positive"]),
    ("softmax-axis", "[N, 10]", "x -> softmax(axis: 2) -> output y", "E206", "axis: 2",
     ["out of range for a 2-D input"]),
    ("rank", "[N, 10]", "x -> maxpool(2) -> output y", "E301", "x",
     ["3-D, 4-D or 5-D input", "[N, 10]"]),
]


@pytest.mark.parametrize("inp,body,code,under,words", [e[1:] for e in ERRORS],
                         ids=[e[0] for e in ERRORS])
def test_bad_input_is_a_clear_error_at_its_span(inp, body, code, under, words):
    (d,) = errors_of(net(body, inp))
    assert d.code == code
    assert d.primary is not None and d.primary.span.text() == under
    for w in words:
        assert w in d.message
    assert "Traceback" not in rendered(net(body, inp))


def test_add_mismatch_renders_both_operands():
    text = net("a = x -> conv(8, 3, pad: 1)\n  b = x -> conv(4, 3, pad: 1)\n  output y = a + b")
    assert rendered(text) == """\
test.net:5:18: error[E303]: add: cannot add [N, 8, 8, 8] and [N, 4, 8, 8]: shapes must match exactly
  |
5 |   output y = a + b
  |              - [N, 8, 8, 8]
  |                  ^
  |
  = hint: project the shortcut with a 1x1 conv to 8 channels, or zero-pad its channels with \
pad(channels: ...)"""


def test_window_larger_than_input_renders_kernel_and_input():
    assert rendered(net("x -> conv(8, 7) -> output y", "[N, 3, 5, 5]")) == """\
test.net:3:16: error[E301]: conv: the input height 5 is smaller than the window 7: \
(5 - 7 + 2*0)/1 + 1 = -1, not a positive size
  |
3 |   x -> conv(8, 7) -> output y
  |   - [N, 3, 5, 5]
  |                ^
  |
  = hint: use a smaller kernel, more padding, or a larger input"""


# ------------------------------------------------------------------------------ the references

@pytest.mark.parametrize("name", ["costs.md", "ops.md"])
def test_generated_docs_are_up_to_date(name):
    """docs/costs.md and docs/ops.md are generated from the registry; regenerate them with
    `python -m netdsl.ops.reference` after changing an op."""
    from netdsl.ops import reference
    committed = (reference.DOCS / name).read_text(encoding="utf-8")
    assert committed == reference.FILES[name](), f"docs/{name} is stale"


def test_costs_md_states_every_rule_and_the_flop_convention():
    from netdsl.ops import reference
    text = reference.costs_markdown()
    assert "FLOPs = 2 x MACs" in text
    for name, cls in REGISTRY.items():
        assert f"| `{name}` | {cls.mac_rule} |" in text


@pytest.mark.parametrize("call,n", [("conv(x, 2, 1, stride: 2, pad: same)", 74),
                                    ("maxpool(x, 1, stride: 2, pad: same)", 7)])
def test_same_with_a_kernel_smaller_than_the_stride_is_ceil_n_over_s(call, n):
    """TensorFlow's SAME: ceil(N / S) outputs even when the window (1) is narrower than the
    stride, where (N - 1)/S is fractional and no padding is needed."""
    assert out_shape(net(f"output y = {call}", f"[N, 2, {n}, {n}]"))[2:] == (-(-n // 2),) * 2
    ref = nn.MaxPool2d(1, 2)(torch.zeros(1, 1, n, n)).shape[2:]
    assert tuple(ref) == (-(-n // 2),) * 2


def test_fraction_hints_suggest_only_padding_a_pool_accepts():
    # maxpool(3, stride: 3) on 32: pad 2 would tile, but a pool may pad at most half its kernel
    (d,) = errors_of(net("x -> maxpool(3, stride: 3) -> output y", "[N, 3, 32, 32]"))
    assert d.code == "E302" and "(32 - 3 + 2*0)/3 + 1 = 10.67" in d.message
    assert d.hints[0].startswith("stride 1 gives a whole size;") and "pad 2" not in d.hints[0]
    (d,) = errors_of(net("x -> conv(8, 3, stride: 3) -> output y", "[N, 3, 32, 32]"))
    assert d.hints[0].startswith("pad 2 or stride 1 gives a whole size")
