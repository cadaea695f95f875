"""The one case table of the operators: for every op in REGISTRY, rows of a .net call, its input
shapes, the output shape, parameters, buffers and MACs, and where torch has the same layer a
reference built on demand. Three test modules read it: test_ops.py (shapes, counts),
test_export.py (the ONNX lowering of every row is valid and agrees) and
test_torch_equivalence.py (outputs and FLOPs agree with the torch reference).

Adding an operator: one class in netdsl/ops/, one entry here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

try:  # NOTE: only the references need torch; without it they are never called
    import torch
    import torch.nn.functional as F
    import torchvision.transforms.functional as TF
    from torch import nn
except ImportError:
    pass

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
    setup: str = ""           # statements before the call (a `param` it uses)
    made: str = ""            # the op of the output's node where not the row's (split: slice)


def seq(*mods: Any) -> Callable[[], Any]:
    """A torch reference: nn.Sequential of the modules, built when a test asks for it."""
    return lambda: nn.Sequential(*(m() for m in mods))


def fn(f: Callable[..., Any]) -> Callable[[], Any]:
    """A torch reference that is a function of the inputs (no state)."""
    return lambda: f


def tf_same(n: int, k: int, s: int, d: int = 1) -> tuple[int, int]:
    """TensorFlow's SAME padding (tf.nn.convolution docs): out = ceil(n / s), total padding
    max((out - 1)*s + (k - 1)*d + 1 - n, 0), the smaller half at the beginning."""
    out = -(-n // s)
    total = max((out - 1) * s + (k - 1) * d + 1 - n, 0)
    return total // 2, total - total // 2


def _same_conv() -> Any:
    (top, bottom), (left, right) = tf_same(9, 4, 2), tf_same(9, 4, 2)
    return nn.Sequential(nn.ZeroPad2d((left, right, top, bottom)), nn.Conv2d(3, 4, 4, stride=2))


def _same_grouped_conv() -> Any:
    (top, bottom), (left, right) = tf_same(8, 3, 2), tf_same(8, 2, 2, 2)
    return nn.Sequential(nn.ZeroPad2d((left, right, top, bottom)),
                         nn.Conv2d(3, 6, (3, 2), 2, dilation=(1, 2), groups=3, bias=False))


def _kernel(rows: list[list[float]], channels: int) -> Any:
    return torch.tensor([[rows]], dtype=torch.float32).expand(1, channels, len(rows), len(rows[0]))


def _self_attention(d: int, heads: int, bias: bool = True) -> Callable[[], Any]:
    """torch's MultiheadAttention as ViT's EncoderBlock calls it: self-attention, batch first."""
    def make() -> Any:  # NOTE: the class is made by a test that needs torch
        class SelfAttention(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.attn = nn.MultiheadAttention(d, heads, bias=bias, batch_first=True)

            def forward(self, x: Any) -> Any:
                return self.attn(x, x, x, need_weights=False)[0]
        return SelfAttention()
    return make


def _class_token(d: int) -> Callable[[], Any]:
    """ViT's class token: a learned [1, 1, D] expanded over the batch, before the sequence."""
    def make() -> Any:  # NOTE: the class is made by a test that needs torch
        class ClassToken(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.token = nn.Parameter(torch.zeros(1, 1, d))

            def forward(self, x: Any) -> Any:
                return torch.cat([self.token.expand(x.shape[0], -1, -1), x], dim=1)
        return ClassToken()
    return make


def _scaled(shape: tuple[int, ...]) -> Callable[[], Any]:
    """A learned tensor times the input (ConvNeXt's layer scale), broadcast numpy's way."""
    def make() -> Any:  # NOTE: the class is made by a test that needs torch
        class Scaled(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.gamma = nn.Parameter(torch.ones(*shape))

            def forward(self, x: Any) -> Any:
                return x * self.gamma
        return Scaled()
    return make


SOBEL = [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]
SHARPEN = [[0, -1, 0], [-1, 5, -1], [0, -1, 0]]

# NOTE: modules are written as lambdas (`lambda: nn.Conv2d(...)`) so that importing this table
# needs no torch; seq() builds them when a torch test asks.
CASES: dict[str, list[Case]] = {
    "conv": [
        Case("conv(x0, 8, 3, stride: 2, pad: 1)", ((3, 9, 9),), (8, 5, 5),
             8 * 3 * 3 * 3 + 8, 8 * 5 * 5 * 3 * 3 * 3, seq(lambda: nn.Conv2d(3, 8, 3, 2, 1))),
        # pad (top, left, bottom, right); kernel (h, w); stride, dilation per axis; groups
        Case("conv(x0, 6, [3, 2], stride: [2, 1], pad: [1, 0, 1, 1], dilation: [1, 2], "
             "groups: 3, bias: false)", ((3, 9, 8),), (6, 5, 7),
             6 * 1 * 3 * 2, 6 * 5 * 7 * 1 * 3 * 2,
             seq(lambda: nn.ZeroPad2d((0, 1, 1, 1)),
                 lambda: nn.Conv2d(3, 6, (3, 2), (2, 1), dilation=(1, 2), groups=3,
                                   bias=False))),
        Case("conv(x0, 4, 3, pad: valid)", ((2, 6, 6),), (4, 4, 4), 4 * 2 * 9 + 4,
             4 * 4 * 4 * 2 * 9, seq(lambda: nn.Conv2d(2, 4, 3, padding="valid"))),
        Case("conv(x0, 4, 4, pad: same, dilation: 2)", ((2, 7, 7),), (4, 7, 7), 4 * 2 * 16 + 4,
             4 * 7 * 7 * 2 * 16, seq(lambda: nn.Conv2d(2, 4, 4, padding="same", dilation=2))),
        Case("conv(x0, 4, 4, stride: 2, pad: same)", ((3, 9, 9),), (4, 5, 5), 4 * 3 * 16 + 4,
             4 * 5 * 5 * 3 * 16, _same_conv),
        # `pad: same` with a stride, groups and a dilation on one axis: the end gets the odd row
        Case("conv(x0, 6, [3, 2], stride: 2, pad: same, dilation: [1, 2], groups: 3, "
             "bias: false)", ((3, 8, 8),), (6, 4, 4), 6 * 1 * 3 * 2, 6 * 4 * 4 * 1 * 3 * 2,
             _same_grouped_conv),
        Case("conv(x0, 4, 3, pad: 1)", ((3, 8, 8),), (4, 8, 8), 4 * 3 * 9 + 4,
             4 * 8 * 8 * 3 * 9, seq(lambda: nn.Conv2d(3, 4, 3, padding=1))),
        Case("conv(x0, 4, 5, stride: 2)", ((2, 11),), (4, 4), 4 * 2 * 5 + 4, 4 * 4 * 2 * 5,
             seq(lambda: nn.Conv1d(2, 4, 5, 2))),
        Case("conv(x0, 4, 3, stride: 2)", ((2, 9),), (4, 4), 4 * 2 * 3 + 4, 4 * 4 * 2 * 3,
             seq(lambda: nn.Conv1d(2, 4, 3, 2))),
        Case("conv(x0, 3, 3, pad: [1, 0, 0])", ((2, 5, 6, 7),), (3, 5, 4, 5), 3 * 2 * 27 + 3,
             3 * 5 * 4 * 5 * 2 * 27, seq(lambda: nn.Conv3d(2, 3, 3, padding=(1, 0, 0)))),
        Case(f"conv(x0, 1, 3, weights: {SOBEL}, bias: false)", ((1, 6, 6),), (1, 4, 4), 9,
             4 * 4 * 9, fn(lambda x: F.conv2d(x, _kernel(SOBEL, 1)))),
        # one fixed kernel for every input channel; the bias starts at zero
        Case(f"conv(x0, 1, 3, weights: {SHARPEN})", ((3, 8, 8),), (1, 6, 6), 1 * 3 * 9 + 1,
             1 * 6 * 6 * 3 * 9, fn(lambda x: F.conv2d(x, _kernel(SHARPEN, 3)))),
    ],
    "depthwise": [
        Case("depthwise(x0, 5)", ((3, 12, 12),), (3, 8, 8), 3 * 25 + 3, 3 * 8 * 8 * 1 * 25,
             seq(lambda: nn.Conv2d(3, 3, 5, groups=3))),
        Case("depthwise(x0, 3, stride: 2, pad: 1, multiplier: 2, bias: false)", ((4, 9, 9),),
             (8, 5, 5), 8 * 9, 8 * 5 * 5 * 1 * 9,
             seq(lambda: nn.Conv2d(4, 8, 3, 2, 1, groups=4, bias=False))),
        Case("depthwise(x0, 3, stride: 2, pad: 1, multiplier: 2)", ((3, 9, 9),), (6, 5, 5),
             6 * 9 + 6, 6 * 5 * 5 * 1 * 9, seq(lambda: nn.Conv2d(3, 6, 3, 2, 1, groups=3))),
    ],
    "conv_transpose": [
        Case("conv_transpose(x0, 4, 3, stride: 2, pad: 1, output_pad: 1)", ((6, 5, 5),),
             (4, 10, 10), 6 * 4 * 9 + 4, 6 * 5 * 5 * 4 * 9,
             seq(lambda: nn.ConvTranspose2d(6, 4, 3, 2, 1, output_padding=1))),
        Case("conv_transpose(x0, 4, 3, stride: 2, pad: 1, output_pad: 1)", ((3, 8, 8),),
             (4, 16, 16), 3 * 4 * 9 + 4, 3 * 8 * 8 * 4 * 9,
             seq(lambda: nn.ConvTranspose2d(3, 4, 3, 2, 1, output_padding=1))),
        Case("conv_transpose(x0, 6, 2, stride: 2, groups: 3, bias: false)", ((3, 4, 4),),
             (6, 8, 8), 3 * 2 * 4, 3 * 4 * 4 * 2 * 4,
             seq(lambda: nn.ConvTranspose2d(3, 6, 2, 2, groups=3, bias=False))),
        Case("conv_transpose(x0, 2, 3, dilation: 2)", ((2, 5, 5),), (2, 9, 9), 2 * 2 * 9 + 2,
             2 * 5 * 5 * 2 * 9, seq(lambda: nn.ConvTranspose2d(2, 2, 3, dilation=2))),
        Case("conv_transpose(x0, 3, 4, stride: 3, output_pad: 2)", ((2, 6),), (3, 21),
             2 * 3 * 4 + 3, 2 * 6 * 3 * 4,
             seq(lambda: nn.ConvTranspose1d(2, 3, 4, 3, output_padding=2))),
    ],
    "maxpool": [
        # with its indices the call gives a list: the pooled values first
        Case("maxpool(x0, 2, indices: true)[0]", ((2, 6, 6),), (2, 3, 3), 0, 2 * 3 * 3 * 4,
             seq(lambda: nn.MaxPool2d(2))),
        Case("maxpool(x0, 3, stride: 2, pad: 1)", ((2, 9, 9),), (2, 5, 5), 0, 2 * 5 * 5 * 9,
             seq(lambda: nn.MaxPool2d(3, 2, 1))),
        Case("maxpool(x0, 2, ceil: true)", ((2, 9, 9),), (2, 5, 5), 0, 2 * 5 * 5 * 4,
             seq(lambda: nn.MaxPool2d(2, ceil_mode=True))),
        # ceil mode drops a last window that would start in the end padding (PyTorch, ONNX)
        Case("maxpool(x0, 2, pad: 1, ceil: true)", ((1, 5, 5),), (1, 3, 3), 0, 1 * 3 * 3 * 4,
             seq(lambda: nn.MaxPool2d(2, 2, 1, ceil_mode=True))),
        Case("maxpool(x0, 2, stride: 1, dilation: 2)", ((1, 8, 8),), (1, 6, 6), 0, 6 * 6 * 4,
             seq(lambda: nn.MaxPool2d(2, 1, dilation=2))),
        Case("maxpool(x0, 3, stride: 2, floor: true)", ((2, 10),), (2, 4), 0, 2 * 4 * 3,
             seq(lambda: nn.MaxPool1d(3, 2))),
    ],
    "avgpool": [
        Case("avgpool(x0, 3, stride: 2, pad: 1, count_include_pad: false)", ((2, 9, 9),),
             (2, 5, 5), 0, 2 * 5 * 5 * 9,
             seq(lambda: nn.AvgPool2d(3, 2, 1, count_include_pad=False))),
        Case("avgpool(x0, 3, stride: 2, pad: 1)", ((2, 9, 9),), (2, 5, 5), 0, 2 * 5 * 5 * 9,
             seq(lambda: nn.AvgPool2d(3, 2, 1))),
        Case("avgpool(x0, 2, ceil: true)", ((2, 9, 9),), (2, 5, 5), 0, 2 * 5 * 5 * 4,
             seq(lambda: nn.AvgPool2d(2, ceil_mode=True))),
        # a last window in the end padding is dropped; the lowering reduces the end padding
        Case("avgpool(x0, 2, pad: 1, ceil: true)", ((1, 5, 5),), (1, 3, 3), 0, 1 * 3 * 3 * 4,
             seq(lambda: nn.AvgPool2d(2, 2, 1, ceil_mode=True))),
        Case("avgpool(x0, 2, pad: 1, ceil: true, count_include_pad: false)", ((1, 5, 5),),
             (1, 3, 3), 0, 1 * 3 * 3 * 4,
             seq(lambda: nn.AvgPool2d(2, 2, 1, ceil_mode=True, count_include_pad=False))),
        Case("avgpool(x0, 2)", ((6, 28, 28),), (6, 14, 14), 0, 6 * 14 * 14 * 4,
             seq(lambda: nn.AvgPool2d(2))),
        # the fuzzer's find: heights drop the last window (14 + 2 -> 5), widths need one more
        # than the padding (30 + 2 -> 11): torch's divisor counts the pad, not the overflow
        Case("avgpool(x0, 3, pad: 1, ceil: true)", ((2, 14, 30),), (2, 5, 11), 0,
             2 * 5 * 11 * 9, seq(lambda: nn.AvgPool2d(3, 3, 1, ceil_mode=True))),
        Case("avgpool(x0, 3, pad: 1, ceil: true, count_include_pad: false)", ((2, 14, 30),),
             (2, 5, 11), 0, 2 * 5 * 11 * 9,
             seq(lambda: nn.AvgPool2d(3, 3, 1, ceil_mode=True, count_include_pad=False))),
        Case("avgpool(x0, [2, 3], stride: 2, pad: 1, ceil: true)", ((1, 5, 6),), (1, 3, 4), 0,
             3 * 4 * 6, seq(lambda: nn.AvgPool2d((2, 3), 2, 1, ceil_mode=True))),
    ],
    "globalavgpool": [Case("globalavgpool(x0)", ((4, 7, 7),), (4, 1, 1), 0, 4 * 7 * 7,
                           seq(lambda: nn.AdaptiveAvgPool2d(1)))],
    "globalmaxpool": [Case("globalmaxpool(x0)", ((4, 7, 7),), (4, 1, 1), 0, 4 * 7 * 7,
                           seq(lambda: nn.AdaptiveMaxPool2d(1)))],
    # windows [floor(o*n/m), ceil((o+1)*n/m)): heights 7 -> 2 sum 4 + 4 elements, widths
    # 9 -> 3 sum 3 + 3 + 3; one add per element of every window
    "adaptive_avgpool": [
        Case("adaptive_avgpool(x0, [2, 3])", ((3, 7, 9),), (3, 2, 3), 0, 3 * 8 * 9,
             seq(lambda: nn.AdaptiveAvgPool2d((2, 3)))),
        Case("adaptive_avgpool(x0, 3)", ((2, 6, 6),), (2, 3, 3), 0, 2 * 6 * 6,
             seq(lambda: nn.AdaptiveAvgPool2d(3))),
        Case("adaptive_avgpool(x0, 4)", ((3, 8, 8),), (3, 4, 4), 0, 3 * 8 * 8,
             seq(lambda: nn.AdaptiveAvgPool2d(4))),
        # heights 8 -> 3: 3 + 4 + 3; widths 8 -> 5: 2 + 3 + 2 + 3 + 2 (uneven: matrices)
        Case("adaptive_avgpool(x0, [3, 5])", ((3, 8, 8),), (3, 3, 5), 0, 3 * 10 * 12,
             seq(lambda: nn.AdaptiveAvgPool2d((3, 5)))),
        Case("adaptive_avgpool(x0, 8)", ((3, 8, 8),), (3, 8, 8), 0, 3 * 8 * 8,
             seq(lambda: nn.AdaptiveAvgPool2d(8))),
    ],
    "dense": [Case("dense(x0, 5)", ((16,),), (5,), 16 * 5 + 5, 16 * 5,
                   seq(lambda: nn.Linear(16, 5))),
              Case("dense(x0, 5, bias: false)", ((16,),), (5,), 80, 80,
                   seq(lambda: nn.Linear(16, 5, bias=False))),
              # the last axis of a sequence [N, L, C] and of a channels-last map, as nn.Linear
              Case("dense(x0, 5)", ((7, 16),), (7, 5), 16 * 5 + 5, 7 * 16 * 5,
                   seq(lambda: nn.Linear(16, 5))),
              Case("dense(x0, 3, bias: false)", ((2, 3, 4),), (2, 3, 3), 12, 2 * 3 * 4 * 3,
                   seq(lambda: nn.Linear(4, 3, bias=False)))],
    "slice": [Case("slice(x0, 1, 2, 6)", ((8, 4, 4),), (4, 4, 4), 0, 0,
                   fn(lambda x: x[:, 2:6])),
              Case("slice(x0, 3, 1, -1, step: 2)", ((2, 5, 7),), (2, 5, 3), 0, 0,
                   fn(lambda x: x[..., 1:-1:2])),
              Case("slice(x0, axis: -2, start: -3)", ((2, 5, 7),), (2, 3, 7), 0, 0,
                   fn(lambda x: x[:, :, -3:])),
              Case("slice(x0, 2, 1, 4)", ((2, 5, 7),), (2, 3, 7), 0, 0,
                   fn(lambda x: torch.narrow(x, 2, 1, 3)))],
    "split": [Case("split(x0, [2, 6])[1]", ((8, 3, 3),), (6, 3, 3), 0, 0,
                   fn(lambda x: torch.split(x, [2, 6], 1)[1]), made="slice"),
              Case("split(x0, [3, 4], axis: 3)[0]", ((2, 4, 7),), (2, 4, 3), 0, 0,
                   fn(lambda x: torch.split(x, [3, 4], 3)[0]), made="slice"),
              Case("split(x0, 3)[2]", ((8, 2, 2),), (2, 2, 2), 0, 0,
                   fn(lambda x: torch.split(x, 3, 1)[2]), made="slice")],
    "chunk": [Case("chunk(x0, 2)[1]", ((8, 3, 3),), (4, 3, 3), 0, 0,
                   fn(lambda x: torch.chunk(x, 2, 1)[1]), made="slice"),
              Case("chunk(x0, 3, axis: -1)[2]", ((2, 3, 6),), (2, 3, 2), 0, 0,
                   fn(lambda x: torch.chunk(x, 3, -1)[2]), made="slice")],
    "permute": [Case("permute(x0, [0, 2, 3, 1])", ((3, 4, 5),), (4, 5, 3), 0, 0,
                     fn(lambda x: x.permute(0, 2, 3, 1)))],
    "transpose": [Case("transpose(x0, 1, 2)", ((2, 3, 4, 5),), (3, 2, 4, 5), 0, 0,
                       fn(lambda x: x.transpose(1, 2))),
                  Case("transpose(x0, -1, -2)", ((3, 4, 5),), (3, 5, 4), 0, 0,
                       fn(lambda x: x.transpose(-1, -2)))],
    "channel_shuffle": [
        Case("channel_shuffle(x0, 2)", ((6, 3, 3),), (6, 3, 3), 0, 0,
             seq(lambda: nn.ChannelShuffle(2))),
        Case("channel_shuffle(x0, 3)", ((6, 2, 2),), (6, 2, 2), 0, 0,
             fn(lambda x: _shufflenet_channel_shuffle()(x, 3)))],
    "layer_norm": [
        Case("layer_norm(x0)", ((5, 8),), (5, 8), 16, 4 * 5 * 8, seq(lambda: nn.LayerNorm(8))),
        # torchvision's LayerNorm2d (ConvNeXt): over the channels of NCHW
        Case("layer_norm(x0, axis: 1, eps: 1e-6)", ((4, 3, 3),), (4, 3, 3), 8, 4 * 4 * 3 * 3,
             lambda: _layer_norm_2d(4, 1e-6))],
    "matmul": [Case("matmul(x0, x1)", ((3, 4), (4, 5)), (3, 5), 0, 3 * 4 * 5,
                    fn(lambda a, b: torch.matmul(a, b))),
               Case("matmul(x0, x1)", ((2, 3, 4), (1, 4, 5)), (2, 3, 5), 0, 2 * 3 * 4 * 5,
                    fn(lambda a, b: torch.matmul(a, b)))],
    "maxunpool": [
        Case("maxunpool(maxpool(x0, 2, indices: true)[0], 2, "
             "indices: maxpool(x0, 2, indices: true)[1])", ((3, 6, 6),), (3, 6, 6), 0, 0,
             lambda: _unpool(2, 2, same_size=False)),
        # the pool rounded 8 down to 3: `like:` gives the size back, as output_size does
        Case("maxunpool(maxpool(x0, 3, 2, floor: true, indices: true)[0], 3, 2, "
             "indices: maxpool(x0, 3, 2, floor: true, indices: true)[1], like: x0)",
             ((2, 8, 8),), (2, 8, 8), 0, 0, lambda: _unpool(3, 2, same_size=True))],
    "flatten": [Case("flatten(x0)", ((3, 4, 5),), (60,), 0, 0, seq(lambda: nn.Flatten()))],
    "reshape": [Case("reshape(x0, [3, -1])", ((3, 8, 8),), (3, 64), 0, 0,
                     fn(lambda x: x.reshape(x.shape[0], 3, -1)))],
    "relu": [Case("relu(x0)", ((3, 4, 4),), (3, 4, 4), 0, 48, seq(lambda: nn.ReLU()))],
    "relu6": [Case("relu6(x0)", ((3, 4, 4),), (3, 4, 4), 0, 48, seq(lambda: nn.ReLU6()))],
    "leaky_relu": [Case("leaky_relu(x0, 0.2)", ((3, 4, 4),), (3, 4, 4), 0, 48,
                        seq(lambda: nn.LeakyReLU(0.2)))],
    "elu": [Case("elu(x0, 0.5)", ((3, 4, 4),), (3, 4, 4), 0, 48, seq(lambda: nn.ELU(0.5)))],
    "tanh": [Case("tanh(x0)", ((3, 4, 4),), (3, 4, 4), 0, 48, seq(lambda: nn.Tanh()))],
    "sigmoid": [Case("sigmoid(x0)", ((3, 4, 4),), (3, 4, 4), 0, 48,
                     seq(lambda: nn.Sigmoid()))],
    "softmax": [Case("softmax(x0)", ((10,),), (10,), 0, 3 * 10, seq(lambda: nn.Softmax(1))),
                Case("softmax(x0)", ((3, 8, 8),), (3, 8, 8), 0, 3 * 3 * 8 * 8,
                     seq(lambda: nn.Softmax(1))),
                Case("softmax(x0, axis: 3)", ((3, 4, 5),), (3, 4, 5), 0, 3 * 60,
                     seq(lambda: nn.Softmax(3)))],
    "gelu": [Case("gelu(x0)", ((3, 4, 4),), (3, 4, 4), 0, 48, seq(lambda: nn.GELU()))],
    "silu": [Case("silu(x0)", ((3, 4, 4),), (3, 4, 4), 0, 48, seq(lambda: nn.SiLU()))],
    "swish": [Case("swish(x0)", ((3, 4, 4),), (3, 4, 4), 0, 48, seq(lambda: nn.SiLU()))],
    "hardswish": [Case("hardswish(x0)", ((3, 4, 4),), (3, 4, 4), 0, 48,
                       seq(lambda: nn.Hardswish()))],
    "hardsigmoid": [Case("hardsigmoid(x0)", ((3, 4, 4),), (3, 4, 4), 0, 48,
                         seq(lambda: nn.Hardsigmoid()))],
    "dropout": [Case("dropout(x0, 0.3)", ((3, 4, 4),), (3, 4, 4), 0, 0,
                     seq(lambda: nn.Dropout(0.3)))],
    "identity": [Case("identity(x0)", ((3, 4, 4),), (3, 4, 4), 0, 0,
                      seq(lambda: nn.Identity()))],
    "bn": [Case("bn(x0)", ((4, 5, 5),), (4, 5, 5), 2 * 4, 4 * 5 * 5,
                seq(lambda: nn.BatchNorm2d(4)), buffers=2 * 4),
           Case("bn(x0, eps: 0.001)", ((6,),), (6,), 2 * 6, 6,
                seq(lambda: nn.BatchNorm1d(6, eps=1e-3)), buffers=2 * 6)],
    "lrn": [Case("lrn(x0, size: 3, alpha: 0.01, beta: 0.75, k: 2)", ((6, 4, 4),), (6, 4, 4), 0,
                 3 * 6 * 4 * 4, seq(lambda: nn.LocalResponseNorm(3, 0.01, 0.75, 2.0))),
            # the defaults: torch's k is 1, ours AlexNet's 2
            Case("lrn(x0, size: 3)", ((3, 8, 8),), (3, 8, 8), 0, 3 * 3 * 8 * 8,
                 seq(lambda: nn.LocalResponseNorm(3, k=2.0))),
            # onnxruntime's LRN takes 4-D only: other ranks lower through a 4-D view
            Case("lrn(x0, size: 3)", ((5, 7),), (5, 7), 0, 3 * 5 * 7,
                 seq(lambda: nn.LocalResponseNorm(3, k=2.0))),
            Case("lrn(x0, size: 3)", ((4, 3, 2, 5),), (4, 3, 2, 5), 0, 3 * 4 * 3 * 2 * 5,
                 seq(lambda: nn.LocalResponseNorm(3, k=2.0)))],
    "add": [Case("x0 + x1", ((3, 4, 4), (3, 4, 4)), (3, 4, 4), 0, 1 * 48,
                 fn(lambda a, b: a + b)),
            # broadcasting: one side grows to the other's shape (a position embedding's rule)
            Case("x0 + x1", ((1, 4, 4), (3, 4, 4)), (3, 4, 4), 0, 1 * 48,
                 fn(lambda a, b: a + b)),
            Case("add(x0, x1, x0)", ((3, 4, 4), (3, 4, 4)), (3, 4, 4), 0, 2 * 48,
                 fn(lambda a, b: a + b + a))],
    "mul": [Case("x0 * x1", ((3, 4, 4), (3, 1, 1)), (3, 4, 4), 0, 48, fn(lambda a, b: a * b)),
            Case("x0 * x1", ((3, 8, 8), (3, 8, 8)), (3, 8, 8), 0, 3 * 8 * 8,
                 fn(lambda a, b: a * b)),
            Case("x0 * x1", ((3, 1, 4), (1, 5, 1)), (3, 5, 4), 0, 3 * 5 * 4,
                 fn(lambda a, b: a * b)),
            Case("x0 * gamma", ((3, 4, 4),), (3, 4, 4), 3, 48, _scaled((3, 1, 1)),
                 setup="param gamma: [3, 1, 1] = 1e-6")],
    "expand": [Case("concat(expand(token, like: x0), x0, axis: 1)", ((6, 8),), (7, 8), 8, 0,
                    _class_token(8), setup="param token: [1, 1, 8]")],
    "attention": [
        # MACs: L x D x (4D + 2L), L = 5 tokens, D = 16
        Case("attention(x0, 4)", ((5, 16),), (5, 16), 3 * 16 * 16 + 3 * 16 + 16 * 16 + 16,
             5 * 16 * (4 * 16 + 2 * 5), _self_attention(16, 4)),
        Case("attention(x0, heads: 2, bias: false)", ((7, 12),), (7, 12), 4 * 12 * 12,
             7 * 12 * (4 * 12 + 2 * 7), _self_attention(12, 2, bias=False))],
    "concat": [Case("concat(x0, x1)", ((3, 4, 4), (5, 4, 4)), (8, 4, 4), 0, 0,
                    fn(lambda a, b: torch.cat([a, b], 1))),
               Case("concat(x0, x1, x0, axis: 3)", ((3, 4, 4), (3, 4, 2)), (3, 4, 10), 0, 0,
                    fn(lambda a, b: torch.cat([a, b, a], 3)))],
    # even margins: torchvision's center_crop is the reference; odd ones put the extra row at
    # the end
    "crop": [Case("crop(x0, size: [4, 6])", ((2, 8, 8),), (2, 4, 6), 0, 0,
                  fn(lambda x: TF.center_crop(x, [4, 6]))),
             Case("crop(x0, size: [5, 4])", ((3, 8, 8),), (3, 5, 4), 0, 0,
                  fn(lambda x: x[:, :, 1:6, 2:6])),
             Case("crop(x0, like: x1)", ((2, 10, 8), (1, 6, 4)), (2, 6, 4), 0, 0,
                  fn(lambda x, r: TF.center_crop(x, list(r.shape[2:])))),
             Case("crop(x0, like: x1)", ((3, 8, 8), (3, 5, 5)), (3, 5, 5), 0, 0,
                  fn(lambda x, r: x[:, :, 1:6, 1:6])),
             Case("crop(x0, size: [4, 4], offset: [1, 3])", ((2, 8, 8),), (2, 4, 4), 0, 0,
                  fn(lambda x: x[:, :, 1:5, 3:7]))],
    "pad": [Case("pad(x0, 1)", ((3, 4, 4),), (3, 6, 6), 0, 0, seq(lambda: nn.ZeroPad2d(1))),
            Case('pad(x0, [1, 2, 0, 3], mode: "reflect")', ((3, 5, 5),), (3, 6, 10), 0, 0,
                 seq(lambda: nn.ReflectionPad2d((2, 3, 1, 0)))),
            Case('pad(x0, 2, mode: "edge")', ((3, 4, 4),), (3, 8, 8), 0, 0,
                 seq(lambda: nn.ReplicationPad2d(2))),
            Case("pad(x0, channels: 5)", ((3, 4, 4),), (8, 4, 4), 0, 0,
                 fn(lambda x: F.pad(x, (0, 0, 0, 0, 0, 5))))],
    "upsample": [
        Case("upsample(x0, scale: 2)", ((3, 4, 5),), (3, 8, 10), 0, 0,
             seq(lambda: nn.Upsample(scale_factor=2, mode="nearest"))),
        Case('upsample(x0, size: [5, 12], mode: "bilinear")', ((3, 4, 4),), (3, 5, 12), 0,
             4 * 3 * 5 * 12, seq(lambda: nn.Upsample(size=(5, 12), mode="bilinear"))),
        Case('upsample(x0, scale: 2, mode: "bicubic")', ((2, 4, 4),), (2, 8, 8), 0,
             16 * 2 * 8 * 8, seq(lambda: nn.Upsample(scale_factor=2, mode="bicubic"))),
        Case('upsample(x0, scale: 1.5, mode: "bicubic")', ((3, 8, 8),), (3, 12, 12), 0,
             16 * 3 * 12 * 12, seq(lambda: nn.Upsample(scale_factor=1.5, mode="bicubic"))),
        Case('upsample(x0, scale: 2, mode: "bilinear", align_corners: true)', ((2, 4, 4),),
             (2, 8, 8), 0, 4 * 2 * 8 * 8,
             seq(lambda: nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True))),
        Case("upsample(x0, like: x1)", ((2, 4, 4), (1, 12, 8)), (2, 12, 8), 0, 0,
             fn(lambda x, r: F.interpolate(x, size=r.shape[2:], mode="nearest"))),
    ],
}

def _shufflenet_channel_shuffle() -> Any:
    from torchvision.models.shufflenetv2 import channel_shuffle
    return channel_shuffle


def _layer_norm_2d(c: int, eps: float) -> Any:
    from torchvision.models.convnext import LayerNorm2d
    return LayerNorm2d(c, eps=eps)


def _unpool(k: int, s: int, same_size: bool) -> Any:
    """nn.MaxPool2d(return_indices=True), then nn.MaxUnpool2d with its indices (and, with
    same_size, output_size the pool's input)."""
    pool, unpool = nn.MaxPool2d(k, s, return_indices=True), nn.MaxUnpool2d(k, s)

    def run(x: Any) -> Any:
        p, idx = pool(x)
        return unpool(p, idx, output_size=x.shape if same_size else None)
    return run


ROWS = [(op, i, case) for op, cases in CASES.items() for i, case in enumerate(cases)]
IDS = [f"{op}-{i}" for op, i, _ in ROWS]


def body(case: Case) -> str:
    """The network's lines: one input per shape, and the output the call makes."""
    decl = "\n".join(f"  input x{i}: [N, {', '.join(map(str, s))}]"
                     for i, s in enumerate(case.inputs))
    setup = "".join(f"\n  {line}" for line in case.setup.splitlines())
    return f"{decl}{setup}\n  output y = {case.call}"


def program(case: Case) -> str:
    return f"network t {{\n{body(case)}\n}}\n"
