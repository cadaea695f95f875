"""The lecture's numbers (I2DL, CNN lectures; /work/shared/seed), reproduced by netdsl's shape
checker and cost analysis. Every constant here is printed on a slide; where torch has the same
layers, it is consulted too (those tests skip without torch)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

import netdsl
from conftest import ZOO, check_text, errors_of, rendered

if TYPE_CHECKING:
    from torch import nn


def net(body: str, inp: str) -> str:
    return f"network n {{\n  input x: {inp}\n  {body}\n}}\n"


def output_shape(text: str) -> tuple:
    checked = check_text(text)
    return checked.graph.node(checked.graph.outputs["y"]).shape


def layer_macs(text: str) -> dict[str, int]:
    return {lay.name: lay.macs for lay in check_text(text).stats.layers if lay.op != "input"}


# slide 6-8: 32x32x3 image, 5x5x3 filters, no padding -> 28x28 activation maps, five of them
def test_five_filters_on_a_32x32x3_image_give_28x28x5():
    assert output_shape(net("x -> conv(5, 5) -> output y", "[N, 3, 32, 32]")) == ("N", 5, 28, 28)


# slide 10: N = 7, F = 3: S = 1 -> 5, S = 2 -> 3, S = 3 -> 2.33, "fractions are illegal"
@pytest.mark.parametrize("stride,size", [(1, 5), (2, 3)])
def test_a_7x7_input_with_a_3x3_filter(stride, size):
    text = net(f"x -> conv(1, 3, stride: {stride}) -> output y", "[N, 1, 7, 7]")
    assert output_shape(text) == ("N", 1, size, size)


def test_stride_3_on_7x7_is_the_fractional_size_error():
    text = net("x -> conv(1, 3, stride: 3) -> output y", "[N, 1, 7, 7]")
    assert rendered(text) == """\
test.net:3:19: error[E302]: conv: stride 3 does not tile the input height 7: \
(7 - 3 + 2*0)/3 + 1 = 2.33: fractions are illegal
  |
3 |   x -> conv(1, 3, stride: 3) -> output y
  |   - [N, 1, 7, 7]
  |                   ^^^^^^^^^
  |
  = hint: pad 1 or stride 2 gives a whole size; `pad: same` gives ceil(7/3) = 3; or pass \
