"""Equivalence with PyTorch. Every row of tests/op_cases.py that names a torch reference: output
shape, parameter count and outputs (its weights loaded into our model by position) agree, and
torch's FLOP counter counts 2 x our MACs for convolutions and dense layers. Then small networks
that together use every operator in REGISTRY, each with a torch.nn reference written here; random
weights (BN running statistics included) go from the torch model's state_dict into our ONNX by
name; both run on the same random input and must agree within a max relative error of 1e-4
(float32)."""

from __future__ import annotations

import numpy as np
import pytest

import netdsl
from conftest import NEEDS_TORCH
from netdsl.ops import REGISTRY
from onnx_ref import newest_runnable_opset
from op_cases import IDS, ROWS, program
from torchvision_ref import max_relative_error, torch_state

pytest.importorskip("torch", reason=NEEDS_TORCH)
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

NEWEST = newest_runnable_opset()  # and 17, the default

TOLERANCE = 1e-4
WITH_TORCH = [pytest.param(*row, id=i) for row, i in zip(ROWS, IDS) if row[2].torch is not None]
FLOP_COUNTED = ("conv", "depthwise", "conv_transpose", "dense")  # torch's FlopCounterMode


# ------------------------------------------------------------------- each row of op_cases.py

@pytest.mark.parametrize("op,i,case", WITH_TORCH)
def test_operator_agrees_with_torch(op, i, case):
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
    net = netdsl.loads(program(case))
    ours = net.stats.tensors()
    state = {k: v.numpy() for k, v in module.state_dict().items()
             if not k.endswith("num_batches_tracked")} if isinstance(module, nn.Module) else {}
    if isinstance(module, nn.Module):
        assert [tuple(v.shape) for v in state.values()] == list(ours.values())
        assert sum(p.numel() for p in module.parameters()) == net.stats.params
    weights = dict(zip(ours, state.values())) if state else None  # None: fixed or no weights
    model = netdsl.compile(net, weights=weights)
    out = netdsl.run(model, {f"x{i}": x.numpy() for i, x in enumerate(xs)}, provider="cpu")
    np.testing.assert_allclose(out["y"], ref, rtol=case.tol, atol=case.tol)


@pytest.mark.parametrize("op,i,case", [p for p in WITH_TORCH if p.values[0] in FLOP_COUNTED])
def test_macs_agree_with_torch_flop_counter(op, i, case):
    module = case.torch()
    with FlopCounterMode(display=False) as counter:
        module(*(torch.randn(1, *s) for s in case.inputs))
    assert counter.get_total_flops() == 2 * case.macs


# ----------------------------------------------------------------- networks of every operator


class ConvNet(nn.Module):
    TEXT = """network convnet {
      input x: [N, 3, 32, 32]
      x -> conv1: conv(8, 3, pad: 1, bias: false) -> bn1: bn -> relu
        -> maxpool(3, stride: 2, pad: 1, floor: true)
        -> lrn(size: 3, alpha: 0.001, beta: 0.75, k: 2)
        -> conv2: conv(16, 3, pad: 2, dilation: 2, groups: 2) -> relu
        -> avgpool(3, stride: 2, pad: 1, ceil: true, count_include_pad: false)
        -> conv3: conv(12, [3, 1], stride: [2, 1], pad: [1, 0]) -> bn3: bn(eps: 0.001)
        -> avgpool(2, stride: 1) -> globalavgpool -> flatten -> dropout(0.3)
        -> fc: dense(10) -> softmax -> output y
    }"""
    INPUT = (2, 3, 32, 32)

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=2, dilation=2, groups=2)
        self.conv3 = nn.Conv2d(16, 12, (3, 1), stride=(2, 1), padding=(1, 0))
        self.bn3 = nn.BatchNorm2d(12, eps=0.001)
        self.fc = nn.Linear(12, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, 2, 1)
        x = F.local_response_norm(x, 3, alpha=0.001, beta=0.75, k=2.0)
        x = F.avg_pool2d(F.relu(self.conv2(x)), 3, 2, 1, ceil_mode=True,
                         count_include_pad=False)
        x = F.avg_pool2d(self.bn3(self.conv3(x)), 2, stride=1)
        x = F.dropout(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1), 0.3, training=False)
        return torch.softmax(self.fc(x), dim=1)


