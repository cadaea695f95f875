"""Analyses on small graphs against torch: parameters and buffers (torch's split), MACs (torch's
FLOP counter), activation bytes, and receptive fields: size, jump and centre of every output
against the footprint of its gradient in torch. Skipped without torch; the analyses checked by
hand are in tests/test_analysis_by_hand.py."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import NEEDS_TORCH, check_text, floored_net, rf_of

pytest.importorskip("torch", reason=NEEDS_TORCH)
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

RESNETISH = """
block basic(x, width, stride = 1) {
  y = x -> conv1: conv(width, 3, stride: stride, pad: 1, bias: false) -> bn1: bn -> relu
        -> conv2: conv(width, 3, pad: 1, bias: false) -> bn2: bn
  skip = x
  if stride != 1 or x.channels != width {
    skip = x -> downsample: conv(width, 1, stride: stride, bias: false) -> bn
  }
  return relu(y + skip)
}
network small {
  input image: [N, 3, 32, 32]
  option floor: true   # a 3x3 stride-2 conv with pad 1 on an even size, as in ResNet
  x = image -> conv1: conv(16, 3, pad: 1, bias: false) -> bn1: bn -> relu
  x = x -> basic(16) -> basic(32, stride: 2)
  x -> globalavgpool -> flatten -> fc: dense(10) -> output logits
}
"""


class _Basic(nn.Module):
    def __init__(self, cin: int, width: int, stride: int = 1):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, width, 3, stride, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width))
        self.skip = (nn.Sequential(nn.Conv2d(cin, width, 1, stride, bias=False),
                                   nn.BatchNorm2d(width))
                     if stride != 1 or cin != width else nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.body(x) + self.skip(x))


def _torch_resnetish() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
                         _Basic(16, 16), _Basic(16, 32, 2), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(32, 10))


def test_params_and_buffers_split_as_torch_does():
    stats = check_text(RESNETISH).stats
    ref = _torch_resnetish()
    assert stats.params == sum(p.numel() for p in ref.parameters())
    running = [b for n, b in ref.named_buffers() if not n.endswith("num_batches_tracked")]
    assert stats.buffers == sum(b.numel() for b in running)
    by = stats.by_name()
    assert by["bn1"].params == 2 * 16 and by["bn1"].buffers == 2 * 16
    assert by["bn1"].param_shapes == {"weight": (16,), "bias": (16,)}
    assert by["bn1"].buffer_shapes == {"running_mean": (16,), "running_var": (16,)}
    assert sum(lay.params for lay in stats.layers) == stats.params


def test_conv_and_dense_macs_total_matches_torch_flop_counter():
    stats = check_text(RESNETISH).stats
    with FlopCounterMode(display=False) as counter:
        _torch_resnetish().eval()(torch.zeros(1, 3, 32, 32))
    counted = counter.get_flop_counts()["Global"]
    conv_dense = sum(lay.macs for lay in stats.layers if lay.op in ("conv", "dense"))
    assert 2 * conv_dense == counted[torch.ops.aten.convolution] + counted[torch.ops.aten.addmm]
    assert stats.flops == 2 * stats.macs
    assert stats.macs == sum(lay.macs for lay in stats.layers)


def test_activation_bytes_per_layer_are_float32_tensors_at_batch_1():
    stats = check_text(RESNETISH).stats
    by = stats.by_name()
    x = torch.zeros(1, 3, 32, 32)
    assert by["image"].activation_bytes == x.nbytes
    assert by["conv1"].activation_bytes == torch.zeros(1, 16, 32, 32).nbytes
    assert by["fc"].activation_bytes == torch.zeros(1, 10).nbytes


# ---------------------------------------------------------------------------- receptive fields

def footprint(model: nn.Module, shape: tuple[int, ...],
              at: tuple[int, ...]) -> list[tuple[int, int]]:
    """Per spatial axis, the first and last input index whose gradient reaches output `at`
    (all weights positive, so nothing cancels): the receptive field torch actually has."""
    for p in model.parameters():
        nn.init.constant_(p, 1.0)
    x = torch.zeros(1, *shape, requires_grad=True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # NOTE: tiny one-channel convs; threads only contend (100x slower)
    try:
        model(x)[(0, slice(None), *at)].sum().backward()
    finally:
        torch.set_num_threads(threads)
    assert x.grad is not None
    hit = x.grad.abs().sum(dim=(0, 1)) > 0
    out = []
    for axis in range(hit.dim()):
        other = tuple(a for a in range(hit.dim()) if a != axis)
        idx = torch.nonzero(hit.any(dim=other) if other else hit).flatten()
        out.append((int(idx.min()), int(idx.max())))
    return out


# (id, netdsl pipeline, torch model; avgpool stands for maxpool: same window, all of it in the
# gradient)
EXACT = [
    ("two-3x3", "conv(1, 3) -> conv(1, 3)", lambda: nn.Sequential(
        nn.Conv2d(1, 1, 3), nn.Conv2d(1, 1, 3))),
    ("resnet-stem", "conv(1, 7, stride: 2, pad: 3) -> avgpool(3, stride: 2, pad: 1) "
     "-> conv(1, 3, pad: 1)", lambda: nn.Sequential(
         nn.Conv2d(1, 1, 7, 2, 3), nn.AvgPool2d(3, 2, 1), nn.Conv2d(1, 1, 3, 1, 1))),
    ("dilated", "conv(1, 3, dilation: 2) -> conv(1, 3, dilation: 4, pad: 2)",
     lambda: nn.Sequential(nn.Conv2d(1, 1, 3, dilation=2), nn.Conv2d(1, 1, 3, padding=2,
                                                                      dilation=4))),
    ("pool-then-conv", "avgpool(2) -> conv(1, 3) -> avgpool(2) -> conv(1, 3)",
     lambda: nn.Sequential(nn.AvgPool2d(2), nn.Conv2d(1, 1, 3), nn.AvgPool2d(2),
                           nn.Conv2d(1, 1, 3))),
    ("asymmetric-kernel", "conv(1, [5, 3], stride: [1, 2], pad: [2, 0])",
     lambda: nn.Sequential(nn.Conv2d(1, 1, (5, 3), (1, 2), (2, 0)))),
    ("pad-shifts-back", "pad(3) -> conv(1, 3, stride: 2)",
     lambda: nn.Sequential(nn.ZeroPad2d(3), nn.Conv2d(1, 1, 3, 2))),
    ("crop-shifts-start", "conv(1, 3) -> crop(size: [20, 24]) -> conv(1, 3)",
     lambda: nn.Sequential(nn.Conv2d(1, 1, 3), _Crop(9, 7, 20, 24), nn.Conv2d(1, 1, 3))),
]


class _Crop(nn.Module):
    def __init__(self, top: int, left: int, h: int, w: int):
        super().__init__()
        self.box = (top, left, h, w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t, lft, h, w = self.box
        return x[:, :, t:t + h, lft:lft + w]


@pytest.mark.parametrize("pipe,model", [c[1:] for c in EXACT], ids=[c[0] for c in EXACT])
def test_receptive_field_is_exact_where_windows_are_regular(pipe, model):
    rf = rf_of(floored_net(f"x -> {pipe} -> output y"))
    m = model()
    out = m(torch.zeros(1, 1, 40, 40)).shape[2:]
    def inside(o: tuple[int, int]) -> bool:  # the field lies within the input (no padding)
        return all(0 <= rf.start[a] + o[a] * rf.jump[a] - rf.size[a] / 2 and
                   rf.start[a] + o[a] * rf.jump[a] + rf.size[a] / 2 <= 40 for a in (0, 1))
    outputs = [(h, w) for h in range(out[0]) for w in range(out[1]) if inside((h, w))]
    assert outputs
    for o in outputs[::max(1, len(outputs) // 12)]:
        for axis, (lo, hi) in enumerate(footprint(m, (1, 40, 40), o)):
            assert hi - lo + 1 == rf.size[axis], (o, axis)
            centre = (lo + hi) / 2 + 0.5  # pixel centres at 0.5, 1.5, ...
            assert centre == pytest.approx(rf.start[axis] + o[axis] * rf.jump[axis]), (o, axis)


# (id, pipeline, torch model, the jump before upsampling)
UPSAMPLING = [
    ("conv-transpose-2-stride-2", "conv(1, 3, stride: 2) -> conv_transpose(1, 2, stride: 2)",
     lambda: nn.Sequential(nn.Conv2d(1, 1, 3, 2), nn.ConvTranspose2d(1, 1, 2, 2)), 2),
    ("conv-transpose-3-stride-2", "conv(1, 3, stride: 2) -> conv_transpose(1, 3, stride: 2, "
     "pad: 1, output_pad: 1)", lambda: nn.Sequential(
         nn.Conv2d(1, 1, 3, 2), nn.ConvTranspose2d(1, 1, 3, 2, 1, output_padding=1)), 2),
    ("conv-transpose-4-stride-2", "conv(1, 3, stride: 2) -> conv_transpose(1, 4, stride: 2, "
     "pad: 1)", lambda: nn.Sequential(nn.Conv2d(1, 1, 3, 2), nn.ConvTranspose2d(1, 1, 4, 2, 1)),
     2),
    ("nearest", "conv(1, 3, stride: 2) -> upsample(scale: 2) -> conv(1, 3)",
     lambda: nn.Sequential(nn.Conv2d(1, 1, 3, 2), nn.Upsample(scale_factor=2),
                           nn.Conv2d(1, 1, 3)), 2),
    ("bilinear", 'conv(1, 3, stride: 2) -> upsample(scale: 2, mode: "bilinear")',
     lambda: nn.Sequential(nn.Conv2d(1, 1, 3, 2), nn.Upsample(scale_factor=2, mode="bilinear")),
     2),
    ("bilinear-corners", 'conv(1, 3, stride: 4) -> upsample(scale: 4, mode: "bilinear", '
     "align_corners: true)", lambda: nn.Sequential(
         nn.Conv2d(1, 1, 3, 4), nn.Upsample(scale_factor=4, mode="bilinear",
                                            align_corners=True)), 4),
]


@pytest.mark.parametrize("pipe,model,jump_in", [c[1:] for c in UPSAMPLING],
                         ids=[c[0] for c in UPSAMPLING])
def test_receptive_field_through_upsampling_is_the_widest_and_the_mean_centre(pipe, model,
                                                                              jump_in):
    """Upsampling maps outputs onto inputs unevenly (outputs 2k and 2k + 1 of a nearest x2 read
    the same input), so the field reported is the widest any output has, and the centres lie on
    the line that fits the outputs' centres: their errors average to zero, and none is more
    than half the input's jump."""
    rf = rf_of(floored_net(f"x -> {pipe} -> output y", "[N, 1, 41, 41]"))
    m = model()
    n = m(torch.zeros(1, 1, 41, 41)).shape[-1]
    errors, sizes = [], []
    for o in range(4, n - 4):
        lo, hi = footprint(m, (1, 41, 41), (n // 2, o))[1]
        sizes.append(hi - lo + 1)
        errors.append((lo + hi) / 2 + 0.5 - (rf.start[1] + o * rf.jump[1]))
    assert max(sizes) == rf.size[1]
    assert abs(float(np.mean(errors))) < 0.05
    assert max(abs(e) for e in errors) <= jump_in / 2


def test_joined_branches_see_the_union_of_their_fields():
    text = floored_net("a = x -> conv(1, 3) -> conv(1, 3)\n  b = x -> crop(size: [36, 36]) -> "
                       "conv(1, 3, pad: 1)\n  output y = concat(a, b)")
    checked = check_text(text)
    rf = checked.stats.by_name()["y"].rf
    assert [d.code for d in checked.stats.warnings] == []  # both centred on input 2.5 + o

    class Both(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Sequential(nn.Conv2d(1, 1, 3), nn.Conv2d(1, 1, 3))
            self.b = nn.Sequential(_Crop(2, 2, 36, 36), nn.Conv2d(1, 1, 3, 1, 1))

        def forward(self, x):
            return torch.cat([self.a(x), self.b(x)], 1)
    for axis, (lo, hi) in enumerate(footprint(Both(), (1, 40, 40), (10, 10))):
        assert hi - lo + 1 == rf.size[axis] == 5


def _one_channel(model: nn.Module) -> nn.Module:
    """The same layers with one channel each (a receptive field does not depend on widths);
    max pooling becomes average pooling, whose gradient reaches its whole window."""
    for name, mod in list(model.named_modules()):
        parent = model.get_submodule(name.rpartition(".")[0]) if "." in name else model
        leaf = name.rpartition(".")[2]
        if isinstance(mod, nn.Conv2d):
            setattr(parent, leaf, nn.Conv2d(1, 1, mod.kernel_size, mod.stride, mod.padding,
                                            mod.dilation, bias=False))
        elif isinstance(mod, nn.BatchNorm2d):
            setattr(parent, leaf, nn.BatchNorm2d(1))
        elif isinstance(mod, nn.MaxPool2d):
            setattr(parent, leaf, nn.AvgPool2d(mod.kernel_size, mod.stride, mod.padding))
    return model


def test_receptive_field_of_resnet18_matches_torchvision(torchvision):
    """torchvision's resnet18 (its layers, strides and paddings), one channel wide, on a
    448x448 input: the gradient of the centre output of layer4 covers input pixels 7..441, a
    435-pixel field centred on 0.5 + 7 * 32."""
    m = _one_channel(torchvision.models.resnet18())
    body = nn.Sequential(*list(m.children())[:-2]).eval()
    (lo, hi), _ = footprint(body, (1, 448, 448), (7, 7))
    text = """
block basic(x, width, stride = 1) {
  y = x -> conv(width, 3, stride: stride, pad: 1) -> relu -> conv(width, 3, pad: 1)
  skip = x
  if stride != 1 or x.channels != width { skip = x -> conv(width, 1, stride: stride) }
  return relu(y + skip)
}
network r18 {
  input image: [N, 3, 448, 448]
  option floor: true
  x = image -> conv(64, 7, stride: 2, pad: 3) -> relu -> maxpool(3, stride: 2, pad: 1)
  x = x -> basic(64) * 2 -> basic(128, stride: 2) -> basic(128) -> basic(256, stride: 2)
        -> basic(256) -> basic(512, stride: 2) -> basic(512)
  output y = x
}
"""
    rf = rf_of(text)
    assert rf.size == (hi - lo + 1,) * 2 == (435, 435)
    assert rf.jump == (32.0, 32.0)
    assert rf.start[0] + 7 * rf.jump[0] == (lo + hi) / 2 + 0.5


def test_axes_moved_after_flatten_took_the_fields_away():
    """The generator's find (an IndexError): flatten of one position passes its field on (every
    feature sees that pixel), and a reshape then moved axes the field had been on. A 1-pixel
    input: every value sees that one pixel."""
    text = ("network g {\n  input x: [N, 4, 1]\n"
            "  x -> flatten -> reshape([4, 1]) -> output y\n}\n")
    rf = rf_of(text)
    assert (rf.size, rf.jump, rf.unknown) == ((1.0,), (1.0,), False)

class _UNet(nn.Module):
    """The original U-Net's geometry, one channel wide: unpadded 3x3 convs, 2x2 pools (average:
    the gradient reaches the whole window), 2x2 stride-2 up-convolutions, centre crops."""

    def __init__(self, levels: int):
        super().__init__()
        self.levels = levels

        def double(cin: int) -> nn.Module:
            return nn.Sequential(nn.Conv2d(cin, 1, 3), nn.Conv2d(1, 1, 3))
        self.down = nn.ModuleList([double(1) for _ in range(levels + 1)])
        self.up = nn.ModuleList([nn.ConvTranspose2d(1, 1, 2, 2) for _ in range(levels)])
        self.join = nn.ModuleList([double(2) for _ in range(levels)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i in range(self.levels):
            x = self.down[i](x)
            skips.append(x)
            x = F.avg_pool2d(x, 2)
        x = self.down[self.levels](x)
        for i in range(self.levels):
            x = self.up[i](x)
            skip = skips[self.levels - 1 - i]
            m = (skip.shape[-1] - x.shape[-1]) // 2
            x = self.join[i](torch.cat([skip[:, :, m:m + x.shape[-2], m:m + x.shape[-1]], x], 1))
        return x


def test_receptive_field_of_a_unet_is_right_on_average():
    """After up-convolutions and joins, outputs see fields of different widths (here 92 to 100
    pixels, by torch's gradients): the reported field lies within that range, no output's
    centre is off by more than its up-convolutions' jumps, and on average none is off."""
    text = """
network unet3 {
  input x: [N, 1, 124, 124]
  d0 = x -> conv(1, 3) -> conv(1, 3)
  d1 = d0 -> maxpool(2) -> conv(1, 3) -> conv(1, 3)
  d2 = d1 -> maxpool(2) -> conv(1, 3) -> conv(1, 3)
  d3 = d2 -> maxpool(2) -> conv(1, 3) -> conv(1, 3)
  t0 = d3 -> conv_transpose(1, 2, stride: 2)
  u0 = concat(crop(d2, like: t0), t0) -> conv(1, 3) -> conv(1, 3)
  t1 = u0 -> conv_transpose(1, 2, stride: 2)
  u1 = concat(crop(d1, like: t1), t1) -> conv(1, 3) -> conv(1, 3)
  t2 = u1 -> conv_transpose(1, 2, stride: 2)
  output y = concat(crop(d0, like: t2), t2) -> conv(1, 3) -> conv(1, 3)
}
"""
    checked = check_text(text)
    assert checked.stats.warnings == []
    rf = checked.stats.by_name()[checked.graph.outputs["y"]].rf
    model = _UNet(3)
    n = model(torch.zeros(1, 1, 124, 124)).shape[-1]
    sizes, errors = [], []
    for o in range(n):
        lo, hi = footprint(model, (1, 124, 124), (o, n // 2))[0]
        sizes.append(hi - lo + 1)
        errors.append((lo + hi) / 2 + 0.5 - (rf.start[0] + o * rf.jump[0]))
    assert min(sizes) <= rf.size[0] <= max(sizes)
    assert abs(float(np.mean(errors))) < 1e-9
    assert max(abs(e) for e in errors) <= 2