`floor: true` to round down to 2
  = hint: input sizes 6 and 9 fit"""


def test_the_suggested_fixes_do_give_whole_sizes():
    for fix in ("stride: 3, pad: 1", "stride: 2", "stride: 3, pad: same"):
        text = net(f"x -> conv(1, 3, {fix}) -> output y", "[N, 1, 7, 7]")
        assert output_shape(text)[2] == 3


# slide 12: "3x3 conv with same padding and strides of 2 on a 64x64 RGB image -> N = 64, F = 3,
# P = 1, S = 2: floor(32.5) x floor(32.5) = 32 x 32"; the slide floors, netdsl asks for it
def test_64x64_3x3_pad_1_stride_2_floors_to_32x32():
    floored = net("x -> conv(8, 3, stride: 2, pad: 1, floor: true) -> output y", "[N, 3, 64, 64]")
    assert output_shape(floored) == ("N", 8, 32, 32)
    same = net("x -> conv(8, 3, stride: 2, pad: same) -> output y", "[N, 3, 64, 64]")
    assert output_shape(same) == ("N", 8, 32, 32)
    (d,) = errors_of(net("x -> conv(8, 3, stride: 2, pad: 1) -> output y", "[N, 3, 64, 64]"))
    assert d.code == "E302" and "(64 - 3 + 2*1)/2 + 1 = 32.50" in d.message


def test_torch_floors_64x64_3x3_pad_1_stride_2_to_32x32(torch):
    ref = torch.nn.Conv2d(3, 8, 3, stride=2, padding=1)(torch.zeros(1, 3, 64, 64)).shape
    assert tuple(ref[2:]) == (32, 32)


# slide 15: two stacked 3x3 convs: a 3x3 output of a 7x7 input, each value sees 5x5 pixels
def test_two_stacked_3x3_convs_see_5x5():
    checked = check_text(net("x -> conv(1, 3) -> conv(1, 3) -> output y", "[N, 1, 7, 7]"))
    out = checked.stats.by_name()[checked.graph.outputs["y"]]
    assert out.shape == ("N", 1, 3, 3)
    assert out.rf is not None and out.rf.size == (5.0, 5.0) and out.rf.jump == (1.0, 1.0)


# slides 68-69: a 5x5 conv from 32x32x200 to 92 channels, and with a 1x1 bottleneck to 16 first
def test_inception_cost_5x5_on_32x32x200():
    macs = layer_macs(net("output y = conv(x, 92, 5, pad: same)", "[N, 200, 32, 32]"))
    assert macs == {"y": 471_040_000}  # 5x5x200 x 32x32x92, "~470 million"


def test_inception_cost_with_a_1x1_bottleneck():
    text = net("y = x -> reduce: conv(16, 1) -> conv5: conv(92, 5, pad: same)\n  output y = y",
               "[N, 200, 32, 32]")
    macs = layer_macs(text)
    # 1x1x200 x 32x32x16 and 5x5x16 x 32x32x92, "~40 million"
    assert macs == {"reduce": 3_276_800, "conv5": 37_683_200}
    assert sum(macs.values()) * 10 < 471_040_000 + 10_000_000  # "reduction by 1/10"


# slide 67: naive inception module, 28x28x192 -> 28x28x416
NAIVE = """
network naive {
  input x: [N, 192, 28, 28]
  a = x -> conv(64, 1)
  b = x -> conv(128, 3, pad: same)
  c = x -> conv(32, 5, pad: same)
  d = x -> maxpool(3, stride: 1, pad: same)
  output y = concat(a, b, c, d)
}
"""

# slide 71: with dimension reductions, 28x28x192 -> 28x28x256 [Szegedy et al. CVPR'15, 3a]
REDUCED = """
network reduced {
  input x: [N, 192, 28, 28]
  a = x -> conv(64, 1)
  b = x -> conv(96, 1) -> conv(128, 3, pad: 1)
  c = x -> conv(16, 1) -> conv(32, 5, pad: 2)
  d = x -> maxpool(3, stride: 1, pad: 1) -> conv(32, 1)
  output y = concat(a, b, c, d)
}
"""


def _torch_inception(branches: list[nn.Module]) -> tuple[tuple[int, ...], int]:
    import torch
    x = torch.zeros(1, 192, 28, 28)
    y = torch.cat([b(x) for b in branches], 1)
    return tuple(y.shape[1:]), sum(p.numel() for b in branches for p in b.parameters())


def test_naive_inception_module_gives_28x28x416(torch):
    nn = torch.nn
    shape, params = _torch_inception([
        nn.Conv2d(192, 64, 1), nn.Conv2d(192, 128, 3, padding=1),
        nn.Conv2d(192, 32, 5, padding=2), nn.MaxPool2d(3, 1, 1)])
    checked = check_text(NAIVE)
    assert shape == (416, 28, 28)
    assert output_shape(NAIVE) == ("N", 416, 28, 28)
    assert checked.stats.params == params


def test_inception_module_with_reductions_gives_28x28x256(torch):
    nn = torch.nn
    shape, params = _torch_inception([
        nn.Conv2d(192, 64, 1),
        nn.Sequential(nn.Conv2d(192, 96, 1), nn.Conv2d(96, 128, 3, padding=1)),
        nn.Sequential(nn.Conv2d(192, 16, 1), nn.Conv2d(16, 32, 5, padding=2)),
        nn.Sequential(nn.MaxPool2d(3, 1, 1), nn.Conv2d(192, 32, 1))])
    assert shape == (256, 28, 28)
    assert output_shape(REDUCED) == ("N", 256, 28, 28)
    assert check_text(REDUCED).stats.params == params
    naive = sum(lay.macs for lay in check_text(NAIVE).stats.layers if lay.op == "conv")
    reduced = sum(lay.macs for lay in check_text(REDUCED).stats.layers if lay.op == "conv")
    assert reduced < naive / 2


# slides 78-79: 256 kernels of 5x5x3 at 8x8 locations = 1,228,800 multiplications; depthwise
# 5x5x3 x 8x8 = 4,800, then 256 1x1x3 kernels x 8x8 = 49,152
def test_original_convolution_costs_1_228_800():
    assert layer_macs(net("output y = conv(x, 256, 5)", "[N, 3, 12, 12]")) == {"y": 1_228_800}


def test_depthwise_then_pointwise_cost_4_800_and_49_152():
    text = net("y = x -> dw: depthwise(5, bias: false) -> pw: conv(256, 1, bias: false)\n"
               "  output y = y", "[N, 3, 12, 12]")
    assert layer_macs(text) == {"dw": 4_800, "pw": 49_152}
    assert output_shape(text) == ("N", 256, 8, 8)


def test_the_prelude_separable_block_costs_the_same(torch):
    nn = torch.nn
    text = net("sep = x -> separable(256, 5, pad: valid)\n  output y = sep", "[N, 3, 12, 12]")
    assert layer_macs(text) == {"sep.depthwise": 4_800, "sep.pointwise": 49_152}
    ref = nn.Sequential(nn.Conv2d(3, 3, 5, groups=3, bias=False), nn.Conv2d(3, 256, 1, bias=False))
    assert check_text(text).stats.params == sum(p.numel() for p in ref.parameters())


# LeNet-5 [LeCun et al. 98], as in the lecture: about 60k parameters; exactly 61,706
def test_lenet5_has_61_706_parameters(torch):
    nn = torch.nn
    ref = nn.Sequential(nn.Conv2d(1, 6, 5), nn.Tanh(), nn.AvgPool2d(2), nn.Conv2d(6, 16, 5),
                        nn.Tanh(), nn.AvgPool2d(2), nn.Conv2d(16, 120, 5), nn.Tanh(),
                        nn.Flatten(), nn.Linear(120, 84), nn.Tanh(), nn.Linear(84, 10))
    assert ref(torch.zeros(1, 1, 32, 32)).shape == (1, 10)
    assert sum(p.numel() for p in ref.parameters()) == 61_706
    assert netdsl.load(ZOO / "lenet.net").stats.params == 61_706