class Activations(nn.Module):
    TEXT = """network acts {
      input x: [N, 16]
      body = x -> dense(16) -> leaky_relu(0.2) -> dense(16) -> elu(0.7) -> tanh
               -> dense(16) -> bn -> sigmoid -> dense(16) -> gelu -> dense(16) -> silu
               -> dense(16) -> swish -> dense(16) -> hardswish -> dense(16) -> hardsigmoid
               -> dense(16) -> relu6 -> identity -> dense(8, bias: false) -> softmax(axis: -1)
      output y = body
    }"""
    INPUT = (5, 16)

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(16, 16), nn.LeakyReLU(0.2), nn.Linear(16, 16), nn.ELU(0.7), nn.Tanh(),
            nn.Linear(16, 16), nn.BatchNorm1d(16), nn.Sigmoid(), nn.Linear(16, 16), nn.GELU(),
            nn.Linear(16, 16), nn.SiLU(), nn.Linear(16, 16), nn.SiLU(), nn.Linear(16, 16),
            nn.Hardswish(), nn.Linear(16, 16), nn.Hardsigmoid(), nn.Linear(16, 16), nn.ReLU6(),
            nn.Identity(), nn.Linear(16, 8, bias=False), nn.Softmax(dim=-1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class Structure(nn.Module):
    """Branches and reshaping: depthwise and transposed convs, concat, an SE gate (mul),
    crops, every pad mode, every upsample mode, adaptive pooling, reshape, add."""

    TEXT = """network structure {
      input x: [N, 4, 16, 16]
      a = x -> stem: conv(8, 3, pad: 1) -> relu
      d = a -> dw: depthwise(3, stride: 2, pad: 1, multiplier: 2, floor: true)
      u = d -> up: conv_transpose(8, 3, stride: 2, pad: 1, output_pad: 1)
      c = concat(a, u)
      gate = c -> globalavgpool -> se: conv(16, 1) -> sigmoid
      k = crop(c * gate, like: d)
      p = k -> pad(1) -> pad([1, 2, 0, 1], mode: "reflect") -> pad(1, mode: "edge")
            -> pad(channels: 2) -> crop(size: [9, 9])
      r = p -> upsample(scale: 2) -> upsample(size: [20, 24], mode: "bilinear")
            -> upsample(scale: 0.5, mode: "bicubic", align_corners: true)
      v = r -> adaptive_avgpool([4, 5]) -> reshape([18, -1]) -> reshape([18, 4, 5])
      w = upsample(v, like: k)
      m = w -> globalmaxpool
      s = w + w * m
      s -> adaptive_avgpool(2) -> flatten -> head: dense(5) -> output y
    }"""
    INPUT = (2, 4, 16, 16)

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(4, 8, 3, padding=1)
        self.dw = nn.Conv2d(8, 16, 3, stride=2, padding=1, groups=8)
        self.up = nn.ConvTranspose2d(16, 8, 3, stride=2, padding=1, output_padding=1)
        self.se = nn.Conv2d(16, 16, 1)
        self.head = nn.Linear(18 * 4, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = F.relu(self.stem(x))
        d = self.dw(a)
        c = torch.cat([a, self.up(d)], dim=1)
        s = c * torch.sigmoid(self.se(F.adaptive_avg_pool2d(c, 1)))
        k = s[:, :, 4:12, 4:12]  # centre crop of 16 to 8
        p = F.pad(k, (1, 1, 1, 1))
        p = F.pad(p, (2, 1, 1, 0), mode="reflect")  # ours: [begin h, begin w, end h, end w]
        p = F.pad(p, (1, 1, 1, 1), mode="replicate")
        p = F.pad(p, (0, 0, 0, 0, 0, 2))
        p = p[:, :, 2:11, 3:12]  # 13x15 to 9x9: margins 4 = 2+2 and 6 = 3+3
        r = F.interpolate(p, scale_factor=2, mode="nearest")
        r = F.interpolate(r, size=(20, 24), mode="bilinear", align_corners=False)
        r = F.interpolate(r, scale_factor=0.5, mode="bicubic", align_corners=True)
        v = F.adaptive_avg_pool2d(r, (4, 5)).reshape(-1, 18, 20).reshape(-1, 18, 4, 5)
        w = F.interpolate(v, size=(8, 8), mode="nearest")
        s = w + w * F.adaptive_max_pool2d(w, 1)
        return self.head(torch.flatten(F.adaptive_avg_pool2d(s, 2), 1))


class Signal(nn.Module):
    """1-D: `pad: same` with stride 2 pads at the end only (ONNX SAME_UPPER), linear upsampling."""

    TEXT = """network signal {
      input x: [N, 2, 20]
      x -> c1: conv(4, 3, pad: 1) -> maxpool(2) -> c2: conv(6, 3, stride: 2, pad: same)
        -> bn2: bn -> relu -> upsample(scale: 2, mode: "linear") -> avgpool(2, ceil: true)
        -> globalmaxpool -> flatten -> output y
    }"""
    INPUT = (3, 2, 20)

    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv1d(2, 4, 3, padding=1)
        self.c2 = nn.Conv1d(4, 6, 3, stride=2)
        self.bn2 = nn.BatchNorm1d(6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool1d(self.c1(x), 2)  # 10
        x = F.relu(self.bn2(self.c2(F.pad(x, (0, 1)))))  # same: out 5, total pad 1, at the end
        x = F.interpolate(x, scale_factor=2, mode="linear", align_corners=False)
        x = F.avg_pool1d(x, 2, ceil_mode=True)
        return torch.flatten(F.adaptive_max_pool1d(x, 1), 1)


class Tokens(nn.Module):
    """A transformer's front on an embedded sequence, with torchvision ViT's names: a class
    token expanded over the batch, a position embedding, self-attention, a layer scale."""

    TEXT = """
    block layer(x) {
      param layer_scale: [x.shape[2]] = 1e-6
      y = x -> self_attention: attention(2)
      return y * layer_scale + x
    }
    network tokens {
      input x: [N, 6, 8]
      param class_token: [1, 1, 8] = zeros
      param pos_embedding: [1, 7, 8] = normal(0.02)
      seq = concat(expand(class_token, like: x), x, axis: 1) + pos_embedding
      seq -> layer_0: layer -> output y
    }"""
    INPUT = (3, 6, 8)

    def __init__(self) -> None:
        super().__init__()
        self.class_token = nn.Parameter(torch.zeros(1, 1, 8))
        self.pos_embedding = nn.Parameter(torch.zeros(1, 7, 8))
        self.layer_0 = nn.Module()
        self.layer_0.layer_scale = nn.Parameter(torch.ones(8))
        self.layer_0.self_attention = nn.MultiheadAttention(8, 2, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.cat([self.class_token.expand(x.shape[0], -1, -1), x], 1) + self.pos_embedding
        y = self.layer_0.self_attention(x, x, x, need_weights=False)[0]
        return y * self.layer_0.layer_scale + x


class Layout(nn.Module):
    """Split, shuffle, chunk, permute to channels-last and back, both layer norms, a max pool's
    indices into maxunpool, slice, transpose and matmul."""

    TEXT = """network layout {
      input x: [N, 8, 8, 8]
      a, b = x -> split([4, 4])
      s = concat(a, b -> c1: conv(4, 3, pad: 1) -> relu) -> channel_shuffle(2)
      h0, h1 = s -> chunk(2)
      concat(h1, h0) -> permute([0, 2, 3, 1]) -> ln: layer_norm -> fc: dense(8)
        -> permute([0, 3, 1, 2]) -> ln2: layer_norm(axis: 1, eps: 1e-6) -> output n
      p, idx = n -> maxpool(2, indices: true)
      u = p -> relu -> maxunpool(2, indices: idx)
      q = u -> slice(3, 1, 7) -> transpose(2, 3) -> softmax(axis: -1)
      matmul(q, u) -> slice(1, 1, 8, step: 2) -> flatten -> head: dense(5) -> output y
    }"""
    INPUT = (2, 8, 8, 8)

    def __init__(self) -> None:
        from torchvision.models.convnext import LayerNorm2d
        super().__init__()
        self.c1 = nn.Conv2d(4, 4, 3, padding=1)
        self.ln = nn.LayerNorm(8)
        self.fc = nn.Linear(8, 8)
        self.ln2 = LayerNorm2d(8, eps=1e-6)
        self.head = nn.Linear(4 * 6 * 8, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from torchvision.models.shufflenetv2 import channel_shuffle
        a, b = torch.split(x, [4, 4], 1)
        s = channel_shuffle(torch.cat([a, F.relu(self.c1(b))], 1), 2)
        h0, h1 = torch.chunk(s, 2, 1)
        t = self.fc(self.ln(torch.cat([h1, h0], 1).permute(0, 2, 3, 1))).permute(0, 3, 1, 2)
        p, idx = F.max_pool2d(self.ln2(t), 2, return_indices=True)
        u = F.max_unpool2d(F.relu(p), idx, 2)
        q = F.softmax(u[..., 1:7].transpose(2, 3), -1)
        return self.head(torch.flatten(torch.matmul(q, u)[:, 1:8:2], 1))


NETS = [ConvNet, Activations, Structure, Signal, Tokens, Layout]


def randomise(model: nn.Module, seed: int) -> nn.Module:
    """Every parameter and buffer random, so that no bias, scale or statistic hides as 0 or 1;
    BN running variances positive, away from 0."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if not t.is_floating_point():
                continue
            if name.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=g) * 1.5 + 0.5)
            elif name.endswith("weight") and t.ndim == 1:  # BN gamma
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
            else:
                t.copy_(torch.randn(t.shape, generator=g) * 0.4)
    return model.eval()


def test_the_networks_use_every_operator():
    used = {node.op.name for net in NETS for node in netdsl.loads(net.TEXT).graph.nodes()}
    # split's and chunk's calls make slice nodes (Op.parts): they count where they are called
    used |= {op for op in ("split", "chunk") for net in NETS if f"{op}(" in net.TEXT}
    assert set(REGISTRY) <= used, f"no equivalence test uses {set(REGISTRY) - used}"


@pytest.mark.parametrize("net", NETS, ids=[n.__name__ for n in NETS])
@pytest.mark.parametrize("opset", [17, NEWEST], ids=["opset17", "newest"])
def test_same_outputs_as_torch(net, opset):
    model = randomise(net(), seed=1)
    x = np.random.default_rng(0).standard_normal(net.INPUT).astype(np.float32) * 2
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    onnx_model = netdsl.compile(netdsl.loads(net.TEXT), weights=torch_state(model), opset=opset)
    ours = netdsl.run(onnx_model, {"x": x}, provider="cpu")["y"]
    assert ours.shape == ref.shape
    assert max_relative_error(ours, ref) < TOLERANCE
