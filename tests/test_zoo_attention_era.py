"""The zoo's networks of issue #10 against their references: ShuffleNetV2 (real split and
channel shuffle), ConvNeXt-T (LayerNorm2d, channels-last blocks, layer scale) and ViT-B/16
(class token, position embedding, attention) against torchvision's models with random weights,
and a small SegNet (max unpooling with the pool's indices) against a torch model of it written
here: the same state_dict (names, shapes, order), the same parameter count, and the same output
with the same weights (rel 1e-4 on onnxruntime)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

from conftest import ZOO, cli
from torchvision_ref import assert_same_tensors, compare_outputs, randomize_bn

if TYPE_CHECKING:
    import torch


def _reference(make: Callable[[ModuleType], torch.nn.Module], seed: int = 0) -> torch.nn.Module:
    """torchvision's model, seeded, in eval mode, with random BN statistics and affine terms."""
    import torch
    import torchvision.models as tvm
    torch.manual_seed(seed)
    return randomize_bn(make(tvm).eval(), seed + 1)


def _randomize_layer_norms(model: Any, seed: int = 2) -> Any:
    """Fresh layer norms are weight 1, bias 0, ConvNeXt's layer scales 1e-6, ViT's class token
    and head 0, which would let a wrong lowering (or a block that is all skip, or an output of
    zeros) pass: draw them."""
    import torch
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.LayerNorm):
                m.weight.copy_(torch.rand(m.weight.shape, generator=gen) + 0.5)
                m.bias.copy_(torch.rand(m.bias.shape, generator=gen) - 0.5)
        for name, p in model.named_parameters():
            if name.endswith("layer_scale"):
                p.copy_(torch.rand(p.shape, generator=gen) * 0.5 + 0.25)
            if name == "class_token" or name.startswith("heads."):  # zeros when fresh
                p.copy_(torch.randn(p.shape, generator=gen) * 0.05)
    return model


MODELS: list[tuple[str, str, Callable[[ModuleType], torch.nn.Module]]] = [
    ("shufflenet_v2.net", "shufflenet_v2_x1_0",
     lambda tvm: tvm.shufflenet_v2_x1_0(weights=None)),
    ("convnext.net", "convnext_tiny", lambda tvm: tvm.convnext_tiny(weights=None)),
    ("vit.net", "vit_b_16", lambda tvm: tvm.vit_b_16(weights=None)),
]
IDS = [network for _, network, _ in MODELS]


@pytest.mark.parametrize("path,network,make", MODELS, ids=IDS)
def test_state_dict_equals_torchvision(path: str, network: str, make: Any,
                                       torchvision: ModuleType) -> None:
    assert_same_tensors(ZOO / path, network, _reference(make), ordered=True)


@pytest.mark.slow
@pytest.mark.parametrize("path,network,make", MODELS, ids=IDS)
def test_output_equals_torchvision(path: str, network: str, make: Any, torch: ModuleType,
                                   torchvision: ModuleType) -> None:
    shape = (1 if network == "vit_b_16" else 2, 3, 224, 224)  # ViT-B: 17.6G MACs an image
    model = _randomize_layer_norms(_reference(make))
    x = torch.from_numpy(np.random.default_rng(1).standard_normal(shape).astype(np.float32))
    with torch.no_grad():
        scale = model(x).abs().max().item()
    assert scale > 1e-3, "a degenerate reference output would make the comparison vacuous"
    assert compare_outputs(ZOO / path, network, model, shape, seed=1) <= 1e-4


def test_shufflenet_checks_without_warnings() -> None:
    code, out, err = cli("check", str(ZOO / "shufflenet_v2.net"))
    assert code == 0 and "warning" not in out + err, out + err


# ----------------------------------------------------------------------- SegNet, in torch


def _torch_segnet(torch: ModuleType, classes: int = 12, width: int = 16) -> Any:
    """zoo/segnet.net written in torch: Sequentials of conv (no bias), BN, ReLU; max pools that
    return their indices; nn.MaxUnpool2d with them."""
    nn = torch.nn

    def convs(*widths: int, head: int | None = None) -> Any:
        layers: list[Any] = []
        for cin, cout in itertools.pairwise(widths):
            layers += [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
                       nn.ReLU()]
        if head is not None:
            layers.append(nn.Conv2d(widths[-1], head, 3, padding=1))
        return nn.Sequential(*layers)

    w = width

    class SegNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.enc1 = convs(3, w, w)
            self.enc2 = convs(w, 2 * w, 2 * w)
            self.enc3 = convs(2 * w, 4 * w)
            self.dec3 = convs(4 * w, 2 * w)
            self.dec2 = convs(2 * w, 2 * w, w)
            self.dec1 = convs(w, w, head=classes)
            self.pool = nn.MaxPool2d(2, return_indices=True)
            self.unpool = nn.MaxUnpool2d(2)

        def forward(self, x: Any) -> Any:
            p1, i1 = self.pool(self.enc1(x))
            p2, i2 = self.pool(self.enc2(p1))
            p3, i3 = self.pool(self.enc3(p2))
            d3 = self.dec3(self.unpool(p3, i3))
            d2 = self.dec2(self.unpool(d3, i2))
            return self.dec1(self.unpool(d2, i1))

    torch.manual_seed(0)
    return randomize_bn(SegNet().eval(), 1)


def test_segnet_state_dict_equals_torch(torch: ModuleType) -> None:
    assert_same_tensors(ZOO / "segnet.net", "segnet", _torch_segnet(torch), ordered=True)


@pytest.mark.slow
def test_segnet_output_equals_torch(torch: ModuleType) -> None:
    model = _torch_segnet(torch)
    assert compare_outputs(ZOO / "segnet.net", "segnet", model, (2, 3, 64, 64), seed=1) <= 1e-4
